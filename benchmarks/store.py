"""Scheduling deliveries: socialsched's outbox vs a job per post in APScheduler.

Schedules N deliveries (default 200,000) into an SQLite outbox with `Store.schedule`
(bulk writes, activity log included), and adds jobs for the same deliveries to
APScheduler 3's own `SQLAlchemyJobStore` on SQLite (one job per delivery, the naive
design). The baseline is slow, so by default only a sample of it is run and the time
is extrapolated linearly to N (printed as such); `--baseline-sample N` runs it all.

    python benchmarks/store.py                 # 200,000 deliveries
    python benchmarks/store.py --size 2000     # quick check
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import calendar, deliveries

from socialsched.store import Store


def publish(delivery_id: str) -> None:
    """The job APScheduler would run for one delivery (never run here)."""


def run_store(folder: Path, size: int) -> tuple[float, int]:
    cal = calendar(100, 20, str(folder / "out.jsonl"))
    planned = deliveries(cal, size, datetime(2030, 1, 1, tzinfo=UTC), timedelta(seconds=7))
    store = Store(folder / "outbox.db")
    started = time.perf_counter()
    result = store.schedule(cal, "2000-01-01", "2100-01-01", planned=planned)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed, len(result.added)


def run_apscheduler(folder: Path, size: int, sample: int) -> tuple[float, int]:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    cal = calendar(100, 20, str(folder / "out.jsonl"))
    planned = deliveries(
        cal, min(size, sample), datetime(2030, 1, 1, tzinfo=UTC), timedelta(seconds=7)
    )
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--baseline-sample", type=int, default=5_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours, added = run_store(folder, args.size)
        theirs, jobs = run_apscheduler(folder, args.size, args.baseline_sample)
    assert added == args.size and jobs == min(args.size, args.baseline_sample)
    baseline = theirs * args.size / jobs
    extrapolated = jobs < args.size
    print(f"deliveries: {args.size:,}")
    print(
        f"socialsched Store.schedule (SQLite, bulk):   {ours:9.2f} s  ({args.size / ours:,.0f}/s)"
    )
    note = f" (measured {jobs:,} jobs in {theirs:.2f} s, extrapolated)" if extrapolated else ""
    print(f"APScheduler SQLAlchemyJobStore, job per post: {baseline:9.2f} s{note}")
    ratio = baseline / ours
    print(f"ratio: {ratio:,.0f}x faster (target: at least 100x)")
    return ratio


if __name__ == "__main__":
    main()
