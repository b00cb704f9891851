"""The performance page and `nox -s bench` cover every benchmark script, and the page's
commands use options the scripts accept."""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if not p.stem.startswith("_"))


def _nox_benchmarks() -> tuple[str, ...]:
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "BENCHMARKS":
            return ast.literal_eval(node.value)
    raise AssertionError("noxfile.py has no BENCHMARKS")


def _commands() -> list[list[str]]:
    (block,) = re.findall(r"## Reproduce\n.*?```bash\n(.*?)```", PAGE, re.S)
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line]


def test_nox_bench_runs_every_benchmark_script():
    assert sorted(_nox_benchmarks()) == SCRIPTS == ["collect", "dispatch", "media", "plan", "store"]


def test_page_shows_how_to_run_every_script_and_the_nox_session():
    commands = _commands()
    shown = {c[1] for c in commands if c[0] == "python"}
    assert shown == {f"benchmarks/{name}.py" for name in SCRIPTS}
    assert ["nox", "-s", "bench"] in commands


def _options(script: str) -> set[str]:
    help_text = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(re.findall(r"(--[\w-]+)", help_text))


@pytest.mark.slow
def test_options_on_the_page_are_options_of_the_script_they_are_given_to():
    for command in _commands():
        if command[:3] == ["nox", "-s", "bench"] and len(command) > 4:
            script, options = command[4], command[5:]
        elif command[0] == "python":
            script, options = Path(command[1]).stem, command[2:]
        else:
            continue
        assert script in SCRIPTS, command
        given = {word for word in options if word.startswith("--")}
        assert given <= _options(script), command
