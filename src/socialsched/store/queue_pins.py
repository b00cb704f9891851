"""The queued deliveries that keep their slots: published, in flight or otherwise past
planning (failed, missed, in doubt). The planner keeps these posts where they went and
re-flows the rest of the queue around them (`socialsched.planning.queue_plan.pin_rows_to_pins`
turns these rows into its pins; `socialsched.scheduling.queue_pins` does both); the
store only reports them, it never plans."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from socialsched.calendar.model import Calendar

from .common import _aware, _chunks
from .core import StoreCore
from .tables import deliveries

#: States whose delivery keeps its slot: what reconcile treats as history, not plan.
PINNED_STATES = ("claimed", "published", "failed", "missed", "doubt")

#: A stored delivery that keeps its queue slot: (id, post, segment, channel, utc, local).
PinRow = tuple[str, str, str, str, datetime, datetime]


class QueuePins(StoreCore):
    """Reading the queued deliveries that keep their slots."""

    def queue_pin_rows(self, calendar: Calendar) -> list[PinRow]:
        """The deliveries of `calendar`'s queued posts that went out or are going out
        (or failed, were missed, are in doubt), as (id, post, segment, channel, utc,
        local) rows; `socialsched.planning.queue_plan.pin_rows_to_pins` makes them the pins of
        `Planner(pins=...)`."""
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
        rows: list[PinRow] = []
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
        return rows
