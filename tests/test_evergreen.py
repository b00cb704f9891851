"""Evergreen posts: they recycle into slots no fresh post takes, least recently used
first, within `min_gap` and `max_repeats`, never saying the same thing twice in a row."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialsched import Calendar, Channel, Planner, Post, Segment
from socialsched.calendar.queues import Evergreen, Queue
from socialsched.planning.plans import delivery_id

MADRID = Segment(name="madrid", locale="es-ES", timezone="Europe/Madrid", country="ES")
NEW_YORK = Segment(name="new-york", locale="en-US", timezone="America/New_York", country="US")
FEED = Channel(name="feed", adapter="console")
# February 2027 has no public holiday in Spain or the US but Presidents' Day (02-15).
START, END = date(2027, 2, 1), date(2027, 3, 31)


def daily(**given) -> Queue:
    return Queue(name="daily", times=given.pop("times", ["10:00"]), start=START, **given)


def evergreen(post_id: str, gap: str = "3d", repeats: int = 5, text: str | None = None) -> Post:
    return Post(
        id=post_id,
        text=text or f"{post_id} text",
        queue="daily",
        evergreen={"min_gap": gap, "max_repeats": repeats},
    )


def fresh(post_id: str, text: str | None = None) -> Post:
    return Post(id=post_id, text=text or f"{post_id} text", queue="daily")


def plan_of(queued, queue=None, segments=(MADRID,), end=END):
    cal = Calendar(
        segments=list(segments), channels=[FEED], posts=list(queued), queues=[queue or daily()]
    )
    return cal, Planner(cal).plan(START, end)


def test_evergreen_posts_run_fresh_first_then_recycle_least_recently_used_first():
    queued = [evergreen("a", gap="3d"), fresh("f1"), evergreen("b", gap="3d"), fresh("f2")]
    _, plan = plan_of(queued, end=START + timedelta(days=9))
    days = [(d.post, (d.local.date() - START).days) for d in plan]
    # Fresh in file order on days 0-3.
    assert days[:4] == [("a", 0), ("f1", 1), ("b", 2), ("f2", 3)]
    # Day 4: a (last used day 0) and b (day 2): a is least recently used and past its gap.
    # Day 5: b (last day 2). Day 6: neither is 3 days past (a: day 4, b: day 5) -> free.
    assert days[4:] == [("a", 4), ("b", 5), ("a", 7), ("b", 8)]


def test_repeats_have_their_own_stable_keys():
    cal, plan = plan_of([evergreen("a", gap="1d", repeats=2), evergreen("b", gap="1d")],
                        end=START + timedelta(days=5))  # fmt: skip
    uses = [d for d in plan if d.post == "a"]
    keys = ["queue", "queue#2", "queue#3"]
    assert [d.id for d in uses] == [delivery_id(cal.name, "a", "madrid", "feed", k) for k in keys]


def test_max_repeats_caps_the_uses():
    _, plan = plan_of([evergreen("a", gap="1d", repeats=2), evergreen("b", gap="1d", repeats=1)])
    assert sum(d.post == "a" for d in plan) == 3 and sum(d.post == "b" for d in plan) == 2


def test_the_same_text_never_goes_out_twice_in_a_row():
    # b says what a says: after a, b must wait, and a single evergreen never follows itself.
    _, plan = plan_of([evergreen("a", gap="1d", text="same"), evergreen("b", gap="1d", text="same"),
                       evergreen("c", gap="1d")], end=START + timedelta(days=8))  # fmt: skip
    posts = [d.post for d in plan]
    # Fresh runs in file order (a and b in a row: fresh posts are not recycled), then
    # never "same" after "same": a, c, b, c, a, c...
    assert posts == ["a", "b", "c", "a", "c", "b", "c", "a", "c"]
    for before, after in pairwise(list(plan)[2:]):
        assert before.text != after.text


def test_min_gap_is_local_wall_clock_and_days_without_candidates_stay_free():
    _, plan = plan_of([evergreen("a", gap="7d")], end=START + timedelta(days=30))
    # One evergreen post alone: it would follow itself, so it never repeats.
    assert [d.post for d in plan] == ["a"]


def test_evergreen_settings_are_checked():
    with pytest.raises(ValueError, match="min_gap"):
        Evergreen(min_gap="soon")
    with pytest.raises(ValueError, match="more than zero"):
        Evergreen(min_gap="0d")
    with pytest.raises(ValueError, match="max_repeats"):
        Evergreen(max_repeats=-1)
    with pytest.raises(ValueError, match="unknown key 'gap'"):
        Post(id="a", text="a", queue="q", evergreen={"gap": "2d"})


@st.composite
def evergreen_calendars(draw):
    count = draw(st.integers(1, 7))
    queued = []
    for index in range(count):
        text = draw(st.sampled_from(["one", "two", "three", None]))
        if draw(st.booleans()):
            gap = f"{draw(st.integers(1, 9))}d"
            queued.append(evergreen(f"p{index}", gap, draw(st.integers(0, 4)), text))
        else:
            queued.append(fresh(f"p{index}", text))
    times = draw(st.lists(st.sampled_from(["08:00", "12:00", "18:30"]), min_size=1, unique=True))
    days = draw(
        st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                 min_size=1, unique=True)
    )  # fmt: skip
    return queued, daily(times=times, days=days)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evergreen_calendars())
def test_evergreen_never_breaks_min_gap_or_max_repeats_and_is_reproducible(drawn):
    queued, queue = drawn
    segments = (MADRID, NEW_YORK)
    cal, plan = plan_of(queued, queue, segments)
    _, again = plan_of(queued, queue, segments)
    assert list(plan) == list(again)
    by_id = {post.id: post for post in queued}
    for segment in ("madrid", "new-york"):
        stream = [d for d in plan if d.segment == segment]
        for post in queued:
            uses = [d for d in stream if d.post == post.id]
            allowed = 1 if post.evergreen is None else 1 + post.evergreen.max_repeats
            assert len(uses) <= allowed
            if post.evergreen is not None:
                walls = [d.local.replace(tzinfo=None) for d in uses]
                gap = post.evergreen.min_gap
                assert all(later - earlier >= gap for earlier, later in pairwise(walls))
        for before, after in pairwise(stream):
            repeat = after.id != delivery_id(cal.name, after.post, segment, "feed", "queue")
            if repeat:
                assert by_id[after.post].evergreen is not None
                assert before.text != after.text


def test_repeats_that_went_out_count_towards_max_repeats():
    from socialsched.planning.queue_plan import QueuePin

    queued = [evergreen("a", gap="1d", repeats=1), evergreen("b", gap="1d", repeats=3),
              evergreen("c", gap="1d", repeats=3)]  # fmt: skip
    cal, plan = plan_of(queued, end=START + timedelta(days=9))
    a_uses = [d for d in plan if d.post == "a"]
    assert len(a_uses) == 2  # its first run and its one repeat
    pins = [
        QueuePin("a", "madrid", "feed", key, d.utc, d.local)
        for key, d in zip(["queue", "queue#2"], a_uses, strict=True)
    ]
    today = a_uses[1].local.date() + timedelta(days=1)
    again = Planner(cal, today=today, pins=pins).plan(START, START + timedelta(days=9))
    assert [d for d in again if d.post == "a"] == a_uses  # kept, and no third use
    assert {d.post for d in again if d.local.date() >= today} == {"b", "c"}
