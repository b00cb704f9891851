"""What a `schedule` would change, delivery by delivery (`schedule --dry-run`).

`Store.schedule(..., dry_run=True)` (and `schedule_chunks`) reconciles inside a
transaction it rolls back, and describes each change from the rows it compared: a
delivery added (its local time and text), moved (old and new local time), updated (the
fields that changed, and a diff of the text) or cancelled (the local time it had).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

KINDS = ("added", "moved", "updated", "cancelled")


@attrs.frozen
class Change:
    """One delivery a schedule adds, moves, updates or cancels.

    `local` is the delivery's local time after the change (for a cancelled one, the
    time it had); `old_local` where a moved one was. `fields` names the planned values
    that differ (an update); `diff` is a unified diff of the text when it changed."""

    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    id: str
    post: str
    segment: str
    channel: str
    local: str
    old_local: str | None = None
    text: str | None = None
    fields: tuple[str, ...] = ()
    diff: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


def local_time(value: Any) -> str:
    """A stored local time (ISO text) as "YYYY-MM-DD HH:MM +hhmm"."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return f"{moment:%Y-%m-%d %H:%M %z}".rstrip()


def text_diff(old: str | None, new: str | None) -> str:
    """A unified diff from `old` to `new` text, line by line."""
    lines = difflib.unified_diff(
        (old or "").splitlines(),
        (new or "").splitlines(),
        fromfile="before",
        tofile="after",
        lineterm="",
    )
    return "\n".join(lines)


def describe(
    ids: Mapping[str, Sequence[str]],
    wanted: Mapping[str, Sequence[Any]],
    existing: Mapping[str, Sequence[Any]],
    planned_columns: Sequence[str],
    content_columns: Sequence[str],
) -> tuple[Change, ...]:
    """The changes of one reconciliation: `ids` by kind (a `ReconcileResult`'s
    fields), `wanted` the planned rows (values in `planned_columns` order) and
    `existing` the stored rows read for comparison (id, state, actor, then the values
    of `content_columns`)."""

    def new(row: Sequence[Any], name: str) -> Any:
        return row[planned_columns.index(name)]

    def old(row: Sequence[Any], name: str) -> Any:
        return row[3 + content_columns.index(name)]

    def change(kind: str, key: str, row: Sequence[Any], value: Any) -> Change:
        return Change(
            kind,
            key,
            value(row, "post"),
            value(row, "segment"),
            value(row, "channel"),
            local_time(value(row, "local")),
            text=value(row, "text"),
        )

    changes: list[Change] = []
    for kind in KINDS:
        for key in ids[kind]:
            if kind == "cancelled":
                # What it was: a cancelled delivery is no longer planned.
                changes.append(change(kind, key, existing[key], old))
                continue
            row = wanted[key]
            described = change(kind, key, row, new)
            if kind in ("moved", "updated"):
                before = existing[key]
                differ = tuple(
                    name
                    for name in content_columns
                    if name != "local_day" and old(before, name) != new(row, name)
                )
                text_changed = old(before, "text") != new(row, "text")
                described = attrs.evolve(
                    described,
                    old_local=local_time(old(before, "local")) if kind == "moved" else None,
                    fields=differ,
                    diff=text_diff(old(before, "text"), new(row, "text")) if text_changed else None,
                )
            changes.append(described)
    return tuple(changes)


__all__ = ["KINDS", "Change", "describe", "local_time", "text_diff"]
