"""Scheduling a range chunk by chunk (`Store.schedule_chunks`, and `scheduling.schedule` of
a long range) stores what scheduling it at once stores, and a delivery moved across a
chunk border is moved, not cancelled in one chunk and added back in the next."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
from datetime import date, timedelta

import pytest

import socialsched
from conftest import calendar, segment
from socialsched import Planner, Post, Segment
from socialsched.cli import progress
from socialsched.planning.planner import CHUNK_DAYS
from socialsched.scheduling import schedule
from socialsched.store import Store

START, END = date(2027, 1, 4), date(2027, 1, 15)


def nightly(quiet: bool = False) -> object:
    night_owls = Segment(
        name="paris",
        locale="fr",
        timezone="Europe/Paris",
        country="FR",
        quiet_hours=["23:00-08:00"] if quiet else [],
    )
    return calendar(
        [Post(id="nightly", text="{{ when|date }}", schedule="30 23 * * *")],
        segments=[night_owls, segment("uk")],
    )


def stored(store) -> dict[str, tuple]:
    return {r.id: (r.segment, r.utc, r.local, r.text, r.state) for r in store.records()}


def test_chunks_store_what_one_plan_stores(make_store):
    cal = nightly()
    store = make_store()
    result = store.schedule_chunks(cal, Planner(cal).plan_chunks(START, END, chunk_days=1))
    plan = Planner(cal).plan(START, END)
    assert sorted(result.added) == sorted(d.id for d in plan)
    assert stored(store) == {d.id: (d.segment, d.utc, d.local, d.text, "scheduled") for d in plan}
    assert {entry.to_state for entry in store.log()} == {"scheduled"}
    again = store.schedule_chunks(cal, Planner(cal).plan_chunks(START, END, chunk_days=3))
    assert not again.changed and again.unchanged == len(plan)


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_move_across_chunk_borders_is_a_move(make_store, dry_run):
    store = make_store()
    schedule(store, nightly(), START, END)
    before = stored(store)
    # Quiet hours until 08:00 move every 23:30 delivery in Paris to the next local day:
    # across every border when each chunk is one day.
    quiet = nightly(quiet=True)
    at_once = Planner(quiet).plan(START, END)
    result = store.schedule_chunks(
        quiet, Planner(quiet).plan_chunks(START, END, chunk_days=1), dry_run=dry_run
    )
    paris = {key for key, value in before.items() if value[0] == "paris"}
    last = max(paris, key=lambda key: before[key][1])
    came_in = {d.id for d in at_once if d.segment == "paris"} - paris
    assert sorted(result.moved) == sorted(paris - {last})
    assert list(result.cancelled) == [last]  # its new day is after the range
    assert list(result.added) == list(came_in) and len(came_in) == 1  # from the day before
    assert result.unchanged == len(before) - len(paris)
    if dry_run:
        assert stored(store) == before
        assert len(result.changes) == len(paris) + 1
    else:
        assert stored(store) == {
            **{key: value for key, value in before.items() if key not in paris},
            **{d.id: (d.segment, d.utc, d.local, d.text, "scheduled") for d in at_once},
            last: (*before[last][:4], "cancelled"),
        }


def test_schedule_of_a_long_range_plans_one_chunk_at_a_time(store, monkeypatch):
    planned_ranges = []
    plan = Planner.plan

    def spy(self, start, end, **options):
        planned_ranges.append((start, end))
        return plan(self, start, end, **options)

    monkeypatch.setattr(Planner, "plan", spy)
    cal = calendar([Post(id="weekly", text="hi", schedule="0 9 * * 1")])
    start, end = date(2027, 1, 1), date(2029, 12, 31)
    result = schedule(store, cal, start, end)
    assert planned_ranges[0][0] == start and planned_ranges[-1][1] == end
    for (_, last), (first, _) in itertools.pairwise(planned_ranges):
        assert first == last + timedelta(days=1)
    assert all((last - first).days < CHUNK_DAYS for first, last in planned_ranges)
    assert len(planned_ranges) == -(-((end - start).days + 1) // CHUNK_DAYS)
    mondays = sum(
        1 for n in range((end - start).days + 1) if (start + timedelta(days=n)).weekday() == 0
    )
    assert len(result.added) == len(store.records()) == 2 * mondays


CALENDAR_TOML = """
[calendar]
name = "years"

[[segment]]
name = "auckland"
locale = "en-NZ"
timezone = "Pacific/Auckland"
country = "NZ"

[[segment]]
name = "honolulu"
locale = "en-US"
timezone = "Pacific/Honolulu"
country = "US"

[[channel]]
name = "feed"
adapter = "jsonl"
settings = { path = "feed.jsonl" }

[[post]]
id = "weekly"
text = "{{ when|date }} for {{ segment.name }}"
schedule = "30 23 * * 5"
on_holiday = "next_business_day"
"""


def test_the_cli_schedules_years_from_another_folder_and_prints_what_the_store_holds(tmp_path):
    (tmp_path / "calendar").mkdir()
    (tmp_path / "calendar" / "calendar.toml").write_text(CALENDAR_TOML, encoding="utf-8")
    ops = tmp_path / "ops"
    ops.mkdir()
    command = [sys.executable, "-m", "socialsched", "schedule", "../calendar/calendar.toml"]
    command += ["--db", "outbox.db", "--start", "2027-01-01", "--end", "2029-12-31"]
    done = subprocess.run(
        [*command, "--format", "json"], cwd=ops, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    with Store(ops / "outbox.db") as store:
        records = store.records()
    assert sorted(printed["added"]) == sorted(r.id for r in records)
    # Fridays of three years for two segments, less those moved out of the range.
    expected = Planner(socialsched.load(tmp_path / "calendar" / "calendar.toml")).plan(
        "2027-01-01", "2029-12-31"
    )
    assert {(r.id, r.utc) for r in records} == {(d.id, d.utc) for d in expected}
    again = subprocess.run(command, cwd=ops, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"0 added, 0 moved, 0 updated, 0 cancelled, {len(records)} unchanged\n"
    assert again.stderr == ""  # quiet when not on a terminal


def test_the_cli_shows_scheduling_progress_chunk_by_chunk_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(progress.sys, "stderr", terminal)
    cal = nightly()
    start, end = date(2027, 1, 1), date(2027, 12, 31)
    chunks = list(progress.chunk_progress(Planner(cal).plan_chunks(start, end), start, end))
    assert len(chunks) == 4
    assert "scheduling" in terminal.getvalue() and "100%" in terminal.getvalue()
    # A range of one chunk is over too soon for a bar.
    quiet = Terminal()
    monkeypatch.setattr(progress.sys, "stderr", quiet)
    one = list(progress.chunk_progress(Planner(cal).plan_chunks(start, start), start, start))
    assert len(one) == 1 and quiet.getvalue() == ""
