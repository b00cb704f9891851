"""`Store`, the one public face of the durable outbox, composed of the parts that
each own one responsibility."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date

import attrs

from ..model import Calendar, Delivery
from ..planner import PlanChunk, Planner
from ..plans import Plan
from .approvals import Approvals
from .engagement import EngagementStore
from .operator import Operations
from .queue_pins import QueuePins
from .reconcile import Reconciliation
from .records import ReconcileResult
from .worker import WorkerProtocol


class Store(Reconciliation, Operations, WorkerProtocol, Approvals, QueuePins, EngagementStore):
    """The outbox of deliveries and its activity log, in SQLite or PostgreSQL.

    `db` is a SQLAlchemy URL or an SQLite file path (default: $SOCIALSCHED_DB, else
    ./socialsched.db). `clock` returns the current time (aware UTC); tests inject one.
    `schema` (PostgreSQL only) puts every table in that schema, created if missing.
    """

    def schedule(
        self,
        calendar: Calendar,
        start: date | str,
        end: date | str,
        *,
        planned: Sequence[Delivery] | None = None,
        actor: str = "schedule",
        dry_run: bool = False,
    ) -> ReconcileResult:
        """Plan `calendar` for local days [start, end] and reconcile the store with it.

        New deliveries are added, moved ones get their new time, changed ones their new
        text, deliveries of this calendar in the range that are no longer planned are
        cancelled; published (and in-flight) ones are never touched. Running it twice
        changes nothing. `planned` is the plan of that range when the caller has it
        (e.g. a `Plan`); otherwise the range is planned here, chunk by chunk
        (`Planner.plan_chunks`), so that a range of years takes the memory of one chunk.
        `dry_run`: reconcile in a transaction that is rolled back, so nothing changes,
        and describe every change in the result's `changes`."""
        if planned is not None:
            return self.reconcile(calendar, start, end, planned, actor=actor, dry_run=dry_run)
        # Queued posts that went out keep their slots; a queue without a start begins
        # on the store's today.
        planner = Planner(
            calendar,
            media_cache=self.media_cache(read_only=dry_run),
            today=self.now().date(),
            pins=self.queue_pins(calendar),
        )
        return self.schedule_chunks(
            calendar, planner.plan_chunks(start, end), actor=actor, dry_run=dry_run
        )

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
    if isinstance(planned, Plan):
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
