"""A runner stopped while its scheduler is busy stops cleanly. Two races with
APScheduler's `shutdown(wait=True)`, each seen once in CI:

- it holds the scheduler's job-store lock while it waits for the running job; a pass
  that then set its next wake-up (which takes that lock) waited for it forever, and so
  did the runner (SIGTERM, then no exit for 60 s);
- it marks the scheduler stopped before it takes that lock; a one-shot wake-up the
  scheduler's thread was firing meanwhile was then looked for among the jobs not yet
  added, and that thread died with JobLookupError's traceback on standard error.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import Clock, Recorder, calendar, post
from socialsched.runner import Runner
from socialsched.scheduling import schedule
from socialsched.store import Store


def _stop_during_pass(db: str, stopped: Any) -> None:
    """In a child process (a deadlock must not hang the test run): stop the runner
    while its first pass looks for the next due time; put whether `run` returned."""
    clock = Clock(datetime(2027, 1, 4, 6, 0, tzinfo=UTC))
    store = Store(db, clock=clock)
    # Due tomorrow: the pass finds nothing due, then asks for the next due time.
    tomorrow = ("2027-01-05",)
    schedule(store, calendar([post("a", "05:30", dates=tomorrow)]), *tomorrow * 2)
    runner = Runner(
        store, adapters=Recorder, sleep=clock.sleep, rng=random.Random(7), poll=timedelta(hours=1)
    )
    asking, answer = threading.Event(), threading.Event()
    next_due = store.next_due

    def slow_next_due() -> Any:
        # Inside the pass, after it checked whether the runner is stopping.
        if runner.running:
            asking.set()
            answer.wait(30)
        return next_due()

    store.next_due = slow_next_due  # type: ignore[method-assign]
    loop = threading.Thread(target=runner.run, kwargs={"handle_signals": False}, daemon=True)
    loop.start()
    if not asking.wait(30):
        stopped.put("the first pass never asked for the next due time")
        return
    runner.stop()
    # The loop notices within a nap's slice (0.1 s) and shuts its scheduler down
    # meanwhile; then the pass goes on and sets its next wake-up.
    loop.join(1.0)
    answer.set()
    loop.join(30)
    stopped.put("stopped" if not loop.is_alive() else "still running")


def test_a_stop_while_the_pass_looks_for_the_next_due_time_still_stops(tmp_path: Path):
    context = multiprocessing.get_context("fork")
    stopped = context.Queue()
    child = context.Process(target=_stop_during_pass, args=(str(tmp_path / "s.db"), stopped))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        child.join()
    assert not stopped.empty(), "the child hung: the runner's pass and its shutdown deadlocked"
    assert stopped.get() == "stopped"


def test_a_stop_while_the_scheduler_fires_a_wake_up_leaves_no_traceback(store, clock, monkeypatch):
    """APScheduler's shutdown marks the scheduler stopped before it takes its job-store
    lock; a one-shot job its own thread fired meanwhile was then looked for among the
    jobs not yet added, and that thread died with JobLookupError (seen in CI)."""
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.triggers.date import DateTrigger

    firing, go_on = threading.Event(), threading.Event()
    get_due_jobs = MemoryJobStore.get_due_jobs

    def slow_get_due_jobs(self: MemoryJobStore, now: Any) -> Any:
        jobs = get_due_jobs(self, now)
        # The run's first wake-up, a one-shot job, is due: hold the scheduler there,
        # its job-store lock taken, while the runner is stopped.
        if not firing.is_set() and any(isinstance(j.trigger, DateTrigger) for j in jobs):
            firing.set()
            go_on.wait(30)
        return jobs

    monkeypatch.setattr(MemoryJobStore, "get_due_jobs", slow_get_due_jobs)
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    runner = Runner(store, adapters=Recorder, sleep=clock.sleep, poll=timedelta(hours=1))
    loop = threading.Thread(target=runner.run, kwargs={"handle_signals": False}, daemon=True)
    loop.start()
    assert firing.wait(30), "the scheduler never fired the first wake-up"
    runner.stop()
    loop.join(1.0)  # the loop notices within a nap's slice and begins to shut down
    go_on.set()
    loop.join(30)
    assert not loop.is_alive()
    assert errors == []
