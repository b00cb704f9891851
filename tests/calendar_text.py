"""Pieces of calendar TOML that many tests write: the one segment "uk" and a post due
at a given minute. Each returns its table's lines without a trailing newline, to be
put in a calendar's text where the table would be written out. Also: writing a calendar
file into a test's project folder, and finding the line a problem should name."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


def uk_segment(timezone: str = "UTC") -> str:
    """A `[[segment]]` table: "uk", en-GB, in GB, on `timezone`."""
    return f"""[[segment]]
name = "uk"
locale = "en-GB"
timezone = "{timezone}"
country = "GB\""""


def post_due(due: datetime, post: str = "hello", text: str = "Hello") -> str:
    """A `[[post]]` table: post `post` saying `text`, once, at the minute of `due`."""
    return f"""[[post]]
id = "{post}"
text = "{text}"
dates = ["{due:%Y-%m-%d}"]
at = "{due:%H:%M}\""""


def numbered_segments(count: int) -> list[str]:
    """`count` `[[segment]]` tables, "s0", "s1", ... (en-GB, in GB, on UTC), each
    ending in a newline."""
    return [
        f'[[segment]]\nname = "s{index}"\nlocale = "en-GB"\ntimezone = "UTC"\ncountry = "GB"\n'
        for index in range(count)
    ]


def numbered_posts(count: int, due: datetime) -> list[str]:
    """`count` `[[post]]` tables, "p0", "p1", ..., each once at the minute of `due`, its
    text naming the post and the segment; each ends in a newline."""
    return [
        f'[[post]]\nid = "p{index}"\ntext = "post {index} for {{{{ segment.name }}}}"\n'
        f'dates = ["{due:%Y-%m-%d}"]\nat = "{due:%H:%M}"\n'
        for index in range(count)
    ]


def write_calendar(folder: Path, text: str, files: dict[str, bytes] | None = None) -> Path:
    """`folder`/calendar.toml holding `text`, beside `files` (name -> bytes)."""
    for name, data in (files or {}).items():
        (folder / name).write_bytes(data)
    path = folder / "calendar.toml"
    path.write_text(text, encoding="utf-8")
    return path


def only_line_of(path: Path, needle: str) -> int:
    """The number of the one line of `path` that contains `needle` (fails unless
    exactly one does)."""
    (number,) = [n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return number
