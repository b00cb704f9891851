"""Per-market day facts: public holidays, observances and weekend days.

Built once per (country, subdivision, observances, language) and shared by every
segment that has the same ones, so planning does not repeat identical work.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import date, timedelta

import holidays

from .model import Observance


@functools.cache
def _country_holidays(
    country: str, subdivision: str | None, years: tuple[int, ...], language: str | None
) -> dict[date, str]:
    table = holidays.country_holidays(country, subdiv=subdivision, years=years, language=language)
    return dict(table.items())


@functools.cache
def _country_facts(country: str) -> tuple[frozenset[int], tuple[str, ...], str | None]:
    table = holidays.country_holidays(country)
    return (
        frozenset(table.weekend),
        tuple(table.supported_languages),
        getattr(table, "default_language", None),
    )


def display_language(country: str, locale: str) -> str | None:
    """The holidays-package language closest to a segment's locale, if it has one."""
    _, supported, default = _country_facts(country)
    tag = locale.replace("-", "_")
    language = locale.split("-")[0]
    for candidate in (tag, language):
        if candidate in supported:
            return candidate
    for candidate in supported:
        if candidate.split("_")[0] == language:
            return candidate
    return default


def _split_names(name: str) -> list[str]:
    return [part.strip() for part in name.split(";") if part.strip()]


def name_matches(query: str, name: str) -> bool:
    """Whether a holiday name matches what a user wrote (case-insensitive, whole words)."""
    query = query.strip().lower()
    for part in _split_names(name):
        part = part.lower()
        if part == query or re.search(rf"(?<!\w){re.escape(query)}(?!\w)", part):
            return True
    return False


class DayTable:
    """Holidays, observances and weekends for one market over a span of years."""

    def __init__(
        self,
        country: str,
        subdivision: str | None,
        years: Iterable[int],
        observances: Iterable[Observance] = (),
        language: str | None = None,
    ) -> None:
        self.years = tuple(sorted(set(years)))
        self.weekend, supported, default = _country_facts(country)
        self.holidays = _country_holidays(country, subdivision, self.years, language)
        # Names in every language the package offers, so "Thanksgiving" or
        # "Ferragosto" is found whatever the country's own language is.
        search_languages = {
            default,
            language,
            *(lang for lang in supported if lang.startswith("en")),
        }
        self.search_names: dict[date, list[str]] = {}
        for search_language in search_languages:
            table = _country_holidays(country, subdivision, self.years, search_language)
            for day, name in table.items():
                self.search_names.setdefault(day, []).append(name)
        self.observances = tuple(observances)
        self.observance_days: dict[date, list[Observance]] = {}
        for observance in self.observances:
            for year in self.years:
                for day in observance.dates_in(year):
                    self.observance_days.setdefault(day, []).append(observance)

    def holiday(self, day: date) -> str | None:
        """The name of the holiday (public, or an observance counted as one) on `day`."""
        name = self.holidays.get(day)
        if name is not None:
            return name
        for observance in self.observance_days.get(day, ()):
            if observance.holiday:
                return observance.name
        return None

    def is_weekend(self, day: date) -> bool:
        """Whether `day` is a weekend day in this country (Fri+Sat in Algeria)."""
        return day.weekday() in self.weekend

    def is_business_day(self, day: date) -> bool:
        """Neither a weekend day nor a holiday."""
        return not self.is_weekend(day) and self.holiday(day) is None

    def next_business_day(self, day: date) -> date:
        """The first business day after `day`."""
        day += timedelta(days=1)
        for _ in range(366):
            if self.is_business_day(day):
                return day
            day += timedelta(days=1)
        raise ValueError("no business day within a year")

    def trigger_days(self, query: str) -> list[tuple[date, str]]:
        """Days whose holiday or observance matches `query`, with the name to show."""
        found: dict[date, str] = {}
        for day, observances in self.observance_days.items():
            for observance in observances:
                if name_matches(query, observance.name):
                    found[day] = observance.name
        scored = [
            (day, part, _match_strength(query, part))
            for day, names in self.search_names.items()
            if day not in found
            for name in names
            for part in _split_names(name)
            if _match_strength(query, part)
        ]
        # "Independence Day" means that holiday, not also "Juneteenth National
        # Independence Day": when some names match exactly, partial matches are dropped.
        strongest = max((strength for _, _, strength in scored), default=0)
        matches = [(day, part) for day, part, strength in scored if strength == strongest]
        plain = {(day, part) for day, part in matches if _base_name(part) == part}
        matched = set(matches)
        for day, part in matches:
            if (day - timedelta(days=1), part) in matched:
                continue  # a holiday of several days (Eid al-Fitr in Algeria) fires once
            base = _base_name(part)
            # A qualified duplicate ("Christmas Day (observed)") near the day itself is
            # the day off, not the holiday: the promotion goes on the holiday.
            if base != part and any(
                other == base and abs((other_day - day).days) <= 7 for other_day, other in plain
            ):
                continue
            found.setdefault(day, self.holidays.get(day, part))
        return sorted(found.items())


def _base_name(name: str) -> str:
    """A holiday name without a trailing qualifier such as "(observed)" or "(estimated)"."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", name).strip()


def _match_strength(query: str, name: str) -> int:
    """2 when `name` is `query` (ignoring case and a trailing qualifier), 1 when it
    contains it as whole words, 0 otherwise."""
    if _base_name(name).lower() == query.strip().lower():
        return 2
    return 1 if name_matches(query, name) else 0
