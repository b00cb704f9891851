"""Fewer round trips to PostgreSQL per delivery.

A runner writes twice per delivery: the sending mark before the network call and the
outcome after it. Each was a transaction of its own: a pool pre-ping, BEGIN, the
statements (the outcome: an UPDATE and the activity-log INSERT), COMMIT: five or six
round trips to the server each, about eleven per delivery, and on a busy two-core
machine each round trip costs a scheduling delay in both processes. Here:

- `ping_when_idle`: a pooled connection is pinged at checkout only when it has been
  idle for `PING_AFTER_IDLE` seconds, not every time (SQLAlchemy's `pool_pre_ping`).
  A connection that fails mid-statement instead is reported like any database error,
  which the runner already handles (it retries, with backoff).
- Autocommit: a write that is one SQL statement runs in autocommit mode (on a
  `HeldConnection`, below), where the statement is its own transaction: no BEGIN and
  no COMMIT round trip.
- `finish_statement`: an outcome (the delivery's new state and its activity-log entry)
  is one statement, `WITH done AS (UPDATE ... RETURNING ...) INSERT INTO activity
  SELECT ... FROM done`: atomic, and one round trip.

- `outcome_engine`: outcomes are committed without waiting for PostgreSQL to flush
  its write-ahead log to disk (`synchronous_commit = off`, on connections of their
  own). The sending mark is still committed synchronously, and PostgreSQL's log is one
  sequence: the next delivery's mark, committed before its network call, flushes the
  previous delivery's outcome with it. So a delivery waits for one disk flush (its
  mark), not two. Until then an outcome is committed (visible, atomic) but not yet on
  disk: PostgreSQL itself flushes it within a fraction of a second, and only a crash
  of the PostgreSQL server in that window loses it, leaving the delivery claimed with
  its sending mark, so in doubt after the lease (never sent again blindly). A
  published receipt is also in the runner's journal, which is emptied only after
  `make_durable`; that raises `ServerRestarted` when PostgreSQL started again since
  the store last saw it, and the runner then records its journal's receipts again
  first (`socialsched.runner.receipts`).

- `HeldConnection`: the mark and the outcome each run on a connection the runner's
  thread keeps checked out, rather than one taken from the pool and given back for
  every statement, which cost more than the statement itself (a mark: 86 µs of the
  runner's CPU instead of 217 µs). A held connection idle for `PING_AFTER_IDLE` is
  pinged before use, as the pool's are; one that failed is replaced at its next use.
- `DriverStatement`: the mark and the outcome are compiled once and sent as SQL text
  with their parameters (`exec_driver_sql`), skipping what SQLAlchemy does on every
  execution of a Core statement (its cache key, its parameter processing): a mark
  costs the runner 144 µs of CPU that way instead of 334 µs, so two runners on two
  cores leave more of them to PostgreSQL and to each other.

So a delivery costs two round trips to PostgreSQL (mark, outcome) and one disk flush,
besides its share of the batch's claim. SQLite is left as it was: it is in-process,
without round trips.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Engine,
    Insert,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.exc import DisconnectionError

from .tables import activity, deliveries

#: Seconds a pooled connection may sit unused before its next checkout pings it.
PING_AFTER_IDLE = 1.0


def ping_when_idle(engine: Engine, after: float = PING_AFTER_IDLE) -> None:
    """Ping a connection at checkout when it was idle `after` seconds or more (a
    dropped connection is then replaced before use, as with `pool_pre_ping`)."""

    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_from = record.info.get("idle_from")
        if idle_from is not None and time.monotonic() - idle_from < after:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the dialect's own error for a dead connection
            raise DisconnectionError(str(error)) from error
        if not alive:
            raise DisconnectionError("the database connection did not answer a ping")


def outcome_engine(url: str, connect_args: Mapping[str, Any]) -> Engine:
    """An engine on the same PostgreSQL database for outcome statements: autocommit,
    and each session commits without waiting for the disk (see the module's text)."""
    engine = create_engine(url, connect_args=dict(connect_args), isolation_level="AUTOCOMMIT")

    @event.listens_for(engine, "connect")
    def _asynchronous_commit(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET synchronous_commit TO off")
        cursor.close()
        dbapi_connection.commit()

    ping_when_idle(engine)
    return engine


class HeldConnection:
    """A connection of `engine` in autocommit mode, kept checked out by each thread
    that asks for one (`connection()`), for single-statement writes, until `close()`."""

    def __init__(self, engine: Engine, ping_after_idle: float = PING_AFTER_IDLE) -> None:
        self.engine = engine
        self.ping_after_idle = ping_after_idle
        self._local = threading.local()
        self._lock = threading.Lock()
        self._held: list[Connection] = []

    def connection(self) -> Connection:
        """This thread's connection, pinged first when it has been idle, and replaced
        when it was invalidated (a statement on it failed) or is dead."""
        held: Connection | None = getattr(self._local, "connection", None)
        now = time.monotonic()
        if held is not None:
            usable = not held.closed and not held.invalidated
            if usable and (now - self._local.used < self.ping_after_idle or self._alive(held)):
                self._local.used = now
                return held
            self._forget(held)
        fresh = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        with self._lock:
            self._held.append(fresh)
        self._local.connection, self._local.used = fresh, now
        return fresh

    def _alive(self, held: Connection) -> bool:
        try:
            dbapi_connection = held.connection.dbapi_connection
            return dbapi_connection is not None and self.engine.dialect.do_ping(dbapi_connection)
        except Exception:  # the dialect's own error for a dead connection
            held.invalidate()
            return False

    def _forget(self, held: Connection) -> None:
        with self._lock:
            if held in self._held:
                self._held.remove(held)
        held.close()

    def close(self) -> None:
        """Give every held connection back (a thread that asks again gets a new one)."""
        with self._lock:
            held, self._held = self._held, []
            self._local = threading.local()
        for connection in held:
            connection.close()


class ServerRestarted(RuntimeError):
    """PostgreSQL restarted since it was last seen: outcomes committed without waiting
    for the disk before a crash may be lost, so what depends on them (the runner's
    journal) must be kept."""


def server_started(engine: Engine) -> Any:
    """When the PostgreSQL server behind `engine` started."""
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT pg_postmaster_start_time()").scalar()


def make_durable(engine: Engine, started: Any) -> Any:
    """Wait until every commit made so far, asynchronous ones included, is on disk:
    a transaction that takes a transaction id commits synchronously, and PostgreSQL
    flushes its log up to that commit, so everything before it too. `started` is when
    the server had started as last seen; returns when it started now, and raises
    `ServerRestarted` when that changed (a crash may have lost earlier outcomes)."""
    with engine.begin() as connection:
        now_started = connection.exec_driver_sql(
            "SELECT pg_postmaster_start_time() FROM (SELECT pg_current_xact_id()) AS flush"
        ).scalar()
    if started is not None and now_started != started:
        raise ServerRestarted(f"the PostgreSQL server restarted at {now_started}")
    return now_started


class DriverStatement:
    """A Core statement compiled once for a dialect, then executed as its SQL text.

    Only for statements whose parameters the driver takes as they are (strings,
    numbers, naive datetimes): SQLAlchemy's bind processing is skipped with the rest.
    Errors are still SQLAlchemy's, and a dropped connection is still noticed."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        # Values written into the statement (state = 'claimed') are parameters too.
        self.defaults = dict(compiled.params)

    def execute(self, connection: Connection, parameters: Mapping[str, Any]) -> CursorResult[Any]:
        """Run it on `connection` with `parameters` (by bound parameter name)."""
        return connection.exec_driver_sql(self.sql, {**self.defaults, **parameters})


#: Compiled statements by dialect, driver and what else tells them apart.
_COMPILED: dict[tuple[Any, ...], DriverStatement] = {}


def _compiled(
    dialect: Dialect, key: tuple[Any, ...], build: Callable[[], ClauseElement]
) -> DriverStatement:
    """The statement `build` makes, compiled for `dialect` once per `key` (building and
    compiling one costs more than sending it)."""
    full = (dialect.name, dialect.driver, *key)
    statement = _COMPILED.get(full)
    if statement is None:
        statement = _COMPILED[full] = DriverStatement(build(), dialect)
    return statement


def _while_claimed() -> tuple[ColumnElement[bool], ...]:
    """Delivery `record_id`, while `worker` holds its claim (bound parameters)."""
    return (
        deliveries.c.id == bindparam("record_id"),
        deliveries.c.state == "claimed",
        deliveries.c.claimed_by == bindparam("worker"),
    )


def mark_statement(dialect: Dialect, *, lease: bool) -> DriverStatement:
    """The sending mark: `sending_at` = `now` (and `lease_until` with `lease`) of
    delivery `record_id` while `worker` holds its claim. Compiled once."""

    def build() -> ClauseElement:
        values = {"sending_at": bindparam("now", type_=deliveries.c.sending_at.type)}
        if lease:
            values["lease_until"] = bindparam("lease_until", type_=deliveries.c.lease_until.type)
        return update(deliveries).where(*_while_claimed()).values(values)

    return _compiled(dialect, ("mark", lease), build)


def _template(values: Mapping[str, Any], names: tuple[str, ...]) -> Insert:
    """The outcome statement with a bound parameter for every value (`v_<column>`),
    every entry field (`e_<field>`), the delivery (`record_id`) and the worker;
    values that are SQL expressions (attempts - 1) are written into it."""
    done = (
        update(deliveries)
        .where(*_while_claimed())
        .values(
            {
                name: value
                if isinstance(value, ClauseElement)
                else bindparam(f"v_{name}", type_=deliveries.c[name].type)
                for name, value in values.items()
            }
        )
        .returning(deliveries.c.id)
        .cte("done")
    )
    columns = [
        done.c.id if name == "delivery_id" else bindparam(f"e_{name}", type_=activity.c[name].type)
        for name in names
    ]
    return (
        insert(activity)
        .from_select(list(names), select(*columns).select_from(done))
        # At the top level: PostgreSQL runs a data-modifying WITH only there.
        .add_cte(done)
        .returning(activity.c.id)
    )


def finish_statement(
    dialect: Dialect,
    record_id: str,
    worker: str,
    values: Mapping[str, Any],
    entry: Mapping[str, Any],
) -> tuple[DriverStatement, dict[str, Any]]:
    """One statement, and its parameters, that moves `record_id`, while `worker` holds
    its claim, to `values` and appends the activity-log `entry` (a row of `activity`
    without its id) only when it did. It returns the new entry's id: one row when both
    happened, none when the claim was lost (then nothing changed). (Its row count
    cannot tell: the driver reports -1 for an INSERT ... SELECT under a WITH.)"""
    names = tuple(entry)
    plain = all(not isinstance(value, ClauseElement) for value in values.values())
    statement = (
        _compiled(dialect, ("outcome", tuple(values), names), lambda: _template(values, names))
        # Values that are SQL expressions are written into the statement: not cached.
        if plain
        else DriverStatement(_template(values, names), dialect)
    )
    parameters = {
        "record_id": record_id,
        "worker": worker,
        **{
            f"v_{name}": value
            for name, value in values.items()
            if not isinstance(value, ClauseElement)
        },
        **{f"e_{name}": entry[name] for name in names if name != "delivery_id"},
    }
    return statement, parameters


__all__ = [
    "PING_AFTER_IDLE",
    "DriverStatement",
    "HeldConnection",
    "ServerRestarted",
    "finish_statement",
    "make_durable",
    "mark_statement",
    "outcome_engine",
    "ping_when_idle",
]
