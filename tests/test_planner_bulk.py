"""What the planner's bulk fast paths must keep: real frozen deliveries, ids as documented,
order by (UTC, post, segment, channel), and the garbage collector left as it was."""

from __future__ import annotations

import gc
import hashlib
from datetime import UTC, datetime

import attrs
import pytest

from socialsched import Calendar, Channel, Delivery, Planner, Post, Segment
from socialsched.calendar.model import build_delivery

UTC_NOON = datetime(2027, 1, 4, 12, tzinfo=UTC)
FIELDS = (
    "abc",
    "post",
    "segment",
    "channel",
    "console",
    UTC_NOON,
    UTC_NOON,
    "text",
    "holiday",
    UTC_NOON,
    "holiday",
    {"list": "x"},
    ("promo",),
    (),
    ("part one", "part two"),
)


def test_build_delivery_gives_the_same_frozen_delivery_as_the_constructor():
    built = build_delivery(*FIELDS)
    expected = Delivery(*FIELDS)
    assert type(built) is Delivery
    assert built == expected
    assert attrs.asdict(built) == attrs.asdict(expected)
    assert repr(built) == repr(expected)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.text = "changed"  # type: ignore[misc]


def two_market_calendar() -> Calendar:
    # New York and Toronto share every UTC offset, so their deliveries tie on the
    # instant and must be ordered by post, then segment, then channel.
    segments = [
        Segment(name=name, locale="en-US", timezone=zone, country=country)
        for name, zone, country in [
            ("zz-toronto", "America/Toronto", "CA"),
            ("aa-new-york", "America/New_York", "US"),
            ("mm-toronto", "America/Toronto", "CA"),
        ]
    ]
    channels = [Channel(name="x", adapter="console"), Channel(name="b", adapter="console")]
    posts = [
        Post(id="later", text="a", schedule="0 9 * * *"),
        Post(id="early", text="b", schedule="0 9,17 * * 1-5", on_holiday="skip"),
    ]
    return Calendar(segments=segments, channels=channels, posts=posts, name="bulk")


def test_deliveries_are_sorted_by_instant_then_post_segment_and_channel():
    deliveries = Planner(two_market_calendar()).plan("2027-03-10", "2027-03-20")
    keys = [(d.utc, d.post, d.segment, d.channel) for d in deliveries]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    # Ties on the instant really happen here, across markets.
    assert len({k[0] for k in keys}) < len(keys) / 6


def test_ids_hash_calendar_post_segment_channel_and_slot():
    deliveries = Planner(two_market_calendar()).plan("2027-03-10", "2027-03-12", render=False)
    assert deliveries
    for delivery in deliveries:
        local = delivery.local
        index = 0 if delivery.post == "later" or local.hour == 9 else 1
        slot = f"{local.date().isoformat()}#{index}"
        raw = "\x1f".join(("bulk", delivery.post, delivery.segment, delivery.channel, slot))
        assert delivery.id == hashlib.sha256(raw.encode()).hexdigest()[:20]


@pytest.mark.parametrize("enabled", [True, False])
def test_planning_leaves_the_garbage_collector_as_it_found_it(enabled):
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        Planner(two_market_calendar()).plan("2027-03-10", "2027-03-12")
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_collector_is_back_on_after_a_planning_error():
    calendar = attrs.evolve(
        two_market_calendar(), posts=[Post(id="bad", text="{{ nope }}", schedule="0 9 * * *")]
    )
    assert gc.isenabled()
    with pytest.raises(Exception, match="nope"):
        Planner(calendar).plan("2027-03-10", "2027-03-12")
    assert gc.isenabled()


def test_slots_dropped_by_problems_leave_the_rest_in_order():
    # A message longer than the channel allows is a problem for that slot only: the
    # other slots of the same route are still planned, in order.
    calendar = attrs.evolve(
        two_market_calendar(),
        channels=[
            Channel(name="short", adapter="console", settings={"max_length": 20}),
            Channel(name="long", adapter="console"),
        ],
        posts=[Post(id="grows", text="{{ 'x' * when.day }}", schedule="0 9 * * *")],
    )
    problems: list = []
    deliveries = Planner(calendar).plan("2027-01-15", "2027-01-25", problems=problems)
    keys = [(d.utc, d.post, d.segment, d.channel) for d in deliveries]
    assert keys == sorted(keys)
    expected = {
        (segment, channel, day)
        for segment in ("zz-toronto", "aa-new-york", "mm-toronto")
        for channel, last_day in (("short", 20), ("long", 25))
        for day in range(15, last_day + 1)
    }
    assert {(d.segment, d.channel, d.local.day) for d in deliveries} == expected
    assert len(problems) == 3 * 5  # days 21-25, three segments, on "short" only
