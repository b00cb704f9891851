"""Synthetic calendars and deliveries for the store benchmarks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from socialsched.calendar.model import Calendar, Channel, Delivery, Post, Segment
from socialsched.planning.planner import delivery_id


def calendar(
    segments: int,
    posts: int,
    out: str,
    name: str = "bench",
    days: int = 1,
    channel: Channel | None = None,
) -> Calendar:
    """A calendar with `segments` UTC segments and one channel (`channel`, named "feed";
    default: a jsonl channel writing to `out`); each of its `posts` posts goes out at
    09:00 on `days` days from 2030-01-01 (segments x posts x days deliveries when
    planned)."""
    dates = [(date(2030, 1, 1) + timedelta(days=day)).isoformat() for day in range(days)]
    return Calendar(
        segments=[
            Segment(name=f"s{i}", locale="en-GB", timezone="UTC", country="GB")
            for i in range(segments)
        ],
        channels=[channel or Channel(name="feed", adapter="jsonl", settings={"path": out})],
        posts=[
            Post(id=f"p{i}", text="t", dates=dates, at="09:00", late="publish")
            for i in range(posts)
        ],
        name=name,
    )


def deliveries(cal: Calendar, count: int, first: datetime, step: timedelta) -> list[Delivery]:
    """`count` deliveries spread over the calendar's posts and segments from `first`."""
    result = []
    segments = [s.name for s in cal.segments]
    posts = [p.id for p in cal.posts]
    (channel,) = cal.channels
    for index in range(count):
        post = posts[index % len(posts)]
        segment = segments[(index // len(posts)) % len(segments)]
        slot = f"slot{index}"
        utc = (first + step * index).astimezone(UTC)
        result.append(
            Delivery(
                id=delivery_id(cal.name, post, segment, channel.name, slot),
                post=post,
                segment=segment,
                channel=channel.name,
                adapter=channel.adapter,
                utc=utc,
                local=utc,
                text=f"message {index} for {segment}",
                tags=("content",),
            )
        )
    return result
