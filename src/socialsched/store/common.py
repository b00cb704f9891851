"""Shared ground of the store: where the database is, its errors, the time
helpers and how lifecycle events leave it.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from socialsched.adapters import plugins

from ..errors import SocialschedError
from . import tuning

DEFAULT_DB = "socialsched.db"
ENV_DB = "SOCIALSCHED_DB"
DEFAULT_MISFIRE_GRACE = timedelta(hours=1)
_CHUNK = 500  # ids per IN (...) list: below SQLite's bound-parameter limit
_MIGRATIONS = Path(__file__).parent.with_name("migrations")

Clock = Callable[[], datetime]


def _emit(event_name: str, **fields: Any) -> None:
    """Announce a lifecycle event (delivery_scheduled, delivery_published, delivery_failed)
    to plugins (their hooks get `fields` as keyword arguments) and to `listeners`."""
    plugins.notify(event_name, **fields)

    for listener in tuning.listeners:
        listener(event_name, fields)


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


def describe_database_error(error: BaseException) -> str:
    """A one-line description of a database error: its class and the driver's first
    line, without SQLAlchemy's statement and parameters (they may hold message text)."""
    original = getattr(error, "orig", None) or error
    first = (str(original).strip().splitlines() or [""])[0][:300]
    return f"{type(original).__name__}: {first}".rstrip(": ")
