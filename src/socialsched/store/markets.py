"""Each scheduled segment's market (IANA time zone, country), for engagement reports.

Reports group by country and by local hour in each segment's own time zone, which the
`deliveries` rows do not keep (only the UTC offset each was planned with):
`save_markets` records them per calendar and segment when a calendar is scheduled,
`markets` reads them back.
"""

from __future__ import annotations

import attrs
from sqlalchemy import Connection, Engine, select

from socialsched.calendar.model import Calendar

from .tables import segment_markets


@attrs.frozen
class Market:
    """A segment's market as last scheduled: its IANA time zone name and country code."""

    timezone: str
    country: str


def save_markets(connection: Connection, calendar: Calendar) -> None:
    """Record each segment's time zone and country for `calendar` (replacing what an
    earlier schedule recorded)."""
    table = segment_markets
    connection.execute(table.delete().where(table.c.calendar == calendar.name))
    rows = [
        {
            "calendar": calendar.name,
            "segment": segment.name,
            "timezone": segment.timezone.key,
            "country": segment.country,
        }
        for segment in calendar.segments
    ]
    if rows:
        connection.execute(table.insert(), rows)


def markets(engine: Engine) -> dict[tuple[str, str], Market]:
    """Each (calendar, segment)'s market as last scheduled."""
    with engine.connect() as connection:
        return {
            (row.calendar, row.segment): Market(timezone=row.timezone, country=row.country)
            for row in connection.execute(select(segment_markets))
        }


__all__ = ["Market", "markets", "save_markets"]
