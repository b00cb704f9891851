"""The columnar plan gives exactly the deliveries an object-by-object plan gives.

The reference here builds every `Delivery` with its plain constructor from each planned
route's columns, computes its id by hashing as documented, and sorts the lot by (UTC
instant, post, segment, channel), as the planner did before plans became columnar. The
plan must equal it through every way of reading it: iteration, indexing, slicing and
`columns()`. Rendered texts are compared with an uncached rendering of each delivery.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from test_planner_properties import PROPERTY_SETTINGS, _calendar, scenarios

import socialsched
from socialsched import Calendar, Channel, Delivery, Planner, Post, Segment
from socialsched.planning.plans import Plan
from socialsched.planning.render import Renderer

ROOT = Path(__file__).resolve().parent.parent
CALENDARS = sorted(
    [*ROOT.glob("examples/*/calendar.toml"), *ROOT.glob("docs/recipes/*/calendar.toml")]
)


def documented_id(calendar: str, post: str, segment: str, channel: str, key: str) -> str:
    raw = "\x1f".join((calendar, post, segment, channel, key)).encode()
    return hashlib.sha256(raw).hexdigest()[:20]


def object_plan(calendar: Calendar, plan: Plan) -> list[Delivery]:
    """Every delivery of `plan`'s routes, built one by one and sorted."""
    deliveries = []
    for route in plan.routes:
        for index, slot in enumerate(route.timing.slots):
            deliveries.append(
                Delivery(
                    id=documented_id(
                        calendar.name, route.post, route.segment, route.channel, slot.key
                    ),
                    post=route.post,
                    segment=route.segment,
                    channel=route.channel,
                    adapter=route.adapter,
                    utc=slot.utc,
                    local=slot.local,
                    text=None if route.texts is None else route.texts[index],
                    holiday=slot.holiday,
                    shifted_from=slot.shifted_from,
                    reason=slot.reason,
                    audience=route.audience,
                    tags=route.tags,
                    media=() if route.media is None else route.media[index],
                    parts=() if route.parts is None else route.parts[index],
                )
            )
    return sorted(deliveries, key=lambda d: (d.utc, d.post, d.segment, d.channel))


def assert_same_plan(calendar: Calendar, plan: Plan) -> list[Delivery]:
    expected = object_plan(calendar, plan)
    assert len(plan) == len(expected)
    assert list(plan) == expected
    assert [plan[index] for index in range(len(plan))] == expected
    assert [plan[-index] for index in range(1, len(plan) + 1)] == expected[::-1]
    assert plan[1:-1:2] == expected[1:-1:2]
    assert list(plan.columns()) == [attrs.astuple(d, recurse=False) for d in expected]
    assert plan == expected and expected == plan
    with pytest.raises(IndexError):
        plan[len(plan)]
    return expected


@pytest.mark.parametrize("path", CALENDARS, ids=lambda path: path.parent.name)
def test_columnar_plan_equals_the_object_plan_on_every_example_and_recipe(path):
    calendar = socialsched.load(path)
    planner = Planner(calendar)
    plan = planner.plan(date(2027, 1, 1), date(2027, 12, 31), problems=[])
    expected = assert_same_plan(calendar, plan)
    assert expected, f"{path} plans nothing in the range: nothing was compared"
    # Cached rendering equals rendering every delivery on its own.
    for delivery in expected:
        segment = calendar.segment(delivery.segment)
        post = next(post for post in calendar.posts if post.id == delivery.post)
        channel = calendar.channel(delivery.channel)
        renderer = planner.renderer
        day = (delivery.shifted_from or delivery.local).date()
        change = next((c for c in post.occurrence if c.date == day and c.text), None)
        if change is not None:  # a series' changed occurrence has its own text
            post = attrs.evolve(post, text=change.text, template=None, count=None, occurrence=())
            renderer = Renderer(calendar)  # a renderer compiles one text per post id
        uncached = renderer.render(post, segment, channel, delivery.local, delivery.holiday)
        assert delivery.text == uncached


@PROPERTY_SETTINGS
@given(scenarios())
def test_columnar_plan_equals_the_object_plan_on_random_calendars(scenario):
    calendar = _calendar(scenario)
    for render in (False, True):
        plan = Planner(calendar).plan(scenario["start"], scenario["end"], render=render)
        assert_same_plan(calendar, plan)


def test_deliveries_at_one_instant_from_several_markets_interleave_by_name():
    # Paris and Madrid share every instant; names interleave across the two markets.
    segments = [
        Segment(name=name, locale="fr", timezone=zone, country=country)
        for name, zone, country in [
            ("a-paris", "Europe/Paris", "FR"),
            ("b-madrid", "Europe/Madrid", "ES"),
            ("c-paris", "Europe/Paris", "FR"),
            ("d-madrid", "Europe/Madrid", "ES"),
        ]
    ]
    calendar = Calendar(
        segments=segments,
        channels=[Channel(name="x", adapter="console"), Channel(name="y", adapter="console")],
        posts=[Post(id="daily", text="{{ segment.name }}", schedule="0 9 * * *")],
    )
    plan = Planner(calendar).plan("2027-05-03", "2027-05-04")
    expected = assert_same_plan(calendar, plan)
    first_instant = [(d.segment, d.channel) for d in expected if d.utc == expected[0].utc]
    assert first_instant == [
        (segment.name, channel) for segment in segments for channel in ("x", "y")
    ]


def test_an_empty_plan_is_an_empty_sequence():
    calendar = Calendar(
        segments=[Segment(name="s", locale="en", timezone="UTC", country="US")],
        channels=[Channel(name="c", adapter="console")],
        posts=[Post(id="once", text="hi", dates=["2030-01-01"], at="09:00")],
    )
    plan = Planner(calendar).plan("2027-01-01", "2027-01-02")
    assert len(plan) == 0 and list(plan) == [] and plan == [] and not plan
    assert repr(plan) == "<Plan of 0 deliveries on 1 routes>"
