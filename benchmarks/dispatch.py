"""Publishing throughput and runner memory.

1. Deliveries published per second through the `jsonl` adapter by one and by two
   worker processes, on SQLite and on PostgreSQL (skipped, and said so, when no
   server answers at PG_URL).
2. The runner's peak memory (RSS) while N deliveries are pending in the future and a
   fixed number are due, for N = 10,000 and N = 1,000,000: claiming in batches with
   LIMIT keeps it flat. Pending rows are bulk-copied in SQL to set up quickly.
3. Scale-out: deliveries published per second through the `webhook` adapter to a local
   HTTP receiver (a real server on 127.0.0.1, in this process) by 1, 2 and 4 runner
   processes sharing one PostgreSQL database. The receiver must get every delivery
   exactly once (checked by its Idempotency-Key headers).

Timing starts when every worker process has opened the store (a start signal), so
process start-up and imports are not counted. The jsonl adapter fsyncs every line;
the output file goes to /dev/shm when it exists so the disk's fsync latency does not
hide the runner's own cost (printed).

    python benchmarks/dispatch.py                       # 3,000 deliveries; 10k vs 1M pending
    python benchmarks/dispatch.py --size 200 --pending 1000 5000   # quick check
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy
from _mark_cost import mark_rows
from _synthetic import calendar, deliveries

from socialsched.model import Channel
from socialsched.runner import Runner
from socialsched.store import Store

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# The webhook channel's signing key: read from the environment, as in production.
SIGNING_ENV = "SOCIALSCHED_BENCH_SIGNING_KEY"


def scratch() -> Path:
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    folder = base / f"socialsched-bench-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder


def _work(
    db: str,
    ready: multiprocessing.Queue,  # type: ignore[type-arg]
    go: Any,
    result: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    store = Store(db)
    runner = Runner(store, batch=100, lease=timedelta(minutes=5))
    ready.put(True)
    go.wait()
    published = runner.run_until_idle()
    finished = time.perf_counter()
    store.close()
    result.put((published, finished, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def run_workers(db: str, workers: int) -> tuple[int, float, int]:
    """(deliveries published, seconds from the start signal until the last worker was
    idle, peak RSS KiB of the largest worker)."""
    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    result: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    go = multiprocessing.Event()
    processes = [
        multiprocessing.Process(target=_work, args=(db, ready, go, result)) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get()
    started = time.perf_counter()
    go.set()
    results = [result.get() for _ in processes]
    # perf_counter is system-wide (CLOCK_MONOTONIC) on Linux: comparable across processes.
    elapsed = max(r[1] for r in results) - started
    for process in processes:
        process.join()
    return sum(r[0] for r in results), elapsed, max(r[2] for r in results)


def prepare(
    db: str, folder: Path, due: int, pending: int = 0, channel: Channel | None = None
) -> None:
    """Schedule `due` deliveries due now and `pending` far-future ones, in a child
    process: the workers, forked from this process later, would otherwise start with
    the memory (and SQLite page cache) this setup used, and their peak RSS with it."""
    child = multiprocessing.Process(target=_prepare, args=(db, folder, due, pending, channel))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"preparing {db} failed (exit status {child.exitcode})")


def _prepare(
    db: str, folder: Path, due: int, pending: int = 0, channel: Channel | None = None
) -> None:
    cal = calendar(50, 20, str(folder / f"out-{uuid.uuid4().hex[:6]}.jsonl"), channel=channel)
    now = datetime.now(UTC)
    planned = deliveries(cal, due, now - timedelta(minutes=30), timedelta(0))
    store = Store(db)
    store.schedule(cal, "2000-01-01", "2100-01-01", planned=planned)
    if pending:
        # Far-future copies of the due rows, made in SQL: setup, not what is measured.
        copies = -(-pending // due)
        with store.engine.begin() as connection:
            for copy in range(copies):
                take = min(due, pending - copy * due)
                connection.exec_driver_sql(
                    "INSERT INTO deliveries SELECT "
                    + ", ".join(
                        f"id || '-{copy}'"
                        if c.name == "id"
                        else (
                            "due + INTERVAL '3650 days'"
                            if store.is_postgresql
                            else "datetime(due, '+3650 days')"
                        )
                        if c.name == "due"
                        else c.name
                        for c in sqlalchemy.Table(
                            "deliveries", sqlalchemy.MetaData(), autoload_with=connection
                        ).columns
                    )
                    + f" FROM deliveries WHERE id NOT LIKE '%-%' ORDER BY id LIMIT {take}"
                )
    store.close()


def postgres_database() -> tuple[str, str] | None:
    try:
        engine = sqlalchemy.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine.dispose()
        return f"{PG_URL}?options=-csearch_path%3D{schema}", schema
    except Exception as error:
        print(f"PostgreSQL at {PG_URL} does not answer ({type(error).__name__}): skipped")
        return None


def drop_schema(schema: str) -> None:
    engine = sqlalchemy.create_engine(PG_URL)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def scale_out(size: int, runners: list[int], no_postgresql: bool, folder: Path) -> dict[str, float]:
    """Webhook throughput by 1, 2, 4... runners on PostgreSQL, against a local receiver."""
    # Imported here: the memory section's forked workers would start with its modules.
    from socialsched.testing import LocalServer

    results: dict[str, float] = {}
    if no_postgresql:
        print("scale-out (webhook, PostgreSQL): skipped (--no-postgresql)")
        return results
    os.environ[SIGNING_ENV] = uuid.uuid4().hex
    for workers in runners:
        found = postgres_database()
        if found is None:
            break
        db, schema = found
        with LocalServer() as receiver:
            channel = Channel(
                name="feed",
                adapter="webhook",
                settings={"url": f"{receiver.url}/hook"},
                secrets={"signing_key": SIGNING_ENV},
            )
            try:
                prepare(db, folder, size, channel=channel)
                published, seconds, _ = run_workers(db, workers)
            finally:
                drop_schema(schema)
            keys = [request.header("Idempotency-Key") for request in receiver.requests]
        assert published == size, (published, size)
        assert len(keys) == len(set(keys)) == size, (len(keys), len(set(keys)), size)
        rate = published / seconds
        results[f"webhook-postgresql-{workers}"] = rate
        print(
            f"webhook    {workers} runner(s) on PostgreSQL: {published} in {seconds:.2f} s "
            f"= {rate:,.0f}/s ({len(keys)} requests received, each key once)"
        )
    return results


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3000, help="deliveries due per run")
    parser.add_argument("--pending", type=int, nargs=2, default=[10_000, 1_000_000])
    parser.add_argument(
        "--runners",
        type=int,
        nargs="+",
        default=[1, 2, 4],
        help="runner processes to measure the webhook scale-out with",
    )
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args(argv)
    folder = scratch()
    results: dict[str, float] = {}
    print(f"output and SQLite files in {folder}")
    try:
        for backend in ("sqlite", "postgresql"):
            for workers in (1, 2):
                if backend == "sqlite":
                    db, schema = str(folder / f"w{workers}.db"), None
                elif args.no_postgresql or (found := postgres_database()) is None:
                    continue
                else:
                    db, schema = found
                try:
                    prepare(db, folder, args.size)
                    published, seconds, _ = run_workers(db, workers)
                finally:
                    if schema:
                        drop_schema(schema)
                assert published == args.size, (published, args.size)
                rate = published / seconds
                results[f"{backend}-{workers}"] = rate
                print(
                    f"{backend:10} {workers} worker(s): {published} in {seconds:.2f} s "
                    f"= {rate:,.0f}/s"
                )
        rss = []
        for pending in args.pending:
            db = str(folder / f"pending{pending}.db")
            prepare(db, folder, min(args.size, pending), pending)
            published, _, peak = run_workers(db, 1)
            rss.append(peak)
            print(
                f"pending {pending:>9,}: runner peak RSS {peak / 1024:.1f} MiB "
                f"({published} published)"
            )
        results["rss_ratio"] = rss[1] / rss[0]
        print(
            f"RSS ratio {args.pending[1]:,} vs {args.pending[0]:,} pending: "
            f"{results['rss_ratio']:.2f}"
        )
        if not getattr(args, "http_only", False):
            # The sending mark's cost: one runner with and without it, in one process.
            sqlite = ("sqlite", lambda: (str(folder / f"mark-{uuid.uuid4().hex[:6]}.db"), None))
            backends = [sqlite]
            if not args.no_postgresql:
                backends.append(("postgresql", postgres_database))
            results.update(mark_rows(args.size, backends, prepare, drop_schema, folder))
        # Last: forked workers start with the parent's memory, and the receiver's grows it.
        results.update(scale_out(args.size, args.runners, args.no_postgresql, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
