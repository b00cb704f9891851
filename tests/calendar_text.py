"""Pieces of calendar TOML that many tests write: the one segment "uk" and a post due
at a given minute. Each returns its table's lines without a trailing newline, to be
put in a calendar's text where the table would be written out."""

from __future__ import annotations

from datetime import datetime


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
