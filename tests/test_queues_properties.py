"""Properties of queues on random calendars: removing a post re-flows the queue forward
and changes nothing else, and plans are reproducible."""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialsched import Calendar, Channel, Planner, Post, Segment
from socialsched.calendar.queues import Queue

SEGMENTS = [
    Segment(name="madrid", locale="es-ES", timezone="Europe/Madrid", country="ES"),
    Segment(name="new-york", locale="en-US", timezone="America/New_York", country="US"),
    Segment(
        name="sydney", locale="en-AU", timezone="Australia/Sydney", country="AU",
        subdivision="NSW", quiet_hours=["21:00-08:00"],
    ),
]  # fmt: skip
CHANNELS = [Channel(name="feed", adapter="console"), Channel(name="other", adapter="console")]
DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# Long enough for every post to find a slot: at least a slot a week, under 9 posts.
START, END = date(2027, 1, 1), date(2027, 4, 30)


@st.composite
def queued_calendars(draw):
    # 12:30 is outside every quiet window: each segment has a slot on each queue day.
    times = ["12:30", *draw(st.lists(st.sampled_from(["07:30", "09:15", "22:00"]), unique=True))]
    queue = Queue(
        name="q",
        times=times,
        days=draw(st.lists(st.sampled_from(DAY_NAMES), min_size=1, unique=True)),
        per_slot=draw(st.integers(1, 3)),
        start=date(2027, 1, draw(st.integers(1, 20))),
        respect_quiet_hours=draw(st.booleans()),
    )
    posts = []
    for index in range(draw(st.integers(2, 8))):
        segments = draw(st.sets(st.sampled_from(["madrid", "new-york", "sydney"]), min_size=1))
        channels = draw(st.sets(st.sampled_from(["feed", "other"]), min_size=1))
        posts.append(
            Post(
                id=f"p{index}",
                text=f"post {index}",
                queue="q",
                segments=sorted(segments),
                channels=sorted(channels),
            )
        )
    return queue, posts


def planned(queue, posts):
    calendar = Calendar(segments=SEGMENTS, channels=CHANNELS, posts=posts, queues=[queue])
    return {d.id: d for d in Planner(calendar).plan(START, END)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queued_calendars(), st.data())
def test_removing_a_post_moves_later_posts_forward_and_changes_nothing_else(drawn, data):
    queue, posts = drawn
    removed = data.draw(st.integers(0, len(posts) - 1))
    before = planned(queue, posts)
    after = planned(queue, [post for index, post in enumerate(posts) if index != removed])
    gone = posts[removed].id
    # Every post found its slot in the range, so the ids say what changed.
    routes = {(d.post, d.segment, d.channel) for d in before.values()}
    for post in posts:
        for segment in post.segments:
            for channel in post.channels:
                assert (post.id, segment, channel) in routes
    assert set(after) == {key for key, d in before.items() if d.post != gone}
    for key, delivery in after.items():
        assert delivery.utc <= before[key].utc  # forward or in place, never later
    again = planned(queue, [post for index, post in enumerate(posts) if index != removed])
    assert {k: (d.utc, d.text) for k, d in again.items()} == {
        k: (d.utc, d.text) for k, d in after.items()
    }
