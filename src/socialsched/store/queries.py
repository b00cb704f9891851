"""Reading the store: records, status, the activity log, outcomes, channels and
what falls due when.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)

from socialsched.calendar.model import Channel, RunnerSettings

from .common import StoreError, _aware, _chunks, _naive
from .core import StoreCore
from .records import (
    _DEFERRED_PREFIX,
    _RETRY_LIKE,
    CREDENTIALS_REJECTED,
    Activity,
    Hold,
    HoldEntry,
    Outcomes,
    Record,
    Status,
)
from .tables import (
    STATES,
    activity,
    channels,
    deliveries,
    holds,
    runner_settings,
    thread_parts,
)


class Queries(StoreCore):
    """Read-only questions about the store."""

    def channels(self) -> dict[tuple[str, str], Channel]:
        """Every channel the store knows, by (calendar, channel name)."""
        with self.engine.connect() as connection:
            return {
                (row.calendar, row.name): Channel(
                    name=row.name,
                    adapter=row.adapter,
                    audiences=json.loads(row.audiences),
                    secrets=json.loads(row.secrets),
                    settings=json.loads(row.settings),
                    rate=row.rate,
                    max_attempts=row.max_attempts,
                    on_doubt=row.on_doubt,
                )
                for row in connection.execute(select(channels))
            }

    def runner_settings(self) -> dict[str, RunnerSettings]:
        """Each scheduled calendar's `[runner]` settings, by calendar name."""
        with self.engine.connect() as connection:
            return {
                row.calendar: RunnerSettings(
                    alert_channels=json.loads(row.alert_channels),
                    alert_window=timedelta(seconds=row.alert_window_s),
                    **_collect_after(row.collect_after),
                )
                for row in connection.execute(select(runner_settings))
            }

    def hold_entries(self) -> list[HoldEntry]:
        """The pause rules in force with their reason, actor and time, oldest first."""
        with self.engine.connect() as connection:
            return self._hold_entries(connection)

    @staticmethod
    def _hold_entries(connection: Connection) -> list[HoldEntry]:
        return [
            HoldEntry(
                Hold(segment=r.segment, channel=r.channel, tag=r.tag, post=r.post),
                r.reason,
                r.actor,
                r.at.replace(tzinfo=UTC),
            )
            for r in connection.execute(select(holds).order_by(holds.c.id))
        ]

    # ---- reading ----

    def get(self, delivery_id: str) -> Record:
        """The delivery with this id."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(deliveries).where(deliveries.c.id == delivery_id)
            ).first()
        if row is None:
            raise StoreError(f"no delivery with id {delivery_id!r}")
        return Record.from_row(row, self.read_media)

    def records(self, state: str | None = None) -> list[Record]:
        """Every delivery (in one state), by due time."""
        query = select(deliveries).order_by(deliveries.c.due, deliveries.c.id)
        if state is not None:
            query = query.where(deliveries.c.state == state)
        with self.engine.connect() as connection:
            return [Record.from_row(row, self.read_media) for row in connection.execute(query)]

    def status(self) -> Status:
        """Counts per state, overall and per channel, and the next due time."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(deliveries.c.channel, deliveries.c.state, func.count()).group_by(
                    deliveries.c.channel, deliveries.c.state
                )
            ).all()
            next_due = connection.execute(
                select(func.min(deliveries.c.due)).where(deliveries.c.state == "scheduled")
            ).scalar()
        counts = dict.fromkeys(STATES, 0)
        per_channel: dict[str, dict[str, int]] = {}
        for channel, state, count in rows:
            counts[state] = counts.get(state, 0) + count
            per_channel.setdefault(channel, dict.fromkeys(STATES, 0))[state] = count
        return Status(counts, per_channel, _aware(next_due), tuple(self.hold_entries()))

    def log(
        self,
        *,
        delivery: str | None = None,
        post: str | None = None,
        segment: str | None = None,
        channel: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Activity]:
        """Activity log entries, oldest first, filtered by any of the arguments."""
        query = select(activity).order_by(activity.c.id)
        for column, value in (
            (activity.c.delivery_id, delivery),
            (activity.c.post, post),
            (activity.c.segment, segment),
            (activity.c.channel, channel),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(activity.c.at >= _naive(since))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            return [
                Activity(
                    id=r.id,
                    at=r.at.replace(tzinfo=UTC),
                    delivery_id=r.delivery_id,
                    post=r.post,
                    segment=r.segment,
                    channel=r.channel,
                    from_state=r.from_state,
                    to_state=r.to_state,
                    actor=r.actor,
                    reason=r.reason,
                    attempt=r.attempt,
                    receipt=json.loads(r.receipt) if r.receipt else None,
                    media=tuple(json.loads(r.media)) if r.media else (),
                )
                for r in connection.execute(query)
            ]

    def last_activity_id(self) -> int:
        """The id of the newest activity log entry (0 when the log is empty): what
        `outcomes` counts after."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.max(activity.c.id))).scalar() or 0)

    def outcomes(self, actor: str, *, after: int = 0) -> Outcomes:
        """What `actor` (a runner's worker name) recorded in the activity log after entry
        `after`: per channel, how many deliveries it published, retried, failed,
        deferred, marked missed, gave back because their channel was held for rejected
        credentials, and held in doubt (`OUTCOMES`)."""
        claimed = activity.c.from_state == "claimed"
        back = and_(claimed, activity.c.to_state == "scheduled")
        held = and_(
            claimed,
            or_(
                activity.c.to_state == "paused",
                # How the runner words a hold's reason: a prefix, matched literally (an
                # error text that merely mentions it is a retry, not a hold).
                activity.c.reason.startswith(CREDENTIALS_REJECTED, autoescape=True),
            ),
        )
        kind = case(
            (
                activity.c.to_state.in_(("published", "failed", "missed", "doubt")),
                activity.c.to_state,
            ),
            (held, literal("held")),
            (and_(back, activity.c.reason.like(_RETRY_LIKE)), literal("retried")),
            (and_(back, activity.c.reason.like(_DEFERRED_PREFIX + "%")), literal("deferred")),
            else_=None,
        )
        entries = (
            select(activity.c.channel, kind.label("kind"))
            .where(activity.c.actor == actor, activity.c.id > after)
            .subquery()
        )
        query = (
            select(entries.c.channel, entries.c.kind, func.count())
            .where(entries.c.kind.is_not(None))
            .group_by(entries.c.channel, entries.c.kind)
        )
        per_channel: dict[str, dict[str, int]] = {}
        with self.engine.connect() as connection:
            for channel, outcome, count in connection.execute(query):
                per_channel.setdefault(channel, {})[outcome] = count
        return Outcomes(per_channel)

    # ---- dispatching (used by the runner) ----

    def _claimable(self, now: datetime) -> Any:
        return and_(
            deliveries.c.state == "scheduled",
            deliveries.c.due <= now,
            or_(deliveries.c.requires_approval.is_(False), deliveries.c.approved.is_(True)),
        )

    def locate(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """The (calendar, channel) of each delivery id given (unknown ids left out)."""
        found: dict[str, tuple[str, str]] = {}
        with self.engine.connect() as connection:
            for chunk in _chunks(list(ids)):
                query = select(deliveries.c.id, deliveries.c.calendar, deliveries.c.channel)
                for row in connection.execute(query.where(deliveries.c.id.in_(chunk))):
                    found[row.id] = (row.calendar, row.channel)
        return found

    def due_channels(self) -> list[tuple[str, str]]:
        """(calendar, channel) pairs with deliveries due now."""
        with self.engine.connect() as connection:
            return [
                (r.calendar, r.channel)
                for r in connection.execute(
                    select(deliveries.c.calendar, deliveries.c.channel)
                    .where(self._claimable(self.now()))
                    .distinct()
                )
            ]

    def sent_since(self, channel: str, since: datetime) -> tuple[int, datetime | None]:
        """How many attempts on `channel` started after `since`, and the oldest of them."""
        with self.engine.connect() as connection:
            count, oldest = connection.execute(
                select(func.count(), func.min(deliveries.c.sent_at)).where(
                    deliveries.c.channel == channel, deliveries.c.sent_at > _naive(since)
                )
            ).one()
        return count, _aware(oldest)

    def next_due(self) -> datetime | None:
        """When the earliest scheduled delivery falls due (or the earliest lease ends)."""
        with self.engine.connect() as connection:
            due = connection.execute(
                select(func.min(deliveries.c.due)).where(
                    deliveries.c.state == "scheduled",
                    or_(
                        deliveries.c.requires_approval.is_(False),
                        deliveries.c.approved.is_(True),
                    ),
                )
            ).scalar()
            lease = connection.execute(
                select(func.min(deliveries.c.lease_until)).where(deliveries.c.state == "claimed")
            ).scalar()
        times = [t for t in (due, lease) if t is not None]
        return _aware(min(times)) if times else None

    def in_flight(self) -> int:
        """How many deliveries are claimed right now."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count()).where(deliveries.c.state == "claimed")
            ).scalar_one()

    def thread_receipts(self, delivery_id: str) -> list[Mapping[str, Any]]:
        """The receipts of the parts of a thread already out, part 1 first."""
        query = (
            select(thread_parts.c.part, thread_parts.c.receipt)
            .where(thread_parts.c.delivery_id == delivery_id)
            .order_by(thread_parts.c.part)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        # Parts are recorded in order, so they run 1..n; a gap would mean a bug.
        assert [row.part for row in rows] == list(range(1, len(rows) + 1)), rows
        return [json.loads(row.receipt) for row in rows]

    def due_now(self) -> int:
        """How many deliveries are due now and not yet claimed (the runners' queue)."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count()).where(self._claimable(self.now()))
            ).scalar_one()


def _collect_after(stored: str | None) -> dict[str, Any]:
    """`RunnerSettings` keywords for a stored `collect_after` (NULL: the default)."""
    if stored is None:
        return {}
    return {"collect_after": [timedelta(seconds=age) for age in json.loads(stored)]}
