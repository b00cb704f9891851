"""The store reads a `Plan` route by route, and a list of deliveries one by one: both
must store exactly the same rows (every column, every activity entry, in the same
order). And the bulk insert that writes shared values into the statement (SQLite) must
store what binding them stores, quotes and NUL characters included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy

import socialsched
from conftest import PG_URL, require_postgres
from socialsched import Planner
from socialsched.scheduling import schedule
from socialsched.store import Store
from socialsched.store import tuning as store_tuning
from socialsched.store.bulk import _bulk_insert_values

ROOT = Path(__file__).resolve().parents[2]
CALENDARS = sorted(
    [*ROOT.glob("examples/*/calendar.toml"), *ROOT.glob("docs/recipes/*/calendar.toml")]
)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def table(url: str, name: str) -> list[tuple]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {name}")]
    finally:
        engine.dispose()


@pytest.mark.parametrize("path", CALENDARS, ids=lambda path: path.parent.name)
def test_a_plan_and_its_deliveries_store_the_same_rows(path, tmp_path, monkeypatch):
    calendar = socialsched.load(path)
    plan = Planner(calendar).plan(date(2027, 1, 1), date(2027, 12, 31), problems=[])
    assert len(plan) > 0, f"{path} plans nothing in the range: nothing was compared"
    urls = []
    # The plan's rows built by SQLite from temporary tables (what large plans do), the
    # plan's rows built in Python and bound, and each delivery's row on its own.
    for name, planned, fan_out_from in (
        ("fanned-out", plan, 1),
        ("columns", plan, 10**9),
        ("objects", list(plan), 1),
    ):
        monkeypatch.setattr(store_tuning, "FANOUT_MIN_ROWS", fan_out_from)
        store = Store(tmp_path / f"{name}.db", clock=lambda: NOW)
        result = store.schedule(calendar, "2027-01-01", "2027-12-31", planned=planned)
        store.close()
        assert list(result.added) == [delivery.id for delivery in plan]
        urls.append(f"sqlite:///{tmp_path / f'{name}.db'}")
    for name in ("deliveries", "activity", "media"):
        fanned_out, *others = (table(url, name) for url in urls)
        if name == "media":
            # Media are kept once per content digest: a set, whichever route met a
            # file first.
            fanned_out, others = sorted(fanned_out), [sorted(rows) for rows in others]
        assert all(rows == fanned_out for rows in others), name
    stored = table(urls[0], "deliveries")
    assert len(stored) == len(plan)
    # In plan order, with the plan's ids, texts and times.
    expected = [(d.id, d.text, d.utc.strftime("%Y-%m-%d %H:%M:%S.%f")) for d in plan]
    assert [(row[0], row[10], row[7]) for row in stored] == expected


def test_ranges_scheduled_one_after_another_are_each_fanned_out(tmp_path, monkeypatch):
    # Each first schedule of a range builds its temporary tables and drops them: a
    # second range on the same connection must not find them left over.
    monkeypatch.setattr(store_tuning, "FANOUT_MIN_ROWS", 1)
    calendar = socialsched.load(ROOT / "examples" / "social" / "calendar.toml")
    store = Store(tmp_path / "outbox.db", clock=lambda: NOW)
    added = []
    for start, end in (("2027-01-01", "2027-06-30"), ("2027-07-01", "2027-12-31")):
        added += schedule(store, calendar, start, end).added
    planned = Planner(calendar).plan(date(2027, 1, 1), date(2027, 12, 31))
    assert sorted(added) == sorted(delivery.id for delivery in planned)
    assert sorted(record.id for record in store.records()) == sorted(added)
    with store.engine.connect() as connection:
        left = connection.exec_driver_sql("SELECT name FROM sqlite_temp_master").all()
    store.close()
    assert left == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_shared_values_are_stored_as_bound_ones_would_be(backend, tmp_path):
    if backend == "postgresql":
        require_postgres()
        url = PG_URL
    else:
        url = f"sqlite:///{tmp_path / 'bulk.db'}"
    metadata = sqlalchemy.MetaData()
    name = f"bulk_{backend}_{tmp_path.name[-8:]}".replace("-", "_").lower()
    sample = sqlalchemy.Table(
        name,
        metadata,
        sqlalchemy.Column("number", sqlalchemy.Integer, primary_key=True),
        sqlalchemy.Column("quoted", sqlalchemy.Text),
        sqlalchemy.Column("percent", sqlalchemy.Text),
        sqlalchemy.Column("count", sqlalchemy.Integer),
        sqlalchemy.Column("empty", sqlalchemy.Text),
        sqlalchemy.Column("defaulted", sqlalchemy.Text, server_default="filled"),
    )
    rows = [(number, 'l\'été "x"', "100% '; --", 7, None, None) for number in range(1, 51)]
    # One row apart: a column shared by all rows but one must be bound.
    rows.append((51, 'l\'été "x"', "other", 7, None, None))
    columns = [column.name for column in sample.columns]
    engine = sqlalchemy.create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            _bulk_insert_values(connection, sample, columns, rows)
        with engine.connect() as connection:
            stored = [tuple(row) for row in connection.execute(sample.select())]
    finally:
        metadata.drop_all(engine)
        engine.dispose()
    assert sorted(stored) == rows


def test_a_string_with_a_nul_character_shared_by_every_row_is_stored_whole(tmp_path):
    url = f"sqlite:///{tmp_path / 'nul.db'}"
    metadata = sqlalchemy.MetaData()
    sample = sqlalchemy.Table(
        "sample",
        metadata,
        sqlalchemy.Column("number", sqlalchemy.Integer, primary_key=True),
        sqlalchemy.Column("text", sqlalchemy.Text),
    )
    rows = [(number, "before\x00after") for number in range(1, 4)]
    engine = sqlalchemy.create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            _bulk_insert_values(connection, sample, ["number", "text"], rows)
        with engine.connect() as connection:
            stored = [tuple(row) for row in connection.execute(sample.select())]
    finally:
        engine.dispose()
    assert stored == rows
