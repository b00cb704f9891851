"""Scheduling a calendar into a store: plan it here, then hand the plan to the store.

The store receives plans and never plans: `Store.schedule` reconciles the store with
a plan the caller made, `Store.schedule_chunks` with one given chunk by chunk. This
module is the caller an app needs, the one `socialsched schedule` uses too:

```python
from socialsched.scheduling import schedule

with Store("outbox.db") as store:
    result = schedule(store, calendar, "2027-01-01", "2027-03-31")
```

`schedule` plans the range chunk by chunk (`Planner.plan_chunks`), so a range of years
takes the memory of one chunk, with a planner that reads what the store knows
(`planner_for`): the media it already holds, and the queued posts that went out, which
keep their slots (`queue_pins`).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from socialsched.planning.planner import Planner
from socialsched.planning.queue_plan import QueuePin, pin_rows_to_pins

if TYPE_CHECKING:
    from socialsched.calendar.model import Calendar

    from .store import ReconcileResult, Store


def queue_pins(store: Store, calendar: Calendar) -> list[QueuePin]:
    """The deliveries of `calendar`'s queued posts that went out (or are going out,
    failed, were missed, are in doubt) as `store` says, as pins for `Planner(pins=...)`:
    they keep their slots and the rest of the queue flows around them."""
    return pin_rows_to_pins(calendar, store.queue_pin_rows(calendar))


def planner_for(
    store: Store,
    calendar: Calendar,
    *,
    dry_run: bool = False,
    today: date | None = None,
    max_deliveries: int | None = None,
) -> Planner:
    """A `Planner` for scheduling `calendar` into `store`: it keeps media in the store
    (only in memory for a `dry_run`), and queued posts that went out keep their slots.
    `today` (default: the store's today) is the day a queue without a start begins."""
    return Planner(
        calendar,
        media_cache=store.media_cache(read_only=dry_run),
        max_deliveries=max_deliveries,
        today=today if today is not None else store.now().date(),
        pins=queue_pins(store, calendar),
    )


def schedule(
    store: Store,
    calendar: Calendar,
    start: date | str,
    end: date | str,
    *,
    actor: str = "schedule",
    dry_run: bool = False,
) -> ReconcileResult:
    """Plan `calendar` for local days [start, end] and reconcile `store` with the plan.

    New deliveries are added, moved ones get their new time, changed ones their new
    text, deliveries of this calendar in the range that are no longer planned are
    cancelled; published (and in-flight) ones are never touched. Running it twice
    changes nothing. The range is planned chunk by chunk (`Planner.plan_chunks`) and
    each chunk handed to `Store.schedule_chunks` as it is planned. `dry_run`: change
    nothing, and describe every change in the result's `changes`."""
    planner = planner_for(store, calendar, dry_run=dry_run)
    chunks = planner.plan_chunks(start, end)
    return store.schedule_chunks(calendar, chunks, actor=actor, dry_run=dry_run)


__all__ = ["planner_for", "queue_pins", "schedule"]
