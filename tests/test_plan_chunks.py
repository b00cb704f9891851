"""Planning a long range chunk by chunk gives the deliveries of one plan of it.

Chunks split the range by local day; the zones here sit on both sides of UTC (Auckland
up to +13, Honolulu -10), so the last instants of one chunk come after the first of
the next, and holiday and weekend moves cross chunk borders.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_planner_properties import PROPERTY_SETTINGS, _calendar, scenarios

from socialsched import Calendar, Channel, PlanError, Planner, Post, Problem, Segment

START, END = date(2027, 12, 20), date(2028, 1, 12)


def far_apart() -> Calendar:
    segments = [
        Segment(name="auckland", locale="en-NZ", timezone="Pacific/Auckland", country="NZ"),
        Segment(name="honolulu", locale="en-US", timezone="Pacific/Honolulu", country="US"),
        Segment(name="paris", locale="fr", timezone="Europe/Paris", country="FR"),
    ]
    return Calendar(
        segments=segments,
        channels=[Channel(name="feed", adapter="console")],
        posts=[
            Post(
                id="late",
                text="{{ when|date }} {{ segment.name }}",
                schedule="30 23 * * *",
                on_holiday="next_business_day",
                on_weekend="next_business_day",
            ),
            Post(id="early", text="{{ when|time }}", schedule="15 0 * * 1-5"),
        ],
    )


@pytest.mark.parametrize("chunk_days", [1, 2, 5, 30])
def test_iter_plan_gives_the_plan_in_its_order_whatever_the_chunk(chunk_days):
    planner = Planner(far_apart())
    whole = list(planner.plan(START, END))
    assert list(planner.iter_plan(START, END, chunk_days=chunk_days)) == whole
    # The chunks overlap in UTC here, so plain concatenation would not be sorted.
    chunks = list(planner.plan_chunks(START, END, chunk_days=chunk_days))
    joined = [delivery for chunk in chunks for delivery in chunk.plan]
    assert sorted(joined, key=lambda d: (d.utc, d.post, d.segment, d.channel)) == whole
    if chunk_days == 1:
        assert joined != whole
    # Each chunk holds the deliveries of its own local days, and the chunks tile the range.
    assert chunks[0].start == START and chunks[-1].end == END
    for chunk, following in itertools.pairwise(chunks):
        assert following.start == chunk.end + timedelta(days=1)
    for chunk in chunks:
        assert (chunk.end - chunk.start).days < chunk_days
        assert all(chunk.start <= d.local.date() <= chunk.end for d in chunk.plan)


def test_moves_across_a_chunk_border_land_in_the_chunk_of_their_new_day():
    planner = Planner(far_apart())
    moved = [d for d in planner.plan(START, END) if d.shifted_from is not None]
    assert any(d.shifted_from.date() != d.local.date() for d in moved)
    for chunk in planner.plan_chunks(START, END, chunk_days=1):
        for delivery in chunk.plan:
            assert delivery.local.date() == chunk.start


@PROPERTY_SETTINGS
@given(scenarios(), st.integers(1, 3))
def test_iter_plan_equals_plan_on_random_calendars(scenario, chunk_days):
    planner = Planner(_calendar(scenario))
    start, end = scenario["start"], scenario["end"]
    assert list(planner.iter_plan(start, end, chunk_days=chunk_days)) == list(
        planner.plan(start, end)
    )


def test_a_problem_met_in_every_chunk_is_reported_once():
    calendar = Calendar(
        segments=[Segment(name="s", locale="en", timezone="UTC", country="US")],
        channels=[Channel(name="c", adapter="console")],
        posts=[Post(id="broken", text="{{ nowhere.name }}", schedule="0 9 * * *")],
    )
    problems: list[Problem] = []
    chunks = list(Planner(calendar).plan_chunks(START, END, chunk_days=3, problems=problems))
    assert len(chunks) == 8 and all(len(chunk.plan) == 0 for chunk in chunks)
    assert len(problems) == 1 and "nowhere" in problems[0].message


def test_chunk_days_must_be_positive():
    with pytest.raises(PlanError, match="chunk_days must be at least 1, not 0"):
        list(Planner(far_apart()).plan_chunks(START, END, chunk_days=0))
