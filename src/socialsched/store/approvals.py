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
from datetime import UTC, datetime
from typing import Any

import attrs
from sqlalchemy import and_, select

from ..model import Channel
from ..tables import destination_approvals
from .common import StoreError, _naive
from .queries import Queries

DESTINATION_NOT_APPROVED = "destination not approved"
"""How the runner's hold of a channel whose secrets would go somewhere not approved
begins (pause reason, alert, log)."""


@attrs.frozen
class Approval:
    """What the operator approved for one channel: its adapter and, per secret name,
    the destination origin (several separated by a space)."""

    calendar: str
    channel: str
    adapter: str
    destinations: Mapping[str, str]
    actor: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO 8601 time)."""
        shown = attrs.asdict(self)
        return {**shown, "destinations": dict(self.destinations), "at": self.at.isoformat()}


def unapproved(
    approval: Approval | None, adapter: str, destinations: Mapping[str, str]
) -> dict[str, str]:
    """The secrets of `destinations` ({secret name: origin}, as a channel using
    `adapter` would send them now) that `approval` does not cover: all of them without
    an approval or when the adapter changed; none for a channel with no secrets."""
    if approval is None or approval.adapter != adapter:
        return dict(destinations)
    return {
        name: where
        for name, where in destinations.items()
        if approval.destinations.get(name) != where
    }


def channel_destinations(
    channel: Channel, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """{secret name: origin} where `channel` sends its secrets now, as its installed
    adapter declares (`Adapter.destinations`); empty for a channel with no secrets
    (console, jsonl), which needs no approval."""
    from socialsched.adapters.registry import adapter_class

    return adapter_class(channel.adapter).destinations(channel, environ)


def describe_unapproved(channel: str, missing: Mapping[str, str], approval: Approval | None) -> str:
    """Why a channel is held: which secret would go where, what was approved, and the
    command that approves it (`DESTINATION_NOT_APPROVED` first)."""
    sends = ", ".join(f"{name} to {where}" for name, where in sorted(missing.items()))
    if approval is None:
        before = "no destination was ever approved for it"
    else:
        known = ", ".join(
            f"{name} to {where}" for name, where in sorted(approval.destinations.items())
        )
        before = f"approved: {approval.adapter}, {known or 'no secrets'}"
    return (
        f"{DESTINATION_NOT_APPROVED}: channel {channel!r} would send {sends} ({before}); "
        f"check the change, then run: socialsched channels approve {channel}"
    )


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
        # Every destination is found before anything is recorded: all or nothing.
        found = [(key, channel_destinations(known[key], environ)) for key in chosen]
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
    "channel_destinations",
    "describe_unapproved",
    "unapproved",
]
