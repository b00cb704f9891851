"""Engagement in the store: snapshots per delivery and fetch (a time series), where
collection stands per delivery, and the read API reports build on.

Collection (`socialsched.analytics.collect`) asks `engagement_due` what to fetch, calls the
adapters, and hands each call's findings to `record_engagement`: one transaction per
call, so a crash loses nothing recorded before and a new run goes on with what is
still due. A delivery is due once it has reached an age of its calendar's
`[runner] collect_after` for which it has no snapshot yet (`engagement_progress`
keeps the largest age collected). Reports read `engagement_facts` (the latest snapshot
of each delivery, with the delivery's facts) and `engagement_snapshots` (every one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from socialsched.adapters.engagement import COUNTS
from socialsched.calendar.model import DEFAULT_COLLECT_AFTER

from .common import _naive
from .engagement_records import (
    Collected,
    CollectedCounts,
    DueEngagement,
    EngagementFact,
    Snapshot,
)
from .media_cache import dialect_insert
from .queries import Queries
from .tables import (
    deliveries,
    engagement,
    engagement_calls,
    engagement_leases,
    engagement_progress,
)

_d = deliveries.c
_p = engagement_progress.c
_e = engagement.c
# The delivery facts reports group by.
_FACT_COLUMNS: tuple[str, ...] = ("id", "calendar", "post", "segment", "channel", "adapter")
_FACT_COLUMNS += ("locale", "tags", "utc", "local", "sent_at")


class EngagementStore(Queries):
    """Engagement snapshots and collection bookkeeping (see the module's docstring)."""

    # ---- what is due ----

    def _collect_ages(self) -> tuple[dict[str, list[int]], list[int]]:
        """Each scheduled calendar's collection ages in seconds, and the default for
        deliveries of calendars with no stored settings."""
        by_calendar = {
            name: [int(age.total_seconds()) for age in settings.collect_after]
            for name, settings in self.runner_settings().items()
        }
        return by_calendar, [int(age.total_seconds()) for age in DEFAULT_COLLECT_AFTER]

    def _due_where(
        self,
        now: datetime,
        since: datetime | None,
        calendar: str | None,
        channel: str | None,
    ) -> Any:
        """The condition on deliveries outer-joined with their progress that makes a
        delivery due for a snapshot at `now`."""
        by_calendar, default = self._collect_ages()

        def reached(ages: Sequence[int]) -> Any:
            # Due: some age is reached and is larger than the largest one collected.
            return or_(
                *[
                    and_(
                        _d.sent_at <= now - timedelta(seconds=age),
                        or_(_p.age_s.is_(None), _p.age_s < age),
                    )
                    for age in ages
                ]
            )

        per_calendar = [
            and_(_d.calendar == name, reached(ages)) for name, ages in by_calendar.items() if ages
        ]
        if default:
            per_calendar.append(and_(_d.calendar.not_in(list(by_calendar)), reached(default)))
        if not per_calendar:
            return False
        criteria = [
            _d.state == "published",
            _d.receipt.is_not(None),
            _d.sent_at.is_not(None),
            or_(*per_calendar),
        ]
        if since is not None:
            criteria.append(_d.sent_at >= _naive(since))
        if calendar is not None:
            criteria.append(_d.calendar == calendar)
        if channel is not None:
            criteria.append(_d.channel == channel)
        return and_(*criteria)

    def engagement_due(
        self,
        *,
        since: datetime | None = None,
        calendar: str | None = None,
        channel: str | None = None,
        limit: int | None = None,
    ) -> list[DueEngagement]:
        """Published deliveries due for an engagement snapshot now (published at or
        after `since`; of one calendar or channel), the longest published first, at
        most `limit`. Each carries the age its snapshot will answer."""
        now = self.now()
        by_calendar, default = self._collect_ages()
        query = (
            select(
                _d.id,
                _d.calendar,
                _d.channel,
                _d.post,
                _d.segment,
                _d.sent_at,
                _d.receipt,
            )
            .select_from(deliveries.outerjoin(engagement_progress, _p.delivery_id == _d.id))
            .where(self._due_where(now, since, calendar, channel))
            .order_by(_d.sent_at, _d.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        due = []
        for row in rows:
            ages = by_calendar.get(row.calendar, default)
            old = now - row.sent_at
            age = max(seconds for seconds in ages if timedelta(seconds=seconds) <= old)
            due.append(
                DueEngagement(
                    delivery_id=row.id,
                    calendar=row.calendar,
                    channel=row.channel,
                    post=row.post,
                    segment=row.segment,
                    published_at=row.sent_at.replace(tzinfo=UTC),
                    receipt=json.loads(row.receipt),
                    age=timedelta(seconds=age),
                )
            )
        return due

    def engagement_due_counts(self, *, since: datetime | None = None) -> dict[tuple[str, str], int]:
        """How many deliveries are due for a snapshot now, per (calendar, channel)."""
        query = (
            select(_d.calendar, _d.channel, func.count())
            .select_from(deliveries.outerjoin(engagement_progress, _p.delivery_id == _d.id))
            .where(self._due_where(self.now(), since, None, None))
            .group_by(_d.calendar, _d.channel)
        )
        with self.engine.connect() as connection:
            return {(row[0], row[1]): row[2] for row in connection.execute(query)}

    # ---- recording ----

    def record_engagement(
        self,
        calendar: str,
        channel: str,
        collected: Sequence[Collected],
        *,
        run: str,
        calls: int = 1,
        keep_calls: timedelta = timedelta(days=1),
    ) -> None:
        """Record what one collection call found, in one transaction: a snapshot per
        delivery the network still has, and each delivery's progress (the age now
        collected, found or not, by collection `run`). `calls` requests are counted against the
        channel's rate; calls older than `keep_calls` are forgotten."""
        now = self.now()
        snapshots = [
            {
                "delivery_id": item.due.delivery_id,
                "fetched_at": _naive(item.engagement.fetched_at),
                "age_s": int(item.age_s),
                **item.engagement.counts(),
                "parts": item.parts,
                "recorded_at": now,
            }
            for item in (_Item(c) for c in collected)
            if item.engagement is not None
        ]
        progress = [
            {
                "delivery_id": item.due.delivery_id,
                "channel": channel,
                "age_s": item.age_s,
                "collected_at": now,
                "found": (item.engagement is not None) if item.asked else None,
                "fetched_at": (
                    _naive(item.engagement.fetched_at) if item.engagement is not None else None
                ),
                "snapshots": 1 if item.engagement is not None else 0,
                "collected_by": run,
            }
            for item in (_Item(c) for c in collected)
        ]
        with self.engine.begin() as connection:
            if snapshots:
                connection.execute(
                    dialect_insert(connection, engagement).on_conflict_do_nothing(), snapshots
                )
            if progress:
                insert = dialect_insert(connection, engagement_progress)
                new = insert.excluded
                connection.execute(
                    insert.on_conflict_do_update(
                        index_elements=["delivery_id"],
                        set_={
                            # Two collectors at once: the larger age and later snapshot win.
                            "age_s": case((_p.age_s > new.age_s, _p.age_s), else_=new.age_s),
                            "collected_at": new.collected_at,
                            "found": new.found,
                            "fetched_at": case(
                                (new.fetched_at.is_(None), _p.fetched_at),
                                (_p.fetched_at.is_(None), new.fetched_at),
                                (_p.fetched_at > new.fetched_at, _p.fetched_at),
                                else_=new.fetched_at,
                            ),
                            "snapshots": _p.snapshots + new.snapshots,
                            "collected_by": new.collected_by,
                        },
                    ),
                    progress,
                )
            if calls:
                # One row per request the call made: the rate counts requests.
                connection.execute(
                    engagement_calls.insert(),
                    [
                        {"calendar": calendar, "channel": channel, "at": now, "receipts": share}
                        for share in _shares(_receipts(collected), calls)
                    ],
                )
                connection.execute(
                    engagement_calls.delete().where(
                        engagement_calls.c.channel == channel,
                        engagement_calls.c.at < now - keep_calls,
                    )
                )

    def lease_engagement(self, calendar: str, channel: str, holder: str, lease: timedelta) -> bool:
        """Take (or extend) the right to collect a channel for `lease`: False while
        another collector holds it and its lease has not ended."""
        now = self.now()
        leases = engagement_leases.c
        with self.engine.begin() as connection:
            insert = dialect_insert(connection, engagement_leases).values(
                calendar=calendar, channel=channel, holder=holder, until=now + lease
            )
            taken = connection.execute(
                insert.on_conflict_do_update(
                    index_elements=["calendar", "channel"],
                    set_={"holder": holder, "until": now + lease},
                    where=or_(leases.holder == holder, leases.until <= now),
                ).returning(leases.holder)
            ).first()
        return taken is not None

    def release_engagement(self, calendar: str, channel: str, holder: str) -> None:
        """Give up the right to collect a channel (when `holder` has it)."""
        leases = engagement_leases.c
        with self.engine.begin() as connection:
            connection.execute(
                engagement_leases.delete().where(
                    leases.calendar == calendar, leases.channel == channel, leases.holder == holder
                )
            )

    def engagement_calls_since(self, channel: str, since: datetime) -> int:
        """How many engagement requests were made on `channel` after `since`."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count()).where(
                    engagement_calls.c.channel == channel,
                    engagement_calls.c.at > _naive(since),
                )
            ).scalar_one()

    def engagement_recorded(self, run: str) -> dict[str, CollectedCounts]:
        """What collection `run` recorded, per channel: deliveries collected,
        snapshots stored, posts their network no longer had."""
        query = (
            select(
                _p.channel,
                func.count(),
                func.sum(case((_p.found.is_(False), 1), else_=0)),
                func.sum(case((_p.found.is_(None), 1), else_=0)),
            )
            .where(_p.collected_by == run)
            .group_by(_p.channel)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return {
            channel: CollectedCounts(
                collected=count - int(skipped or 0),
                snapshots=count - int(lost or 0) - int(skipped or 0),
                not_found=int(lost or 0),
                skipped=int(skipped or 0),
            )
            for channel, count, lost, skipped in rows
        }

    # ---- reading, for reports ----

    def engagement_facts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        calendar: str | None = None,
        channel: str | None = None,
    ) -> list[EngagementFact]:
        """The latest snapshot of every published delivery that has one, with the
        delivery's facts (post, segment, channel, locale, tags, planned and local
        time, published_at), published in [since, until); by publication time."""
        query = (
            select(
                *[_d[name] for name in _FACT_COLUMNS],
                _e.fetched_at,
                _e.age_s,
                _e.parts,
                _p.snapshots,
                *[_e[name] for name in COUNTS],
            )
            .select_from(
                deliveries.join(engagement_progress, _p.delivery_id == _d.id).join(
                    engagement,
                    and_(_e.delivery_id == _p.delivery_id, _e.fetched_at == _p.fetched_at),
                )
            )
            .where(_d.state == "published", _d.sent_at.is_not(None))
            .order_by(_d.sent_at, _d.id)
        )
        if since is not None:
            query = query.where(_d.sent_at >= _naive(since))
        if until is not None:
            query = query.where(_d.sent_at < _naive(until))
        if calendar is not None:
            query = query.where(_d.calendar == calendar)
        if channel is not None:
            query = query.where(_d.channel == channel)
        with self.engine.connect() as connection:
            return [EngagementFact.from_row(row) for row in connection.execute(query)]

    def engagement_snapshots(
        self,
        delivery_ids: Sequence[str] | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Snapshot]:
        """Every snapshot (of these deliveries), fetched in [since, until); by delivery,
        oldest first: the time series."""
        query = select(engagement).order_by(_e.delivery_id, _e.fetched_at)
        if delivery_ids is not None:
            query = query.where(_e.delivery_id.in_(list(delivery_ids)))
        if since is not None:
            query = query.where(_e.fetched_at >= _naive(since))
        if until is not None:
            query = query.where(_e.fetched_at < _naive(until))
        with self.engine.connect() as connection:
            return [Snapshot.from_row(row) for row in connection.execute(query)]


class _Item:
    """A `Collected` with its age in seconds (what the rows keep)."""

    __slots__ = ("age_s", "asked", "due", "engagement", "parts")

    def __init__(self, collected: Collected) -> None:
        self.due = collected.due
        self.engagement = collected.engagement
        self.parts = collected.parts
        self.asked = collected.asked
        self.age_s = int(collected.due.age.total_seconds())


def _receipts(collected: Sequence[Collected]) -> int:
    return sum(len(item.due.receipts) for item in collected)


def _shares(receipts: int, requests: int) -> list[int]:
    """`receipts` spread over `requests` rows as evenly as whole numbers allow."""
    base, extra = divmod(receipts, requests)
    return [base + (1 if index < extra else 0) for index in range(requests)]


__all__ = ["EngagementStore"]
