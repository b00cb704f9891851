"""What the runner will do with planned deliveries whose time has already passed.

`schedule` (and `schedule --dry-run`) says this before it changes anything, because a
post dated in the past is otherwise marked `missed` without a word. The prediction
follows the store and the runner exactly:

- `schedule` adds a delivery not yet stored, keeps (or updates) one stored as
  `scheduled` or `paused`, and revives one it cancelled itself; a delivery stored in
  any other state (published, in flight, failed, missed, cancelled by an operator) is
  history and is not counted.
- A new or kept delivery is `paused` when a pause rule (`socialsched pause`) covers
  it, or it was paused already: the runner leaves it alone until the rule is lifted,
  and time spent paused does not count against its grace.
- Its deadline is its planned time plus the post's `misfire_grace` (default
  `DEFAULT_MISFIRE_GRACE`, one hour); a post with `late = "publish"` has none. The
  runner's first pass marks `missed` every scheduled, never attempted delivery whose
  deadline is before now; it sends the rest at once, except those of a post with
  `requires_approval` that is not approved yet (they wait, and are missed at their
  deadline if still unapproved).

`past_deliveries` is the pure part: the plan, `now` and what the store holds in,
a `PastDeliveries` out. `past_report` reads the store and plans the past days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import select

from socialsched.calendar.model import Calendar, Delivery

if TYPE_CHECKING:
    from socialsched.store import Store

    from .planner import Planner

# Store states `schedule` keeps and updates; every other stored state is history.
_KEPT_STATES = ("scheduled", "paused")
# The actor `schedule` records: a delivery it cancelled itself comes back when planned.
_SCHEDULE_ACTOR = "schedule"
# Time zones reach UTC+14: a local day up to the UTC day after today may have begun.
_AHEAD = timedelta(days=1)


@attrs.frozen
class Stored:
    """What the store holds of one delivery (times in UTC)."""

    state: str
    actor: str | None
    utc: datetime
    grace_s: int | None
    deadline: datetime | None
    approved: bool
    attempts: int


@attrs.frozen
class PastDeliveries:
    """Planned deliveries already past at `now`, by what the runner will do with them.

    `missed`: past their deadline, marked missed by the runner's first pass.
    `late`: `late = "publish"`, published late (as soon as a runner runs).
    `within_grace`: still within their grace, sent at once by a running runner.
    `awaiting_approval`: need approval and have none yet: sent once approved, or
    missed at their deadline. `paused`: held by a pause rule until it is lifted.
    `deadline`: the earliest deadline among `within_grace` and `awaiting_approval`.
    """

    now: datetime
    missed: int = 0
    late: int = 0
    within_grace: int = 0
    awaiting_approval: int = 0
    paused: int = 0
    deadline: datetime | None = None

    @property
    def total(self) -> int:
        """Every past delivery `schedule` adds or keeps."""
        return self.missed + self.late + self.within_grace + self.awaiting_approval + self.paused

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (`schedule --format json` shows it as `past`)."""
        return {
            "now": _iso(self.now),
            "total": self.total,
            "missed": self.missed,
            "late": self.late,
            "within_grace": self.within_grace,
            "awaiting_approval": self.awaiting_approval,
            "paused": self.paused,
            "deadline": None if self.deadline is None else _iso(self.deadline),
        }

    def text(self) -> str | None:
        """The line `schedule` prints first, or None when nothing planned is past."""
        if not self.total:
            return None
        parts = []
        if self.missed:
            parts.append(
                f"{self.missed} will be marked missed (past their misfire grace)"
                if self.missed > 1
                else "1 will be marked missed (past its misfire grace)"
            )
        if self.late:
            parts.append(f'{self.late} will be published late (late = "publish")')
        if self.within_grace:
            are = "are still within their" if self.within_grace > 1 else "is still within its"
            parts.append(
                f"{self.within_grace} {are} grace and will go out at once when a runner runs"
            )
        if self.awaiting_approval:
            wait = "wait" if self.awaiting_approval > 1 else "waits"
            parts.append(
                f"{self.awaiting_approval} {wait} for approval (missed at the end of the "
                "grace if not approved by then)"
            )
        if self.paused:
            are = "are" if self.paused > 1 else "is"
            parts.append(f"{self.paused} {are} paused by a pause rule until it is lifted")
        deliveries = "delivery is" if self.total == 1 else "deliveries are"
        line = (
            f"{self.total} planned {deliveries} already past "
            f"(now {self.now:%Y-%m-%d %H:%M} UTC): {', '.join(parts)}"
        )
        if self.deadline is not None:
            line += f"; the first grace ends at {self.deadline:%Y-%m-%d %H:%M} UTC"
        return line


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def past_deliveries(
    calendar: Calendar,
    deliveries: Iterable[Delivery],
    now: datetime,
    stored: Mapping[str, Stored] | None = None,
    holds: Sequence[Any] = (),
    *,
    default_grace: timedelta | None = None,
) -> PastDeliveries:
    """What the runner will do with the deliveries of a plan already past at `now`,
    once `schedule` has reconciled the store (`stored`: what it holds now, by id;
    `holds`: the pause rules in force, each with `matches(row)`)."""
    if default_grace is None:
        from socialsched.store import DEFAULT_MISFIRE_GRACE

        default_grace = DEFAULT_MISFIRE_GRACE
    stored = stored or {}
    now = _utc(now)
    posts = {post.id: post for post in calendar.posts}
    counts = dict.fromkeys(("missed", "late", "within_grace", "awaiting_approval", "paused"), 0)
    first_deadline: datetime | None = None
    for delivery in deliveries:
        utc = _utc(delivery.utc)
        if utc >= now:
            continue
        post = posts[delivery.post]
        grace = None if post.late == "publish" else (post.misfire_grace or default_grace)
        deadline = None if grace is None else utc + grace
        old = stored.get(delivery.id)
        approved = False
        attempts = 0
        paused = False
        if old is not None:
            revived = old.state == "cancelled" and old.actor == _SCHEDULE_ACTOR
            if old.state not in _KEPT_STATES and not revived:
                continue  # history: published, in flight, failed, missed, cancelled
            approved = old.approved
            paused = old.state == "paused"
            grace_s = None if grace is None else int(grace.total_seconds())
            if old.state in _KEPT_STATES and old.utc == utc and old.grace_s == grace_s:
                # Unchanged: it keeps its deadline (later when it was paused and resumed)
                # and its attempts.
                deadline, attempts = old.deadline, old.attempts
        row = {
            "post": delivery.post,
            "segment": delivery.segment,
            "channel": delivery.channel,
            "tags": list(delivery.tags),
        }
        if paused or any(hold.matches(row) for hold in holds):
            counts["paused"] += 1
            continue
        if deadline is not None and deadline < now and attempts == 0:
            counts["missed"] += 1
            continue
        if post.requires_approval and not approved:
            counts["awaiting_approval"] += 1
        elif deadline is None:
            counts["late"] += 1
        else:
            counts["within_grace"] += 1
        if deadline is not None and deadline >= now:  # (a retry's may have passed)
            first_deadline = deadline if first_deadline is None else min(first_deadline, deadline)
    return PastDeliveries(now=now, deadline=first_deadline, **counts)


def stored_deliveries(store: Store, ids: Sequence[str]) -> dict[str, Stored]:
    """What `store` holds of the deliveries `ids` (unknown ids left out)."""
    from socialsched.store.common import _chunks
    from socialsched.store.tables import deliveries

    columns = (
        deliveries.c.id,
        deliveries.c.state,
        deliveries.c.state_actor,
        deliveries.c.utc,
        deliveries.c.grace_s,
        deliveries.c.deadline,
        deliveries.c.approved,
        deliveries.c.attempts,
    )
    found: dict[str, Stored] = {}
    with store.engine.connect() as connection:
        for chunk in _chunks(list(ids)):
            for row in connection.execute(select(*columns).where(deliveries.c.id.in_(chunk))):
                found[row.id] = Stored(
                    state=row.state,
                    actor=row.state_actor,
                    utc=_utc(row.utc),
                    grace_s=row.grace_s,
                    deadline=None if row.deadline is None else _utc(row.deadline),
                    approved=bool(row.approved),
                    attempts=row.attempts or 0,
                )
    return found


def past_report(
    store: Store, calendar: Calendar, planner: Planner, start: date, end: date
) -> PastDeliveries:
    """`past_deliveries` for `schedule` of [start, end] into `store`, at the store's
    time: plans only the local days that may hold a past instant (without rendering)."""
    now = _utc(store.now())
    last = min(end, now.date() + _AHEAD)
    if start > last:
        return PastDeliveries(now=now)
    past = [d for d in planner.plan(start, last, render=False) if _utc(d.utc) < now]
    stored = stored_deliveries(store, [d.id for d in past])
    return past_deliveries(calendar, past, now, stored, store.holds())


__all__ = ["PastDeliveries", "Stored", "past_deliveries", "past_report", "stored_deliveries"]
