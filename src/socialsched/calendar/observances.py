"""Observances: days a calendar defines itself (Ferragosto, a country's Mother's Day,
a brand anniversary), beside the public holidays the `holidays` package knows."""

from __future__ import annotations

import calendar as _calendar
import datetime as _datetime
import re
from datetime import date
from typing import TYPE_CHECKING

import attrs

from .values import date_list, is_bool, string_tuple

if TYPE_CHECKING:
    from .model import Segment

_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday_index(value: str | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    name = str(value).lower()
    for index, weekday in enumerate(_WEEKDAY_NAMES):
        if weekday.startswith(name[:3]) and len(name) >= 3:
            return index
    raise ValueError(f"unknown weekday {value!r}")


def _month_day(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", str(value))
    if not match:
        raise ValueError(f"observance date {value!r} must be 'MM-DD' (every year)")
    month, day = int(match[1]), int(match[2])
    try:
        date(2000, month, day)  # a leap year, so 02-29 is allowed
    except ValueError:
        raise ValueError(f"observance date {value!r} is not a day of the year") from None
    return month, day


@attrs.frozen
class Observance:
    """A user-defined day (Ferragosto, a country's Mother's Day, a brand anniversary).

    Give exactly one of: `date` ("MM-DD", every year), `dates` (explicit days), or
    `month` + `weekday` + `nth` (e.g. the 2nd Sunday of May; `nth = -1` is the last).
    It applies to segments of `countries` (or of `segments`); with neither, to all.
    `holiday = true` makes it count as a holiday for `on_holiday` policies.
    """

    name: str
    date: tuple[int, int] | None = attrs.field(default=None, converter=_month_day)
    # `_datetime.date`: inside this class `date` is the field above, not the type.
    dates: tuple[_datetime.date, ...] = attrs.field(default=(), converter=date_list)
    month: int | None = None
    weekday: int | None = attrs.field(default=None, converter=_weekday_index)
    nth: int | None = None
    countries: tuple[str, ...] = attrs.field(
        default=(), converter=lambda v: tuple(c.upper() for c in string_tuple(v))
    )
    segments: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    holiday: bool = attrs.field(default=False, validator=is_bool)

    def __attrs_post_init__(self) -> None:
        rule = self.month is not None or self.weekday is not None or self.nth is not None
        given = sum([self.date is not None, bool(self.dates), rule])
        if given != 1:
            raise ValueError(
                f"observance {self.name!r} needs exactly one of date = 'MM-DD', "
                "dates = [...], or month + weekday + nth"
            )
        if rule and (self.month is None or self.weekday is None or self.nth is None):
            raise ValueError(f"observance {self.name!r} needs month, weekday and nth together")
        if self.month is not None and not 1 <= self.month <= 12:
            raise ValueError(f"observance {self.name!r}: month {self.month} is not 1-12")
        if self.nth is not None and self.nth not in (-1, 1, 2, 3, 4, 5):
            raise ValueError(f"observance {self.name!r}: nth {self.nth} must be 1-5 or -1 (last)")

    def applies_to(self, segment: Segment) -> bool:
        """Whether this observance is observed by `segment`."""
        if not self.countries and not self.segments:
            return True
        return segment.country in self.countries or segment.name in self.segments

    def dates_in(self, year: int) -> list[_datetime.date]:
        """The days this observance falls on in `year`."""
        if self.date is not None:
            month, day = self.date
            if month == 2 and day == 29 and not _calendar.isleap(year):
                return []
            return [date(year, month, day)]
        if self.dates:
            return [d for d in self.dates if d.year == year]
        assert self.month is not None and self.weekday is not None and self.nth is not None
        weeks = _calendar.Calendar().monthdatescalendar(year, self.month)
        matching = [
            d
            for week in weeks
            for d in week
            if d.month == self.month and d.weekday() == self.weekday
        ]
        index = self.nth - 1 if self.nth > 0 else self.nth
        return [matching[index]] if -len(matching) <= index < len(matching) else []
