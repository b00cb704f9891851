"""Fewer round trips per delivery on PostgreSQL (store.round_trips): a delivery costs
its sending mark and its outcome, one statement each, with no BEGIN/COMMIT and no ping
per transaction; outcomes commit without waiting for the disk and the next mark (or
`make_durable`) flushes them; the journal is emptied only once the store says so.
Counts, never timings."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from conftest import PG_URL, Recorder, calendar, post, segment
from socialsched.calendar.model import Channel
from socialsched.runner import Runner
from socialsched.runner.journal import Entry, Journal
from socialsched.runner.receipts import Receipts
from socialsched.scheduling import schedule
from socialsched.store.round_trips import HeldConnection, ServerRestarted, finish_statement
from socialsched.store.tables import activity

SEGMENTS = [segment(f"s{number}") for number in range(12)]


@pytest.fixture
def pg_store(make_store: Any, backend: str) -> Any:
    if backend != "postgresql":
        pytest.skip("round trips are a PostgreSQL matter (SQLite is in-process)")
    return make_store()


class Counts:
    """Statements and commits on an engine while `active`."""

    def __init__(self, engine: Any) -> None:
        self.active = False
        self.statements = self.commits = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, *args: Any) -> None:
        self.statements += self.active

    def _commit(self, *args: Any) -> None:
        self.commits += self.active


def _publish(store: Any, clock: Any, prefix: str, deliveries: int) -> dict[str, int]:
    """Publish `deliveries` new deliveries due now; what it cost on each engine."""
    posts = [post(f"{prefix}{n}", "05:30") for n in range(deliveries // len(SEGMENTS))]
    schedule(store, calendar(posts, SEGMENTS, name=prefix), "2027-01-04", "2027-01-04")
    recorder = Recorder(Channel(name="feed", adapter="jsonl", settings={"path": "/none"}))
    runner = Runner(
        store, adapters=lambda channel: recorder, sleep=clock.sleep, rng=random.Random(7)
    )
    marks, outcomes = Counts(store.engine), Counts(store.outcome_engine)
    marks.active = outcomes.active = True
    runner.run_until_idle()
    marks.active = outcomes.active = False
    assert len(recorder.published) == deliveries
    return {
        "main statements": marks.statements,
        "main commits": marks.commits,
        "outcome statements": outcomes.statements,
        "outcome commits": outcomes.commits,
    }


def test_a_delivery_costs_two_statements_and_no_transaction_of_its_own(pg_store, clock):
    few = _publish(pg_store, clock, "a", 12)
    many = _publish(pg_store, clock, "b", 48)
    # One outcome statement per delivery, never a transaction of its own.
    assert (few["outcome statements"], many["outcome statements"]) == (12, 48)
    assert few["outcome commits"] == many["outcome commits"] == 0
    # On the main engine, 36 more deliveries cost 36 more statements (their marks) and
    # no more commits: a pass's fixed cost (claim, settling, ...) does not grow.
    assert many["main statements"] - few["main statements"] == 36
    assert many["main commits"] == few["main commits"]


def test_outcomes_commit_without_waiting_for_the_disk_and_marks_do(pg_store):
    with pg_store.outcome_engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    with pg_store.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    pg_store.make_durable()  # a synchronous commit that flushes them: it runs


def test_after_a_server_restart_the_journal_is_recorded_again_before_it_is_emptied(
    pg_store, tmp_path
):
    store = pg_store
    schedule(store, calendar([post("a", "05:30")], [segment("uk")]), "2027-01-04", "2027-01-04")
    (record,) = store.claim("w1", limit=5, lease=timedelta(minutes=1))
    journal = Journal(tmp_path, store.url)
    Receipts(  # it sets the journal's before_empty
        store, "w1", journal, lease=timedelta(minutes=1), wait=lambda s: None, stopping=bool
    )
    # A receipt in the journal whose outcome a crash of the server lost (never recorded
    # here), and PostgreSQL started again since the store was opened.
    journal.write(Entry(record.id, None, {"remote_id": "r-1"}), "w1")
    store._server_started = datetime(2000, 1, 1, tzinfo=UTC)
    with pytest.raises(ServerRestarted, match="restarted"):
        store.make_durable()
    assert journal.before_empty is not None
    journal.before_empty()  # what emptying the journal calls first
    assert store.get(record.id).state == "published"
    assert store.get(record.id).receipt["remote_id"] == "r-1"
    store.make_durable()  # the restart is known now
    journal.close()


def test_the_outcome_statement_needs_the_claim_and_logs_only_what_it_changed(pg_store, clock):
    store = pg_store
    schedule(store, calendar([post("a", "05:30")], [segment("uk")]), "2027-01-04", "2027-01-04")
    (record,) = store.claim("w1", limit=5, lease=timedelta(minutes=1))
    entry = {
        "at": store.now(),
        "delivery_id": record.id,
        "post": record.post,
        "segment": record.segment,
        "channel": record.channel,
        "from_state": "claimed",
        "to_state": "failed",
        "actor": "w2",
        "reason": "not w2's claim",
        "attempt": 1,
        "receipt": None,
        "media": None,
    }
    before = len(store.log(delivery=record.id))
    dialect = store.outcome_engine.dialect
    with store.outcome_engine.connect() as connection:
        statement, parameters = finish_statement(
            dialect, record.id, "w2", {"state": "failed"}, entry
        )
        lost = statement.execute(connection, parameters).all()
    assert lost == []
    assert store.get(record.id).state == "claimed"
    assert len(store.log(delivery=record.id)) == before
    with store.outcome_engine.connect() as connection:
        statement, parameters = finish_statement(
            dialect,
            record.id,
            "w1",
            {"state": "failed", "claimed_by": None},
            entry | {"actor": "w1"},
        )
        done = statement.execute(connection, parameters).all()
    assert len(done) == 1
    assert store.get(record.id).state == "failed"
    last = store.log(delivery=record.id)[-1]
    assert (last.from_state, last.to_state, last.actor, last.reason) == (
        "claimed",
        "failed",
        "w1",
        "not w2's claim",
    )
    with store.engine.connect() as connection:
        rows = connection.execute(activity.select().where(activity.c.delivery_id == record.id))
        assert len(rows.all()) == before + 1


def test_a_connection_dropped_while_idle_is_replaced_at_checkout(pg_store):
    store = pg_store
    with store.engine.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    # From outside the pool: the pooled connection is ended while it sits idle.
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(1.2)  # idle past PING_AFTER_IDLE: the next checkout pings, not fails
    assert store.channels() == {}


def test_the_journal_is_emptied_only_once_the_store_says_it_is_on_disk(tmp_path: Path):
    def keep_all() -> None:
        raise OSError("the database is away")

    journal = Journal(tmp_path, "postgresql+psycopg://h/db")
    journal.before_empty = keep_all
    journal.write(Entry("d1", None, {"remote_id": "r1"}), "w")
    journal.recorded()
    (kept,) = list(tmp_path.iterdir())
    journal.close()
    assert kept.exists()  # the store could not confirm: the file stays to be replayed

    durable: list[bool] = []
    journal = Journal(tmp_path / "ok", "postgresql+psycopg://h/db")
    journal.before_empty = lambda: durable.append(True)
    journal.write(Entry("d2", None, {"remote_id": "r2"}), "w")
    journal.recorded()
    journal.close()
    assert durable == [True]
    assert list((tmp_path / "ok").iterdir()) == []


def _terminate(connection: Any) -> None:
    """End a connection's server process from outside, as a restart or an idle timeout
    would."""
    pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_held_connection_is_kept_and_replaced_when_it_died_idle(pg_store):
    held = HeldConnection(pg_store.engine, ping_after_idle=0.5)
    first = held.connection()
    assert held.connection() is first  # kept, not checked out again
    _terminate(first)
    time.sleep(0.6)  # idle past ping_after_idle: pinged, found dead, replaced
    second = held.connection()
    assert second is not first
    assert second.exec_driver_sql("SELECT 1").scalar() == 1
    held.close()
    assert first.closed and second.closed


def test_a_held_connection_that_fails_a_statement_is_replaced_at_its_next_use(pg_store):
    held = HeldConnection(pg_store.engine, ping_after_idle=60)
    first = held.connection()
    _terminate(first)
    with pytest.raises(OperationalError):  # SQLAlchemy's error, as the runner expects
        held.connection().exec_driver_sql("SELECT 1")
    second = held.connection()
    assert second is not first
    assert second.exec_driver_sql("SELECT 1").scalar() == 1
    held.close()
