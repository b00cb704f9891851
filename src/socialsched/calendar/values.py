"""Values a calendar writes as text: times of day, dates, durations, quiet hours,
lists written as one string, and true/false that must really be booleans.

Converters and validators for the calendar's attrs models; each raises `ValueError`
with a message naming the value, which the loader places on its line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

import attrs


def string_tuple(value: Any) -> tuple[str, ...]:
    """A string or a list of them (as TOML gives) as a tuple of strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)


def is_bool(instance: Any, attribute: Any, value: Any) -> None:
    """An attrs validator: `value` must be a real boolean."""
    # TOML has real booleans; "no" or 0 is a mistake that must not read as true.
    if not isinstance(value, bool):
        raise ValueError(f"{attribute.name} must be true or false, not {value!r}")


def frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A copy of a table (None: empty), so a model never shares the caller's dict."""
    return dict(value or {})


def parse_clock(text: str | time) -> time:
    """Parse "HH:MM" (24-hour) into a `time`."""
    if isinstance(text, time):
        return text
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(text).strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{text!r} is not a time of day in HH:MM form")
    return time(int(match[1]), int(match[2]))


def to_date(value: str | date) -> date:
    """A date from "YYYY-MM-DD", a `date` or a `datetime` (its date)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a date in YYYY-MM-DD form") from None


def optional_date(value: str | date | None) -> date | None:
    """`to_date`, with None kept."""
    return None if value is None else to_date(value)


def optional_clock(value: str | time | None) -> time | None:
    """`parse_clock`, with None kept."""
    return None if value is None else parse_clock(value)


def date_list(value: Any) -> tuple[date, ...]:
    """Dates from one date or a list of them."""
    return tuple(to_date(item) for item in string_tuple(value) if item) if value else ()


@attrs.frozen
class QuietWindow:
    """A local time window (e.g. 22:00-08:00, may cross midnight) with no posting."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str | QuietWindow) -> QuietWindow:
        """Parse "HH:MM-HH:MM"."""
        if isinstance(text, QuietWindow):
            return text
        parts = str(text).split("-")
        if len(parts) != 2:
            raise ValueError(f"quiet hours {text!r} must look like 'HH:MM-HH:MM'")
        start, end = (parse_clock(part) for part in parts)
        if start == end:
            raise ValueError(f"quiet hours {text!r} start and end at the same time")
        return cls(start, end)

    def contains(self, moment: time) -> bool:
        """Whether a local wall-clock time is inside the window (end excluded)."""
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def quiet_windows(value: Any) -> tuple[QuietWindow, ...]:
    """Quiet windows from None, one window or a list ("HH:MM-HH:MM" or `QuietWindow`)."""
    if value is None:
        return ()
    if isinstance(value, str | QuietWindow):
        value = [value]
    return tuple(QuietWindow.parse(item) for item in value)


def duration(value: Any) -> timedelta | None:
    """A duration from "90s", "30min", "2h", "1d", seconds, or a `timedelta`; None kept."""
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = re.fullmatch(r"\s*(\d+)\s*(s|sec|min|m|h|d)\s*", str(value))
    if not match:
        raise ValueError(f"duration {value!r} must look like '90s', '30min', '2h' or '1d'")
    unit = {"s": "seconds", "sec": "seconds", "min": "minutes", "m": "minutes", "h": "hours"}
    return timedelta(**{unit.get(match[2], "days"): int(match[1])})
