"""Ctrl-C and SIGTERM stop a test run at once, serial or on pytest-xdist workers.

Both signals raise KeyboardInterrupt, so pytest tears fixtures down (local servers,
child processes, private PostgreSQL clusters) and exits. `nox -s tests` passes its own
interrupt on as SIGTERM, and a terminal's Ctrl-C reaches every process of the run at
once, so a second signal right after the first is the same stop and is ignored: it
would otherwise cut the teardown short. The xdist controller passes the signal on to
its workers, which a SIGTERM sent to the controller alone would not reach.

A test that runs code which installs signal handlers in this process (the CLI's
`run --until-idle` does) gets the runner's handlers back afterwards, so a later Ctrl-C
still stops the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# A repeat within this many seconds is taken for the same stop.
SAME_STOP_SECONDS = 3.0

_worker_pids: list[int] = []
_first_stop: list[float] = []


def _stop(signum: int, frame: FrameType | None) -> None:
    now = time.monotonic()
    if _first_stop and now - _first_stop[0] < SAME_STOP_SECONDS:
        return
    _first_stop[:] = [now]
    for pid in _worker_pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGINT)
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def pytest_configure(config: pytest.Config) -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodeready(node: Any) -> None:
    """(xdist controller) Remember each worker's process, to pass a stop on to it."""
    with contextlib.suppress(Exception):
        _worker_pids.append(int(node.gateway._rinfo().pid))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is not _stop:
                signal.signal(signum, _stop)


@pytest.hookimpl(trylast=True)  # after the plugins' conftests have marked their tests
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On N pytest-xdist workers, order the collection for the N shares the workers start
    with (xdist's worksteal gives each about len(items) / N tests, in order, and an idle
    worker later takes the end of a busy worker's queue, never its front):

    - tests marked `worker_group(name)` (a costly session fixture, such as the local
      Bluesky PDS, which each worker that runs one of them starts for itself) go
      together to the front of one share, a share per group, from the last one back;
    - tests marked `slow` (half a minute or so, most of it waiting on runners and
      servers) are spread round-robin over the fronts of the shares, so that no worker
      meets one at the end of the run, when no other worker can take it over.

    The order is the same on every worker, as xdist requires."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return
    fronts: list[list[pytest.Item]] = [[] for _ in range(workers)]
    groups: dict[str, int] = {}  # group name -> its share
    slow, rest = [], []
    for item in items:
        group = item.get_closest_marker("worker_group")
        if group is not None:
            if group.args[0] not in groups:
                groups[group.args[0]] = workers - 1 - len(groups) % workers
            fronts[groups[group.args[0]]].append(item)
        elif item.get_closest_marker("slow"):
            slow.append(item)
        else:
            rest.append(item)
    if not slow and not groups:
        return
    for index, item in enumerate(slow):
        fronts[index % workers].append(item)
    # Each share as long as xdist makes it: a worker in turn takes an equal part of the
    # tests left.
    placed = start = 0
    for worker, share in enumerate(fronts):
        size = (len(items) - placed) // (workers - worker)
        end = len(rest) if worker == workers - 1 else start + max(0, size - len(share))
        share.extend(rest[start:end])
        placed, start = placed + len(share), end
    items[:] = [item for share in fronts for item in share]
