"""What `socialsched queue show` prints: each queue's slots with the posts that fill
them. It plans (it asks a `Planner` for its queue planner), so it sits above both the
planner and the queue planner (`queue_plan`), which the planner uses."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from socialsched.calendar.model import Calendar
from socialsched.errors import PlanError

from .planner import Planner
from .queue_plan import QueuePin, QueueSlot


def show(
    calendar: Calendar,
    start: date,
    end: date,
    *,
    segments: Iterable[str] | None = None,
    queues: Iterable[str] | None = None,
    today: date | None = None,
    pins: Iterable[QueuePin] = (),
) -> list[QueueSlot]:
    """Each queue's slots in local days [start, end] for each segment and channel its
    posts go to, with the posts that fill them; raises `PlanError` for an unknown
    segment or queue name."""
    known_segments = [segment.name for segment in calendar.segments]
    wanted = list(segments) if segments is not None else known_segments
    for name in wanted:
        if name not in known_segments:
            raise PlanError(f"unknown segment {name!r} (known: {', '.join(known_segments)})")
    known_queues = [queue.name for queue in calendar.queues]
    chosen = list(queues) if queues is not None else known_queues
    for name in chosen:
        if name not in known_queues:
            known = ", ".join(known_queues) or "none: add a [[queue]] table"
            raise PlanError(f"unknown queue {name!r} (known: {known})")
    planner = Planner(calendar, today=today, pins=pins)
    queue_planner = planner.queues
    shown: list[QueueSlot] = []
    for queue in (calendar.queue(name) for name in chosen):
        for segment in (calendar.segment(name) for name in wanted):
            channels = [
                channel
                for channel in calendar.channels
                if queue_planner.members(queue, segment, channel)
            ]
            if not channels:
                continue
            slots = queue_planner.slots(queue, segment, end)
            for channel in channels:
                placed: dict[datetime, list[tuple[str, int]]] = {}
                for placement in queue_planner.fill(queue, segment, channel, end):
                    placed.setdefault(placement.slot.utc, []).append(
                        (placement.post, placement.use)
                    )
                for slot in slots:
                    if start <= slot.local.date() <= end:
                        posts = tuple(placed.get(slot.utc, ()))
                        free = max(queue.per_slot - len(posts), 0)
                        shown.append(
                            QueueSlot(
                                queue.name, segment.name, channel.name, slot.local, slot.utc,
                                posts, free,
                            )
                        )  # fmt: skip
    return shown
