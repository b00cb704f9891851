"""Queues and evergreen settings: the `[[queue]]` table and a post's `evergreen`.

A queue is a set of posting times in each segment's local time. Posts that name it
(`queue = "mornings"`) take its free slots in the order the file lists them, per
segment and channel (see `socialsched.planning.queue_plan`). This module holds only the
models, validated on construction; it imports nothing from `socialsched.calendar.model`,
which imports it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

import attrs

#: Day names a queue's `days` accepts (three letters; full names are accepted too).
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
QUEUE_HOLIDAY_POLICIES = ("skip", "post")
#: The slot key of a queued post's first (or only) delivery in a segment; evergreen
#: repeats are "queue#2", "queue#3"... Keys never hold a time, so a post that re-flows
#: to another slot keeps its delivery id and `schedule` moves it.
QUEUE_KEY = "queue"


def slot_key(use: int) -> str:
    """The slot key of a queued post's `use`-th delivery in one segment (1: "queue")."""
    return QUEUE_KEY if use == 1 else f"{QUEUE_KEY}#{use}"


def _clock(text: Any) -> time:
    if isinstance(text, time):
        return text
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(text).strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"times: {text!r} is not a time of day in HH:MM form (00:00-23:59)")
    return time(int(match[1]), int(match[2]))


def _times(value: Any) -> tuple[time, ...]:
    if isinstance(value, str | time):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError('times must be a non-empty list of "HH:MM" local times')
    return tuple(sorted(set(_clock(item) for item in value)))


def _days(value: Any) -> tuple[int, ...]:
    """Weekday numbers (Monday 0) from day names."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"days must be a non-empty list of day names ({', '.join(DAY_NAMES)})")
    found = set()
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
            found.add(item)
            continue
        name = str(item).strip().lower()
        index = next((i for i, day in enumerate(DAY_NAMES) if name in (day, _FULL_DAYS[i])), None)
        if index is None:
            raise ValueError(f"days: unknown day {item!r} (use {', '.join(DAY_NAMES)})")
        found.add(index)
    return tuple(sorted(found))


_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _start(value: Any) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.date()
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"start {value!r} is not a date in YYYY-MM-DD form") from None


def _per_slot(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"per_slot = {value!r}: must be a whole number of at least 1")
    return value


def _flag(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{attribute.name} must be true or false, not {value!r}")


@attrs.frozen
class Queue:
    """A `[[queue]]`: posting times (`times`, "HH:MM" in each segment's local time) on
    `days` (default: every day) from `start` (default: the day the calendar is
    scheduled). Holidays of a segment's market have no slots (`on_holiday = "post"`
    keeps them), nor have times inside its quiet hours (`respect_quiet_hours`).
    `per_slot` caps the posts a slot takes on one channel."""

    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    times: tuple[time, ...] = attrs.field(converter=_times)
    days: tuple[int, ...] = attrs.field(default=tuple(range(7)), converter=_days)
    start: date | None = attrs.field(default=None, converter=_start)
    per_slot: int = attrs.field(default=1, converter=_per_slot)
    on_holiday: str = attrs.field(
        default="skip", validator=attrs.validators.in_(QUEUE_HOLIDAY_POLICIES)
    )
    respect_quiet_hours: bool = attrs.field(default=True, validator=_flag)

    @property
    def day_names(self) -> tuple[str, ...]:
        """`days` as names ("mon"...)."""
        return tuple(DAY_NAMES[day] for day in self.days)


def _gap(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        gap = value
    else:
        match = re.fullmatch(r"\s*(\d+)\s*(d|h|w)\s*", str(value))
        if not match:
            raise ValueError(f"evergreen min_gap {value!r} must look like '14d', '2w' or '36h'")
        unit = {"d": "days", "h": "hours", "w": "weeks"}[match[2]]
        gap = timedelta(**{unit: int(match[1])})
    if gap <= timedelta(0):
        raise ValueError(f"evergreen min_gap {value!r} must be more than zero")
    return gap


def _repeats(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"evergreen max_repeats = {value!r}: must be a whole number >= 0")
    return value


@attrs.frozen
class Evergreen:
    """A queued post's `evergreen = { min_gap = "14d", max_repeats = 5 }`.

    The post first goes out as a fresh post, in file order; afterwards it fills slots no
    fresh post takes, at most `max_repeats` more times per segment and channel, never
    within `min_gap` (local wall-clock time) of its previous use."""

    min_gap: timedelta = attrs.field(default=timedelta(days=14), converter=_gap)
    max_repeats: int = attrs.field(default=5, converter=_repeats)

    @property
    def max_uses(self) -> int:
        """The most deliveries the post has per segment and channel: 1 + max_repeats."""
        return 1 + self.max_repeats


def evergreen_setting(value: Any) -> Evergreen | None:
    """A post's `evergreen` value: None, an `Evergreen`, or a table of its settings."""
    if value is None or isinstance(value, Evergreen):
        return value
    if isinstance(value, bool) and value:
        return Evergreen()
    if not isinstance(value, dict):
        raise ValueError(
            'evergreen must be a table: evergreen = { min_gap = "14d", max_repeats = 5 }'
        )
    unknown = sorted(set(value) - {"min_gap", "max_repeats"})
    if unknown:
        raise ValueError(f"evergreen: unknown key {unknown[0]!r} (allowed: max_repeats, min_gap)")
    return Evergreen(**value)


__all__ = ["DAY_NAMES", "QUEUE_KEY", "Evergreen", "Queue", "evergreen_setting", "slot_key"]
