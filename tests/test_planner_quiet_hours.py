"""Segment customs in the planner: quiet hours and avoided topics."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from socialsched import Calendar, Channel, Planner, Post, Segment, plan

CONSOLE = Channel(name="console", adapter="console")
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def _segment(name="fr", zone="Europe/Paris", country="FR", **extra) -> Segment:
    return Segment(name=name, locale="fr-FR", timezone=zone, country=country, **extra)


def _one(segment: Segment, day: date, at: str, **post) -> list:
    cal = Calendar(
        segments=[segment],
        channels=[CONSOLE],
        posts=[Post(id="p", text="hi", dates=[day], at=at, **post)],
    )
    return plan(cal, day, day + timedelta(days=1))


def _local(day: date, clock: time, zone: ZoneInfo = PARIS) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone)


DAY = date(2027, 3, 3)  # a Wednesday, no holiday in France


def test_lunch_window_moves_to_its_end():
    [delivery] = _one(_segment(quiet_hours=["12:00-14:00"]), DAY, "12:30")
    assert delivery.local == _local(DAY, time(14))
    assert delivery.utc == _local(DAY, time(14)).astimezone(UTC)
    assert delivery.shifted_from == _local(DAY, time(12, 30))
    assert delivery.reason == "quiet_hours"


@pytest.mark.parametrize(
    ("at", "expected_day", "expected_time"),
    [
        ("23:00", date(2027, 3, 4), time(8)),  # after midnight start: next morning
        ("22:00", date(2027, 3, 4), time(8)),  # the start is inside the window
        ("07:00", DAY, time(8)),  # before the end: same morning
        ("00:00", DAY, time(8)),
    ],
)
def test_overnight_window_moves_to_the_morning(at, expected_day, expected_time):
    [delivery] = _one(_segment(quiet_hours=["22:00-08:00"]), DAY, at)
    assert delivery.local == _local(expected_day, expected_time)
    assert delivery.shifted_from == _local(DAY, time.fromisoformat(at))
    assert delivery.reason == "quiet_hours"


@pytest.mark.parametrize("at", ["08:00", "21:59", "14:00", "11:59"])
def test_times_outside_the_windows_are_not_moved(at):
    segment = _segment(quiet_hours=["12:00-14:00", "22:00-08:00"])
    [delivery] = _one(segment, DAY, at)
    assert delivery.local == _local(DAY, time.fromisoformat(at))
    assert delivery.shifted_from is None and delivery.reason is None


def test_overlapping_windows_move_to_the_end_of_the_last_one():
    [delivery] = _one(_segment(quiet_hours=["12:00-14:00", "13:30-15:00"]), DAY, "12:30")
    assert delivery.local == _local(DAY, time(15))
    assert delivery.shifted_from == _local(DAY, time(12, 30))


def test_respect_quiet_hours_false_leaves_the_time():
    [delivery] = _one(
        _segment(quiet_hours=["12:00-14:00"]), DAY, "12:30", respect_quiet_hours=False
    )
    assert delivery.local == _local(DAY, time(12, 30))
    assert delivery.reason is None


def test_quiet_window_end_in_a_dst_gap_does_not_land_in_another_window():
    # 02:30 does not exist on 2027-03-14 in New York: it reads as 03:30 EDT, which is
    # inside the second window, so the delivery goes on to 04:00.
    segment = _segment("us", "America/New_York", "US", quiet_hours=["00:00-02:30", "03:00-04:00"])
    day = date(2027, 3, 14)
    [delivery] = _one(segment, day, "01:00")
    assert delivery.local == _local(day, time(4), NEW_YORK)
    assert delivery.utc == datetime(2027, 3, 14, 8, 0, tzinfo=UTC)
    assert delivery.reason == "quiet_hours"


def test_a_move_out_of_the_range_drops_the_delivery_and_one_into_it_is_kept():
    segment = _segment(quiet_hours=["22:00-08:00"])
    cal = Calendar(
        segments=[segment],
        channels=[CONSOLE],
        posts=[Post(id="p", text="hi", schedule="0 23 * * *")],
    )
    deliveries = plan(cal, "2027-03-10", "2027-03-12")
    # 23:00 on the 9th moves into the range; 23:00 on the 12th moves out of it.
    assert [d.local for d in deliveries] == [
        _local(date(2027, 3, day), time(8)) for day in (10, 11, 12)
    ]
    assert deliveries[0].shifted_from == _local(date(2027, 3, 9), time(23))


def test_holiday_move_keeps_its_reason_when_quiet_hours_also_apply():
    import holidays

    fr = holidays.country_holidays("FR", years=2027)
    may_day = date(2027, 5, 1)  # a Saturday; Monday 3 May is a working day
    assert may_day in fr and date(2027, 5, 3) not in fr
    segment = _segment(quiet_hours=["22:00-08:00"])
    cal = Calendar(
        segments=[segment],
        channels=[CONSOLE],
        posts=[
            Post(id="p", text="hi", dates=[may_day], at="07:00", on_holiday="next_business_day")
        ],
    )
    [delivery] = plan(cal, "2027-05-01", "2027-05-10")
    assert delivery.local == _local(date(2027, 5, 3), time(8))
    assert delivery.reason == "holiday"
    assert delivery.shifted_from == _local(may_day, time(7))


# --- avoided topics ---------------------------------------------------------------------


def _topics_calendar() -> Calendar:
    return Calendar(
        segments=[
            _segment("fr", avoid_topics=["politics"]),
            _segment("us", "America/New_York", "US", avoid_topics=["sports", "religion"]),
            _segment("it", "Europe/Rome", "IT"),
        ],
        channels=[CONSOLE],
        posts=[
            Post(id="match", text="hi", dates=["2027-03-03"], at="10:00", topics=["sports"]),
            Post(id="vote", text="hi", dates=["2027-03-03"], at="10:00", topics=["politics", "x"]),
            Post(id="recipe", text="hi", dates=["2027-03-03"], at="10:00", topics=["food"]),
        ],
    )


def test_avoided_topics_exclude_the_post_for_that_segment_only():
    planner = Planner(_topics_calendar())
    planned = {(d.post, d.segment) for d in planner.plan("2027-03-03", "2027-03-03")}
    assert planned == {
        ("match", "fr"),
        ("match", "it"),
        ("vote", "us"),
        ("vote", "it"),
        ("recipe", "fr"),
        ("recipe", "us"),
        ("recipe", "it"),
    }
    recorded = {(e.post, e.segment, e.topics) for e in planner.exclusions}
    assert recorded == {("match", "us", ("sports",)), ("vote", "fr", ("politics",))}


def test_exclusions_are_reset_for_each_plan():
    planner = Planner(_topics_calendar())
    planner.plan("2027-03-03", "2027-03-03")
    planner.plan("2027-03-03", "2027-03-03", segments=["it"])
    assert planner.exclusions == []
