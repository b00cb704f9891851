"""Checking channels against the destinations the operator approved.

The runner asks `ApprovalGate` before each publication (once per channel and pass);
`lint --db`, `schedule` and `channels check` ask `unapproved_channels`. Both compare
where a channel would send its secrets now (`Adapter.destinations`) with what
`socialsched channels approve` recorded (`Store.approvals`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from socialsched.adapters import Adapter, CredentialsRejected
from socialsched.calendar.model import Channel

from .destinations import Approval, describe_unapproved, unapproved
from .redaction import redact


def channel_destinations(
    channel: Channel, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """{secret name: origin} where `channel` sends its secrets now, as its installed
    adapter declares (`Adapter.destinations`); empty for a channel with no secrets
    (console, jsonl), which needs no approval."""
    from socialsched.adapters.registry import adapter_class

    return adapter_class(channel.adapter).destinations(channel, environ)


class DestinationNotApproved(CredentialsRejected):
    """A channel's secrets would go to a destination the operator has not approved.
    The runner holds the channel, as it does for rejected credentials, until the
    operator approves (`socialsched channels approve`) and resumes it."""


class ApprovalGate:
    """The runner's check that a channel's secrets go only where the operator
    approved: `refresh()` once per pass reads the approvals; `problem()` says why a
    channel must be held (None when it may publish)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._approved: dict[tuple[str, str], Approval] | None = None
        self._checked: dict[tuple[str, str], str | None] = {}

    def refresh(self) -> None:
        """Read the approvals again (an operator may have approved meanwhile)."""
        self._approved = self.store.approvals()
        self._checked = {}

    def problem(self, calendar: str, channel: Channel, adapter: Any) -> str | None:
        """Why `channel` of `calendar` may not publish through `adapter` now (a secret
        would go to a destination not approved), or None. Raises what
        `Adapter.destinations` raises (a secret not granted), so the runner treats it
        as it treats any missing secret."""
        key = (calendar, channel.name)
        if self._approved is None:
            self.refresh()
        assert self._approved is not None
        if key not in self._checked:
            if isinstance(adapter, Adapter):
                environ = getattr(adapter, "_environ", None)
                where = type(adapter).destinations(channel, environ)
            else:  # built by a caller's factory that is no Adapter: it reads no secrets here
                where = {}
            approval = self._approved.get(key)
            missing = unapproved(approval, channel.adapter, where)
            self._checked[key] = (
                describe_unapproved(channel.name, missing, approval) if missing else None
            )
        return self._checked[key]


@attrs.frozen
class ApprovalProblem:
    """A channel whose secrets would go somewhere not approved, or whose destinations
    cannot be told here (`message` says which; never a secret value)."""

    calendar: str
    channel: str
    message: str


def unapproved_channels(
    calendar: str,
    channels: Iterable[Channel],
    approvals: Mapping[tuple[str, str], Approval],
    environ: Mapping[str, str] | None = None,
) -> list[ApprovalProblem]:
    """Each channel of `calendar` among `channels` that the runner would hold for a
    destination not approved, in order. A channel whose destinations cannot be told
    (a webhook URL secret not granted here, a setting that is not a URL) is reported
    too: it cannot be shown to be approved."""
    env = os.environ if environ is None else environ
    problems = []
    for channel in channels:
        try:
            where = channel_destinations(channel, env)
        except Exception as error:  # not granted here, not a URL, an unknown adapter
            problems.append(ApprovalProblem(calendar, channel.name, redact(str(error))))
            continue
        approval = approvals.get((calendar, channel.name))
        missing = unapproved(approval, channel.adapter, where)
        if missing:
            message = describe_unapproved(channel.name, missing, approval)
            problems.append(ApprovalProblem(calendar, channel.name, message))
    return problems


__all__ = [
    "ApprovalGate",
    "ApprovalProblem",
    "DestinationNotApproved",
    "channel_destinations",
    "unapproved_channels",
]
