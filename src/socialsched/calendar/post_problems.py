"""Problems found while planning a post (too long for a network, media a network
refuses or socialsched cannot read), located where the post was written.

`Calendar.post_origins` says where each post was written: the calendar file's
`[[post]]` line or a spreadsheet row. In the calendar file the problem points at the
line that names the media file or holds the `text` (or `template`) key; for a row, at
the row. Each message names the post once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from socialsched.errors import CalendarError, MediaError, PlanError, Problem, SocialschedError

from .locale_keys import line_in_post
from .model import Calendar, Channel, Post, Segment


class LocatedPlanError(PlanError, CalendarError):
    """A planning problem of one post, located at its file and line.

    A `PlanError` for callers of the planner, and a `CalendarError` holding the one
    `problem`, so the command line prints it as `FILE:LINE: error: MESSAGE` like the
    calendar's other problems."""

    def __init__(self, problem: Problem) -> None:
        CalendarError.__init__(self, [problem])
        self.problem = problem


class PostMediaError(MediaError):
    """A media file or URL of a post that cannot be used. `detail` says why without
    naming the post; `source` is the file or URL (None when unknown)."""

    def __init__(self, location: str, post: str, source: str | None, detail: str) -> None:
        super().__init__(f"{location}: {detail}")
        self.post = post
        self.source = source
        self.detail = detail


class PostLines:
    """Where posts were written, to the line: the calendar file is read once."""

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self._text: Sequence[str] | None = None
        self._read = False

    def where(
        self, post: str, source: str | None = None, key: str | None = None
    ) -> tuple[Path | None, int | None]:
        """(file, line) of post `post`: in the calendar file, the first line of its
        block naming media `source` (a path or URL), else holding `key`, else the
        `[[post]]` line; a spreadsheet row's line. (calendar file, None) for a post of
        a calendar built in Python."""
        origin = self.calendar.post_origins.get(post)
        if origin is None:
            return self.calendar.source, None
        file, line = origin
        text = self._calendar_text() if file == self.calendar.source else None
        if line is None or text is None:
            return file, line
        found = None
        if source is not None:
            name = source if "://" in source else os.path.basename(source)
            found = line_in_post(text, re.escape(name), line)
        if found is None and key is not None:
            found = line_in_post(text, rf"^\s*(?:{key}\s*[=.]|\[\[?\s*post\.{key}\b)", line)
        return file, found or line

    def location(self, post: str, source: str | None = None, key: str | None = None) -> str:
        """`FILE:LINE: post 'ID'` (as much of it as is known), to begin a message."""
        file, line = self.where(post, source, key)
        prefix = "" if file is None else f"{file}:{line}: " if line else f"{file}: "
        return f"{prefix}post {post!r}"

    def problem(
        self, post: Post, message: str, source: str | None = None, key: str | None = None
    ) -> Problem:
        """`message` (which names the post) as an error at the post's file and line."""
        file, line = self.where(post.id, source, key)
        return Problem(message, file=file, line=line)

    def _calendar_text(self) -> Sequence[str] | None:
        if not self._read:
            self._read = True
            source = self.calendar.source
            try:
                self._text = source.read_text(encoding="utf-8").splitlines() if source else None
            except (OSError, UnicodeDecodeError):
                self._text = None
        return self._text


def text_key(post: Post) -> str:
    """The key that holds a post's text: `template` or `text`."""
    return "template" if post.template is not None else "text"


def route_error(
    lines: PostLines,
    post: Post,
    segment: Segment,
    channel: Channel,
    error: SocialschedError,
    key: str = "media",
) -> LocatedPlanError:
    """`error` of a post's route as one located problem naming the post, segment and
    channel once; at the line naming the media file when the error is about one, else
    at `key`."""
    if isinstance(error, PostMediaError):
        detail, source = error.detail, error.source
    else:
        detail, source = str(error), None
    # Messages from the renderer or the media library may name the post (and the
    # segment) too, at the start or the end: the message below names them once.
    detail = detail.removeprefix(f"post {post.id!r}: ").removeprefix(f"post {post.id!r} ")
    rendering = f" rendering post {post.id!r} for segment {segment.name!r}"
    detail = detail.removesuffix(rendering).removesuffix(",")
    message = (
        f"post {post.id!r} for segment {segment.name!r} on channel {channel.name!r} "
        f"({channel.adapter}): {detail}"
    )
    return LocatedPlanError(lines.problem(post, message, source, key))


def joined(errors: Sequence[MediaError]) -> MediaError:
    """One error for the media errors of a route (each about one file): at the first
    file's line, every reason given."""
    first = errors[0]
    if len(errors) == 1 or not isinstance(first, PostMediaError):
        return first if len(errors) == 1 else MediaError("; ".join(map(str, errors)))
    details = [e.detail if isinstance(e, PostMediaError) else str(e) for e in errors]
    location = str(first).removesuffix(f": {first.detail}")
    return PostMediaError(location, first.post, first.source, "; ".join(details))


_KEY_IN_MESSAGE = re.compile(
    r"\b(timezone|time zone|locale|country|subdivision|schedule|quiet_hours|at|dates|date|start"
    r"|end|on_holiday|on_weekend|secrets|secret|text|template|late|misfire_grace|month|weekday"
    r"|nth|times|days|per_slot|evergreen|queue)\b"
)
# Messages say "time zone" and "secret 'token'"; the keys are spelled differently.
_KEY_ALIASES = {"time zone": "timezone", "secret": "secrets"}


def guess_key(message: str, given: dict[str, Any], cls: type | None = None) -> str | None:
    """The key of `given` (a table as written) that an error `message` is about, for
    the line to point at: a key the message names, or the first whose converter fails."""
    for match in _KEY_IN_MESSAGE.finditer(message):
        key = _KEY_ALIASES.get(match[1], match[1])
        if key in given:
            return key
    for key in given:  # attrs validators quote the field name
        if f"'{key}'" in message:
            return key
    return _failing_converter(cls, given) if cls is not None else None


def _failing_converter(cls: type, given: dict[str, Any]) -> str | None:
    """The first given key whose converter rejects its value (e.g. `circles = 5`)."""
    for field in attrs.fields(cls):
        if field.name in given and field.converter is not None:
            try:
                field.converter(given[field.name])
            except Exception:
                return field.name
    return None


__all__ = [
    "LocatedPlanError",
    "PostLines",
    "PostMediaError",
    "guess_key",
    "joined",
    "route_error",
    "text_key",
]
