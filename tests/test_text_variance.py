"""Rendering once per distinct text: a template renders once per value of what it reads."""

from __future__ import annotations

from socialsched import Calendar, Channel, Post, Segment
from socialsched.planner import Planner
from socialsched.render import Renderer

DAYS = ["2027-01-15", "2027-01-16", "2027-01-17"]
TIME = "09:00"
SEGMENTS = [
    Segment(name="fr", locale="fr", timezone="Europe/Paris", country="FR"),
    Segment(name="us", locale="en-US", timezone="America/New_York", country="US"),
]
CHANNEL = Channel(name="community", adapter="console")


def plan_counting(text: str, mark: bool = False) -> tuple[list, int, list[str]]:
    """The deliveries of a one-post calendar whose text is `text`, how many times the
    `tally` filter ran, and each delivery's text rendered without any cache."""
    calls = []

    def tally(value):
        calls.append(value)
        return value

    if mark:
        tally.socialsched_nondeterministic = True
    post = Post(id="p", text=text, dates=DAYS, at=TIME)
    calendar = Calendar(segments=SEGMENTS, channels=[CHANNEL], posts=[post])
    renderer = Renderer(calendar, filters={"tally": tally})
    deliveries = Planner(calendar, renderer=renderer).plan(DAYS[0], DAYS[-1])
    count = len(calls)
    uncached = [
        renderer.render(post, calendar.segment(d.segment), CHANNEL, d.local, d.holiday)
        for d in deliveries
    ]
    return deliveries, count, uncached


def test_segment_only_template_renders_once_per_route():
    deliveries, count, uncached = plan_counting("Hi {{ segment.name|tally }}")
    assert len(deliveries) == 2 * 3
    assert count == 2  # one route per segment
    assert [d.text for d in deliveries] == uncached


def test_date_template_renders_once_per_local_day():
    deliveries, count, uncached = plan_counting("{{ when|date('full')|tally }}")
    assert count == 2 * 3
    assert [d.text for d in deliveries] == uncached


def test_time_template_renders_once_per_slot():
    deliveries, count, uncached = plan_counting("{{ when|time|tally }}")
    assert count == len(deliveries) == 2 * 3
    assert [d.text for d in deliveries] == uncached


def test_nondeterministic_filter_turns_the_cache_off():
    deliveries, count, _ = plan_counting("Hi {{ segment.name|tally }}", mark=True)
    assert count == len(deliveries) == 6
