"""The worker's protocol: claim due deliveries under a lease, take over expired
leases, and record how each attempt ended.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    select,
    update,
)

from .common import _naive
from .media_cache import (
    dialect_insert,
    sent_media_json,
)
from .queries import Queries
from .records import _DEFERRED_PREFIX, _RETRY_REASON, Record
from .round_trips import finish_statement, mark_statement
from .rows import _LOG_COLUMNS
from .sending import mark_sqlite
from .tables import (
    deliveries,
    thread_parts,
)

#: The activity log's reason for an expired claim whose worker never began sending it.
UNSTARTED = "claimed by a runner that stopped before sending it"

# States a receipt found later does not overwrite.
_SETTLED = ("published", "cancelled")


def _held(which: Any, worker: str) -> Any:
    """The delivery `which` selects, while `worker` still holds its claim."""
    return and_(which, deliveries.c.state == "claimed", deliveries.c.claimed_by == worker)


class WorkerProtocol(Queries):
    """Claims, leases and the recording of attempts."""

    def expire_leases(self, actor: str = "runner") -> int:
        """Put deliveries whose claim lease ran out (a crashed worker) back to scheduled,
        to be sent again blindly. The runner no longer does: it takes them over in doubt
        (`take_over_expired`) and asks the network first."""
        now = self.now()
        with self.engine.begin() as connection:
            rows = connection.execute(
                update(deliveries)
                .where(deliveries.c.state == "claimed", deliveries.c.lease_until < now)
                .values(state="scheduled", claimed_by=None, lease_until=None, updated_at=now)
                .returning(*_LOG_COLUMNS)
            ).all()
            self._log(
                connection,
                [r._mapping for r in rows],
                "scheduled",
                actor,
                now,
                from_state="claimed",
                reason="lease expired (worker gone); will retry with the same idempotency key",
            )
        return len(rows)

    def release_unstarted(self, worker: str) -> int:
        """Put back to scheduled, at once and with no attempt counted, the deliveries
        whose claim lease ran out before their worker began sending them (no sending
        mark): nothing of them can have gone out. Returns how many."""
        now = self.now()
        with self.engine.begin() as connection:
            rows = connection.execute(
                update(deliveries)
                .where(
                    deliveries.c.state == "claimed",
                    deliveries.c.lease_until < now,
                    deliveries.c.sending_at.is_(None),
                )
                .values(
                    state="scheduled",
                    state_actor=worker,
                    claimed_by=None,
                    lease_until=None,
                    sent_at=None,
                    attempts=deliveries.c.attempts - 1,
                    updated_at=now,
                )
                .returning(*_LOG_COLUMNS)
            ).all()
            self._log(
                connection,
                [r._mapping for r in rows],
                "scheduled",
                worker,
                now,
                from_state="claimed",
                reason=f"lease expired: {UNSTARTED}",
            )
        return len(rows)

    def mark_sending(self, record: Record, worker: str, lease: timedelta | None = None) -> bool:
        """Record, durably (committed), that `worker` is about to call the network for
        `record`, and extend its claim by `lease` when given (a long batch must not let
        the delivery in flight be taken over): after a crash only marked deliveries are
        in doubt. False when the claim was lost meanwhile (then nothing may be sent)."""
        now = self.now()
        if not self.is_postgresql:
            return mark_sqlite(self.engine, record.id, worker, now, lease)
        parameters: dict[str, Any] = {"now": now, "record_id": record.id, "worker": worker}
        if lease is not None:
            parameters["lease_until"] = now + lease
        statement = mark_statement(self.engine.dialect, lease=lease is not None)
        # One statement in autocommit mode: one round trip (store.round_trips).
        marked = statement.execute(self.held_marks.connection(), parameters).rowcount
        return bool(marked)

    def extend_lease(self, record: Record, worker: str, lease: timedelta) -> bool:
        """Keep `worker`'s claim on `record` for `lease` more; False when it was lost."""
        with self.engine.begin() as connection:
            held = connection.execute(
                update(deliveries)
                .where(_held(deliveries.c.id == record.id, worker))
                .values(lease_until=self.now() + lease)
            ).rowcount
        return bool(held)

    def record_receipt(
        self, delivery_id: str, receipt: Mapping[str, Any], actor: str, reason: str
    ) -> bool:
        """Record `delivery_id` published with a receipt the network gave, whoever holds
        it now and whatever its state (claimed, in doubt, scheduled again...): the post
        is out. Not when it is already published or cancelled. Returns whether it was
        recorded now."""
        now = self.now()
        receipt_json = json.dumps(dict(receipt), default=str)
        current_rows = select(deliveries).where(
            deliveries.c.id == delivery_id, deliveries.c.state.not_in(_SETTLED)
        )
        if self.is_postgresql:
            current_rows = current_rows.with_for_update()
        with self.engine.begin() as connection:
            current = connection.execute(current_rows).first()
            if current is None:
                return False
            connection.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(
                    state="published",
                    state_actor=actor,
                    claimed_by=None,
                    lease_until=None,
                    sending_at=None,
                    sent_at=current.sent_at or now,
                    receipt=receipt_json,
                    last_error=None,
                    updated_at=now,
                )
            )
            record = Record.from_row(current, self.read_media)
            self._append_log(
                connection,
                [
                    {
                        "at": now,
                        "delivery_id": delivery_id,
                        "post": current.post,
                        "segment": current.segment,
                        "channel": current.channel,
                        "from_state": current.state,
                        "to_state": "published",
                        "actor": actor,
                        "reason": reason,
                        "attempt": current.attempts,
                        "receipt": receipt_json,
                        "media": sent_media_json(record.media),
                    }
                ],
            )
        return True

    def keep_thread_part(self, delivery_id: str, part: int, receipt: Mapping[str, Any]) -> None:
        """Keep the receipt of one part of a thread that went out (from a runner's
        journal), whoever holds the delivery now."""
        with self.engine.begin() as connection:
            insert = dialect_insert(connection, thread_parts).values(
                delivery_id=delivery_id,
                part=part,
                receipt=json.dumps(dict(receipt), default=str),
                at=self.now(),
            )
            connection.execute(insert.on_conflict_do_nothing())

    def take_over_expired(self, worker: str, *, lease: timedelta, limit: int) -> list[Record]:
        """Claim for `worker` up to `limit` deliveries whose claim lease ran out while
        their worker was sending them (the sending mark is set): each is *in doubt* (it
        may have gone out). The activity log says so ("lease expired ...: in doubt");
        the attempt is counted, so a delivery that kills its worker every time ends up
        failed. The runner then asks the network before sending again. Expired claims
        never started go back to scheduled first (`release_unstarted`)."""
        self.release_unstarted(worker)
        now = self.now()
        chosen = (
            select(deliveries.c.id, deliveries.c.claimed_by)
            .where(
                deliveries.c.state == "claimed",
                deliveries.c.lease_until < now,
                deliveries.c.sending_at.is_not(None),
            )
            .order_by(deliveries.c.lease_until, deliveries.c.id)
            .limit(limit)
        )
        if self.is_postgresql:
            chosen = chosen.with_for_update(skip_locked=True)
        with self.engine.begin() as connection:
            previous = {row.id: row.claimed_by for row in connection.execute(chosen)}
            if not previous:
                return []
            rows = connection.execute(
                update(deliveries)
                .where(
                    deliveries.c.id.in_(list(previous)),
                    deliveries.c.state == "claimed",
                    deliveries.c.lease_until < now,
                    deliveries.c.sending_at.is_not(None),
                )
                .values(
                    state_actor=worker,
                    claimed_by=worker,
                    lease_until=now + lease,
                    attempts=deliveries.c.attempts + 1,
                    updated_at=now,
                )
                .returning(deliveries)
            ).all()
            self._log(
                connection,
                [
                    {
                        **row._mapping,
                        "log_reason": f"lease expired (worker {previous[row.id]} gone): in "
                        "doubt, it may have gone out; asking the network before sending again",
                    }
                    for row in rows
                ],
                "claimed",
                worker,
                now,
                from_state="claimed",
            )
        return self._claimed_records(rows)

    def mark_missed(self, actor: str = "runner") -> list[str]:
        """Deliveries never attempted and later than their misfire grace become missed."""
        now = self.now()
        with self.engine.begin() as connection:
            rows = connection.execute(
                update(deliveries)
                .where(
                    deliveries.c.state == "scheduled",
                    # deadline >= due always, so this bound lets the (state, due)
                    # index skip the far-future backlog.
                    deliveries.c.due < now,
                    deliveries.c.attempts == 0,
                    deliveries.c.deadline.is_not(None),
                    deliveries.c.deadline < now,
                )
                .values(state="missed", state_actor=actor, updated_at=now)
                .returning(*_LOG_COLUMNS)
            ).all()
            self._log(
                connection,
                [r._mapping for r in rows],
                "missed",
                actor,
                now,
                from_state="scheduled",
                reason="later than its misfire grace",
            )
        return [r.id for r in rows]

    def claim(
        self,
        worker: str,
        *,
        limit: int,
        lease: timedelta,
        calendar: str | None = None,
        channel: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[Record]:
        """Atomically claim up to `limit` due deliveries for `worker` until the lease ends.

        PostgreSQL: one UPDATE over a SELECT ... FOR UPDATE SKIP LOCKED, so concurrent
        workers take disjoint batches without waiting. SQLite: the same single UPDATE
        statement, which the database's write lock makes atomic."""
        now = self.now()
        chosen = select(deliveries.c.id).where(self._claimable(now))
        if calendar is not None:
            chosen = chosen.where(deliveries.c.calendar == calendar)
        if channel is not None:
            chosen = chosen.where(deliveries.c.channel == channel)
        if ids is not None:
            chosen = chosen.where(deliveries.c.id.in_(list(ids)))
        chosen = chosen.order_by(deliveries.c.due, deliveries.c.id).limit(limit)
        if self.is_postgresql:
            chosen = chosen.with_for_update(skip_locked=True)
        with self.engine.begin() as connection:
            rows = connection.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(chosen.scalar_subquery()))
                .values(
                    state="claimed",
                    state_actor=worker,
                    claimed_by=worker,
                    lease_until=now + lease,
                    sent_at=now,
                    sending_at=None,
                    attempts=deliveries.c.attempts + 1,
                    updated_at=now,
                )
                .returning(deliveries)
            ).all()
            self._log(
                connection,
                [r._mapping for r in rows],
                "claimed",
                worker,
                now,
                from_state="scheduled",
                reason="due",
            )
        return self._claimed_records(rows)

    def _claimed_records(self, rows: Sequence[Any]) -> list[Record]:
        """Claimed rows as records (media read on demand), in due order."""
        records = [Record.from_row(r, self.read_media) for r in rows]
        records.sort(key=lambda r: (r.due, r.id))
        return records

    def _finish(
        self,
        record: Record,
        worker: str,
        to_state: str,
        *,
        reason: str | None,
        receipt: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> bool:
        now = self.now()
        receipt_json = json.dumps(dict(receipt), default=str) if receipt is not None else None
        if receipt_json is not None:
            values["receipt"] = receipt_json
        values = {
            "state": to_state,
            "state_actor": worker,
            "claimed_by": None,
            "lease_until": None,
            "sending_at": None,
            "updated_at": now,
            **values,
        }
        entry = {
            "at": now,
            "delivery_id": record.id,
            "post": record.post,
            "segment": record.segment,
            "channel": record.channel,
            "from_state": "claimed",
            "to_state": to_state,
            "actor": worker,
            "reason": reason,
            "attempt": record.attempts,
            "receipt": receipt_json,
            "media": sent_media_json(record.media) if to_state == "published" else None,
        }
        if self.is_postgresql:
            # One statement, one round trip, no wait for the disk (store.round_trips).
            statement, parameters = finish_statement(
                self.outcome_engine.dialect, record.id, worker, values, entry
            )
            return bool(statement.execute(self.held_outcomes.connection(), parameters).all())
        with self.engine.begin() as connection:
            done = connection.execute(
                update(deliveries)
                .where(_held(deliveries.c.id == record.id, worker))
                .values(**values)
            ).rowcount
            if done:
                self._append_log(connection, [entry])
        return bool(done)

    def record_published(
        self,
        record: Record,
        worker: str,
        receipt: Mapping[str, Any],
        *,
        reason: str = "published",
    ) -> bool:
        """Mark a claimed delivery published with the network's receipt. False when the
        claim was lost (lease expired and taken over); the new owner records it."""
        return self._finish(
            record, worker, "published", reason=reason, receipt=receipt, last_error=None
        )

    def record_doubt(self, record: Record, worker: str, why: str) -> bool:
        """Hold a claimed delivery in doubt (state "doubt") until an operator says
        whether it went out (`resolve`)."""
        return self._finish(record, worker, "doubt", reason=why, last_error=why)

    def record_retry(self, record: Record, worker: str, due: datetime, error: str) -> bool:
        """Put a claimed delivery back for another attempt at `due` after a transient error."""
        return self._finish(
            record,
            worker,
            "scheduled",
            reason=_RETRY_REASON.format(attempt=record.attempts, due=due, error=error),
            due=_naive(due),
            last_error=error,
        )

    def record_failed(self, record: Record, worker: str, error: str) -> bool:
        """Mark a claimed delivery failed for good."""
        return self._finish(record, worker, "failed", reason=error, last_error=error)

    def record_deferred(self, record: Record, worker: str, due: datetime, why: str) -> bool:
        """Give a claimed delivery back unattempted (rate limit, shutdown), due at `due`."""
        return self._finish(
            record,
            worker,
            "scheduled",
            reason=_DEFERRED_PREFIX + why,
            due=_naive(due),
            attempts=deliveries.c.attempts - 1,
            sent_at=None,
        )

    def record_paused(self, record: Record, worker: str, why: str) -> bool:
        """Give a claimed delivery back unattempted because a pause now covers it (its
        channel was held meanwhile): paused, or scheduled when no pause rule covers it
        any longer."""
        return self._finish(
            record,
            worker,
            "paused" if self.held(record) else "scheduled",
            reason=why,
            attempts=deliveries.c.attempts - 1,
            sent_at=None,
            last_error=why,
        )

    def record_thread_part(
        self,
        record: Record,
        worker: str,
        part: int,
        receipt: Mapping[str, Any],
        lease: timedelta,
    ) -> bool:
        """Record that `part` of a claimed thread went out with `receipt`, and extend the
        claim by `lease` for the next part. The receipt is kept even when the claim was
        lost (the post exists); returns whether `worker` still holds the claim."""
        now = self.now()
        with self.engine.begin() as connection:
            insert = dialect_insert(connection, thread_parts).values(
                delivery_id=record.id,
                part=part,
                receipt=json.dumps(dict(receipt), default=str),
                at=now,
            )
            connection.execute(insert.on_conflict_do_nothing())
            held = connection.execute(
                update(deliveries)
                .where(_held(deliveries.c.id == record.id, worker))
                # This part is recorded: until the next one is marked, nothing is in
                # flight.
                .values(lease_until=now + lease, sending_at=None)
            ).rowcount
        return bool(held)
