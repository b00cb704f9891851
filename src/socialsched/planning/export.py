"""Writing a plan as an iCalendar file, one VEVENT per delivery with a stable UID."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import icalendar

from socialsched.calendar.model import Delivery
from socialsched.version import __version__


def to_ics(deliveries: Iterable[Delivery], name: str, stamp: datetime | None = None) -> bytes:
    """The deliveries as an iCalendar document (RFC 5545)."""
    document = icalendar.Calendar()
    document.add("prodid", f"-//socialsched//socialsched {__version__}//EN")
    document.add("version", "2.0")
    document.add("x-wr-calname", name)
    stamp = stamp or datetime.now(UTC).replace(microsecond=0)
    for delivery in deliveries:
        event = icalendar.Event()
        event.add("uid", f"{delivery.id}@socialsched")
        event.add("dtstamp", stamp)
        event.add("dtstart", delivery.utc)
        event.add("dtend", delivery.utc + timedelta(minutes=15))
        event.add("summary", f"{delivery.post} -> {delivery.segment} ({delivery.channel})")
        description = delivery.text or ""
        if delivery.reason:
            description += (
                f"\n\nMoved from {delivery.shifted_from:%Y-%m-%d %H:%M} ({delivery.reason})"
            )
        if delivery.media:
            names = ", ".join(media.filename or media.digest[:12] for media in delivery.media)
            description += f"\n\nMedia: {names}"
        if delivery.parts:
            description += f"\n\nThread of {len(delivery.parts)} parts"
        event.add("description", description)
        event.add("categories", [delivery.segment, delivery.channel, *delivery.tags])
        document.add_component(event)
    return document.to_ical()
