"""What the store hands out: records of deliveries, activity entries, status
counts, outcomes, holds and the result of a reconciliation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from socialsched.calendar.model import Delivery
from socialsched.media.model import Media

from .common import _aware
from .media_cache import (
    media_from_json,
)
from .rows import _tag_list


@attrs.frozen
class ReconcileResult:
    """What `Store.schedule` changed: ids added, moved (new time), updated (new text or
    settings), cancelled (no longer planned) and how many were already up to date.

    A dry run (`dry_run`, nothing written) also describes each change in `changes`
    (`socialsched.store.dryrun.Change`: local times, changed fields, text diff)."""

    added: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    unchanged: int = 0
    dry_run: bool = False
    changes: tuple[Any, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(self.added or self.moved or self.updated or self.cancelled)


@attrs.frozen
class Record:
    """One delivery as the store holds it."""

    id: str
    calendar: str
    post: str
    segment: str
    channel: str
    adapter: str
    locale: str
    utc: datetime
    local: datetime
    text: str | None
    audience: Any
    tags: tuple[str, ...]
    quiet_hours: tuple[str, ...]
    state: str
    due: datetime
    attempts: int
    requires_approval: bool
    approved: bool
    receipt: Mapping[str, Any] | None
    last_error: str | None
    claimed_by: str | None
    lease_until: datetime | None
    media: tuple[Media, ...] = ()
    parts: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Any, reader: Callable[[str], bytes] | None = None) -> Record:
        """Build from a `deliveries` row; the media's bytes are read by `reader(digest)`
        when an adapter asks for them (None: descriptions only)."""
        m = row._mapping
        return cls(
            id=m["id"],
            calendar=m["calendar"],
            post=m["post"],
            segment=m["segment"],
            channel=m["channel"],
            adapter=m["adapter"],
            locale=m["locale"],
            utc=m["utc"].replace(tzinfo=UTC),
            local=datetime.fromisoformat(m["local"]),
            text=m["text"],
            audience=json.loads(m["audience"]) if m["audience"] else None,
            tags=tuple(json.loads(m["tags"] or "[]")),
            quiet_hours=tuple(json.loads(m["quiet_hours"] or "[]")),
            state=m["state"],
            due=m["due"].replace(tzinfo=UTC),
            attempts=m["attempts"],
            requires_approval=bool(m["requires_approval"]),
            approved=bool(m["approved"]),
            receipt=json.loads(m["receipt"]) if m["receipt"] else None,
            last_error=m["last_error"],
            claimed_by=m["claimed_by"],
            lease_until=_aware(m["lease_until"]),
            media=media_from_json(m["media"], reader),
            parts=tuple(json.loads(m["parts"])) if m["parts"] else (),
        )

    def to_delivery(self) -> Delivery:
        """The planned delivery this record holds (for lifecycle observers)."""
        return Delivery(
            id=self.id,
            post=self.post,
            segment=self.segment,
            channel=self.channel,
            adapter=self.adapter,
            utc=self.utc,
            local=self.local,
            text=self.text,
            audience=self.audience,
            tags=self.tags,
            media=self.media,
            parts=self.parts,
        )


@attrs.frozen
class Activity:
    """One entry of the append-only activity log."""

    id: int
    at: datetime
    delivery_id: str
    post: str
    segment: str
    channel: str
    from_state: str | None
    to_state: str
    actor: str
    reason: str | None
    attempt: int
    receipt: Mapping[str, Any] | None
    media: tuple[Mapping[str, Any], ...] = ()
    """On a "published" entry: the media that went out (digest, filename, alt)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = attrs.asdict(self)
        data["at"] = self.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        data["media"] = [dict(item) for item in self.media]
        return data


@attrs.frozen
class Status:
    """Counts per state (overall and per channel), the next due time and the pause
    rules in force (credential holds among them)."""

    counts: Mapping[str, int]
    per_channel: Mapping[str, Mapping[str, int]]
    next_due: datetime | None
    holds: tuple[HoldEntry, ...] = ()


#: What a runner records for a delivery it handled, as `Store.outcomes` counts them.
OUTCOMES = ("published", "retried", "failed", "deferred", "missed", "held", "doubt")
# The activity log tells a retry from a deferral (both go back from claimed to
# scheduled) by how the store words their reasons; `outcomes` matches these.
_RETRY_REASON = "attempt {attempt} failed, retry at {due:%Y-%m-%d %H:%M:%S} UTC: {error}"
_RETRY_LIKE = "attempt % failed%"
_DEFERRED_PREFIX = "deferred: "


@attrs.frozen
class Outcomes:
    """What one worker recorded, per channel: deliveries published, put back for a
    retry, failed for good, given back unattempted (deferred), marked missed, given back
    because their channel was held, and held in doubt."""

    per_channel: Mapping[str, Mapping[str, int]]

    @property
    def totals(self) -> dict[str, int]:
        """The counts summed over channels, every outcome present (zero when none)."""
        return {
            outcome: sum(counts.get(outcome, 0) for counts in self.per_channel.values())
            for outcome in OUTCOMES
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the totals, and `per_channel` with every outcome."""
        return {
            **self.totals,
            "per_channel": {
                channel: {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}
                for channel, counts in sorted(self.per_channel.items())
            },
        }


@attrs.frozen
class Hold:
    """A pause rule: deliveries matching every given field stay paused."""

    segment: str | None = None
    channel: str | None = None
    tag: str | None = None
    post: str | None = None

    def matches(self, row: Mapping[Any, Any]) -> bool:
        """Whether a delivery row (with `tags` as a list) falls under this hold."""
        return (
            (self.segment is None or row["segment"] == self.segment)
            and (self.channel is None or row["channel"] == self.channel)
            and (self.post is None or row["post"] == self.post)
            and (self.tag is None or self.tag in _tag_list(row["tags"]))
        )

    def describe(self) -> str:
        """Human-readable criteria, e.g. "segment=es-ES tag=promo" or "everything"."""
        parts = [f"{k}={v}" for k, v in attrs.asdict(self).items() if v is not None]
        return " ".join(parts) or "everything"


CREDENTIALS_REJECTED = "credentials rejected"
"""How the reason of a credentials hold starts (the runner puts it; actor "runner")."""
RUNNER_ACTOR = "runner"


@attrs.frozen
class HoldEntry:
    """A pause rule in force with who put it, when and why."""

    hold: Hold
    reason: str | None
    actor: str
    at: datetime

    @property
    def credentials(self) -> bool:
        """Whether the runner put it because the network rejected the channel's
        credentials (released with `resume --channel NAME` once they are fixed)."""
        return self.actor == RUNNER_ACTOR and (self.reason or "").startswith(CREDENTIALS_REJECTED)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the criteria, reason, actor, time and `credentials`."""
        return {
            **attrs.asdict(self.hold),
            "reason": self.reason,
            "actor": self.actor,
            "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "credentials": self.credentials,
        }
