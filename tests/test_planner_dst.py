"""Planner time arithmetic: DST gaps and folds, odd offsets, per-segment cron, ranges,
sorting and stable ids.

Expected instants come from zoneinfo arithmetic done here, never from socialsched.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from socialsched import Calendar, Channel, Planner, Post, Segment, plan

NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KATHMANDU = ZoneInfo("Asia/Kathmandu")


def _segment(name: str, zone: str, country: str = "US", **extra) -> Segment:
    return Segment(name=name, locale="en-US", timezone=zone, country=country, **extra)


def _calendar(segments, posts, channels=None) -> Calendar:
    channels = channels or [Channel(name="console", adapter="console")]
    return Calendar(segments=segments, channels=channels, posts=posts)


def _first_instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """PEP 495 fold=0 reading of a wall time, as the issue specifies."""
    return datetime.combine(day, clock, tzinfo=zone).replace(fold=0).astimezone(UTC)


def _is_gap(moment: datetime) -> bool:
    """A wall time that does not exist: both folds give different offsets and the
    round trip through UTC changes the wall clock."""
    back = moment.astimezone(UTC).astimezone(moment.tzinfo)
    return back.replace(tzinfo=None) != moment.replace(tzinfo=None)


def _is_ambiguous(moment: datetime) -> bool:
    return moment.replace(fold=0).utcoffset() != moment.replace(fold=1).utcoffset() and not _is_gap(
        moment
    )


# --- spring forward (non-existent local time) -------------------------------------


def test_gap_time_in_new_york_goes_out_at_the_pre_transition_offset():
    wall = datetime(2027, 3, 14, 2, 30, tzinfo=NEW_YORK)
    assert _is_gap(wall)  # the premise: 02:30 does not exist that day
    cal = _calendar(
        [_segment("us", "America/New_York")],
        [Post(id="p", text="hi", dates=["2027-03-14"], at="02:30")],
    )
    [delivery] = plan(cal, "2027-03-14", "2027-03-14")
    assert delivery.utc == datetime(2027, 3, 14, 7, 30, tzinfo=UTC)
    assert delivery.utc == _first_instant(date(2027, 3, 14), time(2, 30), NEW_YORK)
    assert delivery.local.replace(tzinfo=None) == datetime(2027, 3, 14, 3, 30)
    assert delivery.local.utcoffset() == timedelta(hours=-4)


def test_gap_day_every_half_hour_posts_each_instant_once():
    cal = _calendar(
        [_segment("us", "America/New_York")],
        [Post(id="p", text="hi", schedule="*/30 * * * *")],
    )
    day = date(2027, 3, 14)
    expected = {_first_instant(day, time(h, m), NEW_YORK) for h in range(24) for m in (0, 30)}
    # 02:00/02:30 fall on the same instants as 03:00/03:30: 46, not 48.
    assert len(expected) == 46
    deliveries = plan(cal, day, day)
    assert [d.utc for d in deliveries] == sorted(expected)


# --- fall back (ambiguous local time) ---------------------------------------------


def test_ambiguous_time_in_new_york_is_the_first_occurrence():
    wall = datetime(2027, 11, 7, 1, 30, tzinfo=NEW_YORK)
    assert _is_ambiguous(wall)
    cal = _calendar(
        [_segment("us", "America/New_York")],
        [Post(id="p", text="hi", dates=["2027-11-07"], at="01:30")],
    )
    deliveries = plan(cal, "2027-11-07", "2027-11-07")
    assert [d.utc for d in deliveries] == [datetime(2027, 11, 7, 5, 30, tzinfo=UTC)]
    assert deliveries[0].utc == wall.replace(fold=0).astimezone(UTC)
    assert deliveries[0].local.utcoffset() == timedelta(hours=-4)


def test_cron_in_the_repeated_hour_fires_once_per_wall_time_not_twice():
    cal = _calendar(
        [_segment("us", "America/New_York")],
        [Post(id="p", text="hi", schedule="*/30 1 * * *")],
    )
    deliveries = plan(cal, "2027-11-07", "2027-11-07")
    day = date(2027, 11, 7)
    first = [_first_instant(day, time(1, m), NEW_YORK) for m in (0, 30)]
    second = [
        datetime.combine(day, time(1, m), tzinfo=NEW_YORK).replace(fold=1).astimezone(UTC)
        for m in (0, 30)
    ]
    assert len(deliveries) == 2
    assert [d.utc for d in deliveries] == first
    assert not {d.utc for d in deliveries} & set(second)


def test_fall_back_day_every_half_hour_has_48_deliveries():
    cal = _calendar(
        [_segment("us", "America/New_York")],
        [Post(id="p", text="hi", schedule="*/30 * * * *")],
    )
    day = date(2027, 11, 7)
    expected = sorted(_first_instant(day, time(h, m), NEW_YORK) for h in range(24) for m in (0, 30))
    assert [d.utc for d in plan(cal, day, day)] == expected


# --- Lord Howe (30-minute DST) and Kathmandu (+05:45) ------------------------------


def test_lord_howe_half_hour_gap_in_october():
    day = date(2027, 10, 3)
    wall = datetime.combine(day, time(2, 15), tzinfo=LORD_HOWE)
    assert _is_gap(wall)
    assert not _is_gap(datetime.combine(day, time(2, 30), tzinfo=LORD_HOWE))
    cal = _calendar(
        [_segment("lh", "Australia/Lord_Howe", country="AU")],
        [Post(id="p", text="hi", dates=[day], at="02:15")],
    )
    [delivery] = plan(cal, day, day)
    # Read at +10:30 (before the change): 02:15 - 10:30 = 15:45 UTC the day before.
    assert delivery.utc == datetime(2027, 10, 2, 15, 45, tzinfo=UTC)
    assert delivery.utc == _first_instant(day, time(2, 15), LORD_HOWE)
    assert delivery.local.replace(tzinfo=None) == datetime(2027, 10, 3, 2, 45)
    assert delivery.local.utcoffset() == timedelta(hours=11)


def test_lord_howe_repeated_half_hour_in_april_fires_once():
    day = date(2027, 4, 4)
    assert _is_ambiguous(datetime.combine(day, time(1, 45), tzinfo=LORD_HOWE))
    cal = _calendar(
        [_segment("lh", "Australia/Lord_Howe", country="AU")],
        [Post(id="p", text="hi", schedule="*/15 1 * * *")],
    )
    deliveries = plan(cal, day, day)
    expected = [_first_instant(day, time(1, m), LORD_HOWE) for m in (0, 15, 30, 45)]
    assert [d.utc for d in deliveries] == expected
    assert deliveries[-1].utc == datetime(2027, 4, 3, 14, 45, tzinfo=UTC)


def test_kathmandu_quarter_hour_offset():
    cal = _calendar(
        [_segment("np", "Asia/Kathmandu", country="NP")],
        [Post(id="p", text="hi", schedule="0 9 * * *")],
    )
    deliveries = plan(cal, "2027-06-01", "2027-06-03")
    assert [d.utc for d in deliveries] == [
        datetime(2027, 6, day, 3, 15, tzinfo=UTC) for day in (1, 2, 3)
    ]
    assert all(d.local.utcoffset() == timedelta(hours=5, minutes=45) for d in deliveries)


def test_cron_is_evaluated_in_each_segments_local_time():
    cal = _calendar(
        [_segment("us", "America/New_York"), _segment("fr", "Europe/Paris", country="FR")],
        [Post(id="p", text="hi", schedule="0 9 * * *")],
    )
    deliveries = plan(cal, "2027-01-15", "2027-01-15")
    by_segment = {d.segment: d for d in deliveries}
    day = date(2027, 1, 15)
    assert by_segment["us"].utc == _first_instant(day, time(9), NEW_YORK)
    assert by_segment["fr"].utc == _first_instant(day, time(9), ZoneInfo("Europe/Paris"))
    assert by_segment["us"].utc != by_segment["fr"].utc
    assert by_segment["us"].local.time() == by_segment["fr"].local.time() == time(9)


def test_local_is_the_utc_instant_in_the_segment_zone():
    cal = _calendar(
        [_segment("lh", "Australia/Lord_Howe", country="AU"), _segment("us", "America/New_York")],
        [Post(id="p", text="hi", schedule="15 */3 * * *")],
    )
    deliveries = plan(cal, "2027-10-01", "2027-10-05")
    zones = {"lh": LORD_HOWE, "us": NEW_YORK}
    assert deliveries
    for delivery in deliveries:
        assert delivery.utc.utcoffset() == timedelta(0)
        assert delivery.local == delivery.utc.astimezone(zones[delivery.segment])
        assert delivery.local.tzinfo == zones[delivery.segment]


# --- range semantics and filters ------------------------------------------------------


def test_range_is_inclusive_in_each_segments_local_calendar():
    # 23:30 on 2027-01-31 in New York is already 1 February in UTC; 00:30 on
    # 1 January in Tokyo is still 31 December in UTC. Both belong to the local day.
    cal = _calendar(
        [_segment("us", "America/New_York"), _segment("jp", "Asia/Tokyo", country="JP")],
        [
            Post(id="late", text="hi", segments=["us"], schedule="30 23 * * *"),
            Post(id="early", text="hi", segments=["jp"], schedule="30 0 * * *"),
        ],
    )
    deliveries = plan(cal, "2027-01-01", "2027-01-31")
    late = [d for d in deliveries if d.post == "late"]
    early = [d for d in deliveries if d.post == "early"]
    assert [d.local.date() for d in late] == [date(2027, 1, day) for day in range(1, 32)]
    assert [d.local.date() for d in early] == [date(2027, 1, day) for day in range(1, 32)]
    assert late[-1].utc.date() == date(2027, 2, 1)
    assert early[0].utc.date() == date(2026, 12, 31)


def test_start_after_end_is_an_error():
    from socialsched import PlanError

    cal = _calendar(
        [_segment("us", "America/New_York")], [Post(id="p", text="hi", schedule="0 9 * * *")]
    )
    with pytest.raises(PlanError, match="2027-02-01"):
        plan(cal, "2027-02-01", "2027-01-01")


def test_post_start_and_end_bound_a_cron_post():
    cal = _calendar(
        [_segment("us", "America/New_York")],
        [Post(id="p", text="hi", schedule="0 9 * * *", start="2027-01-10", end="2027-01-12")],
    )
    days = [d.local.date() for d in plan(cal, "2027-01-01", "2027-01-31")]
    assert days == [date(2027, 1, 10), date(2027, 1, 11), date(2027, 1, 12)]


def test_segment_and_channel_filters():
    channels = [Channel(name="a", adapter="console"), Channel(name="b", adapter="console")]
    cal = _calendar(
        [_segment("us", "America/New_York"), _segment("fr", "Europe/Paris", country="FR")],
        [Post(id="p", text="hi", schedule="0 9 * * *")],
        channels,
    )
    everything = plan(cal, "2027-01-04", "2027-01-04")
    assert {(d.segment, d.channel) for d in everything} == {
        ("us", "a"),
        ("us", "b"),
        ("fr", "a"),
        ("fr", "b"),
    }
    only = plan(cal, "2027-01-04", "2027-01-04", segments=["fr"], channels=["b"])
    assert [(d.segment, d.channel) for d in only] == [("fr", "b")]
    assert {
        (d.segment, d.channel) for d in plan(cal, "2027-01-04", "2027-01-04", segments=["us"])
    } == {
        ("us", "a"),
        ("us", "b"),
    }


def test_deliveries_are_sorted_by_utc_instant():
    cal = _calendar(
        [
            _segment("us", "America/New_York"),
            _segment("np", "Asia/Kathmandu", country="NP"),
            _segment("lh", "Australia/Lord_Howe", country="AU"),
        ],
        [
            Post(id="a", text="hi", schedule="0 9,18 * * *"),
            Post(id="b", text="hi", schedule="30 7 * * *"),
        ],
    )
    deliveries = plan(cal, "2027-03-01", "2027-03-20")
    instants = [d.utc for d in deliveries]
    assert len(instants) == 3 * 20 * 3
    assert instants == sorted(instants)
    # Calendar order (post "a" before "b") is not UTC order across zones.
    assert [d.post for d in deliveries] != sorted(d.post for d in deliveries)


# --- stable ids -------------------------------------------------------------------------


def _id_calendar() -> Calendar:
    return Calendar(
        name="ids",
        segments=[_segment("us", "America/New_York"), _segment("fr", "Europe/Paris", country="FR")],
        channels=[Channel(name="a", adapter="console"), Channel(name="b", adapter="console")],
        posts=[
            Post(id="p", text="hi", schedule="0 9,17 * * *"),
            Post(id="q", text="hi", dates=["2027-01-05"], at="12:00"),
        ],
    )


def _ids_by_key(deliveries) -> dict[tuple, str]:
    return {(d.post, d.segment, d.channel, d.utc.isoformat()): d.id for d in deliveries}


def test_ids_are_the_same_across_planner_runs():
    first = _ids_by_key(Planner(_id_calendar()).plan("2027-01-04", "2027-01-06"))
    second = _ids_by_key(Planner(_id_calendar()).plan("2027-01-04", "2027-01-06"))
    assert first == second


def test_ids_do_not_depend_on_the_planned_range():
    narrow = _ids_by_key(plan(_id_calendar(), "2027-01-05", "2027-01-05"))
    wide = _ids_by_key(plan(_id_calendar(), "2027-01-01", "2027-01-31"))
    assert narrow
    assert all(wide[key] == value for key, value in narrow.items())


_OTHER_PROCESS = """
import json
from test_planner_dst import _id_calendar, _ids_by_key
from socialsched import plan
ids = _ids_by_key(plan(_id_calendar(), "2027-01-04", "2027-01-06"))
print(json.dumps(sorted([*key, value] for key, value in ids.items())))
"""


def test_ids_are_the_same_in_another_process():
    # A different hash seed in a fresh interpreter: ids must not depend on hash().
    output = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PYTHONPATH": str(Path(__file__).parent)},
    ).stdout
    other = {tuple(row[:4]): row[4] for row in json.loads(output)}
    assert other == _ids_by_key(plan(_id_calendar(), "2027-01-04", "2027-01-06"))


def test_ids_differ_for_each_post_segment_channel_and_slot():
    deliveries = plan(_id_calendar(), "2027-01-04", "2027-01-06")
    # 2 segments x 2 channels x (3 days x 2 times + 1 one-off)
    assert len(deliveries) == 2 * 2 * 7
    assert len({d.id for d in deliveries}) == len(deliveries)


def test_id_changes_with_calendar_name():
    other = Calendar(
        name="other",
        segments=_id_calendar().segments,
        channels=_id_calendar().channels,
        posts=_id_calendar().posts,
    )
    ids = {d.id for d in plan(_id_calendar(), "2027-01-05", "2027-01-05")}
    other_ids = {d.id for d in plan(other, "2027-01-05", "2027-01-05")}
    assert ids and not ids & other_ids
