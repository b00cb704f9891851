"""Checking a calendar for every problem at once, plus warnings about cadence and topics."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path

from socialsched.calendar import occurrences
from socialsched.calendar.cadence import cadence_warnings
from socialsched.calendar.duplicates import duplicate_warnings, slot_warnings
from socialsched.calendar.holidays_table import name_matches
from socialsched.calendar.line_index import LineIndex
from socialsched.calendar.model import Calendar, Delivery
from socialsched.errors import CalendarError, Problem

from .calendar_load import load
from .planner import Planner
from .queue_plan import queue_warnings


def gap_warnings(
    calendar: Calendar, deliveries: Sequence[Delivery], start: date, end: date
) -> list[Problem]:
    """Segments left without a post for more than the calendar's `max_gap_days`."""
    if calendar.max_gap_days is None:
        return []
    limit = calendar.max_gap_days
    days_by_segment: dict[str, set[date]] = {s.name: set() for s in calendar.segments}
    for delivery in deliveries:
        days_by_segment[delivery.segment].add(delivery.local.date())
    warnings = []
    for segment, days in days_by_segment.items():
        # Fenceposts: the day before the range and the day after it, so a silent
        # start or end of the range counts as a gap too.
        marks = [start - timedelta(days=1), *sorted(days), end + timedelta(days=1)]
        for before, after in itertools.pairwise(marks):
            silent = (after - before).days - 1
            if silent > limit:
                first, last = before + timedelta(days=1), after - timedelta(days=1)
                warnings.append(
                    Problem(
                        f"segment {segment!r} has no post from {first} to {last} "
                        f"({silent} days; max_gap_days = {limit})",
                        severity="warning",
                        file=calendar.source,
                    )
                )
    return warnings


def holiday_reference_problems(
    calendar: Calendar, planner: Planner, years: Sequence[int]
) -> list[Problem]:
    """Holiday-triggered posts whose `on_holidays` name matches nothing in any of their
    segments: such a post would silently never go out (usually a typo)."""
    lines = _line_index(calendar)
    problems = []
    for index, post in enumerate(calendar.posts):
        segments = calendar.segments_for(post)
        if not segments:
            continue
        for query in post.on_holidays:
            if any(
                name_matches(query, observance.name)
                for observance in calendar.observances
                if any(observance.applies_to(segment) for segment in segments)
            ):
                continue
            if any(planner.day_table(segment, years).trigger_days(query) for segment in segments):
                continue
            countries = ", ".join(sorted({segment.country for segment in segments}))
            problems.append(
                Problem(
                    f"post {post.id!r}: on_holidays {query!r} matches no public holiday of "
                    f"{countries} in {years[0]}-{years[-1]} and no observance",
                    file=calendar.source,
                    line=lines.line("post", index, "on_holidays") if lines else None,
                )
            )
    return problems


def alt_text_warnings(calendar: Calendar) -> list[Problem]:
    """Media with no alt text: screen-reader users on Mastodon, Bluesky and elsewhere
    get nothing from them."""
    lines = _line_index(calendar)
    warnings = []
    for index, post in enumerate(calendar.posts):
        lists = post.media.values() if isinstance(post.media, Mapping) else [post.media]
        for item in (item for items in lists for item in items):
            if item.alt:
                continue
            line = None
            file, row_line = calendar.post_origins.get(post.id, (calendar.source, None))
            if file != calendar.source:  # a row of a posts_from data file
                line = row_line
            elif lines is not None:
                raw = item.url or Path(item.source).name
                line = lines.find(raw, lines.line("post", index, "media"))
            warnings.append(
                Problem(
                    f'post {post.id!r}: {item.source} has no alt text (add alt = "...": '
                    "screen-reader users get nothing from media without it)",
                    severity="warning",
                    file=file,
                    line=line,
                )
            )
    return warnings


def _at_origin(problem: Problem, calendar: Calendar) -> Problem:
    """A planner problem located where its post was written (a `[[post]]` table or a
    row of a `posts_from` file), else at the calendar file."""
    where = problem.where or ""
    post = where[6:-1] if where.startswith("post '") else ""
    file, line = calendar.post_origins.get(post, (calendar.source, problem.line))
    return Problem(problem.message, problem.severity, file, line, problem.where)


def _line_index(calendar: Calendar) -> LineIndex | None:
    if calendar.source is None:
        return None
    try:
        return LineIndex(calendar.source.read_text(encoding="utf-8"))
    except OSError:
        return None


def lint(source: str | Path | Calendar, start: date, end: date) -> list[Problem]:
    """Every problem in a calendar (file or object): errors first, then warnings."""
    problems: list[Problem] = []
    if isinstance(source, Calendar):
        calendar = source
    else:
        try:
            calendar = load(source)
        except CalendarError as error:
            return list(error.problems)
    planner = Planner(calendar)
    deliveries = planner.plan(start, end, problems=problems)
    problems = [p if p.file else _at_origin(p, calendar) for p in problems]
    for exclusion in planner.exclusions:
        problems.append(
            Problem(
                f"post {exclusion.post!r} is not planned for segment {exclusion.segment!r}: "
                f"its topics {', '.join(exclusion.topics)} are in the segment's avoid_topics",
                severity="warning",
                file=calendar.source,
            )
        )
    years = tuple(range(start.year - 1, end.year + 2))
    problems.extend(holiday_reference_problems(calendar, planner, years))
    problems.extend(gap_warnings(calendar, deliveries, start, end))
    problems.extend(cadence_warnings(calendar, deliveries))
    problems.extend(duplicate_warnings(calendar, deliveries))
    problems.extend(slot_warnings(calendar, deliveries))
    problems.extend(queue_warnings(calendar, planner.queues))
    problems.extend(alt_text_warnings(calendar))
    problems.extend(occurrences.alt_text_warnings(calendar))
    return sorted(problems, key=lambda p: p.severity != "error")
