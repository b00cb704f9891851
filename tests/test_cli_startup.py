"""The command line starts with only what a command uses: `socialsched --version`
loads none of the library's heavy dependencies, and the commands that only plan never
load the store's (SQLAlchemy, Alembic), the runner's (APScheduler) or the network SDKs
of the plugins. The test suite and every operator's shell pay for each start, so the
win must stay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "examples" / "hello" / "calendar.toml"

STORE_AND_RUNNER = {"sqlalchemy", "alembic", "apscheduler"}
# The SDKs of the plugins in this repository (loaded with the calendar's adapters), each
# imported by its adapter only when it talks to its network.
PLUGIN_SDKS = {"atproto", "atproto_client", "nio", "aiohttp"}
HEAVY = STORE_AND_RUNNER | {
    "babel",
    "holidays",
    "httpx",
    "icalendar",
    "jinja2",
    "PIL",
    "socialsched.adapters",
    "socialsched.calendar",
    "socialsched.planning",
}

# Runs `python -m socialsched ARGS` in this process, then prints the top-level names
# of the modules it loaded (socialsched's own as their dotted package) on stderr.
RUN_AND_LIST = """
import json, runpy, sys
sys.argv = ["socialsched", *sys.argv[1:]]
try:
    runpy.run_module("socialsched", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
names = {name.split(".")[0] for name in sys.modules}
names |= {".".join(name.split(".")[:2]) for name in sys.modules if name.startswith("socialsched.")}
print("MODULES " + json.dumps(sorted(names)), file=sys.stderr)
"""


def loaded_modules(*args: str, cwd: Path = ROOT) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    [line] = [line for line in result.stderr.splitlines() if line.startswith("MODULES ")]
    return set(json.loads(line.removeprefix("MODULES ")))


def test_version_loads_no_heavy_dependency():
    assert not loaded_modules("--version") & HEAVY


def test_help_of_a_store_command_loads_no_store():
    assert not loaded_modules("status", "--help") & STORE_AND_RUNNER


@pytest.mark.parametrize("command", ["plan", "lint"])
def test_planning_commands_load_no_store_and_no_runner(command):
    loaded = loaded_modules(command, str(HELLO), "--start", "2027-01-11", "--end", "2027-01-19")
    assert "socialsched.planning" in loaded  # it did plan
    assert not loaded & (STORE_AND_RUNNER | PLUGIN_SDKS)


def test_status_loads_the_store_it_reads(tmp_path):
    assert "sqlalchemy" in loaded_modules("status", "--db", str(tmp_path / "x.db"))
