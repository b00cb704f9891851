"""Scheduling deliveries: socialsched's outbox vs a job per post in APScheduler.

Plans N deliveries (default 200,000: 100 UTC segments x 20 posts x 100 days) with
`Planner.plan`, then stores them in an SQLite outbox with `Store.schedule` (bulk
writes; the activity log gets one "planned" entry per delivery), and adds jobs for the
same deliveries to APScheduler 3's own `SQLAlchemyJobStore` (one job per delivery, the
naive design), with that job store's default settings, on an SQLite file in the same
temporary folder (same file system).

Three times are printed and kept apart:
- planning: `Planner.plan` for the range; both designs need it, so it is timed once;
- store only: `Store.schedule(..., planned=...)` vs adding the jobs;
- plan + store: the two above added, for each side (what `socialsched schedule` costs).
Ratios are given for store only (the target: at least 100x) and for plan + store
(the target: at least 150x).
A second `Store.schedule` with the same plan (nothing changes) is timed as well.
`Store.schedule` runs `--repeat` times (default 3), each into a new outbox, and the
median is reported, so one stall of the shared disk does not decide the ratio.

The baseline is slow (an SQLite commit, and so an fsync, per job), so by default only a
sample of it is run and the time extrapolated linearly to N (printed as such);
`--baseline-sample N` runs it all.

    python benchmarks/store.py                 # 200,000 deliveries
    python benchmarks/store.py --size 2000     # quick check
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import calendar

from socialsched import plugins
from socialsched.calendar.model import Calendar, Delivery
from socialsched.planning.planner import Planner
from socialsched.store import Store

POSTS = 20
FIRST_DAY = date(2030, 1, 1)


def publish(delivery_id: str) -> None:
    """The job APScheduler would run for one delivery (never run here)."""


def plan(folder: Path, size: int) -> tuple[Calendar, date, Sequence[Delivery], float]:
    """A calendar of at least `size` deliveries, its last day, the first `size` planned
    deliveries and the planning time (scaled to `size` if more were planned)."""
    segments = min(100, math.ceil(size / POSTS))
    days = math.ceil(size / (segments * POSTS))
    cal = calendar(segments, POSTS, str(folder / "out.jsonl"), days=days)
    last_day = FIRST_DAY + timedelta(days=days - 1)
    started = time.perf_counter()
    planned = Planner(cal).plan(FIRST_DAY, last_day)
    elapsed = time.perf_counter() - started
    assert len(planned) >= size, (len(planned), size)
    # The plan itself when it has exactly `size` deliveries: the store reads its columns.
    kept = planned if len(planned) == size else planned[:size]
    return cal, last_day, kept, elapsed * size / len(planned)


def run_store(
    folder: Path, cal: Calendar, last_day: date, planned: Sequence[Delivery]
) -> tuple[float, float, int]:
    """Seconds to schedule `planned` into a new outbox, seconds to schedule it again
    (nothing changes) and how many deliveries were added."""
    for leftover in folder.glob("outbox.db*"):
        leftover.unlink()
    store = Store(folder / "outbox.db")
    try:
        started = time.perf_counter()
        result = store.schedule(cal, FIRST_DAY, last_day, planned=planned)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = store.schedule(cal, FIRST_DAY, last_day, planned=planned)
        second = time.perf_counter() - started
    finally:
        store.close()
    assert not again.changed and again.unchanged == len(planned)
    return first, second, len(result.added)


def run_apscheduler(folder: Path, planned: Sequence[Delivery]) -> tuple[float, int]:
    """Seconds to add one APScheduler job per delivery in `planned`, and the job count."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{folder / 'jobs.db'}")},
        timezone=UTC,
    )
    scheduler.start(paused=True)  # jobs go straight to the job store, none runs
    started = time.perf_counter()
    for delivery in planned:
        scheduler.add_job(
            publish, "date", run_date=delivery.utc, id=delivery.id, args=[delivery.id]
        )
    elapsed = time.perf_counter() - started
    scheduler.shutdown(wait=False)
    with sqlite3.connect(folder / "jobs.db") as connection:
        (stored,) = connection.execute("SELECT count(*) FROM apscheduler_jobs").fetchone()
    return elapsed, stored


def main(argv: list[str] | None = None) -> float:
    """Run the benchmark, print the times and return the store-only ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--baseline-sample", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3, help="Store.schedule runs (median)")
    args = parser.parse_args(argv)
    size = args.size
    # Installed plugins load once per process (seconds with some network clients):
    # not planning work, so not timed as such.
    plugins.adapters()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cal, last_day, planned, planning = plan(folder, size)
        runs = [run_store(folder, cal, last_day, planned) for _ in range(max(1, args.repeat))]
        theirs, jobs = run_apscheduler(folder, planned[: args.baseline_sample])
    ours = statistics.median(run[0] for run in runs)
    again = statistics.median(run[1] for run in runs)
    assert all(run[2] == size for run in runs) and jobs == min(size, args.baseline_sample)
    baseline = theirs * size / jobs
    note = f" (measured {jobs:,} jobs in {theirs:.2f} s, extrapolated)" if jobs < size else ""
    print(f"deliveries: {size:,} ({len(cal.segments)} segments x {POSTS} posts, SQLite)")
    print(f"planning, Planner.plan (both designs need it):  {planning:9.2f} s")
    print(f"store only, socialsched Store.schedule (bulk):  {ours:9.2f} s  ({size / ours:,.0f}/s)")
    if len(runs) > 1:
        each = ", ".join(f"{run[0]:.2f}" for run in runs)
        print(f"  median of {len(runs)} runs, each into a new outbox: {each} s")
    print(f"  the same again, nothing to change:           {again:9.2f} s")
    print(f"store only, APScheduler job per post:          {baseline:9.2f} s{note}")
    ratio = baseline / ours
    overall = (planning + baseline) / (planning + ours)
    print(f"ratio, store only: {ratio:,.0f}x faster (target: at least 100x)")
    print(f"ratio, plan + store: {overall:,.0f}x faster (target: at least 150x)")
    return ratio


if __name__ == "__main__":
    main()
