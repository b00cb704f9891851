"""Finite series with exceptions: `count`, `skip` and `[[post.occurrence]]` on a
`schedule` post.

A series' occurrences are its cron's own times in each segment's local time, from
`start`, *before* any holiday, weekend or quiet-hour move, so every segment has the
same occurrence dates:

- `count = N` keeps the first N occurrences from `start` (which it requires); with
  `end` too, the series stops at whichever comes first. Every occurrence counts,
  including those on `skip` dates and those `on_holiday = "skip"` or
  `on_weekend = "skip"` drops: a six-week series stays six weeks long.
- `skip` lists local dates with no occurrence.
- an `Occurrence` (`[[post.occurrence]]`) changes the occurrence(s) of one cron date:
  its local time (`at`, on the same date: moves still apply after), its `text`,
  `media` or `channels`.

An occurrence keeps its slot key (its cron date and index of the day), whatever is
changed about it, so its delivery keeps its id: editing one occurrence updates that
delivery alone.
"""

from __future__ import annotations

import bisect
import contextlib
import difflib
import functools
import re
from collections.abc import Mapping
from datetime import date, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from socialsched.errors import Problem
from socialsched.media.model import MediaSpec, media_spec

from .cron import Cron
from .line_index import LineIndex
from .locale_keys import text_value
from .values import parse_clock, string_tuple, to_date

if TYPE_CHECKING:
    from .model import Calendar, Post

#: How far ahead counting looks for the occurrences of a cron that seldom fires.
SEARCH_DAYS = 100 * 366
#: What a post is a series by: keys that go only with `schedule`.
SERIES_KEYS = ("count", "skip", "occurrence")


def _optional_clock(value: Any) -> time | None:
    return None if value is None else parse_clock(value)


def _optional_media(value: Any) -> MediaSpec | None:
    return None if value is None else media_spec(value)


def _optional_channels(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    channels = string_tuple(value)
    if not channels:
        # An empty list would read as "every channel", the opposite of what it says.
        raise ValueError("channels must name at least one channel (to drop it, use skip)")
    return channels


@attrs.frozen
class Occurrence:
    """A change to one occurrence of a series: the occurrence(s) its cron gives on
    local date `date`, which keep their delivery ids.

    `at` moves it to another local time of the same date (only where the cron gives
    one time that day); `text` (a string or a table keyed by locale), `media` and
    `channels` replace the post's for this occurrence only.
    """

    date: date = attrs.field(converter=to_date)
    at: time | None = attrs.field(default=None, converter=_optional_clock)
    text: str | Mapping[str, str] | None = attrs.field(default=None, converter=text_value)
    media: MediaSpec | None = attrs.field(default=None, converter=_optional_media)
    channels: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_channels)

    @property
    def changes_content(self) -> bool:
        """Whether it changes what goes out or where (text, media, channels), not
        only when."""
        return self.text is not None or self.media is not None or self.channels is not None


OCCURRENCE_KEYS = tuple(field.name for field in attrs.fields(Occurrence))


def occurrences(value: Any) -> tuple[Occurrence, ...]:
    """A post's `occurrence` from `Occurrence`s or tables of their keys."""
    if value is None:
        return ()
    if isinstance(value, Occurrence | Mapping):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ValueError("occurrence must be a list of tables, written [[post.occurrence]]")
    return tuple(item if isinstance(item, Occurrence) else Occurrence(**item) for item in value)


class SeriesError(ValueError):
    """A series that cannot be: says which key (and which occurrence) is wrong."""

    def __init__(self, message: str, key: str, occurrence: int | None = None) -> None:
        super().__init__(message)
        self.key = key
        #: The index of the occurrence (in the post's `occurrence`) the error is about.
        self.occurrence = occurrence


def is_series(post: Post) -> bool:
    """Whether `post` uses `count`, `skip` or `occurrence`."""
    return post.count is not None or bool(post.skip) or bool(post.occurrence)


@functools.lru_cache(maxsize=1024)
def last_occurrence(
    cron: Cron, start: date, end: date | None, count: int
) -> tuple[date, int] | None:
    """(local date, index within the day) of the `count`-th occurrence of `cron` from
    `start`; None when there are fewer by `end` (or within `SEARCH_DAYS`)."""
    stop = start + timedelta(days=min(SEARCH_DAYS, (date.max - start).days))
    stop = min(stop, end) if end else stop
    seen, day = 0, start
    while True:
        times = len(cron.times_on(day))
        if seen + times >= count:
            return day, count - seen - 1
        if day >= stop:
            return None
        seen += times
        day += timedelta(days=1)


def _last_day(post: Post) -> date | None:
    """The last local date of the series: `end`, or the `count`-th occurrence's."""
    if post.count is None or post.cron is None or post.start is None:
        return post.end
    last = last_occurrence(post.cron, post.start, post.end, post.count)
    return last[0] if last is not None else post.end


def is_occurrence(post: Post, day: date) -> bool:
    """Whether the post's cron gives it an occurrence on local date `day` (skipped or
    not), within `start`, `end` and `count`."""
    if post.cron is None or not post.cron.times_on(day):
        return False
    last = _last_day(post)
    return (post.start is None or post.start <= day) and (last is None or day <= last)


def _span(post: Post) -> str:
    first, last = post.start, _last_day(post)
    if first and last:
        return f" from {first} to {last}"
    return f" from {first}" if first else f" up to {last}" if last else ""


def _not_an_occurrence(post: Post, day: date) -> str:
    return f"{day} ({day:%A}) is not an occurrence of schedule {post.schedule!r}{_span(post)}"


def check(post: Post) -> None:
    """Raise `SeriesError` when the post's `count`, `skip` or `occurrence` cannot be
    (called by `Post` on construction)."""
    where = f"post {post.id!r}"
    if post.cron is None:
        key = next(k for k in SERIES_KEYS if getattr(post, k) not in (None, ()))
        raise SeriesError(
            f"{where}: {key} goes only with schedule (a cron): a series is the cron's "
            "occurrences; with dates, list the days you want",
            key,
        )
    count = post.count
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise SeriesError(
                f"{where}: count = {count!r}: must be a whole number, 1 or more", "count"
            )
        if post.start is None:
            raise SeriesError(
                f"{where}: count needs start = 'YYYY-MM-DD', the day counting begins", "count"
            )
    for day in post.skip:
        if not is_occurrence(post, day):
            raise SeriesError(f"{where}: skip date {_not_an_occurrence(post, day)}", "skip")
    seen: set[date] = set()
    for index, change in enumerate(post.occurrence):
        day = change.date
        problem = None
        if day in seen:
            problem = f"a second [[post.occurrence]] for {day}: change each date once"
        elif not is_occurrence(post, day):
            problem = f"occurrence date {_not_an_occurrence(post, day)}"
        elif day in post.skip:
            problem = f"occurrence date {day} is also in skip: drop one of them"
        elif change.at is not None and len(post.cron.times_on(day)) > 1:
            times = ", ".join(f"{t:%H:%M}" for t in post.cron.times_on(day))
            problem = (
                f"occurrence {day} has at = '{change.at:%H:%M}' but the schedule gives "
                f"{times} that day: at would put them at one time"
            )
        seen.add(day)
        if problem is not None:
            key = "at" if problem.startswith("occurrence ") and "has at" in problem else "date"
            raise SeriesError(f"{where}: {problem}", key, index)


# Loading: [[post.occurrence]] tables, with the line of each problem.


def occurrence_line(
    lines: LineIndex, post_index: int, occurrence: int, key: str | None = None
) -> int | None:
    """The line of `key` (or the header) of the post's `occurrence`-th
    `[[post.occurrence]]` table; the post's line when it was written otherwise."""
    posts = sorted(line for (table, _), line in lines.blocks.items() if table == "post")
    mine = [
        index
        for (table, index), line in sorted(lines.blocks.items(), key=lambda item: item[1])
        if table == "post.occurrence" and bisect.bisect_left(posts, line) - 1 == post_index
    ]
    if occurrence < len(mine):
        return lines.line("post.occurrence", mine[occurrence], key)
    return lines.line("post", post_index, "occurrence")


def prepare(raw: Any, index: int, path: Path, lines: LineIndex, problems: list[Problem]) -> Any:
    """A `[[post]]` table with its `[[post.occurrence]]` tables built into
    `Occurrence`s; each bad one (unknown key, bad value, no date) is a problem on its
    line and left out."""
    if not isinstance(raw, dict) or "occurrence" not in raw:
        return raw
    where = f"post {raw.get('id')!r}"
    items = raw["occurrence"]
    built: list[Occurrence] = []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        line = lines.line("post", index, "occurrence")
        message = "occurrence must be tables, written [[post.occurrence]] with date = YYYY-MM-DD"
        problems.append(Problem(message, file=path, line=line, where=where))
        return {**raw, "occurrence": ()}
    for number, item in enumerate(items):
        problem = _occurrence_problem(item)
        if problem is None:
            built.append(Occurrence(**item))
            continue
        message, key = problem
        line = occurrence_line(lines, index, number, key)
        problems.append(Problem(message, file=path, line=line, where=where))
    return {**raw, "occurrence": tuple(built)}


def _occurrence_problem(item: dict[str, Any]) -> tuple[str, str | None] | None:
    """(message, key) of what is wrong with one `[[post.occurrence]]` table."""
    for key in sorted(set(item) - set(OCCURRENCE_KEYS)):
        close = difflib.get_close_matches(key, OCCURRENCE_KEYS, n=1, cutoff=0.7)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (
            f"unknown key {key!r} in [[post.occurrence]]{hint}; allowed: "
            f"{', '.join(sorted(OCCURRENCE_KEYS))}"
        ), key
    if "date" not in item:
        return "[[post.occurrence]] needs date = YYYY-MM-DD, the occurrence's local date", None
    for field in attrs.fields(Occurrence):
        if field.name in item and field.converter is not None:
            try:
                field.converter(item[field.name])  # type: ignore[operator]
            except (TypeError, ValueError) as error:
                message = str(error)
                if not message.startswith(field.name):
                    message = f"{field.name}: {message}"
                return f"[[post.occurrence]] {message}", field.name
    return None


def located(error: SeriesError, index: int, path: Path, lines: LineIndex, where: str) -> Problem:
    """`error` (raised building post number `index`) as a problem on its line."""
    if error.occurrence is not None:
        line = occurrence_line(lines, index, error.occurrence, error.key)
    else:
        line = lines.line("post", index, error.key)
    message = str(error).removeprefix(f"{where}: ")
    return Problem(message, file=path, line=line, where=where)


def where_line(lines: LineIndex, post_index: int, tail: str) -> int | None:
    """The line a problem's `where` of `post[N].occurrence[J].KEY` points at, given
    N and the tail `[J].KEY`."""
    match = re.fullmatch(r"\[(\d+)\](?:\.(\w+))?", tail)
    return occurrence_line(lines, post_index, int(match[1]), match[2]) if match else None


def reference_problems(index: int, post: Any, channel_names: set[str]) -> list[Problem]:
    """Channels a post's changed occurrences name that the calendar has not."""
    problems = []
    for number, change in enumerate(getattr(post, "occurrence", ())):
        for name in change.channels or ():
            if name not in channel_names:
                known = f" (known: {', '.join(sorted(channel_names))})" if channel_names else ""
                problems.append(
                    Problem(
                        f"post {post.id!r}: occurrence {change.date} names unknown channel "
                        f"{name!r}{known}",
                        where=f"post[{index}].occurrence[{number}].channels",
                    )
                )
    return problems


def alt_text_warnings(calendar: Calendar) -> list[Problem]:
    """Changed occurrences' media with no alt text, as `lint` warns of a post's."""
    lines = None
    if calendar.source is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            lines = LineIndex(calendar.source.read_text(encoding="utf-8"))
    # Posts of `posts_from` data files have no [[post]] table: count the file's only.
    in_file = [
        post
        for post in calendar.posts
        if calendar.post_origins.get(post.id, (calendar.source,))[0] == calendar.source
    ]
    warnings = []
    for index, post in enumerate(in_file):
        for number, change in enumerate(post.occurrence):
            media = change.media or ()
            lists = media.values() if isinstance(media, Mapping) else [media]
            for item in (item for items in lists for item in items):
                if item.alt:
                    continue
                line = None
                if lines is not None:
                    start = occurrence_line(lines, index, number, "media")
                    line = lines.find(item.url or Path(item.source).name, start)
                warnings.append(
                    Problem(
                        f"post {post.id!r} occurrence {change.date}: {item.source} has no alt "
                        'text (add alt = "...": screen-reader users get nothing from media '
                        "without it)",
                        severity="warning",
                        file=calendar.source,
                        line=line,
                    )
                )
    return warnings
