"""What the store hands out about engagement: deliveries due for collection, what a
collection found, and the snapshots and facts reports read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from socialsched.adapters.engagement import COUNTS, Engagement


@attrs.frozen
class DueEngagement:
    """A published delivery due for an engagement snapshot: it has reached `age` after
    `published_at` and has no snapshot for that age yet."""

    delivery_id: str
    calendar: str
    channel: str
    post: str
    segment: str
    published_at: datetime
    receipt: Mapping[str, Any]
    age: timedelta

    @property
    def receipts(self) -> list[Mapping[str, Any]]:
        """The receipts to ask the network about: a thread's parts (the first part
        first), else the delivery's one receipt."""
        parts = (self.receipt.get("extra") or {}).get("parts")
        if isinstance(parts, list) and parts and all(isinstance(p, Mapping) for p in parts):
            return list(parts)
        return [self.receipt]


@attrs.frozen
class Collected:
    """What one collection found for a due delivery: its (thread-summed) engagement,
    or None when the network no longer has the post; `parts` the thread parts summed.
    `asked` is false when the delivery's network gives no counts (it was skipped)."""

    due: DueEngagement
    engagement: Engagement | None
    parts: int = 1
    asked: bool = True


@attrs.frozen
class Snapshot:
    """One stored snapshot: a delivery's counts at `fetched_at`, collected at `age`
    after publishing, summing `parts` thread parts."""

    delivery_id: str
    fetched_at: datetime
    age: timedelta
    parts: int
    engagement: Engagement

    @classmethod
    def from_row(cls, row: Any) -> Snapshot:
        """Build from an `engagement` row."""
        m = row._mapping
        fetched_at = m["fetched_at"].replace(tzinfo=UTC)
        return cls(
            delivery_id=m["delivery_id"],
            fetched_at=fetched_at,
            age=timedelta(seconds=m["age_s"]),
            parts=m["parts"],
            engagement=Engagement(fetched_at, **{name: m[name] for name in COUNTS}),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the counts (null where not given) and the rest."""
        return {
            "delivery_id": self.delivery_id,
            "fetched_at": _iso(self.fetched_at),
            "age_s": int(self.age.total_seconds()),
            "parts": self.parts,
            **self.engagement.counts(),
        }


@attrs.frozen
class EngagementFact:
    """A published delivery's latest snapshot with the facts reports group by.

    `utc` is the planned time, `local` the same instant in the segment's time zone as
    planned (its UTC offset kept), `published_at` when it went out (aware UTC) and
    `published_local` that instant at the offset of `local`. `snapshots` counts the
    delivery's snapshots in the series (`Store.engagement_snapshots`)."""

    delivery_id: str
    calendar: str
    post: str
    segment: str
    channel: str
    adapter: str
    locale: str
    tags: tuple[str, ...]
    utc: datetime
    local: datetime
    published_at: datetime
    published_local: datetime
    fetched_at: datetime
    age: timedelta
    parts: int
    snapshots: int
    engagement: Engagement

    @classmethod
    def from_row(cls, row: Any) -> EngagementFact:
        """Build from a row of deliveries joined with its latest snapshot."""
        m = row._mapping
        local = datetime.fromisoformat(m["local"])
        published_at = m["sent_at"].replace(tzinfo=UTC)
        fetched_at = m["fetched_at"].replace(tzinfo=UTC)
        return cls(
            delivery_id=m["id"],
            calendar=m["calendar"],
            post=m["post"],
            segment=m["segment"],
            channel=m["channel"],
            adapter=m["adapter"],
            locale=m["locale"],
            tags=tuple(json.loads(m["tags"] or "[]")),
            utc=m["utc"].replace(tzinfo=UTC),
            local=local,
            published_at=published_at,
            published_local=published_at.astimezone(local.tzinfo),
            fetched_at=fetched_at,
            age=timedelta(seconds=m["age_s"]),
            parts=m["parts"],
            snapshots=m["snapshots"],
            engagement=Engagement(fetched_at, **{name: m[name] for name in COUNTS}),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: times in ISO 8601, the counts (null where not given)."""
        return {
            "delivery_id": self.delivery_id,
            "calendar": self.calendar,
            "post": self.post,
            "segment": self.segment,
            "channel": self.channel,
            "adapter": self.adapter,
            "locale": self.locale,
            "tags": list(self.tags),
            "utc": _iso(self.utc),
            "local": self.local.isoformat(),
            "published_at": _iso(self.published_at),
            "published_local": self.published_local.isoformat(),
            "fetched_at": _iso(self.fetched_at),
            "age_s": int(self.age.total_seconds()),
            "parts": self.parts,
            "snapshots": self.snapshots,
            **self.engagement.counts(),
        }


@attrs.frozen
class CollectedCounts:
    """What the store recorded of one collection run, for one channel: deliveries
    collected (asked of their network), snapshots stored, posts their network no longer
    had, and deliveries skipped (their network gives no counts)."""

    collected: int = 0
    snapshots: int = 0
    not_found: int = 0
    skipped: int = 0

    def to_dict(self) -> dict[str, int]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


__all__ = ["Collected", "CollectedCounts", "DueEngagement", "EngagementFact", "Snapshot"]
