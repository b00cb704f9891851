"""Engagement reports: what each market, language, channel and local hour answered.

Reports are pure functions over `Observation`s, one per published delivery with the
latest engagement the store recorded for it. Grouping keys (`BY`):

- `segment`, `locale`, `country`, `channel`, `post`: the delivery's own;
- `tag`: a delivery with several tags counts once in each tag's group (so the
  groups' deliveries add up to more than the deliveries); one without tags falls in
  the group whose tag is null;
- `local_hour` (0-23) and `weekday` (`mon`...`sun`): when the delivery went out, in
  its segment's own time zone (Madrid's 09:00 and New York's 09:00 share an hour).

Each group has its number of `deliveries` and, for every count in
`socialsched.adapters.engagement.COUNTS`, the `sum` and `median` over the group's deliveries
whose network gives that count. A count no delivery of the group has is None (null in
JSON), never 0: a network that does not say is not a post nobody liked.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from socialsched.adapters.engagement import COUNTS, Engagement, aware, count_or_none

#: The keys a report can group by, in the order the command line lists them.
BY: tuple[str, ...] = (
    "segment",
    "locale",
    "country",
    "channel",
    "post",
    "tag",
    "local_hour",
    "weekday",
)
#: Week day names, Monday first (`datetime.weekday()` order).
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Key = str | int | None


def _aware_or_none(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None:
        aware(instance, attribute, value)


def _tags(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class Observation:
    """One published delivery and the latest engagement recorded for it.

    `utc` is the planned time; `published_at` when the network took it (None when the
    store does not know: `utc` stands in). `local` is the publication time in the
    segment's own time zone: local hours and week days are read from it. Counts are
    None where the network does not give them."""

    delivery_id: str
    post: str
    segment: str
    locale: str
    country: str | None
    channel: str
    tags: tuple[str, ...] = attrs.field(converter=_tags)
    utc: datetime = attrs.field(validator=aware)
    local: datetime = attrs.field(validator=aware)
    published_at: datetime | None = attrs.field(default=None, validator=_aware_or_none)
    likes: int | None = attrs.field(default=None, validator=count_or_none)
    reposts: int | None = attrs.field(default=None, validator=count_or_none)
    replies: int | None = attrs.field(default=None, validator=count_or_none)
    quotes: int | None = attrs.field(default=None, validator=count_or_none)
    views: int | None = attrs.field(default=None, validator=count_or_none)
    clicks: int | None = attrs.field(default=None, validator=count_or_none)

    @property
    def when(self) -> datetime:
        """When it went out (aware UTC): `published_at`, else the planned `utc`."""
        return self.published_at or self.utc

    def counts(self) -> dict[str, int | None]:
        """Every count by name (`COUNTS` order), None where not given."""
        return {name: getattr(self, name) for name in COUNTS}

    def keys(self, name: str) -> list[Key]:
        """This delivery's values for grouping key `name` (several for `tag`)."""
        if name == "tag":
            return list(dict.fromkeys(self.tags)) or [None]
        if name == "local_hour":
            return [self.local.hour]
        if name == "weekday":
            return [WEEKDAYS[self.local.weekday()]]
        if name in BY:
            return [getattr(self, name)]
        raise ValueError(f"unknown grouping {name!r} (known: {', '.join(BY)})")

    @classmethod
    def of(
        cls,
        engagement: Engagement,
        *,
        delivery_id: str,
        post: str,
        segment: str,
        locale: str,
        country: str | None,
        channel: str,
        tags: Iterable[str],
        utc: datetime,
        local: datetime,
        published_at: datetime | None = None,
    ) -> Observation:
        """An observation of a delivery with the counts of `engagement`."""
        return cls(
            delivery_id=delivery_id,
            post=post,
            segment=segment,
            locale=locale,
            country=country,
            channel=channel,
            tags=tuple(tags),
            utc=utc,
            local=local,
            published_at=published_at,
            **engagement.counts(),
        )


@attrs.frozen
class Stat:
    """A count over a group: its sum and median over the deliveries that have it."""

    sum: int
    median: float
    deliveries: int

    def to_dict(self) -> dict[str, Any]:
        """`{"sum": ..., "median": ...}`, as JSON shows it."""
        return {"sum": self.sum, "median": self.median}


@attrs.frozen
class Group:
    """One row of a report: its grouping key values (in `by` order), the number of
    deliveries in it and each count's `Stat` (None: no delivery of the group has it)."""

    by: tuple[str, ...]
    keys: tuple[Key, ...]
    deliveries: int
    stats: Mapping[str, Stat | None]

    def to_dict(self) -> dict[str, Any]:
        """The group as JSON shows it: keys, `deliveries`, then each count."""
        row: dict[str, Any] = dict(zip(self.by, self.keys, strict=True))
        row["deliveries"] = self.deliveries
        for name in COUNTS:
            stat = self.stats[name]
            row[name] = None if stat is None else stat.to_dict()
        return row


def stat(values: Iterable[int | None]) -> Stat | None:
    """Sum and median of the values given (None ones left out); None when none is."""
    given = [value for value in values if value is not None]
    if not given:
        return None
    return Stat(sum=sum(given), median=float(statistics.median(given)), deliveries=len(given))


def check_by(by: Sequence[str]) -> tuple[str, ...]:
    """The grouping keys, checked: known, each once, at least one."""
    if not by:
        raise ValueError(f"group by at least one of: {', '.join(BY)}")
    unknown = [name for name in by if name not in BY]
    if unknown:
        raise ValueError(f"unknown grouping {unknown[0]!r} (known: {', '.join(BY)})")
    if len(set(by)) != len(by):
        raise ValueError("each grouping may be given once")
    return tuple(by)


def _sort_key(keys: tuple[Key, ...], by: tuple[str, ...]) -> tuple[Any, ...]:
    # Nulls last; week days in week order, hours as numbers.
    out: list[Any] = []
    for name, value in zip(by, keys, strict=True):
        if value is None:
            out.append((1, 0, ""))
        elif name == "weekday":
            out.append((0, WEEKDAYS.index(str(value)), ""))
        elif isinstance(value, int):
            out.append((0, value, ""))
        else:
            out.append((0, 0, str(value)))
    return tuple(out)


def in_range(
    observations: Iterable[Observation],
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Observation]:
    """The observations that went out in [since, until) (either bound may be None)."""
    return [
        o
        for o in observations
        if (since is None or o.when >= since) and (until is None or o.when < until)
    ]


def report(observations: Iterable[Observation], by: Sequence[str]) -> list[Group]:
    """The observations grouped by the tuple of `by` keys, sorted by key (nulls last,
    week days in week order)."""
    names = check_by(by)
    members: dict[tuple[Key, ...], list[Observation]] = {}
    for observation in observations:
        combos: list[tuple[Key, ...]] = [()]
        for name in names:
            combos = [(*combo, value) for combo in combos for value in observation.keys(name)]
        for combo in combos:
            members.setdefault(combo, []).append(observation)
    return [
        Group(
            by=names,
            keys=keys,
            deliveries=len(group),
            stats={name: stat(getattr(o, name) for o in group) for name in COUNTS},
        )
        for keys, group in sorted(members.items(), key=lambda item: _sort_key(item[0], names))
    ]


# ---- output ----


def to_json(groups: Sequence[Group]) -> str:
    """The report as a JSON list, one object per group."""
    return json.dumps([group.to_dict() for group in groups], ensure_ascii=False, indent=2)


def _cell(value: Key) -> str:
    return "" if value is None else str(value)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def to_csv(groups: Sequence[Group], by: Sequence[str]) -> str:
    """The report as CSV with a header: keys, deliveries, then `<count>_sum` and
    `<count>_median` for every count (empty where the group has none)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [*by, "deliveries", *(f"{name}_{part}" for name in COUNTS for part in ("sum", "median"))]
    )
    for group in groups:
        row = [_cell(value) for value in group.keys] + [str(group.deliveries)]
        for name in COUNTS:
            found = group.stats[name]
            row += ["", ""] if found is None else [str(found.sum), _number(found.median)]
        writer.writerow(row)
    return out.getvalue()


def to_table(groups: Sequence[Group], by: Sequence[str]) -> str:
    """The report as an aligned text table: keys, deliveries, then a sum and a median
    column for each count some group has ("-" where a group has none)."""
    shown = [name for name in COUNTS if any(group.stats[name] for group in groups)]
    header = [*by, "deliveries"]
    for name in shown:
        header += [name, f"{name} median"]
    rows = [header]
    for group in groups:
        row = [_cell(value) or "-" for value in group.keys] + [str(group.deliveries)]
        for name in shown:
            found = group.stats[name]
            row += ["-", "-"] if found is None else [str(found.sum), _number(found.median)]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    keys = len(by)
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if i < keys else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


__all__ = [
    "BY",
    "WEEKDAYS",
    "Group",
    "Observation",
    "Stat",
    "check_by",
    "in_range",
    "report",
    "stat",
    "to_csv",
    "to_json",
    "to_table",
]
