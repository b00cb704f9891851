"""`Store`, the one public face of the durable outbox, composed of the parts that
each own one responsibility.

The store receives plans and never plans: the caller plans (`socialsched.scheduling`
for an app, `socialsched schedule` on the command line) and hands the plan, or its
chunks, to `Store.schedule` or `Store.schedule_chunks`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING

import attrs

from socialsched.calendar.model import Calendar, Delivery

from .approvals import Approvals
from .engagement import EngagementStore
from .operator import Operations
from .queue_pins import QueuePins
from .reconcile import Reconciliation
from .records import ReconcileResult
from .rows import RoutedPlan
from .worker import WorkerProtocol

if TYPE_CHECKING:
    from socialsched.planning.planner import PlanChunk


class Store(Reconciliation, Operations, WorkerProtocol, Approvals, QueuePins, EngagementStore):
    """The outbox of deliveries and its activity log, in SQLite or PostgreSQL.

    `db` is a SQLAlchemy URL or an SQLite file path (default: $SOCIALSCHED_DB, else
    ./socialsched.db). `clock` returns the current time (aware UTC); tests inject one.
    `schema` (PostgreSQL only) puts every table in that schema, created if missing.

    To plan a calendar and schedule it in one call, use
    `socialsched.scheduling.schedule(store, calendar, start, end)`.
    """

    def schedule(
        self,
        calendar: Calendar,
        start: date | str,
        end: date | str,
        planned: Sequence[Delivery],
        *,
        actor: str = "schedule",
        dry_run: bool = False,
    ) -> ReconcileResult:
        """Reconcile the store with `planned`, the caller's plan of `calendar` for local
        days [start, end] (a `Plan`, e.g. `Planner(calendar).plan(start, end)`, or any
        deliveries).

        New deliveries are added, moved ones get their new time, changed ones their new
        text, deliveries of this calendar in the range that are no longer planned are
        cancelled; published (and in-flight) ones are never touched. Running it twice
        changes nothing. The store never plans: for a long range, hand the plan chunk by
        chunk to `schedule_chunks`, or let `socialsched.scheduling.schedule` plan and
        schedule it. `dry_run`: reconcile in a transaction that is rolled back, so
        nothing changes, and describe every change in the result's `changes`."""
        return self.reconcile(calendar, start, end, planned, actor=actor, dry_run=dry_run)

    def schedule_chunks(
        self,
        calendar: Calendar,
        chunks: Iterable[PlanChunk],
        *,
        actor: str = "schedule",
        dry_run: bool = False,
    ) -> ReconcileResult:
        """Reconcile the store with a plan given chunk by chunk, as
        `Planner.plan_chunks` gives it, one chunk at a time; the result sums them.

        A delivery moved across the border of two chunks (a holiday move, quiet hours)
        is moved, not cancelled in one chunk and added back in the next: each chunk is
        reconciled knowing the ids its neighbours plan."""
        result = ReconcileResult(dry_run=dry_run)
        # The ids of the chunk before, of this one and of the next, each hashed once.
        before: frozenset[str] = frozenset()
        current: frozenset[str] | None = None
        for chunk, after in _with_next(iter(chunks)):
            if current is None:
                current = _ids(chunk.plan)
            following = _ids(after.plan) if after is not None else frozenset()
            found = self.reconcile(
                calendar,
                chunk.start,
                chunk.end,
                chunk.plan,
                actor=actor,
                dry_run=dry_run,
                keep=before | following,
            )
            result = _sum(result, found)
            before, current = current, following
        return result


def _with_next(chunks: Iterator[PlanChunk]) -> Iterator[tuple[PlanChunk, PlanChunk | None]]:
    """Each chunk with the one after it (None for the last), planning only one ahead."""
    current = next(chunks, None)
    while current is not None:
        following = next(chunks, None)
        yield current, following
        current = following


def _ids(planned: Sequence[Delivery]) -> frozenset[str]:
    if isinstance(planned, RoutedPlan):
        return frozenset(key for route in planned.routes for key in route.delivery_ids())
    return frozenset(delivery.id for delivery in planned)


def _sum(total: ReconcileResult, part: ReconcileResult) -> ReconcileResult:
    return attrs.evolve(
        total,
        added=total.added + part.added,
        moved=total.moved + part.moved,
        updated=total.updated + part.updated,
        cancelled=total.cancelled + part.cancelled,
        unchanged=total.unchanged + part.unchanged,
        changes=total.changes + part.changes,
    )
