"""The destinations the operator approved for each channel's secrets.

`socialsched channels approve` records, per (calendar, channel), the adapter and
{secret name: destination origin} it approved (`destination_approvals`). The runner,
`lint --db`, `schedule` and `channels check` compare what a channel would do now with
that record: a new channel, a changed `instance`/`url`/`service`, another adapter or
another granted secret is not approved until the operator approves it again. Only
origins are stored, never a secret or a URL's path or query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

from sqlalchemy import and_, select

from socialsched.calendar.model import Channel
from socialsched.trust.destinations import (
    DESTINATION_NOT_APPROVED,
    Approval,
    describe_unapproved,
    unapproved,
)

from .common import StoreError, _naive
from .queries import Queries
from .tables import destination_approvals


class Approvals(Queries):
    """Reading and recording the operator's approvals of secret destinations."""

    def approve_destinations(
        self,
        calendar: str,
        channel: Channel,
        destinations: Mapping[str, str],
        *,
        actor: str = "operator",
    ) -> Approval:
        """Record that `channel` of `calendar` may send its secrets to `destinations`
        ({secret name: origin}, from `Adapter.destinations`), replacing what was
        approved before; returns the approval."""
        approval = Approval(
            calendar=calendar,
            channel=channel.name,
            adapter=channel.adapter,
            destinations=dict(sorted(destinations.items())),
            actor=actor,
            at=self.clock(),
        )
        key = and_(
            destination_approvals.c.calendar == calendar,
            destination_approvals.c.channel == channel.name,
        )
        with self.engine.begin() as connection:
            connection.execute(destination_approvals.delete().where(key))
            connection.execute(
                destination_approvals.insert().values(
                    calendar=calendar,
                    channel=channel.name,
                    adapter=channel.adapter,
                    destinations=json.dumps(dict(approval.destinations), sort_keys=True),
                    actor=actor,
                    at=_naive(approval.at),
                )
            )
        return approval

    def approve_channels(
        self,
        channels: Iterable[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        actor: str = "operator",
    ) -> list[Approval]:
        """Approve where the named channels of the store's channel table (as the last
        `schedule` left them; None: every channel) send their secrets now, and return
        the approvals, in order. `environ` is where secrets whose value is a URL (a
        webhook) are read, to find their origin (default: the process environment).

        Raises `StoreError` naming a channel the store does not know, and the
        adapter's `MissingSecretError` or `PermanentError` when a destination cannot
        be told; nothing is recorded then."""
        known = self.channels()
        if channels is None:
            chosen = sorted(known)
        else:
            wanted = list(dict.fromkeys(channels))
            chosen = sorted(key for key in known if key[1] in wanted)
            missing = sorted(set(wanted) - {name for _, name in chosen})
            if missing:
                have = ", ".join(sorted({name for _, name in known})) or "none"
                raise StoreError(
                    f"no channel {', '.join(map(repr, missing))} in the store "
                    f"(it has: {have}); run socialsched schedule first"
                )
        # Where each channel's installed adapter sends its secrets now (as
        # `trust.approval_checks.channel_destinations`), every destination found before
        # anything is recorded: all or nothing.
        from socialsched.adapters.registry import adapter_class

        found = [
            (key, adapter_class(known[key].adapter).destinations(known[key], environ))
            for key in chosen
        ]
        return [
            self.approve_destinations(calendar, known[(calendar, name)], where, actor=actor)
            for (calendar, name), where in found
        ]

    def approvals(self) -> dict[tuple[str, str], Approval]:
        """Every approval, by (calendar, channel name)."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(destination_approvals)).all()
        return {(row.calendar, row.channel): _approval(row) for row in rows}

    def approval(self, calendar: str, channel: str) -> Approval | None:
        """What was approved for `channel` of `calendar`, or None."""
        query = select(destination_approvals).where(
            destination_approvals.c.calendar == calendar,
            destination_approvals.c.channel == channel,
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return _approval(row) if row is not None else None


def _approval(row: Any) -> Approval:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return Approval(
        calendar=row.calendar,
        channel=row.channel,
        adapter=row.adapter,
        destinations=json.loads(row.destinations),
        actor=row.actor,
        at=at,
    )


__all__ = [
    "DESTINATION_NOT_APPROVED",
    "Approval",
    "Approvals",
    "describe_unapproved",
    "unapproved",
]
