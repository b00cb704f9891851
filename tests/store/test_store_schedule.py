"""`Store.schedule`: planning into the outbox and reconciling after calendar edits."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import attrs
import pytest
from sqlalchemy import event

from conftest import calendar, post
from socialsched.runner import Runner
from socialsched.scheduling import schedule
from socialsched.store import Store
from socialsched.store import tuning as store_tuning


def local_utc(day: str, clock_time: str, zone: str) -> datetime:
    naive = datetime.fromisoformat(f"{day}T{clock_time}")
    return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def by_key(store):
    return {(r.post, r.segment): r for r in store.records()}


def test_schedule_adds_every_delivery_at_its_local_time(store):
    result = schedule(store, calendar([post("hello", "09:30")]), "2027-01-04", "2027-01-04")
    rows = by_key(store)
    assert len(result.added) == 2 and set(rows) == {("hello", "uk"), ("hello", "lisbon")}
    assert rows["hello", "uk"].utc == local_utc("2027-01-04", "09:30", "Europe/London")
    assert rows["hello", "lisbon"].utc == local_utc("2027-01-04", "09:30", "Europe/Lisbon")
    assert {r.state for r in rows.values()} == {"scheduled"}
    assert rows["hello", "lisbon"].locale == "en-GB"
    log = store.log()
    assert [(e.to_state, e.actor) for e in log] == [("scheduled", "schedule")] * 2


def test_schedule_twice_changes_nothing(store):
    cal = calendar([post("a"), post("b", "12:00")])
    schedule(store, cal, "2027-01-01", "2027-01-31")
    before = store.records()
    log_before = store.log()
    again = schedule(store, cal, "2027-01-01", "2027-01-31")
    assert not again.changed and again.unchanged == 4
    assert store.records() == before
    assert store.log() == log_before


def test_moved_delivery_keeps_its_id_and_gets_the_new_time(store):
    schedule(store, calendar([post("a", "09:00"), post("b")]), "2027-01-04", "2027-01-04")
    old = by_key(store)
    result = schedule(store, calendar([post("a", "15:45"), post("b")]), "2027-01-04", "2027-01-04")
    new = by_key(store)
    assert set(result.moved) == {old["a", "uk"].id, old["a", "lisbon"].id}
    assert result.unchanged == 2 and not result.added and not result.cancelled
    assert new["a", "uk"].utc == local_utc("2027-01-04", "15:45", "Europe/London")
    assert new["a", "lisbon"].due == local_utc("2027-01-04", "15:45", "Europe/Lisbon")
    assert new["a", "uk"].id == old["a", "uk"].id and new["a", "uk"].state == "scheduled"
    moved_log = store.log(delivery=old["a", "uk"].id)[-1]
    assert moved_log.to_state == "scheduled" and "moved from" in moved_log.reason


def test_removed_post_is_cancelled(store):
    schedule(store, calendar([post("a"), post("b")]), "2027-01-04", "2027-01-04")
    result = schedule(store, calendar([post("a")]), "2027-01-04", "2027-01-04")
    rows = by_key(store)
    assert set(result.cancelled) == {rows["b", "uk"].id, rows["b", "lisbon"].id}
    assert rows["b", "uk"].state == rows["b", "lisbon"].state == "cancelled"
    assert rows["a", "uk"].state == "scheduled"
    assert store.log(post="b")[-1].reason == "no longer in the calendar"


def test_new_post_is_added(store):
    schedule(store, calendar([post("a")]), "2027-01-04", "2027-01-04")
    result = schedule(store, calendar([post("a"), post("c", "10:00")]), "2027-01-04", "2027-01-04")
    rows = by_key(store)
    assert set(result.added) == {rows["c", "uk"].id, rows["c", "lisbon"].id}
    assert result.unchanged == 2
    assert rows["c", "uk"].utc == local_utc("2027-01-04", "10:00", "Europe/London")


def test_changed_text_updates_unsent_deliveries(store):
    schedule(store, calendar([post("a")]), "2027-01-04", "2027-01-04")
    edited = attrs.evolve(post("a"), text="new words")
    result = schedule(store, calendar([edited]), "2027-01-04", "2027-01-04")
    assert len(result.updated) == 2 and not result.moved
    assert {r.text for r in store.records()} == {"new words"}


def test_published_deliveries_are_never_touched(store, clock, recorder):
    def a(at):
        return post("a", at, misfire_grace="3h")

    schedule(store, calendar([a("05:00"), post("b", "20:00")]), "2027-01-04", "2027-01-04")
    Runner(store, adapters=lambda channel: recorder).run_until_idle()
    published = {r.id: r for r in store.records("published")}
    # "a" at 05:00 local went out (London and Lisbon are both before 06:00 UTC).
    assert {r.post for r in published.values()} == {"a"} and len(published) == 2
    log_count = {key: len(store.log(delivery=key)) for key in published}
    # Move it, then remove it: published rows stay exactly as they were.
    schedule(store, calendar([a("07:00"), post("b", "20:00")]), "2027-01-04", "2027-01-04")
    result = schedule(store, calendar([post("b", "20:00")]), "2027-01-04", "2027-01-04")
    assert not set(result.cancelled) & set(published)
    for key, before in published.items():
        assert store.get(key) == before
        assert len(store.log(delivery=key)) == log_count[key]


def test_removed_then_restored_post_comes_back_but_operator_cancel_stays(store):
    schedule(store, calendar([post("a"), post("b")]), "2027-01-04", "2027-01-04")
    rows = by_key(store)
    store.cancel(rows["a", "uk"].id, reason="not for the UK")
    schedule(store, calendar([post("b")]), "2027-01-04", "2027-01-04")
    schedule(store, calendar([post("a"), post("b")]), "2027-01-04", "2027-01-04")
    rows = by_key(store)
    assert rows["a", "lisbon"].state == "scheduled"
    assert rows["a", "uk"].state == "cancelled"


def test_deliveries_outside_the_range_are_left_alone(store):
    cal = calendar([post("a", dates=("2027-01-04", "2027-02-10"))])
    schedule(store, cal, "2027-01-01", "2027-02-28")
    schedule(store, calendar([post("other")]), "2027-01-01", "2027-01-31")
    february = [r for r in store.records() if r.utc.month == 2]
    assert len(february) == 2 and {r.state for r in february} == {"scheduled"}


def test_schedule_writes_in_bulk(store):
    """No row-by-row round trips: the statement count does not grow with deliveries."""
    days = tuple(f"2027-01-{day:02d}" for day in range(1, 29))
    cal = calendar([post(f"p{i}", dates=days) for i in range(6)])  # 6*28*2 = 336 rows
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    result = schedule(store, cal, "2027-01-01", "2027-01-31")
    assert len(result.added) == 336
    assert len(statements) < 20, statements


def test_new_deliveries_matching_a_pause_start_paused(store):
    store.pause(segment="uk", reason="outage")
    schedule(store, calendar([post("a")]), "2027-01-04", "2027-01-04")
    rows = by_key(store)
    assert rows["a", "uk"].state == "paused" and rows["a", "lisbon"].state == "scheduled"


@pytest.mark.parametrize("rebuild_from", [2, 10_000])
def test_every_new_delivery_is_logged_as_planned_in_its_first_state(
    store, clock, monkeypatch, rebuild_from
):
    """One "planned" entry per new delivery, whether the load rebuilds indexes or not."""

    monkeypatch.setattr(store_tuning, "REBUILD_MIN_ROWS", rebuild_from)
    schedule(store, calendar([post("a")]), "2027-01-04", "2027-01-04")
    store.pause(segment="uk", reason="outage")
    cal = calendar([post("a"), post("b"), post("c")])
    result = schedule(store, cal, "2027-01-04", "2027-01-04")
    assert len(result.added) == 4 and result.unchanged == 2
    planned = [e for e in store.log() if e.reason == "planned"]
    assert [e.delivery_id for e in planned[2:]] == list(result.added)
    records = {r.id: r for r in store.records()}
    for entry in planned:
        record = records[entry.delivery_id]
        assert (entry.post, entry.segment, entry.channel) == (
            record.post,
            record.segment,
            record.channel,
        )
        assert entry.from_state is None and entry.actor == "schedule" and entry.attempt == 0
        assert entry.at == clock.now and entry.receipt is None
    second = {e.delivery_id: e.to_state for e in planned[2:]}
    assert second == {
        key: ("paused" if records[key].segment == "uk" else "scheduled") for key in second
    }


def test_secret_values_never_reach_the_database(store, monkeypatch, recorder):
    from socialsched.calendar.model import Channel

    monkeypatch.setenv("SOCIALSCHED_SECRET_FEED_TOKEN", "s3cr3t-value-xyz")
    channel = Channel(
        name="feed", adapter="jsonl", settings={"path": "/tmp/x"}, secrets={"token": "FEED_TOKEN"}
    )
    schedule(store, calendar([post("a", "05:00")], channels=[channel]), "2027-01-04", "2027-01-04")
    Runner(store, adapters=lambda c: recorder).run_until_idle()
    with store.engine.connect() as connection:
        dump = repr(
            [
                connection.exec_driver_sql(f"SELECT * FROM {table}").all()
                for table in ("deliveries", "activity", "holds", "channels")
            ]
        )
    assert "FEED_TOKEN" in dump and "s3cr3t-value-xyz" not in dump
    assert "s3cr3t" not in repr(store)


def test_delivery_moving_into_the_range_from_outside_is_moved_not_added(store):
    schedule(store, calendar([post("a", dates=("2027-02-10",))]), "2027-01-01", "2027-02-28")
    old = by_key(store)["a", "uk"]
    later = local_utc("2027-01-20", "09:00", "Europe/London")
    moved = attrs.evolve(
        old.to_delivery(), utc=later, local=later.astimezone(ZoneInfo("Europe/London"))
    )
    cal = calendar([post("a", dates=("2027-02-10",))])
    result = store.schedule(cal, "2027-01-01", "2027-01-31", planned=[moved])
    assert result.moved == (old.id,) and not result.added
    assert by_key(store)["a", "uk"].utc == later and len(store.records()) == 2


def _rich_delivery():
    """A delivery with every optional planned field set."""
    from socialsched.calendar.audiences import Audience
    from socialsched.calendar.model import Delivery

    london = ZoneInfo("Europe/London")
    utc = local_utc("2027-01-04", "09:00", "Europe/London")
    return Delivery(
        id="d0",
        post="a",
        segment="uk",
        channel="feed",
        adapter="jsonl",
        utc=utc,
        local=utc.astimezone(london),
        text="hi",
        holiday="Bank holiday",
        shifted_from=datetime(2027, 1, 1, 9, 0, tzinfo=london),
        reason="moved off the holiday",
        audience=Audience(kind="targeting", countries=("GB",)),
        tags=("promo", "x"),
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("text", "hello"),
        ("holiday", None),
        ("shifted_from", None),
        ("shifted_from", datetime(2027, 1, 2, 9, 0, tzinfo=ZoneInfo("Europe/London"))),
        ("reason", None),
        ("audience", None),
        ("audience", {"kind": "targeting", "countries": ["PT"]}),
        ("tags", ("promo",)),
        ("adapter", "console"),
    ],
)
def test_every_planned_field_counts_as_a_change(store, field, value):
    """Unsent deliveries are compared field by field with the new plan: any planned
    value that differs (set or cleared) updates the row, equal values change nothing."""
    cal = calendar([post("a", requires_approval=True)])
    original = _rich_delivery()
    store.schedule(cal, "2027-01-04", "2027-01-04", planned=[original])
    again = store.schedule(cal, "2027-01-04", "2027-01-04", planned=[original])
    assert not again.changed and again.unchanged == 1

    edited = attrs.evolve(original, **{field: value})
    result = store.schedule(cal, "2027-01-04", "2027-01-04", planned=[edited])
    assert result.updated == ("d0",) and not result.moved and not result.added
    record = store.get("d0")
    stored = {
        "text": record.text,
        "holiday": store_value(store, "holiday"),
        "shifted_from": store_value(store, "shifted_from"),
        "reason": store_value(store, "reason"),
        "audience": record.audience,
        "tags": record.tags,
        "adapter": record.adapter,
    }[field]
    expected = value.isoformat() if isinstance(value, datetime) else value
    assert stored == expected
    settled = store.schedule(cal, "2027-01-04", "2027-01-04", planned=[edited])
    assert not settled.changed and settled.unchanged == 1


def store_value(store, column):
    with store.engine.connect() as connection:
        return connection.exec_driver_sql(f"SELECT {column} FROM deliveries").scalar()


def test_stored_values_are_what_was_planned(store):
    """Times as naive UTC, the local time and shift in ISO 8601, JSON audience and tags."""
    cal = calendar([post("a", requires_approval=True)])
    store.schedule(cal, "2027-01-04", "2027-01-04", planned=[_rich_delivery()])
    with store.engine.connect() as connection:
        row = connection.exec_driver_sql(
            "SELECT local, local_day, audience, tags, holiday, shifted_from, reason, locale,"
            " grace_s, requires_approval FROM deliveries"
        ).one()
    assert tuple(row) == (
        "2027-01-04T09:00:00+00:00",
        "2027-01-04",
        '{"kind": "targeting", "countries": ["GB"], "locales": []}',
        '["promo", "x"]',
        "Bank holiday",
        "2027-01-01T09:00:00+00:00",
        "moved off the holiday",
        "en-GB",
        3600,
        True,
    )
    record = store.get("d0")
    assert record.utc == datetime(2027, 1, 4, 9, 0, tzinfo=UTC) and record.due == record.utc


def test_plugin_observers_hear_each_new_delivery_and_nothing_when_unchanged(store):
    from socialsched import hookimpl, plugins

    heard = []

    class Metrics:
        @hookimpl
        def delivery_scheduled(self, delivery, channel):
            heard.append((delivery.post, delivery.segment, channel.name))

    assert not plugins.observed("delivery_scheduled")
    plugins.register(Metrics())
    try:
        assert plugins.observed("delivery_scheduled")
        cal = calendar([post("a")])
        schedule(store, cal, "2027-01-04", "2027-01-04")
        schedule(store, cal, "2027-01-04", "2027-01-04")
    finally:
        plugins.reset()
    assert sorted(heard) == [("a", "lisbon", "feed"), ("a", "uk", "feed")]


def test_sqlite_connections_use_wal_normal_sync_and_a_large_page_cache(tmp_path):
    from socialsched.store import Store

    with Store(tmp_path / "outbox.db") as store, store.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert pragma("PRAGMA cache_size").scalar() == -65536  # KiB: 64 MiB


def test_schedule_leaves_the_garbage_collector_as_it_found_it(store):
    import gc

    cal = calendar([post("a")])
    assert gc.isenabled()
    schedule(store, cal, "2027-01-04", "2027-01-04")
    assert gc.isenabled()
    gc.disable()
    try:
        schedule(store, calendar([post("b")]), "2027-01-04", "2027-01-04")
        assert not gc.isenabled()
    finally:
        gc.enable()
    stray = attrs.evolve(store.records()[0].to_delivery(), post="not-in-the-calendar")
    with pytest.raises(KeyError):  # fails while the collector is paused
        store.schedule(cal, "2027-01-04", "2027-01-04", planned=[stray])
    assert gc.isenabled()


def index_definitions(store) -> set[str]:
    with store.engine.connect() as connection:
        if store.engine.dialect.name == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        else:
            query = "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        return {row[0] for row in connection.exec_driver_sql(query)}


def test_large_loads_rebuild_the_indexes_and_small_ones_update_them(store, monkeypatch):
    """A load at least as large as the table (and past a minimum size) drops the
    secondary indexes and builds them again in the same transaction, on SQLite."""

    monkeypatch.setattr(store_tuning, "REBUILD_MIN_ROWS", 2)
    statements: list[str] = []
    event.listen(
        store.engine, "before_cursor_execute", lambda *args: statements.append(args[2].strip())
    )
    indexes = index_definitions(store)
    assert len(indexes) >= 5
    three_posts = calendar([post("a"), post("b"), post("c")])
    assert len(schedule(store, three_posts, "2027-01-04", "2027-01-04").added) == 6
    dropped = {s.split()[2] for s in statements if s.startswith("DROP INDEX")}
    created = {s.split()[2] for s in statements if s.startswith("CREATE INDEX")}
    if store.engine.dialect.name == "sqlite":
        assert (
            dropped
            == created
            == {
                "ix_deliveries_state_due",
                "ix_deliveries_calendar_day",
                "ix_deliveries_channel_sent",
                "ix_activity_delivery",
                "ix_activity_at",
            }
        )
    else:
        assert not dropped and not created
    assert index_definitions(store) == indexes

    statements.clear()
    assert len(schedule(store, calendar([post("d")]), "2027-01-04", "2027-01-04").added) == 2
    assert not [s for s in statements if s.startswith(("DROP INDEX", "CREATE INDEX"))]
    assert index_definitions(store) == indexes


def test_a_failed_large_load_leaves_indexes_and_rows_as_they_were(store, monkeypatch):

    monkeypatch.setattr(store_tuning, "REBUILD_MIN_ROWS", 2)
    indexes = index_definitions(store)

    def failing_log(*args):
        raise RuntimeError("disk full")

    # Writing the activity log comes after the deliveries are in and indexes rebuilt.
    monkeypatch.setattr(Store, "_log_rows_after", staticmethod(failing_log))
    monkeypatch.setattr(Store, "_log_planned", staticmethod(failing_log))
    with pytest.raises(RuntimeError, match="disk full"):
        schedule(store, calendar([post("a")]), "2027-01-04", "2027-01-04")
    assert store.records() == [] and store.log() == []
    assert index_definitions(store) == indexes
