"""Issue 20, volume: a calendar cannot make planning or scheduling exhaust memory.
Before the fix, 200 segments with `schedule = "* * * * *"` over the default 30 days
reached 3.5 GB in 50 s; now every command that plans counts first and stops with a
message suggesting a shorter range, run from another folder under a 2 GiB limit."""

from __future__ import annotations

import csv
import io
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

from socialsched.planning import volume
from socialsched.planning.calendar_load import load
from socialsched.planning.planner import Planner

from .probe import assert_no_traceback, lint_one_day, run_probe

START = date(2027, 3, 1)


def flood_calendar(folder: Path, segments: int, adapter: str = "console") -> Path:
    """`segments` segments in one market, one channel, one post every minute."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = [
        f'[[segment]]\nname = "s{i}"\nlocale = "en-GB"\ntimezone = "Europe/London"\n'
        'country = "GB"\n'
        for i in range(segments)
    ]
    settings = ""
    if adapter == "mastodon":
        settings = (
            'settings = { instance = "https://mastodon.example" }\n'
            'secrets = { token = "MASTODON_TOKEN" }\n'
        )
    parts.append(f'[[channel]]\nname = "feed"\nadapter = "{adapter}"\n{settings}')
    parts.append('[[post]]\nid = "flood"\nschedule = "* * * * *"\ntext = "hi"\n')
    path = folder / "calendar.toml"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


COMMANDS = {
    "plan": ["plan"],
    "lint": ["lint"],
    "export": ["export", "--ics", "out.ics"],
    "preview": ["preview", "--html", "out.html"],
    "schedule": ["schedule", "--db", "store.db"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_flood_is_refused_before_planning_with_a_shorter_range(tmp_path, command):
    flood_calendar(tmp_path / "cal", 200)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = [*COMMANDS[command], "../cal/calendar.toml", "--start", START.isoformat()]
    result = run_probe(*args, "--end", (START + timedelta(days=29)).isoformat(), cwd=elsewhere)
    assert_no_traceback(result)
    assert result.returncode == 1, result.stderr
    # 200 segments x 1,440 minutes = 288,000 a day: 6 days (1,728,000) fit in the
    # 2,000,000 limit, the 7th does not.
    assert "would hold more than 2,000,000 deliveries" in result.stderr
    assert "about 1,728,000 by 2027-03-06" in result.stderr
    assert "--end 2027-03-06 (6 days)" in result.stderr
    # Nothing was written (schedule opens its store first, and adds nothing to it).
    assert not (elsewhere / "out.ics").exists() and not (elsewhere / "out.html").exists()


def test_max_deliveries_moves_the_limit(tmp_path):
    flood_calendar(tmp_path / "cal", 3)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    one_day = ["../cal/calendar.toml", "--start", "2027-03-01", "--end", "2027-03-01"]
    refused = run_probe("plan", *one_day, "--max-deliveries", "4000", cwd=elsewhere)
    assert_no_traceback(refused)
    assert refused.returncode == 1
    # 3 segments x 1,440 minutes in one day.
    assert "2027-03-01 alone holds about 4,320" in refused.stderr
    allowed = run_probe(
        "plan", *one_day, "--max-deliveries", "4320", "--format", "csv", cwd=elsewhere
    )
    assert allowed.returncode == 0, allowed.stderr
    assert len(list(csv.DictReader(io.StringIO(allowed.stdout)))) == 3 * 1440
    usage = run_probe("plan", *one_day, "--max-deliveries", "0", cwd=elsewhere)
    assert usage.returncode == 2


def test_lint_warns_about_a_cadence_faster_than_the_network_allows(tmp_path):
    flood_calendar(tmp_path / "cal", 3, adapter="mastodon")
    result = lint_one_day(tmp_path)
    # 3 segments on one account, every minute: 3 x 180 posts in any 3 hours, where
    # Mastodon allows 300.
    assert (
        "channel 'feed' plans 540 posts in 3 hours from 2027-03-01 00:00 UTC; mastodon "
        "allows about 300 in 3 hours per account"
    ) in result.stdout + result.stderr


# ---- in process: the count and the chunks ----


def test_the_count_is_that_of_the_plan(tmp_path):
    path = flood_calendar(tmp_path / "cal", 2)
    text = path.read_text(encoding="utf-8") + textwrap.dedent(
        """
        [[post]]
        id = "noon"
        schedule = "0 12 * * 1-5"
        text = "weekday"

        [[post]]
        id = "once"
        dates = ["2027-03-02", "2027-04-01"]
        at = "09:00"
        text = "once"
        """
    )
    path.write_text(text, encoding="utf-8")
    calendar = load(path)
    end = START + timedelta(days=6)
    planned = len(Planner(calendar).plan(START, end, render=False))
    # 2 segments: every minute for 7 days, 5 weekday noons, one date in range.
    assert volume.check(calendar, START, end) == planned == 2 * (7 * 1440 + 5 + 1)


def test_chunks_are_sized_by_the_deliveries_they_hold(tmp_path):
    heavy = load(flood_calendar(tmp_path / "heavy", 200))
    end = START + timedelta(days=2)
    # 288,000 deliveries a day: more than a chunk's 100,000, so one day per chunk.
    chunks = list(Planner(heavy).plan_chunks(START, end, render=False))
    assert [(chunk.start, chunk.end) for chunk in chunks] == [
        (START + timedelta(days=n), START + timedelta(days=n)) for n in range(3)
    ]
    assert [len(chunk.plan) for chunk in chunks] == [288_000] * 3
    light = load(flood_calendar(tmp_path / "light", 1))
    # 1,440 a day: 69 days make 99,360, the 70th would pass 100,000.
    ranges = list(volume.chunk_ranges(light, START, START + timedelta(days=99)))
    assert ranges == [
        (START, START + timedelta(days=68)),
        (START + timedelta(days=69), START + timedelta(days=99)),
    ]


def test_the_python_api_has_the_limit_too(tmp_path):
    calendar = load(flood_calendar(tmp_path / "cal", 200))
    with pytest.raises(volume.TooManyDeliveries, match="more than 2,000,000 deliveries"):
        Planner(calendar).plan(START, START + timedelta(days=29))
    with pytest.raises(volume.TooManyDeliveries, match="more than 1,000 deliveries"):
        next(Planner(calendar, max_deliveries=1000).plan_chunks(START, START))


def test_an_adapter_may_declare_its_own_post_rate(tmp_path, monkeypatch):
    from socialsched.adapters.registry import adapter_class
    from socialsched.planning.lint import lint

    calendar = load(flood_calendar(tmp_path / "cal", 3))
    assert [p for p in lint(calendar, START, START) if "posts in" in p.message] == []
    # Two posts a minute: three segments posting every minute on one channel pass it.
    monkeypatch.setattr(adapter_class("console"), "post_rate", (2, 60), raising=False)
    warnings = [p.message for p in lint(calendar, START, START) if "posts in" in p.message]
    assert warnings == [
        "channel 'feed' plans 3 posts in 1 minute from 2027-03-01 00:00 UTC; console allows "
        "about 2 in 1 minute per account: publishes past that will be rate limited (post less "
        "often, or spread posts over more channels)"
    ]
