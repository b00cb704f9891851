"""Dialect-specific bulk SQL: many rows inserted or updated in few statements,
with SQLite's indexes rebuilt after large writes.
"""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    bindparam,
    case,
    func,
)

from . import tuning
from .tables import (
    deliveries,
)


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

    rebuild = rows >= tuning.REBUILD_MIN_ROWS and connection.dialect.name == "sqlite"
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


def _shared_values(
    connection: Connection, table: Any, columns: Sequence[str], params: list[Any]
) -> tuple[list[str], list[str], list[Any]]:
    """Columns holding one value in every row, taken out of `params`: the columns left,
    the SQL of each value (the driver's marker, or a literal) and the params left.

    A column NULL in every row with no server default is left out (the database fills in
    the same NULL); on SQLite, a string or integer shared by every row is written into
    the statement. Binding a value costs the sqlite3 driver more than storing it (None
    three times what a string costs), and most planned deliveries share their calendar,
    state and time of update, and have no holiday, shift, audience or receipt."""
    marker = _quoted(connection, table, ())[0]
    inline = connection.dialect.name == "sqlite" and len(params) > 1
    # Three rows rule most columns out before every row is read.
    first, middle, last = params[0], params[len(params) // 2], params[-1]
    shared: dict[int, str | None] = {}
    for index, name in enumerate(columns):
        value = first[index]
        if value != middle[index] or value != last[index]:
            continue
        if value is None:
            if table.c[name].server_default is not None:
                continue
            sql = None
        else:
            sql = _sqlite_literal(value) if inline else None
            if sql is None:
                continue
        if list(map(operator.itemgetter(index), params)).count(value) == len(params):
            shared[index] = sql
    if not shared:
        return list(columns), [marker] * len(columns), params
    bound = [index for index in range(len(columns)) if index not in shared]
    kept = [index for index in range(len(columns)) if shared.get(index, marker) is not None]
    values = [marker if index in bound else str(shared[index]) for index in kept]
    if not bound:
        return [columns[index] for index in kept], values, [()] * len(params)
    pick = operator.itemgetter(*bound)
    picked = [(pick(row),) for row in params] if len(bound) == 1 else list(map(pick, params))
    return [columns[index] for index in kept], values, picked


def _sqlite_literal(value: Any) -> str | None:
    """`value` as an SQLite literal, None when it is not a string or integer (or holds a
    NUL character, which SQLite's statements cannot)."""
    if type(value) is int:
        return str(value)
    if type(value) is str and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


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
    columns, values, params = _shared_values(connection, table, columns, params)
    _, name, quoted = _quoted(connection, table, columns)
    sql = f"INSERT INTO {name} ({', '.join(quoted)}) VALUES ({', '.join(values)})"
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


def _later(is_postgresql: bool) -> Any:

    new_deadline: Any = bindparam("b_deadline", type_=DateTime())
    greatest = func.greatest if is_postgresql else func.max
    return case(
        (deliveries.c.deadline.is_(None), None),
        else_=greatest(deliveries.c.deadline, new_deadline),
    )
