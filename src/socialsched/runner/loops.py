"""The runner's loops: `run` (woken by one APScheduler job at the next due time plus a
safety poll, stopped by SIGTERM or SIGINT, SIGHUP re-reading the channel table) and
`run_until_idle` (for cron and tests); and how a lost database is waited for."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING

from apscheduler.jobstores.base import JobLookupError
from sqlalchemy.exc import SQLAlchemyError

from socialsched.store import describe_database_error

from .alerts import Alert
from .signal_safe import nap

if TYPE_CHECKING:
    from .core import Runner

logger = logging.getLogger("socialsched.runner")

# Waits between attempts to reach a lost database: 1 s, 2 s, 4 s, ... at most this.
DATABASE_RETRY_MAX = 60.0

#: The signals that stop a runner after the delivery in flight, and the one that makes
#: it re-read the channel table (None where the platform has no SIGHUP).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
HANGUP: int | None = getattr(signal, "SIGHUP", None)


def database_lost(runner: Runner, error: SQLAlchemyError) -> float:
    """Say that the database cannot be reached; the seconds to wait before trying
    again (doubling from 1 s up to DATABASE_RETRY_MAX)."""
    runner._database_failures += 1
    delay = min(DATABASE_RETRY_MAX, 2.0 ** (runner._database_failures - 1))
    runner._database_retry_at = time.monotonic() + delay
    described = describe_database_error(error)
    # Sent now: no pass ends while the database is away.
    runner.alerts.report(Alert("database", detail=described))
    runner.alerts.flush()
    logger.warning(
        "database unreachable (%s); retrying in %.0fs",
        described,
        delay,
        extra=runner._fields(event="database_unreachable", error=described),
    )
    return delay


def database_back(runner: Runner) -> None:
    if runner._database_failures:
        logger.warning(
            "database reachable again after %d failed attempt(s)",
            runner._database_failures,
            extra=runner._fields(event="database_reachable"),
        )
        runner._database_failures = 0
        if runner.alerts.recovered("database"):
            runner.alerts.flush()  # now: a pending "unreachable" would no longer be true


def run_until_idle(runner: Runner, max_wait: float = 1.0, *, handle_signals: bool = False) -> int:
    """Publish until nothing is due and nothing is in flight (for cron and tests);
    waits for other workers' claims to finish or their leases to expire. With
    `handle_signals`, SIGTERM and SIGINT stop it after the delivery in flight, and the
    previous handlers are put back when it returns."""
    with _running(runner, STOP_SIGNALS if handle_signals else ()):
        return until_idle(runner, max_wait)


@contextlib.contextmanager
def _running(runner: Runner, signals: tuple[int, ...]) -> Iterator[None]:
    """The runner is running inside: `signals` stop it (SIGHUP, when named, re-reads
    the channel table) and the previous handlers are put back; on the way out its
    receipts are settled, held-back alerts sent and its adapters closed."""
    previous = {
        signum: signal.signal(signum, runner._on_hangup if signum == HANGUP else runner._on_signal)
        for signum in signals
    }
    runner._started.set()
    try:
        yield
    finally:
        runner._started.clear()
        runner.receipts.close()
        # Exiting: what the alert window still held back goes out now.
        runner.alerts.flush(final=True)
        runner.close_adapters()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


#: Seconds `run_until_idle` first waits for other workers' claims, doubling after
#: each look that finds them still held, up to its `max_wait`.
FIRST_CLAIM_WAIT = 0.05


def until_idle(runner: Runner, max_wait: float) -> int:
    total = 0
    claim_wait = FIRST_CLAIM_WAIT
    while not runner.stopping:
        try:
            handled = runner.dispatch()
            database_back(runner)
            total += handled
            if handled or runner.collection.step():
                claim_wait = FIRST_CLAIM_WAIT
                continue
            now = runner.store.clock()
            waits = []
            # Check again soon while other workers hold claims (a claim usually ends
            # within a batch, so the last runner of several returns about when the
            # last claim ends, not up to `max_wait` later), then less and less often
            # (a stopped worker's lease lasts minutes); a rate window is waited out
            # in one go (at most one poll interval).
            cap = runner.poll.total_seconds()
            if runner._blocked_until is not None:
                waits.append(runner._blocked_until)
            if runner.store.in_flight():
                next_due = runner.store.next_due()
                waits.append(next_due if next_due is not None else now)
                cap = min(claim_wait, max_wait)
                claim_wait *= 2
        except SQLAlchemyError as error:
            sleep_unless_stopped(runner, database_lost(runner, error))
            continue
        if not waits:
            break
        runner._sleep(min(cap, max(0.05, (min(waits) - now).total_seconds())))
    return total


def sleep_unless_stopped(runner: Runner, seconds: float) -> None:
    if runner._sleep is time.sleep:
        nap(runner._stopping, seconds)  # not Event.wait: see socialsched.signal_safe
    else:
        runner._sleep(seconds)


def run(runner: Runner, *, handle_signals: bool = True) -> int:
    """Run until stopped (SIGTERM or SIGINT with `handle_signals`), woken by one
    APScheduler job at the next due time plus a safety poll; SIGHUP re-reads the
    channel table (`reload`). Returns how many deliveries this process published."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )
    runner._scheduler = scheduler
    runner._wake_job = None
    scheduler.add_job(runner._wake, "interval", seconds=runner.poll.total_seconds(), id="poll")
    runner._wake_job = scheduler.add_job(runner._wake, "date", run_date=datetime.now(UTC))
    signals = (*STOP_SIGNALS, *(() if HANGUP is None else (HANGUP,))) if handle_signals else ()
    with _running(runner, signals):
        scheduler.start()
        logger.info("runner %s started", runner.worker, extra=runner._fields(event="started"))
        try:
            while not nap(runner._stopping, 0.5):  # not Event.wait: see signal_safe
                if runner._reload.is_set():
                    # Not from the signal handler: it may interrupt the scheduler's locks.
                    wake_soon(runner, 0.0)
        finally:
            # The pass in flight ends first, and none starts after: APScheduler's
            # shutdown holds the job-store lock while it waits for a running job, and a
            # pass that then set its next wake-up would wait for that lock forever.
            with runner._pass_lock:
                # And no one-shot wake-up is left: the shutdown marks the scheduler
                # stopped before it takes that lock, and a one-shot job that fires
                # meanwhile is then looked for among jobs not yet added, missed, and
                # the scheduler's thread dies with a traceback on standard error.
                _cancel_wake(runner)
                scheduler.shutdown(wait=True)
    logger.info(
        "runner %s stopped after publishing %d",
        runner.worker,
        runner.published,
        extra=runner._fields(event="stopped"),
    )
    return runner.published


def on_signal(runner: Runner, signum: int, frame: FrameType | None) -> None:
    logger.info(
        "signal %d: finishing the delivery in flight, then stopping",
        signum,
        extra=runner._fields(event="stopping"),
    )
    runner.stop()


def on_hangup(runner: Runner, signum: int, frame: FrameType | None) -> None:
    runner.reload()  # first: what the line says holds once it is written
    logger.info(
        "SIGHUP: re-reading the channel table", extra=runner._fields(event="reload_requested")
    )


def wake_soon(runner: Runner, delay: float) -> None:
    """Replace the pending wake-up by one `delay` seconds from now (real time)."""
    _cancel_wake(runner)
    runner._wake_job = runner._scheduler.add_job(
        runner._wake, "date", run_date=datetime.now(UTC) + timedelta(seconds=delay + 0.01)
    )


def _cancel_wake(runner: Runner) -> None:
    """Remove the pending one-shot wake-up, if it has not fired and gone already."""
    if runner._wake_job is not None:
        with contextlib.suppress(JobLookupError):
            runner._wake_job.remove()


def wake(runner: Runner) -> None:
    if not runner._pass_lock.acquire(blocking=False):
        return
    try:
        if runner._database_failures and time.monotonic() < runner._database_retry_at:
            return  # backing off: the wake-up set for the retry time tries again
        while not runner.stopping and (runner.dispatch() or runner.collection.step()):
            pass
        if runner.stopping:
            return
        wake_at = runner.store.next_due()
        database_back(runner)
        if runner._blocked_until is not None:
            wake_at = min(wake_at or runner._blocked_until, runner._blocked_until)
        if wake_at is not None:
            # The store's clock may be injected; APScheduler runs on real time.
            wake_soon(runner, max(0.0, (wake_at - runner.store.clock()).total_seconds()))
    except SQLAlchemyError as error:
        # Lost the database: try again with backoff, not only at the next poll.
        wake_soon(runner, database_lost(runner, error))
    except Exception:
        # A database hiccup must not kill the loop; the safety poll tries again.
        logger.exception("dispatch pass failed; retrying at the next poll")
    finally:
        runner._pass_lock.release()
