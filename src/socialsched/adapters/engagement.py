"""Engagement: what a network says its audience did with a published post.

An adapter whose network gives counts declares which in `Capabilities.engagement`
and answers `Adapter.engagement(receipts)` for many receipts at once. A count the
network does not give is None, never 0: a report must not read "nobody liked it"
where the truth is "the network does not say".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

#: Every count an `Engagement` can carry, in the order reports show them.
COUNTS: tuple[str, ...] = ("likes", "reposts", "replies", "quotes", "views", "clicks")


def count_or_none(instance: Any, attribute: Any, value: Any) -> None:
    """An attrs validator: a count (an integer >= 0, not a bool) or None."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be a count (an integer >= 0) or None")


def aware(instance: Any, attribute: Any, value: datetime) -> None:
    """An attrs validator: a timezone-aware datetime."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{attribute.name} must be a timezone-aware datetime")


def engagement_counts(value: Iterable[str]) -> tuple[str, ...]:
    """The count names a network declares, checked against `COUNTS`, in their order."""
    names = tuple(value)
    unknown = [name for name in names if name not in COUNTS]
    if unknown:
        raise ValueError(
            f"unknown engagement count(s) {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(COUNTS)})"
        )
    return tuple(name for name in COUNTS if name in names)


@attrs.frozen
class Engagement:
    """The counts of one published post at `fetched_at`; None where the network does
    not give that count."""

    fetched_at: datetime = attrs.field(validator=aware)
    likes: int | None = attrs.field(default=None, validator=count_or_none)
    reposts: int | None = attrs.field(default=None, validator=count_or_none)
    replies: int | None = attrs.field(default=None, validator=count_or_none)
    quotes: int | None = attrs.field(default=None, validator=count_or_none)
    views: int | None = attrs.field(default=None, validator=count_or_none)
    clicks: int | None = attrs.field(default=None, validator=count_or_none)

    def counts(self) -> dict[str, int | None]:
        """Every count by name (`COUNTS` order), None where not given."""
        return {name: getattr(self, name) for name in COUNTS}

    def plus(self, other: Engagement) -> Engagement:
        """This post's counts with another's added (a thread's parts): a count either
        gives is summed over those that give it; None only where neither does. The
        later `fetched_at` is kept."""
        summed: dict[str, int | None] = {}
        for name, mine in self.counts().items():
            theirs = getattr(other, name)
            summed[name] = mine if theirs is None else theirs if mine is None else mine + theirs
        return Engagement(fetched_at=max(self.fetched_at, other.fetched_at), **summed)

    @classmethod
    def of(
        cls, fetched_at: datetime, given: Mapping[str, Any], declared: Iterable[str]
    ) -> Engagement:
        """An `Engagement` from a network's answer: each `declared` count read from
        `given` (missing or null there: 0, since the network gives that count and says
        nothing happened), every other count None."""
        counts = {name: int(given.get(name) or 0) for name in engagement_counts(declared)}
        return cls(fetched_at=fetched_at, **counts)


def thread_engagement(parts: Iterable[Engagement]) -> Engagement | None:
    """A thread's engagement: its first part's plus the other parts' (those the network
    gave); None when there is no part at all."""
    total: Engagement | None = None
    for part in parts:
        total = part if total is None else total.plus(part)
    return total


__all__ = ["COUNTS", "Engagement", "engagement_counts", "thread_engagement"]
