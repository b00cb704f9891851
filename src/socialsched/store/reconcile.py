"""Scheduling: reconcile the store with a plan (add, move, update, cancel),
never touching what went out.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

import attrs
from sqlalchemy import (
    Connection,
    DateTime,
    and_,
    literal,
    literal_column,
    select,
    type_coerce,
    update,
)
from sqlalchemy.types import NullType

from socialsched.adapters import plugins
from socialsched.calendar.model import Calendar, Delivery
from socialsched.calendar.policy import Rate
from socialsched.media.model import Media

from . import tuning
from .bulk import (
    _bulk_insert_values,
    _bulk_update_values,
    _indexes_rebuilt_after,
    _last_rowid,
    _minutes,
)
from .common import _as_date, _chunks, _collector_paused, _emit
from .markets import save_markets
from .media_cache import (
    store_media,
)
from .operator import _hold_view
from .queries import Queries
from .records import Hold, ReconcileResult
from .rows import (
    _CHANNEL,
    _CONTENT,
    _CONTENT_COLUMNS,
    _ID,
    _LOG_COLUMNS,
    _PLANNED_COLUMNS,
    _PLANNED_LOG_FIELDS,
    _POST,
    _SEGMENT,
    _STATE,
    _UPDATED_FROM,
    _UTC,
    PlannedRows,
    _what_changed,
)
from .tables import (
    activity,
    channels,
    deliveries,
    runner_settings,
    thread_parts,
)


class Reconciliation(Queries):
    """Reconciling the store with a plan."""

    # ---- scheduling (reconcile) ----

    def reconcile(
        self,
        calendar: Calendar,
        start: date | str,
        end: date | str,
        planned: Sequence[Delivery],
        *,
        actor: str = "schedule",
        dry_run: bool = False,
        keep: Collection[str] = frozenset(),
    ) -> ReconcileResult:
        """Reconcile the store with `planned`, the plan of `calendar` for local days
        [start, end] (a `Plan`, read column by column, or any deliveries).

        New deliveries are added, moved ones get their new time, changed ones their new
        text, deliveries of this calendar in the range that are no longer planned are
        cancelled, except those whose id is in `keep` (planned in a neighbouring range,
        where they will be moved); published (and in-flight) ones are never touched.
        Running it twice changes nothing. `dry_run`: reconcile in a transaction that is
        rolled back, so nothing changes, and describe every change in the result's
        `changes`."""
        start, end = _as_date(start), _as_date(end)
        now = self.now()
        with _collector_paused():
            # Rows are built before the transaction: on SQLite it holds the write lock.
            used_media: dict[str, Media] = {}
            wanted = PlannedRows(calendar, planned, now, self.engine.dialect.name, used_media)
            with self.engine.connect() as connection, connection.begin() as transaction:
                # Media the planner did not keep through `media_cache()` (e.g. `planned`
                # built by hand): their bytes, so runners elsewhere can read them.
                store_media(connection, used_media.values(), now)
                self._save_channels(connection, calendar)
                save_markets(connection, calendar)
                active_holds = self._holds(connection)
                # The planned content as the driver hands it back, to compare with the
                # new rows as they are: no conversion either way.
                columns = (
                    deliveries.c.id,
                    deliveries.c.state,
                    deliveries.c.state_actor,
                    *(type_coerce(deliveries.c[name], NullType()) for name in _CONTENT_COLUMNS),
                )
                in_range = select(*columns).where(
                    deliveries.c.calendar == calendar.name,
                    deliveries.c.local_day >= start.isoformat(),
                    deliveries.c.local_day <= end.isoformat(),
                )
                existing = {row[0]: row for row in connection.execute(in_range).all()}
                missing = [key for key in wanted if key not in existing]
                if missing and not self._rows_outside(connection, calendar.name, start, end):
                    missing = []  # nothing else in the table: no other row can have these ids
                for chunk in _chunks(missing):
                    query = select(*columns).where(deliveries.c.id.in_(chunk))
                    existing.update((row[0], row) for row in connection.execute(query).all())
                result = self._reconcile(
                    connection, wanted, existing, active_holds, now, actor, keep
                )
                if dry_run:
                    transaction.rollback()
                    return self._dry_run_result(result, wanted, existing)
        # Announced after the commit, so observers never hear of rows that rolled back.

        if result.added and (tuning.listeners or plugins.observed("delivery_scheduled")):
            added = set(result.added)
            for delivery in planned:
                if delivery.id in added:
                    channel = calendar.channel(delivery.channel)
                    _emit("delivery_scheduled", delivery=delivery, channel=channel)
        return result

    @staticmethod
    def _dry_run_result(
        result: ReconcileResult, wanted: PlannedRows, existing: dict[str, Any]
    ) -> ReconcileResult:
        from .dryrun import describe

        ids = {kind: getattr(result, kind) for kind in ("added", "moved", "updated", "cancelled")}
        changes = describe(ids, wanted.rows, existing, _PLANNED_COLUMNS, _CONTENT_COLUMNS)
        return attrs.evolve(result, dry_run=True, changes=changes)

    @staticmethod
    def _rows_outside(connection: Connection, calendar: str, start: date, end: date) -> bool:
        """Whether the table holds any delivery besides this calendar's in [start, end]."""
        in_range = and_(
            deliveries.c.calendar == calendar,
            deliveries.c.local_day >= start.isoformat(),
            deliveries.c.local_day <= end.isoformat(),
        )
        query = select(deliveries.c.id).where(~in_range).limit(1)
        return connection.execute(query).first() is not None

    def _reconcile(
        self,
        connection: Connection,
        wanted: PlannedRows,
        existing: dict[str, Any],
        active_holds: list[Hold],
        now: datetime,
        actor: str,
        keep: Collection[str] = frozenset(),
    ) -> ReconcileResult:
        # `wanted` and `existing` both hold values as the driver takes and returns them
        # (see `PlannedRows`), so they compare as they are.
        inserts: list[tuple[Any, ...]] = []
        changes: list[tuple[Any, ...]] = []
        moved: list[str] = []
        updated: list[str] = []
        unchanged = 0
        log: list[dict[str, Any]] = []
        # A first schedule of a range (nothing stored, nothing paused) adds every row as
        # planned, no per-row decisions: the rows need not even be built here.
        fresh = bool(wanted) and not existing and not active_holds

        @functools.cache
        def started_threads() -> set[str]:
            # Asked only when a stored unsent delivery differs from the plan.
            return set(connection.execute(select(thread_parts.c.delivery_id).distinct()).scalars())

        for key, row in () if fresh else wanted.rows.items():
            old = existing.get(key)
            if old is not None:
                # Rows read back are (id, state, state_actor, *content).
                old_state = old[1]
                revivable = old_state == "cancelled" and old[2] == actor
                if not revivable and (
                    old[3:] == row[_CONTENT] or old_state not in ("scheduled", "paused")
                ):
                    # Unchanged; or published, in flight, failed, missed: history, not plan.
                    unchanged += 1
                    continue
                if key in started_threads():
                    # Parts of its thread are out: the rest follow the plan they began.
                    unchanged += 1
                    continue
            held = bool(active_holds) and any(
                hold.matches(_hold_view(row)) for hold in active_holds
            )
            if old is None:
                inserts.append((*row[:-1], "paused") if held else row)
                continue
            state = "paused" if held or old_state == "paused" else "scheduled"
            changes.append((*row[_UPDATED_FROM:-1], state, 0, None, key))
            was, new = old[3 + _CONTENT_COLUMNS.index("utc")], row[_UTC]
            (moved if was != new else updated).append(key)
            reason = (
                f"moved from {_minutes(was)} UTC to {_minutes(new)} UTC"
                if was != new
                else _what_changed(old[3:], row[_CONTENT])
            )
            log += self._log_rows(
                [{**_hold_view(row), "id": key, "from_state": old_state, "log_reason": reason}],
                state,
                actor,
                now,
            )
        removed = [
            key
            for key, old in existing.items()
            if old[1] in ("scheduled", "paused") and key not in wanted and key not in keep
        ]
        is_sqlite = connection.dialect.name == "sqlite"
        added = len(wanted) if fresh else len(inserts)
        last_rowid = _last_rowid(connection, deliveries) if is_sqlite and added else 0
        with _indexes_rebuilt_after(connection, deliveries, added):
            if fresh:
                wanted.insert_all(connection)
            else:
                _bulk_insert_values(connection, deliveries, _PLANNED_COLUMNS, inserts, native=True)
        if changes:
            _bulk_update_values(
                connection,
                deliveries,
                (*_PLANNED_COLUMNS[_UPDATED_FROM:], "attempts", "last_error"),
                changes,
            )
        cancelled: list[dict[str, Any]] = []
        for chunk in _chunks(removed):
            cancelled += [
                dict(r._mapping)
                for r in connection.execute(
                    update(deliveries)
                    .where(
                        deliveries.c.id.in_(chunk), deliveries.c.state.in_(("scheduled", "paused"))
                    )
                    .values(state="cancelled", state_actor=actor, updated_at=now)
                    .returning(*_LOG_COLUMNS)
                )
            ]
        log += self._log_rows(
            cancelled, "cancelled", actor, now, reason="no longer in the calendar"
        )
        self._append_log(connection, log)
        if added:
            with _indexes_rebuilt_after(connection, activity, added):
                if is_sqlite:
                    self._log_rows_after(connection, last_rowid, actor, now)
                else:
                    new_rows = list(wanted.rows.values()) if fresh else inserts
                    self._log_planned(connection, new_rows, actor, now)
        return ReconcileResult(
            added=tuple(wanted) if fresh else tuple(map(operator.itemgetter(_ID), inserts)),
            moved=tuple(moved),
            updated=tuple(updated),
            cancelled=tuple(r["id"] for r in cancelled),
            unchanged=unchanged,
        )

    @staticmethod
    def _log_rows_after(connection: Connection, rowid: int, actor: str, now: datetime) -> None:
        """A "planned" activity entry for each delivery past `rowid` (SQLite): the rows
        this transaction added, as it holds the write lock. SQLite copies them into the
        log itself, in insertion order, with nothing to bind per entry."""
        after: Any = literal_column("rowid")
        entries = (
            select(
                literal(now, DateTime()),
                deliveries.c.id,
                deliveries.c.post,
                deliveries.c.segment,
                deliveries.c.channel,
                deliveries.c.state,
                literal(actor),
                literal("planned"),
                literal(0),
            )
            .where(after > rowid)
            .order_by(after)
        )
        connection.execute(activity.insert().from_select(_PLANNED_LOG_FIELDS, entries))

    @staticmethod
    def _log_planned(
        connection: Connection, inserts: list[tuple[Any, ...]], actor: str, now: datetime
    ) -> None:
        """A "planned" activity entry for each new row (tuples: at 200,000 deliveries,
        dicts would cost more than the database)."""
        tail = (actor, "planned", 0)
        entries = [
            (now, row[_ID], row[_POST], row[_SEGMENT], row[_CHANNEL], row[_STATE], *tail)
            for row in inserts
        ]
        _bulk_insert_values(connection, activity, _PLANNED_LOG_FIELDS, entries)

    @staticmethod
    def _save_channels(connection: Connection, calendar: Calendar) -> None:
        for channel in calendar.channels:
            if channel.rate:
                Rate.parse(channel.rate, channel.name)
        connection.execute(channels.delete().where(channels.c.calendar == calendar.name))
        rows = [
            {
                "calendar": calendar.name,
                "name": channel.name,
                "adapter": channel.adapter,
                "settings": json.dumps(dict(channel.settings), default=str),
                # Only the names of environment variables: values are never stored.
                "secrets": json.dumps(dict(channel.secrets)),
                "audiences": json.dumps(dict(channel.audiences), default=str),
                "rate": channel.rate,
                "max_attempts": channel.max_attempts,
                "on_doubt": channel.on_doubt,
            }
            for channel in calendar.channels
        ]
        if rows:
            connection.execute(channels.insert(), rows)
        connection.execute(
            runner_settings.delete().where(runner_settings.c.calendar == calendar.name)
        )
        connection.execute(
            runner_settings.insert().values(
                calendar=calendar.name,
                alert_channels=json.dumps(list(calendar.runner.alert_channels)),
                alert_window_s=int(calendar.runner.alert_window.total_seconds()),
                collect_after=json.dumps(
                    [int(age.total_seconds()) for age in calendar.runner.collect_after]
                ),
            )
        )
