"""Synthetic calendars and deliveries for the store benchmarks (planning is not timed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from socialsched.model import Calendar, Channel, Delivery, Post, Segment
from socialsched.planner import delivery_id


def calendar(segments: int, posts: int, out: str, name: str = "bench") -> Calendar:
    """A calendar with `segments` UTC segments, `posts` posts and one jsonl channel."""
    return Calendar(
        segments=[
            Segment(name=f"s{i}", locale="en-GB", timezone="UTC", country="GB")
            for i in range(segments)
        ],
        channels=[Channel(name="feed", adapter="jsonl", settings={"path": out})],
        posts=[
            Post(id=f"p{i}", text="t", dates=["2030-01-01"], at="09:00", late="publish")
            for i in range(posts)
        ],
        name=name,
    )


def deliveries(cal: Calendar, count: int, first: datetime, step: timedelta) -> list[Delivery]:
    """`count` deliveries spread over the calendar's posts and segments from `first`."""
    result = []
    segments = [s.name for s in cal.segments]
    posts = [p.id for p in cal.posts]
    for index in range(count):
        post = posts[index % len(posts)]
        segment = segments[(index // len(posts)) % len(segments)]
        slot = f"slot{index}"
        utc = (first + step * index).astimezone(UTC)
        result.append(
            Delivery(
                id=delivery_id(cal.name, post, segment, "feed", slot),
                post=post,
                segment=segment,
                channel="feed",
                adapter="jsonl",
                utc=utc,
                local=utc,
                text=f"message {index} for {segment}",
                tags=("content",),
            )
        )
    return result
