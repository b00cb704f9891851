"""The durable outbox: planned deliveries in a relational database, and their history.

`Store` keeps every delivery with its state (scheduled, paused, claimed, published,
failed, cancelled, missed) in SQLite (a file, the default) or PostgreSQL, through
SQLAlchemy Core. Every state change is appended to the activity log with its time,
actor, reason, attempt and receipt. The schema is created and upgraded by the Alembic
migrations shipped in `socialsched/migrations`, run when the store is opened.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import operator
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Engine,
    and_,
    bindparam,
    case,
    create_engine,
    event,
    func,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import NullType

from . import plugins
from .errors import SocialschedError
from .media import Media
from .media_store import (
    StoreMediaCache,
    dialect_insert,
    media_from_json,
    media_json,
    read_media,
    sent_media_json,
    store_media,
)
from .model import Calendar, Channel, Delivery, RunnerSettings
from .policy import Rate
from .tables import (
    STATES,
    activity,
    channels,
    deliveries,
    holds,
    runner_settings,
    thread_parts,
)

DEFAULT_DB = "socialsched.db"
ENV_DB = "SOCIALSCHED_DB"
DEFAULT_MISFIRE_GRACE = timedelta(hours=1)
_CHUNK = 500  # ids per IN (...) list: below SQLite's bound-parameter limit
_MIGRATIONS = Path(__file__).with_name("migrations")

Clock = Callable[[], datetime]

# Lifecycle events leave the store and the runner through `_emit` only, so they can be
# forwarded to plugin hooks in one place. Listeners get (event name, fields).
listeners: list[Callable[[str, Mapping[str, Any]], None]] = []


def _emit(event_name: str, **fields: Any) -> None:
    """Announce a lifecycle event (delivery_scheduled, delivery_published, delivery_failed)
    to plugins (their hooks get `fields` as keyword arguments) and to `listeners`."""
    plugins.notify(event_name, **fields)
    for listener in listeners:
        listener(event_name, fields)


def _audience_json(audience: Any) -> str | None:
    if audience is None:
        return None
    # The planner hands a resolved `Audience`; keep its dict form, which parses back.
    return json.dumps(audience.to_dict() if hasattr(audience, "to_dict") else audience)


class StoreError(SocialschedError):
    """The store cannot do what was asked (unknown id, wrong state, database trouble)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _naive(moment: datetime) -> datetime:
    """The database keeps naive UTC times (portable across SQLite and PostgreSQL)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


def database_url(db: str | Path | None = None) -> str:
    """The SQLAlchemy URL for `db`: a URL as is, or a path to an SQLite file.

    With no `db`, the environment variable SOCIALSCHED_DB, else ./socialsched.db."""
    if db is None:
        db = os.environ.get(ENV_DB) or DEFAULT_DB
    text = str(db)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _redact(url: str) -> str:
    """A URL safe to show: the password, if any, replaced."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


@attrs.frozen
class ReconcileResult:
    """What `Store.schedule` changed: ids added, moved (new time), updated (new text or
    settings), cancelled (no longer planned) and how many were already up to date.

    A dry run (`dry_run`, nothing written) also describes each change in `changes`
    (`socialsched.dryrun.Change`: local times, changed fields, text diff)."""

    added: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    unchanged: int = 0
    dry_run: bool = False
    changes: tuple[Any, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(self.added or self.moved or self.updated or self.cancelled)


@attrs.frozen
class Record:
    """One delivery as the store holds it."""

    id: str
    calendar: str
    post: str
    segment: str
    channel: str
    adapter: str
    locale: str
    utc: datetime
    local: datetime
    text: str | None
    audience: Any
    tags: tuple[str, ...]
    quiet_hours: tuple[str, ...]
    state: str
    due: datetime
    attempts: int
    requires_approval: bool
    approved: bool
    receipt: Mapping[str, Any] | None
    last_error: str | None
    claimed_by: str | None
    lease_until: datetime | None
    media: tuple[Media, ...] = ()
    parts: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Any, reader: Callable[[str], bytes] | None = None) -> Record:
        """Build from a `deliveries` row; the media's bytes are read by `reader(digest)`
        when an adapter asks for them (None: descriptions only)."""
        m = row._mapping
        return cls(
            id=m["id"],
            calendar=m["calendar"],
            post=m["post"],
            segment=m["segment"],
            channel=m["channel"],
            adapter=m["adapter"],
            locale=m["locale"],
            utc=m["utc"].replace(tzinfo=UTC),
            local=datetime.fromisoformat(m["local"]),
            text=m["text"],
            audience=json.loads(m["audience"]) if m["audience"] else None,
            tags=tuple(json.loads(m["tags"] or "[]")),
            quiet_hours=tuple(json.loads(m["quiet_hours"] or "[]")),
            state=m["state"],
            due=m["due"].replace(tzinfo=UTC),
            attempts=m["attempts"],
            requires_approval=bool(m["requires_approval"]),
            approved=bool(m["approved"]),
            receipt=json.loads(m["receipt"]) if m["receipt"] else None,
            last_error=m["last_error"],
            claimed_by=m["claimed_by"],
            lease_until=_aware(m["lease_until"]),
            media=media_from_json(m["media"], reader),
            parts=tuple(json.loads(m["parts"])) if m["parts"] else (),
        )

    def to_delivery(self) -> Delivery:
        """The planned delivery this record holds (for lifecycle observers)."""
        return Delivery(
            id=self.id,
            post=self.post,
            segment=self.segment,
            channel=self.channel,
            adapter=self.adapter,
            utc=self.utc,
            local=self.local,
            text=self.text,
            audience=self.audience,
            tags=self.tags,
            media=self.media,
            parts=self.parts,
        )


@attrs.frozen
class Activity:
    """One entry of the append-only activity log."""

    id: int
    at: datetime
    delivery_id: str
    post: str
    segment: str
    channel: str
    from_state: str | None
    to_state: str
    actor: str
    reason: str | None
    attempt: int
    receipt: Mapping[str, Any] | None
    media: tuple[Mapping[str, Any], ...] = ()
    """On a "published" entry: the media that went out (digest, filename, alt)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = attrs.asdict(self)
        data["at"] = self.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        data["media"] = [dict(item) for item in self.media]
        return data


@attrs.frozen
class Status:
    """Counts per state (overall and per channel), the next due time and the pause
    rules in force (credential holds among them)."""

    counts: Mapping[str, int]
    per_channel: Mapping[str, Mapping[str, int]]
    next_due: datetime | None
    holds: tuple[HoldEntry, ...] = ()


#: What a runner records for a delivery it handled, as `Store.outcomes` counts them.
OUTCOMES = ("published", "retried", "failed", "deferred", "missed", "held", "doubt")
# The activity log tells a retry from a deferral (both go back from claimed to
# scheduled) by how the store words their reasons; `outcomes` matches these.
_RETRY_REASON = "attempt {attempt} failed, retry at {due:%Y-%m-%d %H:%M:%S} UTC: {error}"
_RETRY_LIKE = "attempt % failed%"
_DEFERRED_PREFIX = "deferred: "


@attrs.frozen
class Outcomes:
    """What one worker recorded, per channel: deliveries published, put back for a
    retry, failed for good, given back unattempted (deferred), marked missed, given back
    because their channel was held, and held in doubt."""

    per_channel: Mapping[str, Mapping[str, int]]

    @property
    def totals(self) -> dict[str, int]:
        """The counts summed over channels, every outcome present (zero when none)."""
        return {
            outcome: sum(counts.get(outcome, 0) for counts in self.per_channel.values())
            for outcome in OUTCOMES
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the totals, and `per_channel` with every outcome."""
        return {
            **self.totals,
            "per_channel": {
                channel: {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}
                for channel, counts in sorted(self.per_channel.items())
            },
        }


@attrs.frozen
class Hold:
    """A pause rule: deliveries matching every given field stay paused."""

    segment: str | None = None
    channel: str | None = None
    tag: str | None = None
    post: str | None = None

    def matches(self, row: Mapping[Any, Any]) -> bool:
        """Whether a delivery row (with `tags` as a list) falls under this hold."""
        return (
            (self.segment is None or row["segment"] == self.segment)
            and (self.channel is None or row["channel"] == self.channel)
            and (self.post is None or row["post"] == self.post)
            and (self.tag is None or self.tag in _tag_list(row["tags"]))
        )

    def describe(self) -> str:
        """Human-readable criteria, e.g. "segment=es-ES tag=promo" or "everything"."""
        parts = [f"{k}={v}" for k, v in attrs.asdict(self).items() if v is not None]
        return " ".join(parts) or "everything"


CREDENTIALS_REJECTED = "credentials rejected"
"""How the reason of a credentials hold starts (the runner puts it; actor "runner")."""
RUNNER_ACTOR = "runner"


@attrs.frozen
class HoldEntry:
    """A pause rule in force with who put it, when and why."""

    hold: Hold
    reason: str | None
    actor: str
    at: datetime

    @property
    def credentials(self) -> bool:
        """Whether the runner put it because the network rejected the channel's
        credentials (released with `resume --channel NAME` once they are fixed)."""
        return self.actor == RUNNER_ACTOR and (self.reason or "").startswith(CREDENTIALS_REJECTED)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the criteria, reason, actor, time and `credentials`."""
        return {
            **attrs.asdict(self.hold),
            "reason": self.reason,
            "actor": self.actor,
            "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "credentials": self.credentials,
        }


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (if on) for the duration.

    Building a large schedule allocates millions of dicts, tuples and strings, none in a
    reference cycle; every few hundred allocations the collector would walk them all
    again (a third of the CPU time at 200,000 deliveries). Memory is still freed by
    reference counting meanwhile, and the collector resumes afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(value)


class Store:
    """The outbox of deliveries and its activity log, in SQLite or PostgreSQL.

    `db` is a SQLAlchemy URL or an SQLite file path (default: $SOCIALSCHED_DB, else
    ./socialsched.db). `clock` returns the current time (aware UTC); tests inject one.
    `schema` (PostgreSQL only) puts every table in that schema, created if missing.
    """

    def __init__(
        self,
        db: str | Path | None = None,
        *,
        clock: Clock | None = None,
        schema: str | None = None,
    ) -> None:
        self.url = database_url(db)
        self.clock: Clock = clock or _utc_now
        self.schema = schema
        try:
            self.engine = self._create_engine()
            self.is_postgresql = self.engine.dialect.name == "postgresql"
            self._migrate()
        except (SQLAlchemyError, ImportError) as error:
            raise StoreError(
                f"cannot open database {_redact(self.url)}: {error.__class__.__name__}: "
                f"{str(error.orig if hasattr(error, 'orig') else error).strip()[:300]}"
            ) from None

    def __repr__(self) -> str:
        return f"<Store {_redact(self.url)}>"

    def _create_engine(self) -> Engine:
        if self.url.startswith("sqlite"):
            engine = create_engine(self.url, connect_args={"timeout": 60})

            @event.listens_for(engine, "connect")
            def _sqlite_connect(dbapi_connection: Any, record: Any) -> None:
                # Take SQLAlchemy's transaction control from the sqlite3 module, then
                # begin every transaction IMMEDIATE: two runners then queue for the write
                # lock instead of failing with "database is locked" on upgrade.
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA busy_timeout=60000")
                # Up to 64 MiB of pages: large schedules update several indexes at once.
                cursor.execute("PRAGMA cache_size=-65536")
                cursor.close()

            @event.listens_for(engine, "begin")
            def _sqlite_begin(connection: Connection) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        connect_args: dict[str, Any] = {}
        if self.schema:
            connect_args["options"] = f"-c search_path={self.schema}"
        engine = create_engine(self.url, connect_args=connect_args, pool_pre_ping=True)
        if self.schema:
            with engine.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        return engine

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as connection:
            if self.is_postgresql:
                # One migrator at a time when several runners start together.
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> datetime:
        """The store's current time, naive UTC (as the database keeps it)."""
        return _naive(self.clock())

    # ---- activity log ----

    @staticmethod
    def _log_rows(
        rows: Iterable[Mapping[Any, Any]],
        to_state: str,
        actor: str,
        at: datetime,
        *,
        from_state: str | None = None,
        reason: str | None = None,
        receipt: str | None = None,
    ) -> list[dict[str, Any]]:
        return [
            {
                "at": at,
                "delivery_id": row["id"],
                "post": row["post"],
                "segment": row["segment"],
                "channel": row["channel"],
                "from_state": row.get("from_state", from_state),
                "to_state": to_state,
                "actor": actor,
                "reason": row.get("log_reason", reason),
                "attempt": row.get("attempts", 0) or 0,
                "receipt": receipt,
            }
            for row in rows
        ]

    def _log(
        self,
        connection: Connection,
        rows: Iterable[Mapping[Any, Any]],
        to_state: str,
        actor: str,
        at: datetime,
        **details: Any,
    ) -> None:
        """Append one activity-log entry per row: its transition to `to_state`."""
        self._append_log(connection, self._log_rows(rows, to_state, actor, at, **details))

    @staticmethod
    def _append_log(connection: Connection, entries: list[dict[str, Any]]) -> None:
        if entries:
            _bulk_insert(connection, activity, entries)

    # ---- scheduling (reconcile) ----

    def schedule(
        self,
        calendar: Calendar,
        start: date | str,
        end: date | str,
        *,
        planned: Sequence[Delivery] | None = None,
        actor: str = "schedule",
        dry_run: bool = False,
    ) -> ReconcileResult:
        """Plan `calendar` for local days [start, end] and reconcile the store with it.

        New deliveries are added, moved ones get their new time, changed ones their new
        text, deliveries of this calendar in the range that are no longer planned are
        cancelled; published (and in-flight) ones are never touched. Running it twice
        changes nothing. `planned` skips planning (the deliveries of that range).
        `dry_run`: reconcile in a transaction that is rolled back, so nothing changes,
        and describe every change in the result's `changes`."""
        from .planner import Planner

        start, end = _as_date(start), _as_date(end)
        now = self.now()
        with _collector_paused():
            if planned is None:
                cache = self.media_cache(read_only=dry_run)
                planned = Planner(calendar, media_cache=cache).plan(start, end)
            # Rows are built before the transaction: on SQLite it holds the write lock.
            used_media: dict[str, Media] = {}
            wanted = self._planned_rows(
                calendar, planned, now, self.engine.dialect.name, used_media
            )
            with self.engine.connect() as connection, connection.begin() as transaction:
                # Media the planner did not keep through `media_cache()` (e.g. `planned`
                # built by hand): their bytes, so runners elsewhere can read them.
                store_media(connection, used_media.values(), now)
                self._save_channels(connection, calendar)
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
                result = self._reconcile(connection, wanted, existing, active_holds, now, actor)
                if dry_run:
                    transaction.rollback()
                    return self._dry_run_result(result, wanted, existing)
        # Announced after the commit, so observers never hear of rows that rolled back.
        if result.added and (listeners or plugins.observed("delivery_scheduled")):
            by_id = {d.id: d for d in planned}
            for key in result.added:
                delivery = by_id[key]
                channel = calendar.channel(delivery.channel)
                _emit("delivery_scheduled", delivery=delivery, channel=channel)
        return result

    @staticmethod
    def _dry_run_result(
        result: ReconcileResult, wanted: dict[str, Any], existing: dict[str, Any]
    ) -> ReconcileResult:
        from .dryrun import describe

        ids = {kind: getattr(result, kind) for kind in ("added", "moved", "updated", "cancelled")}
        changes = describe(ids, wanted, existing, _PLANNED_COLUMNS, _CONTENT_COLUMNS)
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
        wanted: dict[str, tuple[Any, ...]],
        existing: dict[str, Any],
        active_holds: list[Hold],
        now: datetime,
        actor: str,
    ) -> ReconcileResult:
        # `wanted` and `existing` both hold values as the driver takes and returns them
        # (see `_planned_rows`), so they compare as they are.
        inserts: list[tuple[Any, ...]] = []
        changes: list[tuple[Any, ...]] = []
        moved: list[str] = []
        updated: list[str] = []
        unchanged = 0
        log: list[dict[str, Any]] = []
        # A first schedule of a range (nothing stored, nothing paused) adds every row as
        # planned: one list, no per-row decisions.
        fresh = wanted.values() if not existing and not active_holds else ()
        inserts += fresh

        @functools.cache
        def started_threads() -> set[str]:
            # Asked only when a stored unsent delivery differs from the plan.
            return set(connection.execute(select(thread_parts.c.delivery_id).distinct()).scalars())

        for key, row in () if fresh else wanted.items():
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
            if old[1] in ("scheduled", "paused") and key not in wanted
        ]
        is_sqlite = connection.dialect.name == "sqlite"
        last_rowid = _last_rowid(connection, deliveries) if is_sqlite and inserts else 0
        with _indexes_rebuilt_after(connection, deliveries, len(inserts)):
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
        if inserts:
            with _indexes_rebuilt_after(connection, activity, len(inserts)):
                if is_sqlite:
                    self._log_rows_after(connection, last_rowid, actor, now)
                else:
                    self._log_planned(connection, inserts, actor, now)
        return ReconcileResult(
            added=tuple(map(operator.itemgetter(_ID), inserts)),
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
    def _planned_rows(
        calendar: Calendar,
        planned: Iterable[Delivery],
        now: datetime,
        dialect: str,
        used_media: dict[str, Media],
    ) -> dict[str, tuple[Any, ...]]:
        """The `deliveries` row of each planned delivery, by id: values in
        `_PLANNED_COLUMNS` order, as the database driver takes them. Every media the
        deliveries attach is added to `used_media`, by digest.

        Values many deliveries share (a segment's locale, a post's grace, an instant's
        text form, the JSON of tags and audiences) are computed once per distinct value:
        for large schedules this row building, not the database, is most of the cost."""
        db_time = _db_time(dialect)
        db_flag = _db_flag(dialect)
        posts = {post.id: post for post in calendar.posts}
        # Per (post, segment): the post's grace and approval, the segment's locale and
        # quiet hours.
        series: dict[tuple[str, str], tuple[int | None, Any, str, str | None]] = {}
        # By identity: the planner hands one Audience object to all deliveries of a
        # segment and channel. Each entry keeps its audience alive, so no other object
        # can take its id meanwhile.
        audiences: dict[int, tuple[Any, str | None]] = {}
        # Keyed by the aware instant: equal instants give the same naive UTC time.
        instants: dict[datetime, Any] = {}
        deadlines: dict[tuple[datetime, int], Any] = {}
        # Segments in one time zone share local times: isoformat() once per time.
        local_texts: dict[tuple[datetime, Any, int], str] = {}
        # By identity too, the JSON of media and thread parts: the planner hands one
        # tuple to all deliveries of a route.
        shared: dict[int, tuple[Any, str | None]] = {}
        rows: dict[str, tuple[Any, ...]] = {}
        name = calendar.name
        db_now = db_time(now)
        for delivery in planned:
            post_id, segment = delivery.post, delivery.segment
            try:
                grace, approval_flag, locale, quiet_hours = series[post_id, segment]
            except KeyError:
                post = posts[post_id]
                grace = None
                if post.late != "publish":
                    grace = int((post.misfire_grace or DEFAULT_MISFIRE_GRACE).total_seconds())
                approval_flag = db_flag(post.requires_approval)
                planned_segment = calendar.segment(segment)
                locale = planned_segment.locale
                quiet_hours = _quiet_hours_json(planned_segment.quiet_hours)
                series[post_id, segment] = (grace, approval_flag, locale, quiet_hours)
            audience = delivery.audience
            if audience is None:
                audience_json = None
            else:
                try:
                    audience_json = audiences[id(audience)][1]
                except KeyError:
                    audience_json = _audience_json(audience)
                    audiences[id(audience)] = (audience, audience_json)
            aware = delivery.utc
            try:
                utc = instants[aware]
            except KeyError:
                utc = instants[aware] = db_time(_naive(aware))
            if grace is None:
                deadline = None
            else:
                try:
                    deadline = deadlines[aware, grace]
                except KeyError:
                    deadline = deadlines[aware, grace] = db_time(
                        _naive(aware) + timedelta(seconds=grace)
                    )
            wall = delivery.local
            # Keyed with the zone and fold too: aware datetimes of different zones
            # compare equal when they name the same instant.
            local_key = (wall, wall.tzinfo, wall.fold)
            try:
                local = local_texts[local_key]
            except KeyError:
                local = local_texts[local_key] = wall.isoformat()
            tags = _tags_json(delivery.tags)
            items = delivery.media
            if not items:
                media = None
            else:
                try:
                    media = shared[id(items)][1]
                except KeyError:
                    media = media_json(items)
                    shared[id(items)] = (items, media)
                    for item in items:
                        used_media.setdefault(item.digest, item)
            thread = delivery.parts
            if not thread:
                parts = None
            else:
                try:
                    parts = shared[id(thread)][1]
                except KeyError:
                    parts = json.dumps(list(thread), ensure_ascii=False)
                    shared[id(thread)] = (thread, parts)
            shifted = delivery.shifted_from
            shifted_from = None if shifted is None else shifted.isoformat()
            rows[delivery.id] = (
                delivery.id,
                name,
                # The planned content, in _CONTENT_COLUMNS order:
                post_id,
                segment,
                delivery.channel,
                delivery.adapter,
                locale,
                utc,
                local,
                # isoformat() starts with the zero-padded YYYY-MM-DD date.
                local[:10],
                delivery.text,
                audience_json,
                tags,
                delivery.holiday,
                shifted_from,
                delivery.reason,
                quiet_hours,
                grace,
                approval_flag,
                media,
                parts,
                # Then what dispatching changes:
                utc,  # due
                deadline,
                "schedule",  # state_actor
                db_now,  # updated_at
                "scheduled",  # state: paused instead where a pause rule holds it
            )
        return rows

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
            )
        )

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
                )
                for row in connection.execute(select(runner_settings))
            }

    # ---- pause, resume, cancel, approve, publish now ----

    @staticmethod
    def _holds(connection: Connection) -> list[Hold]:
        return [
            Hold(segment=r.segment, channel=r.channel, tag=r.tag, post=r.post)
            for r in connection.execute(select(holds))
        ]

    def holds(self) -> list[Hold]:
        """The pause rules in force."""
        with self.engine.connect() as connection:
            return self._holds(connection)

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

    def hold_channel(self, channel: str, *, reason: str, actor: str = RUNNER_ACTOR) -> int:
        """Pause every delivery of `channel` for `reason` (the runner does on rejected
        credentials), unless a pause of exactly that channel is already in force.
        Returns how many deliveries were paused; `resume(channel=...)` lifts it."""
        if Hold(channel=channel) in self.holds():
            return 0
        return self.pause(Hold(channel=channel), reason=reason, actor=actor)

    @staticmethod
    def _matching(hold: Hold) -> Any:
        criteria = []
        if hold.segment is not None:
            criteria.append(deliveries.c.segment == hold.segment)
        if hold.channel is not None:
            criteria.append(deliveries.c.channel == hold.channel)
        if hold.post is not None:
            criteria.append(deliveries.c.post == hold.post)
        if hold.tag is not None:
            criteria.append(deliveries.c.tags.contains(json.dumps(hold.tag)))
        return and_(True, *criteria)

    def pause(
        self,
        hold: Hold | None = None,
        *,
        reason: str | None = None,
        actor: str = "operator",
        **criteria: str | None,
    ) -> int:
        """Pause every not-yet-claimed delivery matching `hold` (or keyword criteria
        segment/channel/tag/post; none = everything), now and for ones scheduled later,
        until `resume`. Returns how many deliveries were paused."""
        hold = hold or Hold(**criteria)
        now = self.now()
        with self.engine.begin() as connection:
            connection.execute(
                holds.insert().values(**attrs.asdict(hold), reason=reason, actor=actor, at=now)
            )
            rows = connection.execute(
                update(deliveries)
                .where(deliveries.c.state == "scheduled", self._matching(hold))
                .values(state="paused", state_actor=actor, updated_at=now)
                .returning(*_LOG_COLUMNS)
            ).all()
            self._log(
                connection,
                [r._mapping for r in rows],
                "paused",
                actor,
                now,
                from_state="scheduled",
                reason=reason or f"pause {hold.describe()}",
            )
        return len(rows)

    def resume(
        self,
        hold: Hold | None = None,
        *,
        everything: bool = False,
        reason: str | None = None,
        actor: str = "operator",
        **criteria: str | None,
    ) -> int:
        """Lift the pause rule equal to `hold` (all rules with `everything`) and schedule
        again every paused delivery no remaining rule covers. Deliveries whose time passed
        while paused become due now and are not treated as missed."""
        hold = hold or Hold(**criteria)
        now = self.now()
        with self.engine.begin() as connection:
            lifted = holds.delete()
            if not everything:
                lifted = lifted.where(
                    *[
                        holds.c[name] == value if value is not None else holds.c[name].is_(None)
                        for name, value in attrs.asdict(hold).items()
                    ]
                )
            connection.execute(lifted)
            remaining = self._holds(connection)
            scope = deliveries.c.state == "paused"
            if not everything:
                scope = and_(scope, self._matching(hold))
            candidates = connection.execute(
                select(*_LOG_COLUMNS, deliveries.c.tags, deliveries.c.grace_s).where(scope)
            ).all()
            free = [r for r in candidates if not any(h.matches(r._mapping) for h in remaining)]
            changes = []
            for row in free:
                changes.append(
                    {
                        "b_id": row.id,
                        "b_now": now,
                        "b_deadline": now + timedelta(seconds=row.grace_s)
                        if row.grace_s is not None
                        else None,
                    }
                )
            if changes:
                connection.execute(
                    update(deliveries)
                    .where(deliveries.c.id == bindparam("b_id"), deliveries.c.state == "paused")
                    .values(
                        state="scheduled",
                        state_actor=actor,
                        updated_at=bindparam("b_now", type_=DateTime()),
                        # Time spent paused does not count against the misfire grace.
                        due=(func.greatest if self.is_postgresql else func.max)(
                            deliveries.c.due, bindparam("b_now", type_=DateTime())
                        ),
                        deadline=_later(self.is_postgresql),
                    ),
                    changes,
                )
            self._log(
                connection,
                [r._mapping for r in free],
                "scheduled",
                actor,
                now,
                from_state="paused",
                reason=reason or f"resume {'everything' if everything else hold.describe()}",
            )
        return len(free)

    def _transition(
        self,
        delivery_id: str,
        allowed: Sequence[str],
        to_state: str,
        actor: str,
        reason: str | None,
        **values: Any,
    ) -> Record:
        now = self.now()
        with self.engine.begin() as connection:
            current = connection.execute(
                select(deliveries).where(deliveries.c.id == delivery_id)
            ).first()
            if current is None:
                raise StoreError(f"no delivery with id {delivery_id!r}")
            if current.state not in allowed:
                raise StoreError(
                    f"delivery {delivery_id} is {current.state}; this needs it to be "
                    f"{' or '.join(allowed)}"
                )
            connection.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(state=to_state, state_actor=actor, updated_at=now, **values)
            )
            self._log(
                connection,
                [current._mapping],
                to_state,
                actor,
                now,
                from_state=current.state,
                reason=reason,
                receipt=current.receipt if to_state == "cancelled" else None,
            )
            row = connection.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one()
        return Record.from_row(row, self.read_media)

    def cancel(
        self, delivery_id: str, *, reason: str | None = None, actor: str = "operator"
    ) -> Record:
        """Cancel a delivery that has not gone out (scheduled, paused, failed or missed)
        or is held in doubt."""
        return self._transition(
            delivery_id,
            ("scheduled", "paused", "failed", "missed", "doubt"),
            "cancelled",
            actor,
            reason or "cancelled by operator",
        )

    def publish_now(self, delivery_id: str, *, actor: str = "operator") -> Record:
        """Make a delivery due now (from scheduled, paused, failed or missed); the next
        dispatch pass publishes it. Approval, when required, is still needed."""
        now = self.now()
        return self._transition(
            delivery_id,
            ("scheduled", "paused", "failed", "missed"),
            "scheduled",
            actor,
            "publish now",
            due=now,
            deadline=None,
        )

    def mark_retracted(self, delivery_id: str, *, actor: str = "operator") -> Record:
        """Record that a published delivery was deleted from its network (state cancelled)."""
        return self._transition(
            delivery_id, ("published",), "cancelled", actor, "retracted from the network"
        )

    def approve(
        self,
        delivery_id: str | None = None,
        *,
        post: str | None = None,
        actor: str = "operator",
    ) -> int:
        """Approve one delivery, or every not-yet-sent delivery of `post`, so that
        deliveries of posts with `requires_approval` may go out. Returns how many."""
        if (delivery_id is None) == (post is None):
            raise StoreError("approve needs exactly one of a delivery id or a post id")
        now = self.now()
        scope = (
            deliveries.c.id == delivery_id if delivery_id is not None else deliveries.c.post == post
        )
        with self.engine.begin() as connection:
            rows = connection.execute(
                update(deliveries)
                .where(
                    scope,
                    deliveries.c.approved.is_(False),
                    deliveries.c.state.in_(("scheduled", "paused", "missed", "failed")),
                )
                .values(approved=True, updated_at=now)
                .returning(*_LOG_COLUMNS, deliveries.c.state)
            ).all()
            if not rows and delivery_id is not None:
                found = connection.execute(
                    select(deliveries.c.state, deliveries.c.approved).where(
                        deliveries.c.id == delivery_id
                    )
                ).first()
                if found is None:
                    raise StoreError(f"no delivery with id {delivery_id!r}")
            self._append_log(
                connection,
                [
                    {**entry, "from_state": row.state}
                    for row in rows
                    for entry in self._log_rows(
                        [row._mapping], row.state, actor, now, reason="approved"
                    )
                ],
            )
        return len(rows)

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
                activity.c.reason.like(f"%{CREDENTIALS_REJECTED}%"),
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

    def take_over_expired(self, worker: str, *, lease: timedelta, limit: int) -> list[Record]:
        """Claim for `worker` up to `limit` deliveries whose claim lease ran out: their
        worker died while publishing them, so each is *in doubt* (it may have gone out).
        The activity log says so ("lease expired ...: in doubt"); the attempt is
        counted, so a delivery that kills its worker every time ends up failed. The
        runner then asks the network before sending again."""
        now = self.now()
        chosen = (
            select(deliveries.c.id, deliveries.c.claimed_by)
            .where(deliveries.c.state == "claimed", deliveries.c.lease_until < now)
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

    def resolve(
        self,
        delivery_id: str,
        *,
        sent: bool,
        reason: str | None = None,
        actor: str = "operator",
    ) -> Record:
        """Settle a delivery held in doubt: `sent` records it published (an operator saw
        the post; no receipt is known), otherwise it is scheduled to go out again now,
        under the same idempotency key."""
        if sent:
            return self._transition(
                delivery_id,
                ("doubt",),
                "published",
                actor,
                reason or "resolved: it went out",
                last_error=None,
            )
        return self._transition(
            delivery_id,
            ("doubt",),
            "scheduled",
            actor,
            reason or "resolved: send it again",
            due=self.now(),
            deadline=None,
            last_error=None,
        )

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
        with self.engine.begin() as connection:
            done = connection.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == record.id,
                    deliveries.c.state == "claimed",
                    deliveries.c.claimed_by == worker,
                )
                .values(
                    state=to_state,
                    state_actor=worker,
                    claimed_by=None,
                    lease_until=None,
                    updated_at=now,
                    **values,
                )
            ).rowcount
            if done:
                self._append_log(
                    connection,
                    [
                        {
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
                            "media": sent_media_json(record.media)
                            if to_state == "published"
                            else None,
                        }
                    ],
                )
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

    def held(self, record: Record) -> bool:
        """Whether a pause rule in force covers the delivery."""
        view = {"segment": record.segment, "channel": record.channel, "post": record.post}
        return any(hold.matches({**view, "tags": record.tags}) for hold in self.holds())

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

    # ---- media and threads ----

    def read_media(self, digest: str) -> bytes:
        """The bytes of the media with this digest, from the database (checked against
        the digest). Raises `MediaMissing` when the store does not hold them."""
        return read_media(self.engine, digest)

    def media_cache(self, *, read_only: bool = False) -> StoreMediaCache:
        """A `MediaCache` keeping media in this store, for `Planner(media_cache=...)`:
        files seen before at the same size and modification time are not read again.
        `read_only`: what it learns is kept in memory only (dry runs change nothing)."""
        return StoreMediaCache(self.engine, self.now, read_only=read_only)

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
                .where(
                    deliveries.c.id == record.id,
                    deliveries.c.state == "claimed",
                    deliveries.c.claimed_by == worker,
                )
                .values(lease_until=now + lease)
            ).rowcount
        return bool(held)

    def due_now(self) -> int:
        """How many deliveries are due now and not yet claimed (the runners' queue)."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count()).where(self._claimable(self.now()))
            ).scalar_one()

    def unreachable(self) -> str | None:
        """Why the database cannot be used right now (it does not answer, or the
        outbox's tables are gone), or None when it can."""
        try:
            with self.engine.connect() as connection:
                connection.execute(select(deliveries.c.id).limit(1)).all()
        except SQLAlchemyError as error:
            return describe_database_error(error)
        return None


def describe_database_error(error: BaseException) -> str:
    """A one-line description of a database error: its class and the driver's first
    line, without SQLAlchemy's statement and parameters (they may hold message text)."""
    original = getattr(error, "orig", None) or error
    first = (str(original).strip().splitlines() or [""])[0][:300]
    return f"{type(original).__name__}: {first}".rstrip(": ")


_LOG_COLUMNS = (
    deliveries.c.id,
    deliveries.c.post,
    deliveries.c.segment,
    deliveries.c.channel,
    deliveries.c.attempts,
)


_DESCRIBED_CHANGES = {"text": "text", "media": "media", "parts": "thread parts"}


def _what_changed(old: Sequence[Any], new: Sequence[Any]) -> str:
    """The log reason for a delivery whose planned content went from `old` to `new`
    (values in `_CONTENT_COLUMNS` order), e.g. "media changed"."""
    changed = [
        described
        for name, described in _DESCRIBED_CHANGES.items()
        if old[_CONTENT_COLUMNS.index(name)] != new[_CONTENT_COLUMNS.index(name)]
    ]
    return f"{' and '.join(changed)} changed" if changed else "calendar changed"


def _quiet_hours_json(windows: Sequence[Any]) -> str | None:
    """A segment's quiet hours as the `quiet_hours` column keeps them (NULL: none)."""
    return json.dumps([str(window) for window in windows]) if windows else None


@functools.lru_cache(maxsize=1024)
def _tags_json(tags: tuple[str, ...]) -> str:
    return json.dumps(list(tags))


_CONTENT_COLUMNS = (
    "post",
    "segment",
    "channel",
    "adapter",
    "locale",
    "utc",
    "local",
    "local_day",
    "text",
    "audience",
    "tags",
    "holiday",
    "shifted_from",
    "reason",
    "quiet_hours",
    "grace_s",
    "requires_approval",
    "media",
    "parts",
)
"""The `deliveries` columns that say what a plan wants of a delivery: a delivery whose
stored values equal the new plan's is unchanged."""
_PLANNED_COLUMNS = (
    "id",
    "calendar",
    *_CONTENT_COLUMNS,
    "due",
    "deadline",
    "state_actor",
    "updated_at",
    "state",
)
"""The `deliveries` columns a plan sets, in the order of `Store._planned_rows` values."""
_ID, _POST, _SEGMENT, _CHANNEL, _UTC, _TAGS, _STATE = map(
    _PLANNED_COLUMNS.index, ("id", "post", "segment", "channel", "utc", "tags", "state")
)
_CONTENT = slice(_POST, _POST + len(_CONTENT_COLUMNS))
# A plan changes every planned column of an existing delivery but its id and calendar.
_UPDATED_FROM = _POST
# An activity entry for a new delivery (no from_state, no receipt: left NULL).
_PLANNED_LOG_FIELDS = (
    "at",
    "delivery_id",
    "post",
    "segment",
    "channel",
    "to_state",
    "actor",
    "reason",
    "attempt",
)


# Below this many rows, dropping and rebuilding indexes cannot pay off.
_REBUILD_MIN_ROWS = 10_000


@contextlib.contextmanager
def _indexes_rebuilt_after(connection: Connection, table: Any, rows: int) -> Iterator[None]:
    """Load `rows` new rows into `table` with its secondary indexes dropped, and build
    them again afterwards, in the same transaction, when the load is large (SQLite only).

    Building an index from all rows at once (a sort) is about three times cheaper than
    updating it row by row, but only pays off when the new rows are at least as many
    as those already in the table. SQLite holds the write lock for the whole
    transaction and readers keep seeing the previous, indexed, snapshot; a failure
    rolls the DROP back with the rest. PostgreSQL is left alone: DDL there would block
    the runners' reads."""
    rebuild = rows >= _REBUILD_MIN_ROWS and connection.dialect.name == "sqlite"
    # The largest rowid is at least the row count, and read from the index at once.
    rebuild = rebuild and rows >= _last_rowid(connection, table)
    if rebuild:
        for index in table.indexes:
            index.drop(connection)
    yield
    if rebuild:
        for index in table.indexes:
            index.create(connection)


def _last_rowid(connection: Connection, table: Any) -> int:
    """The largest rowid in `table` (SQLite), 0 when it is empty."""
    name = _quoted(connection, table, ())[1]
    return connection.exec_driver_sql(f"SELECT coalesce(max(rowid), 0) FROM {name}").scalar_one()


def _hold_view(row: tuple[Any, ...]) -> dict[str, Any]:
    """The fields of a planned row that pause rules (`Hold.matches`) look at."""
    return {
        "post": row[_POST],
        "segment": row[_SEGMENT],
        "channel": row[_CHANNEL],
        "tags": row[_TAGS],
    }


@functools.lru_cache(maxsize=4096)
def _sqlite_time(moment: datetime | None) -> str | None:
    # The text form SQLAlchemy's SQLite DateTime type reads and writes.
    return None if moment is None else moment.isoformat(" ", "microseconds")


_SQLITE_FLAG = {None: None, True: 1, False: 0}


def _unchanged(value: Any) -> Any:
    return value


def _db_time(dialect: str) -> Callable[[Any], Any]:
    """How a naive UTC time is handed to this database's driver (text on SQLite)."""
    return _sqlite_time if dialect == "sqlite" else _unchanged


def _db_flag(dialect: str) -> Callable[[Any], Any]:
    """How a boolean is handed to this database's driver (0 or 1 on SQLite)."""
    return _SQLITE_FLAG.__getitem__ if dialect == "sqlite" else _unchanged


def _minutes(moment: datetime | str) -> str:
    """A stored time (a datetime, or SQLite's text form) as YYYY-MM-DD HH:MM."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{moment:%Y-%m-%d %H:%M}"


def _bulk_insert(connection: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert dict rows (all with the same keys) with one executemany, see
    `_bulk_insert_values`."""
    if not rows:
        return
    columns = list(rows[0])
    pick = operator.itemgetter(*columns)
    if len(columns) == 1:
        params: list[Any] = [(pick(row),) for row in rows]
    else:
        params = [pick(row) for row in rows]
    _bulk_insert_values(connection, table, columns, params)


def _driver_values(
    connection: Connection, table: Any, columns: Sequence[str], params: list[Any]
) -> list[Any]:
    """`params` with times and booleans as the driver takes them (SQLite: text, 0/1)."""
    if connection.dialect.name != "sqlite":
        return params
    converters = {
        index: _sqlite_time if isinstance(table.c[name].type, DateTime) else _db_flag("sqlite")
        for index, name in enumerate(columns)
        if isinstance(table.c[name].type, DateTime | Boolean)
    }
    if not converters:
        return params
    # Column by column (transposed with zip, in C): a column holding one value
    # (updated_at, at) or repeating an earlier one (due = utc) is converted once.
    values: list[Sequence[Any]] = list(zip(*params, strict=True))
    converted: list[tuple[Sequence[Any], Sequence[Any]]] = []
    for index, convert in converters.items():
        column = values[index]
        first = column[0]
        done = next((new for old, new in converted if old == column), None)
        if done is None:
            if column.count(first) == len(column):
                done = [convert(first)] * len(column)
            else:
                done = list(map(convert, column))
            converted.append((column, done))
        values[index] = done
    return list(zip(*values, strict=True))


def _without_null_columns(
    table: Any, columns: Sequence[str], params: list[Any]
) -> tuple[Sequence[str], list[Any]]:
    """`columns` and `params` less the columns that are NULL in every row and have no
    server default (the database fills in the same NULL). Binding None costs the
    sqlite3 driver three times what a string costs, and most planned deliveries have
    no holiday, shift, audience or receipt."""
    null = [
        index
        for index, name in enumerate(columns)
        if params[0][index] is None
        and table.c[name].server_default is None
        and list(map(operator.itemgetter(index), params)).count(None) == len(params)
    ]
    if not null:
        return columns, params
    keep = [index for index in range(len(columns)) if index not in null]
    pick = operator.itemgetter(*keep)
    if len(keep) == 1:
        return [columns[keep[0]]], [(pick(row),) for row in params]
    return [columns[index] for index in keep], list(map(pick, params))


def _quoted(
    connection: Connection, table: Any, columns: Sequence[str]
) -> tuple[str, str, list[str]]:
    """The driver's parameter marker, the quoted table name and quoted `columns`."""
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    return marker, quote(table.name), [quote(column) for column in columns]


def _bulk_insert_values(
    connection: Connection,
    table: Any,
    columns: Sequence[str],
    params: list[Any],
    *,
    native: bool = False,
) -> None:
    """One executemany straight to the driver: SQLAlchemy's per-row parameter processing
    costs more than the database's own work for large schedules. `params` holds one
    tuple per row, values in `columns` order; `native` says they already are as the
    driver takes them (see `_db_time`)."""
    if not params:
        return
    if not native:
        params = _driver_values(connection, table, columns, params)
    columns, params = _without_null_columns(table, columns, params)
    marker, name, quoted = _quoted(connection, table, columns)
    sql = f"INSERT INTO {name} ({', '.join(quoted)}) VALUES ({', '.join([marker] * len(quoted))})"
    connection.exec_driver_sql(sql, params)


def _bulk_update_values(
    connection: Connection, table: Any, columns: Sequence[str], params: list[Any]
) -> None:
    """Update rows by id with one executemany: each tuple of `params` holds the values
    of `columns`, as the driver takes them, then the id."""
    marker, name, quoted = _quoted(connection, table, (*columns, "id"))
    assignments = ", ".join(f"{column} = {marker}" for column in quoted[:-1])
    sql = f"UPDATE {name} SET {assignments} WHERE {quoted[-1]} = {marker}"
    connection.exec_driver_sql(sql, params)


def _tag_list(tags: str | Sequence[str] | None) -> Sequence[str]:
    """Tags as a list, whether given as the JSON the column keeps or as a list."""
    if isinstance(tags, str):
        return json.loads(tags or "[]")
    return tags or ()


def _later(is_postgresql: bool) -> Any:
    from sqlalchemy import case

    new_deadline: Any = bindparam("b_deadline", type_=DateTime())
    greatest = func.greatest if is_postgresql else func.max
    return case(
        (deliveries.c.deadline.is_(None), None),
        else_=greatest(deliveries.c.deadline, new_deadline),
    )


__all__ = [
    "CREDENTIALS_REJECTED",
    "OUTCOMES",
    "Activity",
    "Hold",
    "HoldEntry",
    "Outcomes",
    "ReconcileResult",
    "Record",
    "Status",
    "Store",
    "StoreError",
    "database_url",
    "listeners",
]
