"""How planned deliveries become rows: the columns that hold a delivery's content,
and the JSON forms of its audience, quiet hours and tags.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from ..tables import (
    deliveries,
)


def _audience_json(audience: Any) -> str | None:
    if audience is None:
        return None
    # The planner hands a resolved `Audience`; keep its dict form, which parses back.
    return json.dumps(audience.to_dict() if hasattr(audience, "to_dict") else audience)


_LOG_COLUMNS = (
    deliveries.c.id,
    deliveries.c.post,
    deliveries.c.segment,
    deliveries.c.channel,
    deliveries.c.attempts,
)


_DESCRIBED_CHANGES = {"text": "text", "media": "media", "parts": "thread parts"}


def _what_changed(old: Sequence[Any], new: Sequence[Any]) -> str:
    """The log reason for a delivery whose planned content went from `old` to `new`
    (values in `_CONTENT_COLUMNS` order), e.g. "media changed"."""
    changed = [
        described
        for name, described in _DESCRIBED_CHANGES.items()
        if old[_CONTENT_COLUMNS.index(name)] != new[_CONTENT_COLUMNS.index(name)]
    ]
    return f"{' and '.join(changed)} changed" if changed else "calendar changed"


def _quiet_hours_json(windows: Sequence[Any]) -> str | None:
    """A segment's quiet hours as the `quiet_hours` column keeps them (NULL: none)."""
    return json.dumps([str(window) for window in windows]) if windows else None


@functools.lru_cache(maxsize=1024)
def _tags_json(tags: tuple[str, ...]) -> str:
    return json.dumps(list(tags))


_CONTENT_COLUMNS = (
    "post",
    "segment",
    "channel",
    "adapter",
    "locale",
    "utc",
    "local",
    "local_day",
    "text",
    "audience",
    "tags",
    "holiday",
    "shifted_from",
    "reason",
    "quiet_hours",
    "grace_s",
    "requires_approval",
    "media",
    "parts",
)
"""The `deliveries` columns that say what a plan wants of a delivery: a delivery whose
stored values equal the new plan's is unchanged."""
_PLANNED_COLUMNS = (
    "id",
    "calendar",
    *_CONTENT_COLUMNS,
    "due",
    "deadline",
    "state_actor",
    "updated_at",
    "state",
)
"""The `deliveries` columns a plan sets, in the order of `Store._planned_rows` values."""
_ID, _POST, _SEGMENT, _CHANNEL, _UTC, _TAGS, _STATE = map(
    _PLANNED_COLUMNS.index, ("id", "post", "segment", "channel", "utc", "tags", "state")
)
_CONTENT = slice(_POST, _POST + len(_CONTENT_COLUMNS))
# A plan changes every planned column of an existing delivery but its id and calendar.
_UPDATED_FROM = _POST
# An activity entry for a new delivery (no from_state, no receipt: left NULL).
_PLANNED_LOG_FIELDS = (
    "at",
    "delivery_id",
    "post",
    "segment",
    "channel",
    "to_state",
    "actor",
    "reason",
    "attempt",
)


def _tag_list(tags: str | Sequence[str] | None) -> Sequence[str]:
    """Tags as a list, whether given as the JSON the column keeps or as a list."""
    if isinstance(tags, str):
        return json.loads(tags or "[]")
    return tags or ()
