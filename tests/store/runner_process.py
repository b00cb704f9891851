"""A `socialsched` runner in a child process, as an operator starts it, for tests that
scrape its metrics, read its log lines and send it signals."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx


def socialsched(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one `socialsched` command in `cwd`, as a user would."""
    result = subprocess.run(
        [sys.executable, "-m", "socialsched", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


class RunnerProcess:
    """`socialsched [global options] run [options]` started in `cwd`; its standard error
    is collected line by line in `lines`."""

    def __init__(
        self,
        run_options: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        global_options: Sequence[str] = (),
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "socialsched", *global_options, "run", *run_options],
            cwd=cwd,
            # A runner that hangs is shown with its threads' stacks (`wait`).
            env={**os.environ, "PYTHONFAULTHANDLER": "1", **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def __enter__(self) -> RunnerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self._reader.join(timeout=10)

    @property
    def output(self) -> str:
        """Standard error so far."""
        return "\n".join(self.lines)

    def wait_for(self, condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        """Poll `condition` until it returns something true; fail naming `what`."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if self.process.poll() is not None and not condition():
                raise AssertionError(
                    f"runner exited ({self.process.returncode}) before {what}:\n{self.output}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.output}")
            time.sleep(0.05)

    def wait_for_line(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first standard-error line matching `pattern`, once it appears."""

        def found() -> re.Match[str] | None:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            return None

        match: re.Match[str] = self.wait_for(found, f"a line matching {pattern!r}", timeout)
        return match

    def json_lines(self) -> list[dict[str, Any]]:
        """Standard error parsed as JSON lines (with --log-format json)."""
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def metrics_url(self) -> str:
        """The base URL the runner serves metrics on (from its log line)."""
        match = self.wait_for_line(r"serving metrics on (http://[\d.]+:\d+)/metrics")
        return match[1]

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 60) -> int:
        """Wait for the runner to exit; its exit status. One still running after
        `timeout` is made to write every thread's stack (faulthandler, on SIGABRT) and
        fails the test with its output."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            self._reader.join(timeout=10)
            raise AssertionError(
                f"runner still running {timeout:.0f} s later; its threads:\n{self.output}"
            ) from None
        self._reader.join(timeout=10)
        return code


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10)
