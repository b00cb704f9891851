"""What operators do: pause and resume (holds), cancel, publish now, approve,
resolve deliveries in doubt.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import attrs
from sqlalchemy import (
    DateTime,
    and_,
    bindparam,
    func,
    select,
    update,
)

from .bulk import _later
from .common import StoreError
from .queries import Queries
from .records import RUNNER_ACTOR, Hold, Record
from .rows import _CHANNEL, _LOG_COLUMNS, _POST, _SEGMENT, _TAGS
from .tables import (
    deliveries,
    holds,
)


def _hold_view(row: tuple[Any, ...]) -> dict[str, Any]:
    """The fields of a planned row that pause rules (`Hold.matches`) look at."""
    return {
        "post": row[_POST],
        "segment": row[_SEGMENT],
        "channel": row[_CHANNEL],
        "tags": row[_TAGS],
    }


class Operations(Queries):
    """Operator transitions and pause rules."""

    def hold_channel(self, channel: str, *, reason: str, actor: str = RUNNER_ACTOR) -> int:
        """Pause every delivery of `channel` for `reason` (the runner does on rejected
        credentials), unless a pause of exactly that channel is already in force.
        Returns how many deliveries were paused; `resume(channel=...)` lifts it."""
        if Hold(channel=channel) in self.holds():
            return 0
        return self.pause(Hold(channel=channel), reason=reason, actor=actor)

    def pause(
        self,
        hold: Hold | None = None,
        *,
        reason: str | None = None,
        actor: str = "operator",
        **criteria: str | None,
    ) -> int:
        """Pause every not-yet-claimed delivery matching `hold` (or keyword criteria
        segment/channel/tag/post; none = everything), now and for ones scheduled later,
        until `resume`. Returns how many deliveries were paused."""
        hold = hold or Hold(**criteria)
        now = self.now()
        with self.engine.begin() as connection:
            connection.execute(
                holds.insert().values(**attrs.asdict(hold), reason=reason, actor=actor, at=now)
            )
            rows = connection.execute(
                update(deliveries)
                .where(deliveries.c.state == "scheduled", self._matching(hold))
                .values(state="paused", state_actor=actor, updated_at=now)
                .returning(*_LOG_COLUMNS)
            ).all()
            self._log(
                connection,
                [r._mapping for r in rows],
                "paused",
                actor,
                now,
                from_state="scheduled",
                reason=reason or f"pause {hold.describe()}",
            )
        return len(rows)

    def resume(
        self,
        hold: Hold | None = None,
        *,
        everything: bool = False,
        reason: str | None = None,
        actor: str = "operator",
        **criteria: str | None,
    ) -> int:
        """Lift the pause rule equal to `hold` (all rules with `everything`) and schedule
        again every paused delivery no remaining rule covers. Deliveries whose time passed
        while paused become due now and are not treated as missed."""
        hold = hold or Hold(**criteria)
        now = self.now()
        with self.engine.begin() as connection:
            lifted = holds.delete()
            if not everything:
                lifted = lifted.where(
                    *[
                        holds.c[name] == value if value is not None else holds.c[name].is_(None)
                        for name, value in attrs.asdict(hold).items()
                    ]
                )
            connection.execute(lifted)
            remaining = self._holds(connection)
            scope = deliveries.c.state == "paused"
            if not everything:
                scope = and_(scope, self._matching(hold))
            candidates = connection.execute(
                select(*_LOG_COLUMNS, deliveries.c.tags, deliveries.c.grace_s).where(scope)
            ).all()
            free = [r for r in candidates if not any(h.matches(r._mapping) for h in remaining)]
            changes = []
            for row in free:
                changes.append(
                    {
                        "b_id": row.id,
                        "b_now": now,
                        "b_deadline": now + timedelta(seconds=row.grace_s)
                        if row.grace_s is not None
                        else None,
                    }
                )
            if changes:
                connection.execute(
                    update(deliveries)
                    .where(deliveries.c.id == bindparam("b_id"), deliveries.c.state == "paused")
                    .values(
                        state="scheduled",
                        state_actor=actor,
                        updated_at=bindparam("b_now", type_=DateTime()),
                        # Time spent paused does not count against the misfire grace.
                        due=(func.greatest if self.is_postgresql else func.max)(
                            deliveries.c.due, bindparam("b_now", type_=DateTime())
                        ),
                        deadline=_later(self.is_postgresql),
                    ),
                    changes,
                )
            self._log(
                connection,
                [r._mapping for r in free],
                "scheduled",
                actor,
                now,
                from_state="paused",
                reason=reason or f"resume {'everything' if everything else hold.describe()}",
            )
        return len(free)

    def _transition(
        self,
        delivery_id: str,
        allowed: Sequence[str],
        to_state: str,
        actor: str,
        reason: str | None,
        **values: Any,
    ) -> Record:
        now = self.now()
        with self.engine.begin() as connection:
            current = connection.execute(
                select(deliveries).where(deliveries.c.id == delivery_id)
            ).first()
            if current is None:
                raise StoreError(f"no delivery with id {delivery_id!r}")
            if current.state not in allowed:
                raise StoreError(
                    f"delivery {delivery_id} is {current.state}; this needs it to be "
                    f"{' or '.join(allowed)}"
                )
            connection.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(state=to_state, state_actor=actor, updated_at=now, **values)
            )
            self._log(
                connection,
                [current._mapping],
                to_state,
                actor,
                now,
                from_state=current.state,
                reason=reason,
                receipt=current.receipt if to_state == "cancelled" else None,
            )
            row = connection.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one()
        return Record.from_row(row, self.read_media)

    def cancel(
        self, delivery_id: str, *, reason: str | None = None, actor: str = "operator"
    ) -> Record:
        """Cancel a delivery that has not gone out (scheduled, paused, failed or missed)
        or is held in doubt."""
        return self._transition(
            delivery_id,
            ("scheduled", "paused", "failed", "missed", "doubt"),
            "cancelled",
            actor,
            reason or "cancelled by operator",
        )

    def publish_now(self, delivery_id: str, *, actor: str = "operator") -> Record:
        """Make a delivery due now (from scheduled, paused, failed or missed); the next
        dispatch pass publishes it. Approval, when required, is still needed."""
        now = self.now()
        return self._transition(
            delivery_id,
            ("scheduled", "paused", "failed", "missed"),
            "scheduled",
            actor,
            "publish now",
            due=now,
            deadline=None,
        )

    def mark_retracted(self, delivery_id: str, *, actor: str = "operator") -> Record:
        """Record that a published delivery was deleted from its network (state cancelled)."""
        return self._transition(
            delivery_id, ("published",), "cancelled", actor, "retracted from the network"
        )

    def approve(
        self,
        delivery_id: str | None = None,
        *,
        post: str | None = None,
        actor: str = "operator",
    ) -> int:
        """Approve one delivery, or every not-yet-sent delivery of `post`, so that
        deliveries of posts with `requires_approval` may go out. Returns how many."""
        if (delivery_id is None) == (post is None):
            raise StoreError("approve needs exactly one of a delivery id or a post id")
        now = self.now()
        scope = (
            deliveries.c.id == delivery_id if delivery_id is not None else deliveries.c.post == post
        )
        with self.engine.begin() as connection:
            rows = connection.execute(
                update(deliveries)
                .where(
                    scope,
                    deliveries.c.approved.is_(False),
                    deliveries.c.state.in_(("scheduled", "paused", "missed", "failed")),
                )
                .values(approved=True, updated_at=now)
                .returning(*_LOG_COLUMNS, deliveries.c.state)
            ).all()
            if not rows and delivery_id is not None:
                found = connection.execute(
                    select(deliveries.c.state, deliveries.c.approved).where(
                        deliveries.c.id == delivery_id
                    )
                ).first()
                if found is None:
                    raise StoreError(f"no delivery with id {delivery_id!r}")
            self._append_log(
                connection,
                [
                    {**entry, "from_state": row.state}
                    for row in rows
                    for entry in self._log_rows(
                        [row._mapping], row.state, actor, now, reason="approved"
                    )
                ],
            )
        return len(rows)

    def resolve(
        self,
        delivery_id: str,
        *,
        sent: bool,
        reason: str | None = None,
        actor: str = "operator",
    ) -> Record:
        """Settle a delivery held in doubt: `sent` records it published (an operator saw
        the post; no receipt is known), otherwise it is scheduled to go out again now,
        under the same idempotency key."""
        if sent:
            return self._transition(
                delivery_id,
                ("doubt",),
                "published",
                actor,
                reason or "resolved: it went out",
                last_error=None,
            )
        return self._transition(
            delivery_id,
            ("doubt",),
            "scheduled",
            actor,
            reason or "resolved: send it again",
            due=self.now(),
            deadline=None,
            last_error=None,
        )
