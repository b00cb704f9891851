"""`schedule` says, before changing anything, how many planned deliveries are already
past and what the runner will do with them; checked against what the store records
once a runner has run (SQLite and PostgreSQL), and through the CLI from another folder."""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import Clock, Recorder, calendar, post, segment
from socialsched.calendar.model import Channel
from socialsched.cli import main
from socialsched.planning.lateness import PastDeliveries, past_report
from socialsched.planning.planner import Planner
from socialsched.runner import Runner
from socialsched.scheduling import schedule
from socialsched.store import Store

FEED = Channel(name="feed", adapter="jsonl", settings={"path": "/nonexistent"})
# The clock fixture stands at 2027-01-04 06:00 UTC; London and Lisbon are on UTC in
# January, so each post's local time below is its UTC time. Two segments: two each.
POSTS = [
    # 21 hours late, default grace one hour: missed.
    post("gone", "09:00", ("2027-01-03",)),
    # As late, but late = "publish": published late.
    post("tardy", "09:00", ("2027-01-03",), late="publish"),
    # Half an hour late, within the default hour of grace.
    post("fresh", "05:30", ("2027-01-04",)),
    # Two days late, within its three days of grace.
    post("wide", "09:00", ("2027-01-02",), misfire_grace="3d"),
    # Grace ends exactly now: the runner misses only what is past its deadline.
    post("edge", "05:00", ("2027-01-04",)),
    # Within grace, but waits for approval.
    post("gated", "05:45", ("2027-01-04",), requires_approval=True),
    # Covered by a pause rule.
    post("held", "05:50", ("2027-01-04",), tags=["hold-me"]),
    # Still to come: not past.
    post("soon", "07:00", ("2027-01-04",)),
]
EXPECTED = {"missed": 2, "late": 2, "within_grace": 6, "awaiting_approval": 2, "paused": 2}


def run(store, clock):
    worker = Runner(
        store,
        adapters=lambda channel: Recorder(channel),
        sleep=clock.sleep,
        rng=random.Random(7),
        worker="w",
    )
    worker.run_until_idle()


def states(store):
    return Counter((record.post, record.state) for record in store.records())


def test_prediction_matches_what_the_store_records_after_a_run(store, clock):
    cal = calendar(POSTS, channels=[FEED])
    store.pause(tag="hold-me")
    start, end = date(2027, 1, 1), date(2027, 1, 10)
    predicted = past_report(store, cal, Planner(cal), start, end)
    assert store.records() == []  # nothing changed by predicting
    assert {k: predicted.to_dict()[k] for k in EXPECTED} == EXPECTED
    assert predicted.total == sum(EXPECTED.values())
    # The first grace still running is "edge"'s: it ends exactly now.
    assert predicted.deadline == datetime(2027, 1, 4, 6, 0, tzinfo=UTC)

    schedule(store, cal, start, end)
    run(store, clock)
    recorded = states(store)
    by_state = Counter()
    for (_, state), count in recorded.items():
        by_state[state] += count
    assert by_state["missed"] == predicted.missed
    assert by_state["published"] == predicted.late + predicted.within_grace
    assert recorded[("gated", "scheduled")] == predicted.awaiting_approval
    assert by_state["paused"] == predicted.paused
    assert recorded[("soon", "scheduled")] == 2  # not yet due, and not counted as past
    # Which posts: hand-made expectations.
    assert recorded[("gone", "missed")] == 2
    assert recorded[("tardy", "published")] == recorded[("edge", "published")] == 2

    # Scheduled again: what went out or was missed is history, not past work.
    again = past_report(store, cal, Planner(cal), start, end)
    assert attrs.evolve(again, now=predicted.now, deadline=None) == PastDeliveries(
        now=predicted.now, awaiting_approval=2, paused=2
    )
    # The unapproved ones are missed at the end of their grace, as announced.
    clock.advance(hours=1)
    schedule(store, cal, start, end)
    run(store, clock)
    assert states(store)[("gated", "missed")] == 2


def test_a_delivery_schedule_cancelled_comes_back_and_counts(store, clock):
    kept = post("wide", "09:00", ("2027-01-02",), misfire_grace="3d")
    other = post("other", "09:00", ("2027-01-08",))
    start, end = date(2027, 1, 1), date(2027, 1, 10)
    schedule(store, calendar([kept, other], channels=[FEED]), start, end)
    schedule(store, calendar([other], channels=[FEED]), start, end)  # cancels "wide"
    assert states(store)[("wide", "cancelled")] == 2
    cal = calendar([kept, other], channels=[FEED])
    predicted = past_report(store, cal, Planner(cal), start, end)
    assert (predicted.total, predicted.within_grace) == (2, 2)
    schedule(store, cal, start, end)
    assert states(store)[("wide", "scheduled")] == 2  # revived, as predicted
    # An operator's cancel is history: schedule leaves it cancelled, and so it is not
    # counted.
    for record in store.records("scheduled"):
        if record.post == "wide":
            store.cancel(record.id)
    assert past_report(store, cal, Planner(cal), start, end).total == 0
    schedule(store, cal, start, end)
    assert states(store)[("wide", "cancelled")] == 2


# ---- the command line, from another folder, on the real clock ----

CALENDAR = """
[calendar]
name = "late-cli"

[[segment]]
name = "tokyo"
locale = "ja-JP"
timezone = "Asia/Tokyo"
country = "JP"

[[channel]]
name = "feed"
adapter = "jsonl"
settings = {{ path = "out.jsonl" }}

[[post]]
id = "gone"
text = "gone"
dates = ["{past}"]
at = "09:00"

[[post]]
id = "tardy"
text = "tardy"
dates = ["{past}"]
at = "09:00"
late = "publish"

[[post]]
id = "wide"
text = "wide"
dates = ["{past}"]
at = "09:00"
misfire_grace = "7d"

[[post]]
id = "later"
text = "later"
dates = ["{future}"]
at = "09:00"
"""


def test_cli_says_it_first_and_the_runner_does_it(tmp_path, monkeypatch):
    tokyo = ZoneInfo("Asia/Tokyo")
    today = datetime.now(tokyo).date()
    past, future = today - timedelta(days=3), today + timedelta(days=3)
    past_utc = datetime.combine(past, time(9), tokyo).astimezone(UTC)
    assert datetime.now(UTC) - past_utc > timedelta(hours=1)  # past the default grace
    (tmp_path / "cal").mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "cal" / "cal.toml").write_text(
        CALENDAR.format(past=past, future=future), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path / "work")
    cal = os.path.join("..", "cal", "cal.toml")
    span = ["--start", str(past - timedelta(days=1)), "--end", str(future)]

    dry = CliRunner().invoke(main, ["schedule", cal, *span, "--db", "out.db", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    first, *rest = dry.stdout.splitlines()
    # Said first: before the changes the dry run lists and its summary.
    assert [line.split()[0] for line in rest] == ["add"] * 4 + ["dry"]
    assert first.startswith("3 planned deliveries are already past (now ")
    assert "1 will be marked missed (past its misfire grace)" in first
    assert '1 will be published late (late = "publish")' in first
    assert "1 is still within its grace" in first
    assert not (tmp_path / "work" / "out.db").exists()

    done = CliRunner().invoke(main, ["schedule", cal, *span, "--db", "out.db", "--format", "json"])
    assert done.exit_code == 0, done.output
    shown = json.loads(done.stdout)
    assert len(shown["added"]) == 4
    past_field = shown["past"]
    assert (past_field["total"], past_field["missed"], past_field["late"]) == (3, 1, 1)
    assert past_field["within_grace"] == 1
    assert past_field["deadline"] == (past_utc + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")

    ran = CliRunner().invoke(main, ["run", "--db", "out.db", "--until-idle", "-q"])
    assert ran.exit_code == 0, ran.output
    with Store("out.db") as store:
        recorded = {record.post: record.state for record in store.records()}
    assert recorded == {
        "gone": "missed",
        "tardy": "published",
        "wide": "published",
        "later": "scheduled",
    }
    # Nothing past is left to do: the line is not printed again.
    again = CliRunner().invoke(main, ["schedule", cal, *span, "--db", "out.db"])
    assert again.exit_code == 0, again.output
    assert "already past" not in again.stdout


# ---- random calendars: the prediction is what the store records after a run ----

NOW = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
GRACES = [None, "10min", "2h", "2d"]


@st.composite
def past_posts(draw):
    posts = []
    for index in range(draw(st.integers(1, 6))):
        # Minutes from now: up to three days back, a little ahead.
        moment = NOW + timedelta(minutes=draw(st.integers(-3 * 24 * 60, 90)))
        local = moment.astimezone(LONDON)
        options = {}
        grace = draw(st.sampled_from(GRACES))
        if grace is not None:
            options["misfire_grace"] = grace
        if draw(st.booleans()):
            options["late"] = "publish"
        if draw(st.integers(0, 3)) == 0:
            options["requires_approval"] = True
        if draw(st.integers(0, 3)) == 0:
            options["tags"] = ["hold-me"]
        posts.append(post(f"p{index}", f"{local:%H:%M}", (f"{local:%Y-%m-%d}",), **options))
    return posts


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(past_posts(), st.booleans())
def test_random_calendars_predict_what_the_store_records(tmp_path_factory, posts, pause):
    clock = Clock(NOW)
    cal = calendar(posts, segments=[segment("uk")], channels=[FEED])
    start, end = date(2026, 12, 31), date(2027, 1, 5)
    with Store(tmp_path_factory.mktemp("db") / "out.db", clock=clock) as store:
        if pause:
            store.pause(tag="hold-me")
        predicted = past_report(store, cal, Planner(cal), start, end)
        schedule(store, cal, start, end)
        run(store, clock)
        past = Counter(
            (record.state, record.requires_approval)
            for record in store.records()
            if record.utc < NOW
        )
    assert past[("missed", False)] + past[("missed", True)] == predicted.missed
    assert past[("published", False)] + past[("published", True)] == (
        predicted.late + predicted.within_grace
    )
    assert past[("scheduled", True)] == predicted.awaiting_approval
    assert past[("paused", False)] + past[("paused", True)] == predicted.paused
    assert sum(past.values()) == predicted.total
