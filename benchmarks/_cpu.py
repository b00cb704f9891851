"""Where the CPU goes during a benchmark run, read from Linux's /proc: the CPU time of
PostgreSQL's processes (found by their command line: the server runs on this machine,
as the benchmarks' 127.0.0.1 URL says) and of any process named by its pid, how busy
the machine's cores were, and, from a process itself, how long it waited for a core
while it could run (`runnable_wait`, from /proc/self/schedstat).

Everything reads as zero where /proc is missing (not Linux): the benchmarks then print
no CPU line rather than a wrong one."""

from __future__ import annotations

import os
import threading
from pathlib import Path

PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available() -> bool:
    """Whether this machine has the /proc files read here."""
    return (PROC / "stat").is_file() and (PROC / "self" / "schedstat").is_file()


def process_seconds(pid: int | str) -> float:
    """CPU seconds (user and system) process `pid` used so far; 0 when it is gone."""
    try:
        data = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    fields = data.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def runnable_wait() -> float:
    """Seconds this process spent runnable but waiting for a core, so far."""
    try:
        return int((PROC / "self" / "schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _busy_and_total() -> tuple[int, int]:
    """Clock ticks of all cores so far: (busy, total); idle and I/O wait are not busy."""
    fields = [int(x) for x in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _is_postgresql(pid: str) -> bool:
    try:
        command = (PROC / pid / "cmdline").read_bytes()
    except OSError:
        return False
    # The postmaster's path, or a backend's title ("postgres: 15/main: ...").
    program = command.split(b"\0", 1)[0].split(b" ", 1)[0].split(b":", 1)[0]
    return program.rsplit(b"/", 1)[-1] == b"postgres"


class CpuWatch:
    """While open, samples every `interval` seconds the CPU time of PostgreSQL's
    processes (backends come and go: each one's last sample counts) and of `pids`;
    afterwards `postgresql`, `of(pid)` and `busy` say what was used meanwhile."""

    def __init__(self, pids: tuple[int, ...] = (), interval: float = 0.05) -> None:
        self.interval = interval
        self.pids = pids
        self.busy = 0.0  # the fraction of all cores' time that was busy
        self.cores = os.cpu_count() or 1
        self._kinds: dict[str, bool] = {}
        self._start: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._ticks = (0, 0)

    def _watched(self) -> list[str]:
        pids = []
        for name in os.listdir(PROC):
            if not name.isdigit():
                continue
            kind = self._kinds.get(name)
            if kind is None:
                kind = self._kinds[name] = _is_postgresql(name)
            if kind:
                pids.append(name)
        return pids + [str(pid) for pid in self.pids]

    def _sample(self) -> None:
        for pid in self._watched():
            seconds = process_seconds(pid)
            if seconds:
                self._last[pid] = seconds

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> CpuWatch:
        if available():
            for pid in self._watched():
                self._start[pid] = process_seconds(pid)
            self._ticks = _busy_and_total()
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._thread.is_alive():
            return
        self._stop.set()
        self._thread.join()
        self._sample()
        busy, total = _busy_and_total()
        if total > self._ticks[1]:
            self.busy = (busy - self._ticks[0]) / (total - self._ticks[1])

    def _used(self, pid: str) -> float:
        return max(0.0, self._last.get(pid, 0.0) - self._start.get(pid, 0.0))

    @property
    def postgresql(self) -> float:
        """CPU seconds PostgreSQL's processes used while the watch was open."""
        return sum(self._used(pid) for pid, kind in self._kinds.items() if kind)

    def of(self, pid: int) -> float:
        """CPU seconds process `pid` (one of `pids`) used while the watch was open."""
        return self._used(str(pid))
