"""Durable receipts: once the network has accepted a post, its receipt is never lost.

The runner writes the receipt to its journal (`socialsched.journal`, fsynced) and then
records it in the store. When recording fails (the database is away), it keeps
trying, with backoff, keeping its claim's lease alive between tries, until it is
recorded or the runner is asked to stop; what is still unrecorded then stays in the
journal, which the next runner replays before it claims anything. A delivery whose
claim was lost meanwhile is recorded all the same: the receipt is the network's word.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from socialsched.store import Record, Store, describe_database_error
from socialsched.store.round_trips import ServerRestarted

from .journal import Entry, Journal

logger = logging.getLogger("socialsched.runner")

#: Waits between tries to record a receipt: 0.5 s, 1 s, 2 s, ... at most this.
RECORD_RETRY_MAX = 30.0

#: The activity log's reason for a receipt recorded from a journal or after the claim
#: ran out.
RECOVERED = "published (its receipt was kept in the runner's journal until the store recorded it)"


def _describe(error: Exception) -> str:
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(error, SQLAlchemyError):
        return describe_database_error(error)
    return f"{type(error).__name__}: {error}"


class Receipts:
    """Writes receipts to `journal` (None: none is kept, for tests and one-off
    commands) and records them in `store` for `worker`, as the docstring of this
    module says. `wait(seconds)` sleeps unless the runner is stopping; `stopping()`
    says whether it is."""

    def __init__(
        self,
        store: Store,
        worker: str,
        journal: Journal | None,
        *,
        lease: timedelta,
        wait: Callable[[float], None],
        stopping: Callable[[], bool],
    ) -> None:
        self.store = store
        self.worker = worker
        self.journal = journal
        self.lease = lease
        self._wait = wait
        self._stopping = stopping
        if journal is not None:
            # Outcomes are committed without waiting for the disk (store.round_trips):
            # the journal is emptied only once they are on it.
            journal.before_empty = self._durable

    def replay(self) -> int:
        """Record the receipts left in the journals of runners that are gone."""
        if self.journal is None:
            return 0
        return self.journal.replay(self._record_entry)

    def _durable(self) -> None:
        """Make what the store recorded durable; when PostgreSQL restarted meanwhile
        (outcomes committed without waiting for the disk may be lost), record again
        every receipt in this runner's journal first (recording twice is harmless)."""
        try:
            self.store.make_durable()
        except ServerRestarted:
            assert self.journal is not None
            for entry in self.journal.entries():
                self._record_entry(entry)
            self.store.server_seen()
            self.store.make_durable()

    def _record_entry(self, entry: Entry) -> None:
        if entry.part is None:
            self.store.record_receipt(entry.delivery, entry.receipt, self.worker, RECOVERED)
        else:
            self.store.keep_thread_part(entry.delivery, entry.part, entry.receipt)

    def published(self, record: Record, data: Mapping[str, Any], reason: str) -> bool | None:
        """Record `record` published with the receipt `data`: True when recorded now,
        False when it was already recorded (by whoever took the claim over), None when
        the runner stopped before the store could record it (it is in the journal)."""

        def attempt() -> bool:
            if self.store.record_published(record, self.worker, data, reason=reason):
                return True
            # The claim was lost (its lease ran out meanwhile): the post is out all the
            # same, and no one else has its receipt.
            return self.store.record_receipt(record.id, data, self.worker, RECOVERED)

        return self._keep(record, Entry(record.id, None, dict(data)), attempt)

    def thread_part(self, record: Record, part: int, data: Mapping[str, Any]) -> bool | None:
        """Record that `part` of the thread `record` went out with `data`: whether this
        runner still holds the claim, None when it stopped before the store recorded
        it."""

        def attempt() -> bool:
            return self.store.record_thread_part(record, self.worker, part, data, self.lease)

        return self._keep(record, Entry(record.id, part, dict(data)), attempt)

    def _keep(self, record: Record, entry: Entry, attempt: Callable[[], bool]) -> bool | None:
        journal = self.journal
        if journal is not None:
            try:
                journal.write(entry, self.worker)
            except OSError as error:  # a full disk: the store may still record it
                logger.error(
                    "delivery %s: cannot write its receipt to the journal in %s (%s)",
                    record.id,
                    journal.folder,
                    error.strerror or error,
                    extra={"event": "journal_failed", "delivery": record.id},
                )
                journal = None
        delay, tries = 0.5, 0
        while True:
            try:
                done = attempt()
            except Exception as error:  # the database is away: the receipt must not be
                tries += 1
                what = f"delivery {record.id}" + (
                    f" part {entry.part}" if entry.part is not None else ""
                )
                kept = "kept in the journal" if journal is not None else "kept in memory"
                if self._stopping():
                    logger.warning(
                        "%s was published (receipt %s) but the store cannot record it (%s); "
                        "stopping: %s, the next runner records it",
                        what,
                        entry.receipt.get("remote_id"),
                        _describe(error),
                        kept,
                        extra={"event": "receipt_unrecorded", "delivery": record.id},
                    )
                    return None
                logger.warning(
                    "%s was published (receipt %s) but recording it failed (%s); %s, "
                    "retrying in %.1fs (try %d)",
                    what,
                    entry.receipt.get("remote_id"),
                    _describe(error),
                    kept,
                    delay,
                    tries,
                    extra={"event": "receipt_retry", "delivery": record.id},
                )
                self._wait(delay)
                delay = min(RECORD_RETRY_MAX, delay * 2)
                self._keep_lease(record)
                continue
            if journal is not None:
                journal.recorded()
            if tries:
                logger.warning(
                    "delivery %s: receipt recorded after %d failed tr%s",
                    record.id,
                    tries,
                    "y" if tries == 1 else "ies",
                    extra={"event": "receipt_recorded", "delivery": record.id},
                )
            return done

    def _keep_lease(self, record: Record) -> None:
        """Extend the claim while the receipt waits, so that no other runner takes the
        delivery over in doubt; failing is expected while the database is away."""
        with contextlib.suppress(Exception):
            self.store.extend_lease(record, self.worker, self.lease)

    def close(self) -> None:
        """Close the journal (removed when everything in it is recorded)."""
        if self.journal is not None:
            self.journal.close()


__all__ = ["RECORD_RETRY_MAX", "RECOVERED", "Receipts"]
