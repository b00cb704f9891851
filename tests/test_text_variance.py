"""Rendering once per distinct text: a template renders once per value of what it reads."""

from __future__ import annotations

from socialsched import Calendar, Channel, Post, Segment
from socialsched.planning.planner import Planner
from socialsched.planning.render import Renderer

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


# Segments of one locale: Paris and Algiers share a locale but not a zone's name.
SAME_LOCALE = [
    Segment(name="paris", locale="fr", timezone="Europe/Paris", country="FR"),
    Segment(name="lyon", locale="fr", timezone="Europe/Paris", country="FR"),
    Segment(name="algiers", locale="fr", timezone="Africa/Algiers", country="DZ"),
    Segment(name="new-york", locale="en-US", timezone="America/New_York", country="US"),
]
CHANNELS = [Channel(name="a", adapter="console"), Channel(name="b", adapter="console")]


def plan_shared(text: str, filters: dict | None = None) -> tuple[list, int, list[str]]:
    """Like `plan_counting`, over SAME_LOCALE and two channels."""
    calls = []

    def tally(value):
        calls.append(value)
        return value

    post = Post(id="p", text=text, dates=DAYS, at=TIME)
    calendar = Calendar(segments=SAME_LOCALE, channels=CHANNELS, posts=[post])
    renderer = Renderer(calendar, filters={"tally": tally, **(filters or {})})
    deliveries = Planner(calendar, renderer=renderer).plan(DAYS[0], DAYS[-1])
    count = len(calls)
    uncached = [
        renderer.render(
            post, calendar.segment(d.segment), calendar.channel(d.channel), d.local, d.holiday
        )
        for d in deliveries
    ]
    assert [d.text for d in deliveries] == uncached
    return deliveries, count, uncached


def test_a_template_without_segment_or_channel_renders_once_per_locale():
    deliveries, count, _ = plan_shared("{{ post.id|tally }} {{ locale }}")
    assert len(deliveries) == 4 * 2 * 3
    assert count == 2  # fr and en-US


def test_a_template_reading_the_segment_or_the_channel_renders_once_for_each():
    assert plan_shared("{{ segment.name|tally }}")[1] == 4
    assert plan_shared("{{ channel.name|tally }}")[1] == 2 * 2  # per locale and channel
    assert plan_shared("{{ vars|length|tally }}")[1] == 4  # vars come from the segment too


def test_a_time_template_renders_once_per_locale_zone_and_slot():
    deliveries, count, _uncached = plan_shared("{{ when|time('full')|tally }}")
    # fr: Paris (Lyon shares it) and Algiers, 3 days each; en-US: 3 days.
    assert count == 3 * 3
    by_segment = {d.segment: d.text for d in deliveries}
    assert by_segment["paris"] == by_segment["lyon"]


def test_a_filter_that_reads_the_whole_context_renders_for_every_route():
    from jinja2 import pass_context

    @pass_context
    def who(context, value):
        return f"{value} {context['segment'].name}"

    deliveries, count, _ = plan_shared("{{ post.id|who|tally }}", filters={"who": who})
    assert count == len(deliveries)
    assert {d.text for d in deliveries} == {f"p {s.name}" for s in SAME_LOCALE}
