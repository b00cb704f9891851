"""The store's foundation: the engine, migrations, the activity log writer, media
and the pause rules in force.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Self, cast

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from socialsched.migrations import HEAD_REVISION, VERSION_TABLE

from .bulk import _bulk_insert
from .common import (
    _MIGRATIONS,
    Clock,
    StoreError,
    _naive,
    _redact,
    _utc_now,
    database_url,
    describe_database_error,
)
from .media_cache import (
    StoreMediaCache,
    read_media,
)
from .records import Hold, Record
from .round_trips import (
    HeldConnection,
    make_durable,
    outcome_engine,
    ping_when_idle,
    server_started,
)
from .tables import (
    activity,
    deliveries,
    holds,
)
from .tagmatch import has_tag


class StoreCore:
    """The engine, migrations and the activity log writer that every part of
    the store builds on."""

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
            # When the server started, to tell a restart that may have lost outcomes.
            self._server_started = server_started(self.engine) if self.is_postgresql else None
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

            self.outcome_engine = engine

            @event.listens_for(engine, "begin")
            def _sqlite_begin(connection: Connection) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        connect_args: dict[str, Any] = {}
        if self.schema:
            connect_args["options"] = f"-c search_path={self.schema}"
        engine = create_engine(self.url, connect_args=connect_args)
        # A ping per checkout was a round trip per transaction: only after idling.
        ping_when_idle(engine)
        # Outcomes wait for no disk flush: the next sending mark's flushes them.
        self.outcome_engine = outcome_engine(self.url, connect_args)
        self.held_marks = HeldConnection(engine)
        self.held_outcomes = HeldConnection(self.outcome_engine)
        if self.schema:
            with engine.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        return engine

    def _migrate(self) -> None:
        # One query tells a store already at the newest revision, where alembic's own
        # check imports alembic and reads every migration (0.1 s of each command's start).
        if self._revision() == HEAD_REVISION:
            return
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

    def _revision(self) -> str | None:
        """The store's schema revision; None before the first migration."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return None
            revision = connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}")
            return cast("str | None", revision.scalar())

    def close(self) -> None:
        """Release the database connections."""
        if self.is_postgresql:
            self.held_marks.close()
            self.held_outcomes.close()
        self.engine.dispose()
        if self.outcome_engine is not self.engine:
            self.outcome_engine.dispose()

    def make_durable(self) -> None:
        """Wait until every outcome recorded so far is on disk (PostgreSQL commits
        outcomes without waiting for it: `store.round_trips`); at once on SQLite.
        Raises `ServerRestarted` when PostgreSQL restarted since the store was opened
        (or since `server_seen`): outcomes recorded before a crash may be lost."""
        if self.is_postgresql:
            make_durable(self.engine, getattr(self, "_server_started", None))

    def server_seen(self) -> None:
        """Take PostgreSQL's current start time as known (after `make_durable` raised
        `ServerRestarted` and what may have been lost was recorded again)."""
        if self.is_postgresql:
            self._server_started = server_started(self.engine)

    def __enter__(self) -> Self:
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
            criteria.append(has_tag(deliveries.c.tags, hold.tag))
        return and_(True, *criteria)

    def held(self, record: Record) -> bool:
        """Whether a pause rule in force covers the delivery."""
        view = {"segment": record.segment, "channel": record.channel, "post": record.post}
        return any(hold.matches({**view, "tags": record.tags}) for hold in self.holds())

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

    def unreachable(self) -> str | None:
        """Why the database cannot be used right now (it does not answer, or the
        outbox's tables are gone), or None when it can."""
        try:
            with self.engine.connect() as connection:
                connection.execute(select(deliveries.c.id).limit(1)).all()
        except SQLAlchemyError as error:
            return describe_database_error(error)
        return None
