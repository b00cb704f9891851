"""Loading a calendar with its texts and templates checked: `socialsched.load`.

The calendar's loader (`socialsched.calendar.loader`) reads and validates the TOML into
the calendar's models; whether a text or template compiles is the template engine's to
say, and the engine belongs to planning (`render`). `load` here is the loader with that
check, the one the command line, `lint` and `socialsched.load` use."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from socialsched.calendar import loader
from socialsched.calendar.line_index import LineIndex
from socialsched.calendar.model import Calendar
from socialsched.calendar.occurrences import occurrence_line
from socialsched.calendar.post_sheets import Sheets
from socialsched.errors import Problem, RenderError

from .render import Renderer
from .series import check_texts


def load(path: str | Path, *, collect: list[Problem] | None = None) -> Calendar:
    """Load a calendar TOML file, its texts and templates checked.

    Raises `CalendarError` listing every problem (file, line, offending value). With
    `collect` given, problems are appended there too, so `lint` can report them all.
    """
    return loader.load(path, collect=collect, check_templates=check_templates)


def check_templates(
    calendar: Calendar, path: Path, lines: LineIndex, problems: list[Problem], sheets: Sheets
) -> None:
    """Append a problem, on its line, for each post's text or template, each changed
    occurrence's text and each media alt text that does not compile in a locale of the
    segments the post goes to."""
    renderer = Renderer(calendar)
    for index, post in enumerate(calendar.posts):
        for locale in sorted({segment.locale for segment in calendar.segments_for(post)}):
            try:
                renderer.check(post, locale)
            except RenderError as error:
                key = "template" if post.template else "text"
                line = lines.line("post", index, key)
                # A row of a data file is located at its file, row and column.
                problems.append(
                    sheets.problem(post, key, str(error))
                    or Problem(str(error), file=path, line=line)
                )
                break
        locales = sorted({segment.locale for segment in calendar.segments_for(post)})
        for number, message in check_texts(post, renderer, locales):
            line = occurrence_line(lines, index, number, "text")
            problems.append(Problem(message, file=path, line=line))
        items = post.media.values() if isinstance(post.media, Mapping) else [post.media]
        for item in (item for listed in items for item in listed):
            alts = [item.alt] if isinstance(item.alt, str) else list((item.alt or {}).values())
            for alt in alts:
                try:
                    renderer.check_inline(alt, f"post {post.id!r} media {item.source!r} alt")
                except RenderError as error:
                    first_line = (alt.splitlines() or [""])[0]
                    line = lines.find(first_line, lines.line("post", index, "media"))
                    problems.append(
                        sheets.problem(post, "media", str(error))
                        or Problem(str(error), file=path, line=line)
                    )
