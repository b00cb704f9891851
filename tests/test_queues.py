"""Queues: queued posts fill each segment's local slots, skipping its holidays and quiet
hours, per slot and channel; the fill is the same whatever range is planned.

Expected slots come from zoneinfo and the `holidays` package here, never from
socialsched's own queue code.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from socialsched import Calendar, Channel, Planner, Post, Segment
from socialsched.calendar.queues import Queue
from socialsched.errors import CalendarError
from socialsched.planning.plans import delivery_id
from socialsched.planning.queue_plan import QueuePin

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MADRID = Segment(name="madrid", locale="es-ES", timezone="Europe/Madrid", country="ES")
NEW_YORK = Segment(name="new-york", locale="en-US", timezone="America/New_York", country="US")
FEED = Channel(name="feed", adapter="console")


def queue(**given) -> Queue:
    settings = {"name": "mornings", "times": ["09:15", "12:30"], "days": list(DAYS[:5])}
    settings.update(given)
    return Queue(**settings)


def posts(count: int, **extra) -> list[Post]:
    return [
        Post(id=f"tip-{n}", text=f"tip number {n}", queue="mornings", **extra)
        for n in range(1, count + 1)
    ]


def calendar(queued, queues, segments=(MADRID, NEW_YORK), channels=(FEED,)) -> Calendar:
    return Calendar(
        segments=list(segments), channels=list(channels), posts=list(queued), queues=queues
    )


def expected_slots(
    times: list[str],
    days: tuple[str, ...],
    first: date,
    last: date,
    zone: str,
    country: str,
    quiet: tuple[time, time] | None = None,
    on_holiday: str = "skip",
) -> list[tuple[datetime, datetime]]:
    """(utc, local) of each slot, by hand: zoneinfo with fold=0, holidays directly."""
    table = holidays.country_holidays(country, years=range(first.year, last.year + 1))
    tz = ZoneInfo(zone)
    found = []
    day = first
    while day <= last:
        if DAYS[day.weekday()] in days and (day not in table or on_holiday == "post"):
            for text in times:
                hour, minute = map(int, text.split(":"))
                utc = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz, fold=0)
                utc = utc.astimezone(UTC)
                local = utc.astimezone(tz)
                if quiet is not None:
                    start, end = quiet
                    wall = local.time()
                    inside = (wall >= start or wall < end) if start > end else start <= wall < end
                    if inside:
                        continue
                if utc not in [u for u, _ in found]:
                    found.append((utc, local))
        day += timedelta(days=1)
    return sorted(found)


def placed(plan, segment: str) -> list[tuple[str, datetime, datetime]]:
    return [(d.post, d.utc, d.local) for d in plan if d.segment == segment]


def test_new_york_takes_its_local_slots_and_skips_martin_luther_king_day():
    # 2027-01-18 is Martin Luther King Jr. Day: a US holiday, a working day in Spain.
    mlk = date(2027, 1, 18)
    assert mlk in holidays.US(years=2027) and mlk not in holidays.ES(years=2027)
    cal = calendar(posts(6), [queue(start="2027-01-18")])
    plan = Planner(cal, today=date(2000, 1, 1)).plan("2027-01-18", "2027-01-24")
    for segment, zone, country in (
        ("new-york", "America/New_York", "US"),
        ("madrid", "Europe/Madrid", "ES"),
    ):
        slots = expected_slots(
            ["09:15", "12:30"], DAYS[:5], date(2027, 1, 18), date(2027, 1, 24), zone, country
        )
        expected = [(f"tip-{n}", *slot) for n, slot in zip(range(1, 7), slots, strict=False)]
        assert placed(plan, segment) == expected
        for _, _, local in placed(plan, segment):
            assert local.tzinfo.key == zone
    new_york = placed(plan, "new-york")
    assert all(local.date() != mlk for _, _, local in new_york)
    assert new_york[0][2].replace(tzinfo=None) == datetime(2027, 1, 19, 9, 15)
    assert placed(plan, "madrid")[0][2].replace(tzinfo=None) == datetime(2027, 1, 18, 9, 15)


def test_queued_delivery_ids_do_not_depend_on_the_slot_time():
    cal = calendar(posts(3), [queue(start="2027-01-18")])
    plan = Planner(cal).plan("2027-01-18", "2027-01-24")
    for delivery in plan:
        expected = delivery_id(cal.name, delivery.post, delivery.segment, delivery.channel, "queue")
        assert delivery.id == expected


def test_quiet_hours_drop_slots():
    quiet = Segment(
        name="quiet",
        locale="en-GB",
        timezone="Europe/London",
        country="GB",
        quiet_hours=["21:00-08:30"],
    )
    times = ["07:30", "09:00", "22:15"]
    cal = calendar(posts(8), [queue(times=times, start="2027-02-01")], segments=[quiet])
    plan = Planner(cal).plan("2027-02-01", "2027-02-07")
    slots = expected_slots(
        times, DAYS[:5], date(2027, 2, 1), date(2027, 2, 7), "Europe/London", "GB",
        quiet=(time(21), time(8, 30)),
    )  # fmt: skip
    assert [(utc, local) for _, utc, local in placed(plan, "quiet")] == slots[:5]
    assert {local.time() for _, _, local in placed(plan, "quiet")} == {time(9)}


def test_quiet_hours_can_be_ignored_by_the_queue():
    quiet = Segment(
        name="quiet", locale="en-GB", timezone="Europe/London", country="GB",
        quiet_hours=["21:00-08:30"],
    )  # fmt: skip
    cal = calendar(
        posts(2), [queue(times=["07:30"], start="2027-02-01", respect_quiet_hours=False)],
        segments=[quiet],
    )  # fmt: skip
    plan = Planner(cal).plan("2027-02-01", "2027-02-07")
    assert [local.replace(tzinfo=None) for _, _, local in placed(plan, "quiet")] == [
        datetime(2027, 2, 1, 7, 30),
        datetime(2027, 2, 2, 7, 30),
    ]


@pytest.mark.parametrize(
    ("segment", "zone", "country", "first"),
    [
        (NEW_YORK, "America/New_York", "US", date(2027, 3, 12)),  # DST starts 2027-03-14
        (MADRID, "Europe/Madrid", "ES", date(2027, 3, 26)),  # DST starts 2027-03-28
        (NEW_YORK, "America/New_York", "US", date(2027, 11, 5)),  # DST ends 2027-11-07
        (MADRID, "Europe/Madrid", "ES", date(2027, 10, 29)),  # DST ends 2027-10-31
    ],
)
def test_slots_across_a_dst_change(segment, zone, country, first):
    times = ["02:30", "09:15"]  # 02:30 does not exist on the day of the change
    cal = calendar(posts(12), [queue(times=times, days=list(DAYS), start=first)], [segment])
    last = first + timedelta(days=4)
    plan = Planner(cal).plan(first, last)
    slots = expected_slots(times, DAYS, first, last, zone, country)
    assert [(utc, local) for _, utc, local in placed(plan, segment.name)] == slots[:12]
    offsets = {local.utcoffset() for _, _, local in placed(plan, segment.name)}
    assert len(offsets) == 2  # both sides of the change


def test_per_slot_caps_posts_per_slot_and_channel():
    other = Channel(name="other", adapter="console")
    cal = calendar(
        posts(5), [queue(times=["10:00"], per_slot=2, start="2027-02-01")],
        segments=[MADRID], channels=[FEED, other],
    )  # fmt: skip
    plan = Planner(cal).plan("2027-02-01", "2027-02-07")
    for channel in ("feed", "other"):
        days = [(d.post, d.local.date()) for d in plan if d.channel == channel]
        assert sorted(days) == [
            ("tip-1", date(2027, 2, 1)),
            ("tip-2", date(2027, 2, 1)),
            ("tip-3", date(2027, 2, 2)),
            ("tip-4", date(2027, 2, 2)),
            ("tip-5", date(2027, 2, 3)),
        ]


def test_a_post_on_one_channel_only_leaves_the_slot_free_on_the_other():
    other = Channel(name="other", adapter="console")
    queued = posts(3)
    queued[0] = Post(id="tip-1", text="only feed", queue="mornings", channels=["feed"])
    cal = calendar(
        queued, [queue(times=["10:00"], start="2027-02-01")],
        segments=[MADRID], channels=[FEED, other],
    )  # fmt: skip
    plan = Planner(cal).plan("2027-02-01", "2027-02-07")
    feed = [(d.post, d.local.day) for d in plan if d.channel == "feed"]
    other_channel = [(d.post, d.local.day) for d in plan if d.channel == "other"]
    assert feed == [("tip-1", 1), ("tip-2", 2), ("tip-3", 3)]
    assert other_channel == [("tip-2", 1), ("tip-3", 2)]


def test_days_filter_keeps_only_those_weekdays():
    cal = calendar(posts(5), [queue(times=["11:00"], days=["sat", "Sunday"], start="2027-02-01")])
    plan = Planner(cal).plan("2027-02-01", "2027-02-28")
    weekdays = {d.local.weekday() for d in plan}
    assert weekdays == {5, 6}
    madrid = [local.date() for _, _, local in placed(plan, "madrid")]
    assert madrid == [date(2027, 2, 6), date(2027, 2, 7), date(2027, 2, 13), date(2027, 2, 14),
                      date(2027, 2, 20)]  # fmt: skip


def test_on_holiday_post_keeps_holiday_slots():
    cal = calendar(posts(1), [queue(start="2027-01-18", on_holiday="post")], segments=[NEW_YORK])
    plan = Planner(cal).plan("2027-01-18", "2027-01-24")
    (delivery,) = plan
    assert delivery.local.replace(tzinfo=None) == datetime(2027, 1, 18, 9, 15)
    assert delivery.holiday == holidays.US(years=2027)[date(2027, 1, 18)]


def test_holiday_observance_has_no_slots():
    from socialsched.calendar.model import Observance

    cal = Calendar(
        segments=[MADRID], channels=[FEED], posts=posts(1),
        queues=[queue(times=["10:00"], start="2027-02-01")],
        observances=[Observance(name="Company day", dates=["2027-02-01"], holiday=True)],
    )  # fmt: skip
    (delivery,) = Planner(cal).plan("2027-02-01", "2027-02-07")
    assert delivery.local.date() == date(2027, 2, 2)


def test_queue_without_start_begins_on_the_planners_today():
    cal = calendar(posts(2), [queue(times=["10:00"])], segments=[MADRID])
    plan = Planner(cal, today=date(2027, 2, 3)).plan("2027-02-01", "2027-02-07")
    assert [d.local.date() for d in plan] == [date(2027, 2, 3), date(2027, 2, 4)]


def test_planning_a_range_gives_what_a_longer_range_gives_for_those_days():
    cal = calendar(posts(20), [queue(start="2027-01-04")])
    whole = Planner(cal).plan("2027-01-01", "2027-01-31")
    part = Planner(cal).plan("2027-01-11", "2027-01-15")
    inside = [d for d in whole if date(2027, 1, 11) <= d.local.date() <= date(2027, 1, 15)]
    assert list(part) == inside and inside
    chunked = [d for chunk in Planner(cal).plan_chunks("2027-01-01", "2027-01-31", chunk_days=3)
               for d in chunk.plan]  # fmt: skip
    assert sorted(d.id for d in chunked) == sorted(d.id for d in whole)


def test_segments_and_channels_filters_do_not_change_the_fill():
    cal = calendar(posts(6), [queue(start="2027-01-18")])
    whole = Planner(cal).plan("2027-01-18", "2027-01-24")
    only = Planner(cal).plan("2027-01-18", "2027-01-24", segments=["new-york"])
    assert list(only) == [d for d in whole if d.segment == "new-york"]


def test_a_pinned_post_keeps_its_slot_and_the_rest_flow_around_it():
    cal = calendar(posts(3), [queue(times=["10:00"], start="2027-02-01")], segments=[MADRID])
    first = list(Planner(cal).plan("2027-02-01", "2027-02-07"))
    went_out = next(d for d in first if d.post == "tip-2")
    pin = QueuePin("tip-2", "madrid", "feed", "queue", went_out.utc, went_out.local)
    # A new post at the head of the queue: tip-2 stays; tip-1 and tip-3 flow around it.
    reordered = calendar(
        [Post(id="new", text="news", queue="mornings"), *posts(3)],
        [queue(times=["10:00"], start="2027-02-01")], segments=[MADRID],
    )  # fmt: skip
    plan = Planner(reordered, pins=[pin]).plan("2027-02-01", "2027-02-07")
    days = {d.post: d.local.day for d in plan}
    assert days == {"new": 1, "tip-2": 2, "tip-1": 3, "tip-3": 4}
    assert next(d for d in plan if d.post == "tip-2").id == went_out.id


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"times": ["25:00"]}, "'25:00' is not a time of day"),
        ({"days": ["mon", "funday"]}, "unknown day 'funday'"),
        ({"per_slot": 0}, "per_slot = 0"),
        ({"on_holiday": "next_business_day"}, "on_holiday"),
        ({"times": []}, "non-empty"),
    ],
)
def test_bad_queue_settings_are_refused(given, message):
    with pytest.raises(ValueError, match=message):
        queue(**given)


def test_unknown_and_duplicate_queue_names_are_reference_problems():
    with pytest.raises(CalendarError) as caught:
        calendar([Post(id="a", text="a", queue="evenings")], [queue(), queue()], segments=[MADRID])
    text = str(caught.value)
    assert "unknown queue 'evenings' (known: mornings)" in text
    assert "duplicate queue name 'mornings'" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"at": "10:00"}, "at does not go with queue"),
        ({"dates": ["2027-01-01"], "at": "10:00"}, "exactly one timing"),
        ({"start": "2027-01-01"}, "start and end do not go with queue"),
    ],
)
def test_queue_is_a_timing_of_its_own(extra, message):
    with pytest.raises(ValueError, match=message):
        Post(id="a", text="a", queue="mornings", **extra)


def test_evergreen_needs_a_queue():
    with pytest.raises(ValueError, match="evergreen needs queue"):
        Post(id="a", text="a", schedule="0 9 * * *", evergreen={"min_gap": "14d"})


def test_posts_not_yet_out_take_no_slot_before_the_day_of_scheduling():
    cal = calendar(posts(3), [queue(times=["10:00"], start="2027-02-01")], segments=[MADRID])
    first = list(Planner(cal).plan("2027-02-01", "2027-02-07"))
    went_out = first[0]  # tip-1, on 02-01
    pin = QueuePin("tip-1", "madrid", "feed", "queue", went_out.utc, went_out.local)
    # Scheduled again on Thursday 02-04: tip-1 went out; tip-2 and tip-3 (02-02, 02-03)
    # did not and now take the next slots from that day, not the past ones.
    plan = Planner(cal, today=date(2027, 2, 4), pins=[pin]).plan("2027-02-01", "2027-02-07")
    assert [(d.post, d.local.day) for d in plan] == [("tip-1", 1), ("tip-2", 4), ("tip-3", 5)]
    assert [d.id for d in plan] == [d.id for d in first]
