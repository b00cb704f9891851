"""Publishing throughput and runner memory.

1. Deliveries published per second through the `jsonl` adapter by one and by two
   worker processes, on SQLite and on PostgreSQL (skipped, and said so, when no
   server answers at PG_URL).
2. The runner's peak memory (RSS) while N deliveries are pending in the future and a
   fixed number are due, for N = 10,000 and N = 1,000,000: claiming in batches with
   LIMIT keeps it flat. Pending rows are bulk-copied in SQL to set up quickly.
3. HTTP: deliveries published per second through the `webhook` adapter to a local
   HTTP receiver by 1, 2 and 4 runner processes sharing one PostgreSQL database, side
   by side with a baseline: a plain `httpx.Client` loop posting the same bodies, with
   the same headers, to the same receiver (printed: each rate, runner / baseline, and
   N runners / one). The receiver (`socialsched.runner.http_receiver`) runs in a process of
   its own and answers each request in one send on a TCP_NODELAY socket, so no delayed
   ACK stalls a client; it must get every delivery exactly once (checked by its
   Idempotency-Key headers) over one connection per runner. Under each rate, where the
   CPU went, per delivery (`_cpu`, from Linux's /proc): the runners' own, the time they
   waited for a core while they could run, PostgreSQL's processes', the receiver's, and
   how busy the machine's cores were. Two experiments explain the two-runner rate:
   `--pin-runners` (each runner on a core of its own) and `--no-commit-wait` (commits
   that do not wait for the disk: unsafe, the sending mark must be durable).

Timing starts when every worker process has opened the store (a start signal), so
process start-up and imports are not counted. The jsonl adapter fsyncs every line;
the output file goes to /dev/shm when it exists so the disk's fsync latency does not
hide the runner's own cost (printed).

    python benchmarks/dispatch.py                       # 3,000 deliveries; 10k vs 1M pending
    python benchmarks/dispatch.py --size 200 --pending 1000 5000   # quick check
    python benchmarks/dispatch.py --http-only --size 2000 --runners 1 2   # the HTTP row
    python benchmarks/dispatch.py --http-only --size 12000 --runners 1 2 --pin-runners
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
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
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy
from _cpu import CpuWatch, runnable_wait
from _mark_cost import mark_rows
from _synthetic import calendar, deliveries

from socialsched.adapters.registry import adapter_class
from socialsched.calendar.model import Channel
from socialsched.runner import Runner
from socialsched.runner.journal import Journal
from socialsched.store import Store

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# The webhook channel's signing key: granted through the environment, as in production.
SIGNING_SECRET = "BENCH_SIGNING_KEY"
SIGNING_ENV = f"SOCIALSCHED_SECRET_{SIGNING_SECRET}"


def scratch() -> Path:
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    folder = base / f"socialsched-bench-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder


class Run(NamedTuple):
    """What `run_workers` measured: deliveries published, seconds from the start signal
    until the last worker was idle, the largest worker's peak RSS (KiB), and the
    workers' CPU seconds and seconds spent waiting for a core, summed."""

    published: int
    seconds: float
    peak_rss: int
    cpu: float
    waited: float


def _work(
    db: str,
    ready: multiprocessing.Queue,  # type: ignore[type-arg]
    go: Any,
    result: multiprocessing.Queue,  # type: ignore[type-arg]
    adapters: tuple[str, ...] = ("jsonl",),
    state: str | None = None,
    core: int | None = None,
) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})
    store = Store(db)
    # A receipt journal, as `socialsched run` keeps (in the scratch folder).
    journal = None if state is None else Journal(Path(state), store.url)
    runner = Runner(store, batch=100, lease=timedelta(minutes=5), journal=journal)
    # Start-up, not publishing: loading the adapter plugins is not timed.
    for adapter in adapters:
        adapter_class(adapter)
    ready.put(True)
    go.wait()
    cpu, waited = time.process_time(), runnable_wait()
    published = runner.run_until_idle()
    finished = time.perf_counter()
    cpu, waited = time.process_time() - cpu, runnable_wait() - waited
    store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result.put((published, finished, peak, cpu, waited))


def run_workers(
    db: str,
    workers: int,
    adapters: tuple[str, ...] = ("jsonl",),
    state: str | None = None,
    pin: bool = False,
    watches: tuple[contextlib.AbstractContextManager[Any], ...] = (),
) -> Run:
    """Run `workers` worker processes on `db` until nothing is due. With `state`, each
    worker keeps a receipt journal in that folder, as `socialsched run` does in its
    state folder; with `pin`, worker i runs only on core i (modulo the cores). `watches`
    are open from the start signal until the last worker is done."""
    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    result: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    go = multiprocessing.Event()
    cores = os.cpu_count() or 1
    processes = [
        multiprocessing.Process(
            target=_work,
            args=(db, ready, go, result, adapters, state, index % cores if pin else None),
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get()
    with contextlib.ExitStack() as stack:
        for watch in watches:
            stack.enter_context(watch)
        started = time.perf_counter()
        go.set()
        results = [result.get() for _ in processes]
    # perf_counter is system-wide (CLOCK_MONOTONIC) on Linux: comparable across processes.
    elapsed = max(r[1] for r in results) - started
    for process in processes:
        process.join()
    return Run(
        sum(r[0] for r in results),
        elapsed,
        max(r[2] for r in results),
        sum(r[3] for r in results),
        sum(r[4] for r in results),
    )


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
    approve = getattr(store, "approve_channels", None)
    if approve is not None:  # where the store asks the operator to approve destinations
        approve()
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


class LogFlushes:
    """While open, counts PostgreSQL's write-ahead log flushes (`pg_stat_wal`, the whole
    server's; None before PostgreSQL 14), and the time they took when
    `track_wal_io_timing` is on."""

    def __init__(self) -> None:
        self.flushes: int | None = None
        self.milliseconds: float | None = None
        self._engine = sqlalchemy.create_engine(PG_URL)
        self._start: Any = None

    def _read(self) -> Any:
        try:
            with self._engine.connect() as connection:
                return connection.exec_driver_sql(
                    "SELECT wal_sync, wal_sync_time, "
                    "current_setting('track_wal_io_timing') = 'on' FROM pg_stat_wal"
                ).one()
        except sqlalchemy.exc.DBAPIError:  # no pg_stat_wal
            return None

    def __enter__(self) -> LogFlushes:
        self._start = self._read()
        return self

    def __exit__(self, *exc_info: object) -> None:
        # A backend reports its counts when it ends: the runners' have just closed.
        time.sleep(0.2)
        end = self._read()
        self._engine.dispose()
        if end is None or self._start is None:
            return
        self.flushes = end[0] - self._start[0]
        if end[2]:
            self.milliseconds = end[1] - self._start[1]

    def describe(self, deliveries: int) -> str | None:
        """The flushes per delivery (and their duration), None when not counted."""
        if self.flushes is None:
            return None
        flushed = f"PostgreSQL's log flushes: {self.flushes / deliveries:.2f} per delivery"
        if self.milliseconds is not None:
            flushed += f", {self.milliseconds * 1000 / max(self.flushes, 1):,.0f} µs each"
        return flushed


def drop_schema(schema: str) -> None:
    engine = sqlalchemy.create_engine(PG_URL)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def _body(number: int) -> bytes:
    """A webhook body of the size the adapter sends for a synthetic delivery."""
    return json.dumps(
        {
            "type": "message",
            "idempotency_key": f"{number:020x}",
            "delivery_id": f"{number:020x}",
            "post": "p1",
            "segment": "s1",
            "channel": "feed",
            "locale": "en-GB",
            "text": f"message {number} for s1",
            "utc": "2030-01-01T09:00:00+00:00",
            "local": "2030-01-01T09:00:00+00:00",
            "audience": None,
            "tags": ["content"],
            "quiet_hours": None,
            "attachments": [],
        }
    ).encode()


def _httpx_loop(url: str, size: int, result: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import hashlib
    import hmac

    import httpx

    bodies = [_body(number) for number in range(size)]
    key = os.urandom(32)
    with httpx.Client(timeout=10) as client:
        started = time.perf_counter()
        for number, body in enumerate(bodies):
            # The webhook adapter's headers, signature included (HMAC-SHA256).
            stamp = str(int(time.time()))
            signed = f"b{number}.{stamp}.".encode() + body
            signature = hmac.new(key, signed, hashlib.sha256).hexdigest()
            client.post(
                url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"b{number}",
                    "webhook-id": f"b{number}",
                    "webhook-timestamp": stamp,
                    "webhook-signature": f"v1,{signature}",
                },
            ).read()
        result.put(time.perf_counter() - started)


def httpx_baseline(url: str, size: int) -> float:
    """Seconds a plain httpx.Client loop in a process of its own takes to post `size`
    webhook bodies to `url`."""
    result: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    child = multiprocessing.Process(target=_httpx_loop, args=(url, size, result))
    child.start()
    seconds = float(result.get())
    child.join()
    return seconds


def http_rows(
    size: int,
    runners: list[int],
    no_postgresql: bool,
    folder: Path,
    *,
    pin: bool = False,
    commit_wait: bool = True,
) -> dict[str, float]:
    """The HTTP row: webhook throughput by 1, 2, 4... runners on PostgreSQL and the
    httpx loop, to a receiver in another process, and where the CPU went. Experiments
    (`main`'s options): `pin` each runner to a core of its own; without `commit_wait`,
    the runners' commits do not wait for the disk (the sending mark's included: unsafe,
    never a setting)."""
    # Imported here: the memory section's forked workers would start with its modules.
    from socialsched.runner.http_receiver import Receiver

    results: dict[str, float] = {}
    if no_postgresql:
        print("HTTP (webhook, PostgreSQL): skipped (--no-postgresql)")
        return results
    os.environ[SIGNING_ENV] = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    with Receiver(in_process=False) as receiver:
        seconds = httpx_baseline(f"{receiver.url}/hook", size)
    assert receiver.stats.requests == size, receiver.stats
    baseline = results["httpx-loop"] = size / seconds
    print(
        f"http       httpx.Client loop: {size} in {seconds:.2f} s = {baseline:,.0f}/s "
        f"({receiver.stats.connections} connection)"
    )
    for workers in runners:
        found = postgres_database()
        if found is None:
            break
        db, schema = found
        with Receiver(in_process=False) as receiver:
            channel = Channel(
                name="feed",
                adapter="webhook",
                settings={"url": f"{receiver.url}/hook"},
                secrets={"signing_key": SIGNING_SECRET},
            )
            try:
                prepare(db, folder, size, channel=channel)
                watch = CpuWatch(pids=(receiver.pid,) if receiver.pid else ())
                flushes = LogFlushes()
                run = run_workers(
                    db if commit_wait else f"{db}%20-csynchronous_commit%3Doff",
                    workers,
                    ("webhook",),
                    state=str(folder / f"state-{workers}"),
                    pin=pin,
                    # Closed in reverse: the CPU watch first, before `flushes` waits.
                    watches=(flushes, watch),
                )
            finally:
                drop_schema(schema)
        published, seconds = run.published, run.seconds
        stats = receiver.stats
        assert published == size, (published, size)
        assert len(stats.keys) == len(set(stats.keys)) == size, (len(stats.keys), size)
        rate = results[f"webhook-postgresql-{workers}"] = published / seconds
        versus = ""
        if workers > 1 and "webhook-postgresql-1" in results:
            versus = f", {rate / results['webhook-postgresql-1']:.2f}x one runner"
        print(
            f"webhook    {workers} runner(s) on PostgreSQL: {published} in {seconds:.2f} s "
            f"= {rate:,.0f}/s ({rate / baseline:.2f} of the httpx loop{versus}; "
            f"{len(stats.keys)} requests received, each key once, "
            f"over {stats.connections} connection(s))"
        )
        if watch.busy:
            print(f"           {cpu_split(run, watch, receiver.pid)}")
        flushed = flushes.describe(published)
        if flushed:
            print(f"           {flushed}")
    return results


def cpu_split(run: Run, watch: CpuWatch, receiver: int | None) -> str:
    """Where the CPU went in `run`, per delivery, and how busy the cores were."""

    def each(seconds: float) -> str:
        return f"{seconds / run.published * 1e6:,.0f} µs"

    return (
        f"CPU per delivery: runner(s) {each(run.cpu)} (and {each(run.waited)} waiting "
        f"for a core), PostgreSQL {each(watch.postgresql)}"
        + (f", receiver {each(watch.of(receiver))}" if receiver else "")
        + f"; the {watch.cores} cores {watch.busy:.0%} busy"
    )


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
    parser.add_argument(
        "--http-only", action="store_true", help="only the HTTP row (webhook and httpx loop)"
    )
    parser.add_argument(
        "--pin-runners",
        action="store_true",
        help="HTTP row experiment: runner i runs only on core i (where the kernel puts "
        "the processes a delivery passes through matters on few cores)",
    )
    parser.add_argument(
        "--no-commit-wait",
        action="store_true",
        help="HTTP row experiment: the runners' commits, the sending mark's included, do "
        "not wait for PostgreSQL's disk flush (unsafe: the mark must be durable)",
    )
    args = parser.parse_args(argv)
    folder = scratch()
    results: dict[str, float] = {}
    print(f"output and SQLite files in {folder}")
    try:
        for backend in () if args.http_only else ("sqlite", "postgresql"):
            for workers in (1, 2):
                if backend == "sqlite":
                    db, schema = str(folder / f"w{workers}.db"), None
                elif args.no_postgresql or (found := postgres_database()) is None:
                    continue
                else:
                    db, schema = found
                try:
                    prepare(db, folder, args.size)
                    published, seconds = run_workers(db, workers)[:2]
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
        for pending in [] if args.http_only else args.pending:
            db = str(folder / f"pending{pending}.db")
            prepare(db, folder, min(args.size, pending), pending)
            run = run_workers(db, 1)
            published, peak = run.published, run.peak_rss
            rss.append(peak)
            print(
                f"pending {pending:>9,}: runner peak RSS {peak / 1024:.1f} MiB "
                f"({published} published)"
            )
        if rss:
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
        results.update(
            http_rows(
                args.size,
                args.runners,
                args.no_postgresql,
                folder,
                pin=args.pin_runners,
                commit_wait=not args.no_commit_wait,
            )
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
