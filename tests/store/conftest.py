"""Fixtures for the store and runner tests: a controllable clock, calendars built in
Python, an in-memory adapter, and a store on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy

from socialsched.adapters import Adapter, Capabilities, Message, Receipt
from socialsched.calendar.model import Calendar, Channel, Post, Segment
from socialsched.store import Store

PG_URL = os.environ.get("SOCIALSCHED_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it answers."""
    try:
        engine = sqlalchemy.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as error:
        return f"PostgreSQL at {PG_URL} does not answer: {type(error).__name__}"
    return None


def require_postgres() -> None:
    problem = postgres_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem + " (CI must run the PostgreSQL tests)")
        pytest.skip(problem)


class Clock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    # 2027-01-04 is a Monday with no public holiday in GB.
    return Clock(datetime(2027, 1, 4, 6, 0, tzinfo=UTC))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_store(backend: str, tmp_path: Any, clock: Clock) -> Iterator[Any]:
    """Opens stores on one database (the same one on every call)."""
    opened: list[Store] = []
    schema = f"t_{uuid.uuid4().hex[:12]}"
    if backend == "postgresql":
        require_postgres()

    def make(**kwargs: Any) -> Store:
        kwargs.setdefault("clock", clock)
        if backend == "sqlite":
            store = Store(tmp_path / "outbox.db", **kwargs)
        else:
            store = Store(PG_URL, schema=schema, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
    if backend == "postgresql":
        engine = sqlalchemy.create_engine(PG_URL)
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture
def store(make_store: Any) -> Store:
    return make_store()


class Recorder(Adapter):
    """Records what it is asked to publish; can be told to fail."""

    name = "recorder"
    capabilities = Capabilities(audiences=("any",), delete=True, idempotent=True)

    def __init__(self, channel: Channel, environ: Any = None) -> None:
        super().__init__(channel, environ)
        self.published: list[tuple[Message, str]] = []
        self.deleted: list[Receipt] = []
        self.failures: list[Exception] = []

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if self.failures:
            raise self.failures.pop(0)
        self.published.append((message, idempotency_key))
        return Receipt(
            remote_id=f"r-{idempotency_key}", url=f"https://example.test/{idempotency_key}"
        )

    def delete(self, receipt: Receipt) -> None:
        self.deleted.append(receipt)


@pytest.fixture
def pg_schema() -> Iterator[tuple[sqlalchemy.Engine, str]]:
    """An engine on PostgreSQL and the name of a schema (not created) that is dropped
    afterwards, with its "_away" twin; skips where PostgreSQL does not answer."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(PG_URL)
    yield engine, schema
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}_away" CASCADE')
    engine.dispose()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(Channel(name="feed", adapter="jsonl", settings={"path": "/nonexistent"}))


def segment(name: str, timezone: str = "Europe/London", country: str = "GB") -> Segment:
    return Segment(name=name, locale="en-GB", timezone=timezone, country=country)


def calendar(
    posts: list[Post],
    segments: list[Segment] | None = None,
    channels: list[Channel] | None = None,
    name: str = "cal",
) -> Calendar:
    return Calendar(
        segments=segments or [segment("uk"), segment("lisbon", "Europe/Lisbon", "PT")],
        channels=channels or [Channel(name="feed", adapter="jsonl", settings={"path": "/tmp/x"})],
        posts=posts,
        name=name,
    )


def post(
    post_id: str, at: str = "09:00", dates: tuple[str, ...] = ("2027-01-04",), **kw: Any
) -> Post:
    return Post(id=post_id, text=f"{post_id} text", dates=dates, at=at, **kw)
