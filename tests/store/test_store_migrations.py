"""The outbox schema: created and upgraded by the shipped Alembic migrations, equal to
`socialsched.store.tables`, upgrades and downgrades keep the data."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import socialsched
from conftest import calendar, post
from socialsched.scheduling import schedule
from socialsched.store.tables import metadata

MIGRATIONS = Path(socialsched.__file__).with_name("migrations")
VERSION_TABLE = "socialsched_alembic_version"


def alembic_config(connection):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def current_revision(store) -> str:
    with store.engine.connect() as connection:
        return connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()


def test_migrated_schema_equals_the_tables_module(store):
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []


def test_reopening_keeps_data_and_does_not_migrate_again(make_store):
    first = make_store()
    schedule(first, calendar([post("a")]), "2027-01-04", "2027-01-04")
    first.close()
    second = make_store()
    assert len(second.records()) == 2
    assert current_revision(second) == head_revision()
    assert len(ScriptDirectory.from_config(alembic_config(None)).get_heads()) == 1


def test_downgrade_to_the_first_revision_and_upgrade_again_keep_every_delivery(make_store):
    cal = calendar([post("a"), post("b", dates=("2027-01-05",))])
    store = make_store()
    schedule(store, cal, "2027-01-04", "2027-01-05")
    before = store.records()
    log_before = store.log()
    with store.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0001")
    assert current_revision(store) == "0001"
    with store.engine.connect() as connection:
        columns = [
            row[1] if store.engine.dialect.name == "sqlite" else row[0]
            for row in connection.exec_driver_sql(
                "PRAGMA table_info(deliveries)"
                if store.engine.dialect.name == "sqlite"
                else "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'deliveries' AND table_schema = current_schema()"
            )
        ]
    assert "fingerprint" in columns
    store.close()

    upgraded = make_store()  # opening the store upgrades it
    assert current_revision(upgraded) == head_revision()
    assert upgraded.records() == before
    assert upgraded.log() == log_before
    again = schedule(upgraded, cal, "2027-01-04", "2027-01-05")
    assert not again.changed and again.unchanged == len(before)


def test_rate_limit_index_holds_only_sent_deliveries(store):
    """Sent deliveries are what rate limits count; the index skips unsent ones."""
    schedule(store, calendar([post("a")]), "2027-01-04", "2027-01-04")
    with store.engine.connect() as connection:
        query = connection.exec_driver_sql
        if store.engine.dialect.name == "sqlite":
            definition = query(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_deliveries_channel_sent'"
            ).scalar()
            plan = " ".join(
                str(row[-1])
                for row in query(
                    "EXPLAIN QUERY PLAN SELECT count(*) FROM deliveries"
                    " WHERE channel = 'feed' AND sent_at > '2027-01-01'"
                )
            )
            assert "ix_deliveries_channel_sent" in plan
        else:
            definition = query(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_deliveries_channel_sent'"
                " AND schemaname = current_schema()"
            ).scalar()
    assert definition.replace("(", "").replace(")", "").endswith("WHERE sent_at IS NOT NULL")


def test_downgrading_below_media_drops_them_and_the_next_schedule_puts_them_back(make_store):
    import attrs

    from socialsched.planning.planner import Planner
    from socialsched.testing import sample_image

    cal = calendar([post("a")])
    image = sample_image()
    planned = [
        attrs.evolve(d, media=(image,), parts=("One. 1/2", "Two. 2/2"))
        for d in Planner(cal).plan("2027-01-04", "2027-01-04")
    ]
    store = make_store()
    store.schedule(cal, "2027-01-04", "2027-01-04", planned=planned)
    with store.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
    assert current_revision(store) == "0002"
    store.close()

    upgraded = make_store()
    assert current_revision(upgraded) == head_revision()
    assert [(r.media, r.parts) for r in upgraded.records()] == [((), ())] * 2
    again = upgraded.schedule(cal, "2027-01-04", "2027-01-04", planned=planned)
    assert len(again.updated) == 2
    for record in upgraded.records():
        assert [m.read() for m in record.media] == [image.read()]
        assert record.parts == ("One. 1/2", "Two. 2/2")


def test_the_head_revision_the_store_knows_is_alembics():
    from socialsched.migrations import HEAD_REVISION
    from socialsched.migrations import VERSION_TABLE as KNOWN_TABLE

    assert head_revision() == HEAD_REVISION
    assert KNOWN_TABLE == VERSION_TABLE


def test_a_store_at_the_head_revision_opens_without_alembic(make_store, monkeypatch):
    make_store().close()

    def upgrade(*args, **kwargs):
        raise AssertionError("alembic ran on a store already at the head revision")

    monkeypatch.setattr(command, "upgrade", upgrade)
    again = make_store()
    assert current_revision(again) == head_revision()
