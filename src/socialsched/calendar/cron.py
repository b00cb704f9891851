"""Five-field cron expressions (minute hour day-of-month month day-of-week).

Evaluated per local calendar day so the planner can work in each segment's
wall-clock time. Follows Vixie cron: 0 and 7 are Sunday, names are accepted,
and when both day fields are restricted a day matches either of them.
"""

from __future__ import annotations

from datetime import date, time

import attrs

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


class CronError(ValueError):
    """A cron expression that cannot be parsed."""


def _parse_field(text: str, low: int, high: int, names: list[str] | None, what: str) -> frozenset:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"bad step {step_text!r} in {what} field")
            step = int(step_text)
        if part == "*":
            first, last = low, high
        elif "-" in part:
            first_text, last_text = part.split("-", 1)
            first = _value(first_text, low, high, names, what)
            last = _value(last_text, low, high, names, what)
            if first > last:
                raise CronError(f"range {part!r} runs backwards in {what} field")
        else:
            first = _value(part, low, high, names, what)
            last = high if step > 1 else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _value(text: str, low: int, high: int, names: list[str] | None, what: str) -> int:
    if names and text.lower() in names:
        return names.index(text.lower()) + (1 if what == "month" else 0)
    if not text.isdigit():
        raise CronError(f"{text!r} is not a valid {what}")
    number = int(text)
    if not low <= number <= high:
        raise CronError(f"{what} {number} is out of range {low}-{high}")
    return number


@attrs.frozen
class Cron:
    """A parsed cron expression; `times_on(day)` gives its local times on that day."""

    expression: str
    minutes: frozenset = attrs.field(repr=False)
    hours: frozenset = attrs.field(repr=False)
    days: frozenset = attrs.field(repr=False)
    months: frozenset = attrs.field(repr=False)
    weekdays: frozenset = attrs.field(repr=False)  # 0 = Sunday
    days_restricted: bool = attrs.field(repr=False)
    weekdays_restricted: bool = attrs.field(repr=False)
    times: tuple[time, ...] = attrs.field(repr=False)

    @classmethod
    def parse(cls, expression: str) -> Cron:
        """Parse a 5-field expression; raise `CronError` saying which field is wrong."""
        fields = expression.split()
        if len(fields) != 5:
            raise CronError(
                f"cron expression {expression!r} has {len(fields)} fields; "
                "expected 5 (minute hour day month weekday)"
            )
        minute, hour, day, month, weekday = fields
        minutes = _parse_field(minute, 0, 59, None, "minute")
        hours = _parse_field(hour, 0, 23, None, "hour")
        weekdays = _parse_field(weekday, 0, 7, _WEEKDAYS, "weekday")
        weekdays = frozenset(w % 7 for w in weekdays)
        return cls(
            expression=expression,
            minutes=minutes,
            hours=hours,
            days=_parse_field(day, 1, 31, None, "day"),
            months=_parse_field(month, 1, 12, _MONTHS, "month"),
            weekdays=weekdays,
            days_restricted=not day.startswith("*"),
            weekdays_restricted=not weekday.startswith("*"),
            times=tuple(time(h, m) for h in sorted(hours) for m in sorted(minutes)),
        )

    def matches_day(self, day: date) -> bool:
        """Whether the expression fires at all on this calendar day."""
        if day.month not in self.months:
            return False
        day_ok = day.day in self.days
        weekday_ok = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok

    def times_on(self, day: date) -> tuple[time, ...]:
        """The local wall-clock times at which the expression fires on `day`."""
        return self.times if self.matches_day(day) else ()
