"""Running the CLI as an attacker's calendar would be run: a child process, started
from another folder than the calendar's, under an address-space limit, so that a
regression fails the probe instead of exhausting the machine."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

#: The address-space limit of every probe's child process.
ADDRESS_SPACE = 2 * 1024**3

#: The variables a probe's child keeps from this process's environment. Everything
#: else (in particular anything secret-looking) is left out unless passed in `env`.
_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "TMPDIR")


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_probe(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`socialsched ARGS` run from `cwd` under a 2 GiB address-space limit, with only
    the base environment plus `env`. Never raises on a non-zero exit: the caller checks
    the return code, stdout and stderr."""
    child_env = {key: os.environ[key] for key in _KEPT if key in os.environ}
    child_env["PYTHONUNBUFFERED"] = "1"
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "socialsched", *args],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        preexec_fn=_limit_address_space,
        check=False,
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    """The command ended with a message, not a Python traceback."""
    for stream in (result.stdout, result.stderr):
        assert "Traceback (most recent call last)" not in stream, stream[-3000:]
        assert "MemoryError" not in stream, stream[-3000:]
        assert "RecursionError" not in stream, stream[-3000:]


def lint_one_day(tmp_path: Path, day: str = "2027-03-01") -> subprocess.CompletedProcess[str]:
    """`socialsched lint` of `tmp_path/cal/calendar.toml` over `day`, run from the folder
    `tmp_path/elsewhere` (created here); it must end without a traceback."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_probe("lint", "../cal/calendar.toml", "--start", day, "--end", day, cwd=elsewhere)
    assert_no_traceback(result)
    return result
