"""How many deliveries a plan will hold, counted before planning, so that planning and
scheduling take bounded memory whatever the calendar.

A calendar of 200 segments posting every minute (`schedule = "* * * * *"`) plans
8.6 million deliveries a month; planned at once they would take gigabytes. The count
here needs no planning: a cron post's occurrences on a day are its times if the day
matches, the same for every segment, so a day's deliveries are the sum over posts of
(occurrences that day) x (the post's routes: segment and channel pairs). From it:

- `check` refuses a run that would plan more than the limit (`DEFAULT_MAX_DELIVERIES`
  unless the caller or `--max-deliveries` says otherwise), before any memory is used,
  with a message that suggests the range that fits;
- `chunk_ranges` cuts a long range into chunks holding about `CHUNK_DELIVERIES`
  deliveries each (at least one day, at most `CHUNK_DAYS`): chunks are sized by what
  they hold, not by days.

Counts are estimates on the high side for cron and dates (a skipped holiday still
counts) and rough for holiday-triggered posts (one occurrence per holiday name per
year); moves from before the range (next business day) are not counted.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

from socialsched.calendar.model import Calendar, Post
from socialsched.errors import PlanError

#: The most deliveries one run (plan, lint, export, preview, schedule) may plan.
DEFAULT_MAX_DELIVERIES = 2_000_000
#: About how many deliveries a chunk of `Planner.plan_chunks` holds.
CHUNK_DELIVERIES = 100_000
#: The most local days in one chunk, however few deliveries they hold.
CHUNK_DAYS = 92

# The limit of this command (set by the CLI's --max-deliveries); the API's default else.
_LIMIT: contextvars.ContextVar[int] = contextvars.ContextVar(
    "socialsched_max_deliveries", default=DEFAULT_MAX_DELIVERIES
)


class TooManyDeliveries(PlanError):
    """A run would plan more deliveries than its limit allows."""


def default_limit() -> int:
    """The delivery limit of runs that name none (`set_default_limit`, else 2,000,000)."""
    return _LIMIT.get()


def set_default_limit(limit: int) -> None:
    """Make `limit` the delivery limit of runs that name none, in this thread or task
    (the CLI's `--max-deliveries`)."""
    if limit < 1:
        raise ValueError(f"the delivery limit must be at least 1, not {limit}")
    _LIMIT.set(limit)


def _routes(
    calendar: Calendar, post: Post, segments: set[str] | None, channels: set[str] | None
) -> int:
    """How many (segment, channel) routes `post` takes, as the planner forms them."""
    count = 0
    for segment in calendar.segments_for(post):
        if segments is not None and segment.name not in segments:
            continue
        if any(topic in segment.avoid_topics for topic in post.topics):
            continue
        for channel in calendar.channels_for(post, segment):
            if channels is None or channel.name in channels:
                count += 1
    return count


def daily_counts(
    calendar: Calendar,
    start: date,
    end: date,
    *,
    segments: Iterable[str] | None = None,
    channels: Iterable[str] | None = None,
) -> Iterator[tuple[date, int]]:
    """Each local day of [start, end] with about how many deliveries it holds."""
    wanted_segments = set(segments) if segments is not None else None
    wanted_channels = set(channels) if channels is not None else None
    crons: list[tuple[Post, int]] = []
    fixed: dict[date, int] = {}
    yearly = 0
    for post in calendar.posts:
        routes = _routes(calendar, post, wanted_segments, wanted_channels)
        if not routes:
            continue
        if post.cron is not None:
            crons.append((post, routes))
        elif post.dates:
            for day in post.dates:
                if start <= day <= end:
                    fixed[day] = fixed.get(day, 0) + routes
        elif post.queue is not None:
            # A queued post goes out once per route, and an evergreen one at most
            # 1 + max_repeats times: counted once, at the start.
            yearly += routes * (post.evergreen.max_uses if post.evergreen else 1)
        else:
            yearly += len(post.on_holidays) * routes
    day = start
    while day <= end:
        count = fixed.get(day, 0)
        if yearly and (day == start or (day.month, day.day) == (1, 1)):
            count += yearly
        for post, routes in crons:
            if (post.start is None or post.start <= day) and (post.end is None or day <= post.end):
                assert post.cron is not None
                count += len(post.cron.times_on(day)) * routes
        yield day, count
        day += timedelta(days=1)


def check(
    calendar: Calendar,
    start: date,
    end: date,
    *,
    limit: int | None = None,
    segments: Iterable[str] | None = None,
    channels: Iterable[str] | None = None,
) -> int:
    """About how many deliveries [start, end] holds; `TooManyDeliveries` when more than
    `limit` (default: `default_limit()`), found by counting, before planning anything.
    The message suggests the last day of a range that fits."""
    limit = default_limit() if limit is None else limit
    total = 0
    for day, count in daily_counts(calendar, start, end, segments=segments, channels=channels):
        if total + count > limit:
            raise TooManyDeliveries(_too_many(start, end, day, total, count, limit))
        total += count
    return total


def _too_many(start: date, end: date, day: date, total: int, count: int, limit: int) -> str:
    days = (end - start).days + 1
    head = (
        f"planning {start} to {end} ({days} days) would hold more than {limit:,} "
        f"deliveries (the limit; --max-deliveries to change it)"
    )
    if day == start:
        return (
            f"{head}: {start} alone holds about {count:,}; check the posts' schedules "
            "(a post every minute?) and segments, or raise --max-deliveries"
        )
    fits = (day - start).days
    return (
        f"{head}: about {total:,} by {day - timedelta(days=1)}; plan a shorter range, "
        f"e.g. --end {day - timedelta(days=1)} ({fits} days), and the rest after it"
    )


def chunk_ranges(
    calendar: Calendar,
    start: date,
    end: date,
    *,
    deliveries: int = CHUNK_DELIVERIES,
    max_days: int = CHUNK_DAYS,
    days: int | None = None,
    segments: Iterable[str] | None = None,
    channels: Iterable[str] | None = None,
) -> Iterator[tuple[date, date]]:
    """[start, end] cut into consecutive ranges of local days, each holding about
    `deliveries` deliveries at most (one day at least, `max_days` at most); with
    `days`, ranges of that many days whatever they hold."""
    if days is not None:
        while start <= end:
            last = min(end, start + timedelta(days=days - 1))
            yield start, last
            start = last + timedelta(days=1)
        return
    first, held, length = start, 0, 0
    for day, count in daily_counts(calendar, start, end, segments=segments, channels=channels):
        if length and (held + count > deliveries or length >= max_days):
            yield first, day - timedelta(days=1)
            first, held, length = day, 0, 0
        held += count
        length += 1
    if length:
        yield first, end


__all__ = [
    "CHUNK_DAYS",
    "CHUNK_DELIVERIES",
    "DEFAULT_MAX_DELIVERIES",
    "TooManyDeliveries",
    "check",
    "chunk_ranges",
    "daily_counts",
    "default_limit",
    "set_default_limit",
]
