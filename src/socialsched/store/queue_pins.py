"""The queued deliveries that keep their slots: published, in flight or otherwise past
planning (failed, missed, in doubt). The planner keeps these posts where they went and
re-flows the rest of the queue around them (`socialsched.queue_plan`); the store only
reports them, it never plans."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ..model import Calendar
from ..queue_plan import QueuePin, pin_rows_to_pins
from ..tables import deliveries
from .common import _aware, _chunks
from .core import StoreCore

#: States whose delivery keeps its slot: what reconcile treats as history, not plan.
PINNED_STATES = ("claimed", "published", "failed", "missed", "doubt")


class QueuePins(StoreCore):
    """Reading the queued deliveries that keep their slots."""

    def queue_pins(self, calendar: Calendar) -> list[QueuePin]:
        """The deliveries of `calendar`'s queued posts that went out or are going out
        (or failed, were missed, are in doubt), with the queue slot key each was planned
        with, for `Planner(pins=...)`."""
        queued = sorted(post.id for post in calendar.posts if post.queue is not None)
        if not queued:
            return []
        columns = (
            deliveries.c.id,
            deliveries.c.post,
            deliveries.c.segment,
            deliveries.c.channel,
            deliveries.c.utc,
            deliveries.c.local,
        )
        rows: list[tuple[str, str, str, str, datetime, datetime]] = []
        with self.engine.connect() as connection:
            for chunk in _chunks(queued):
                query = select(*columns).where(
                    deliveries.c.calendar == calendar.name,
                    deliveries.c.post.in_(chunk),
                    deliveries.c.state.in_(PINNED_STATES),
                )
                for row in connection.execute(query):
                    utc = _aware(row.utc)
                    assert utc is not None
                    local = datetime.fromisoformat(row.local)
                    rows.append((row.id, row.post, row.segment, row.channel, utc, local))
        return pin_rows_to_pins(calendar, rows)
