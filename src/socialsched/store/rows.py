"""How planned deliveries become rows: the columns that hold a delivery's content,
the JSON forms of its audience, quiet hours and tags, and the rows of a plan.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from itertools import repeat
from typing import Any

from ..media import Media
from ..media_store import media_json
from ..model import Calendar, Delivery
from ..plans import Plan, Route, Slot
from ..tables import (
    deliveries,
)
from .bulk import _db_flag, _db_time
from .common import DEFAULT_MISFIRE_GRACE, _naive


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
"""The `deliveries` columns a plan sets, in the order of `planned_rows` values."""
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


def planned_rows(
    calendar: Calendar,
    planned: Iterable[Delivery],
    now: datetime,
    dialect: str,
    used_media: dict[str, Media],
) -> dict[str, tuple[Any, ...]]:
    """The `deliveries` row of each planned delivery, by id, in plan order: values in
    `_PLANNED_COLUMNS` order, as the database driver takes them. Every media the
    deliveries attach is added to `used_media`, by digest.

    For large schedules this row building, not the database, was most of the cost: a
    `Plan` is read route by route, each route's shared values (post, segment, channel,
    audience, tags) and each timing's slot values (times, holiday, move) computed once,
    and no `Delivery` is built. Other deliveries are taken one by one."""
    builder = _RowBuilder(calendar, now, dialect, used_media)
    if isinstance(planned, Plan):
        by_route = [builder.route_rows(route) for route in planned.routes]
        ordered = [by_route[index][slot] for index, slot in planned.positions()]
    else:
        ordered = list(map(builder.delivery_row, planned))
    return {row[0]: row for row in ordered}


# A slot's values as rows hold them: utc, local, local_day, holiday, shifted_from,
# reason, deadline.
_SlotValues = tuple[Any, str, str, str | None, str | None, str | None, Any]


class _RowBuilder:
    """Rows for one reconciliation: what many deliveries share is computed once."""

    def __init__(
        self, calendar: Calendar, now: datetime, dialect: str, used_media: dict[str, Media]
    ) -> None:
        self.calendar = calendar
        self.posts = {post.id: post for post in calendar.posts}
        self.db_time = _db_time(dialect)
        self.db_flag = _db_flag(dialect)
        self.db_now = self.db_time(now)
        self.used_media = used_media
        # Per (post, segment): the post's grace and approval, the segment's locale and
        # quiet hours.
        self.series: dict[tuple[str, str], tuple[int | None, Any, str, str | None]] = {}
        # By identity, the JSON of audiences, media and thread parts: the planner hands
        # one object to all deliveries that share it. Each entry keeps its object alive,
        # so no other object can take its id meanwhile.
        self.shared: dict[int, tuple[Any, str | None]] = {}
        # By identity too, each timing's slot values, per grace.
        self.timings: dict[tuple[int, int | None], tuple[Any, list[_SlotValues]]] = {}

    def route_rows(self, route: Route) -> list[tuple[Any, ...]]:
        """The rows of `route`'s deliveries, one per slot of its timing."""
        timing = route.timing
        grace = self._series(route.post, route.segment)[0]
        found = self.timings.get((id(timing), grace))
        if found is None:
            values = [self._slot_values(slot, grace) for slot in timing.slots]
            found = self.timings[id(timing), grace] = (timing, values)
        prefix, sha256 = route.id_prefix, hashlib.sha256
        ids = [sha256(prefix + key).hexdigest()[:20] for key in timing.id_keys]
        return self._rows(route, ids, found[1], route.texts, route.media or (), route.parts or ())

    def delivery_row(self, delivery: Delivery) -> tuple[Any, ...]:
        """The row of one `Delivery`."""
        grace = self._series(delivery.post, delivery.segment)[0]
        slot = Slot(
            delivery.id,
            delivery.utc,
            delivery.local,
            delivery.holiday,
            delivery.shifted_from,
            delivery.reason,
        )
        (row,) = self._rows(
            delivery,
            [delivery.id],
            [self._slot_values(slot, grace)],
            [delivery.text],
            [delivery.media],
            [delivery.parts],
        )
        return row

    def _rows(
        self,
        route: Route | Delivery,
        ids: list[str],
        slot_values: list[_SlotValues],
        texts: Sequence[str | None] | None,
        media: Sequence[tuple[Media, ...]],
        parts: Sequence[tuple[str, ...]],
    ) -> list[tuple[Any, ...]]:
        post, segment, channel = route.post, route.segment, route.channel
        adapter, name, db_now = route.adapter, self.calendar.name, self.db_now
        grace, approval, locale, quiet_hours = self._series(post, segment)
        audience = self._json(route.audience, _audience_json)
        tags = _tags_json(route.tags)
        media_column = list(map(self._media_json, media)) if media else repeat(None)
        parts_column = list(map(self._parts_json, parts)) if parts else repeat(None)
        return [
            (
                key,
                name,
                # The planned content, in _CONTENT_COLUMNS order:
                post,
                segment,
                channel,
                adapter,
                locale,
                utc,
                local,
                local_day,
                text,
                audience,
                tags,
                holiday,
                shifted_from,
                reason,
                quiet_hours,
                grace,
                approval,
                media_json,
                parts_json,
                # Then what dispatching changes:
                utc,  # due
                deadline,
                "schedule",  # state_actor
                db_now,  # updated_at
                "scheduled",  # state: paused instead where a pause rule holds it
            )
            for (
                key,
                (utc, local, local_day, holiday, shifted_from, reason, deadline),
                text,
                media_json,
                parts_json,
            ) in zip(
                ids,
                slot_values,
                repeat(None) if texts is None else texts,
                media_column,
                parts_column,
                strict=False,  # the repeats are endless: the ids say how many
            )
        ]

    def _series(self, post_id: str, segment: str) -> tuple[int | None, Any, str, str | None]:
        found = self.series.get((post_id, segment))
        if found is None:
            post = self.posts[post_id]
            grace = None
            if post.late != "publish":
                grace = int((post.misfire_grace or DEFAULT_MISFIRE_GRACE).total_seconds())
            planned_segment = self.calendar.segment(segment)
            found = self.series[post_id, segment] = (
                grace,
                self.db_flag(post.requires_approval),
                planned_segment.locale,
                _quiet_hours_json(planned_segment.quiet_hours),
            )
        return found

    def _slot_values(self, slot: Slot, grace: int | None) -> _SlotValues:
        utc = _naive(slot.utc)
        local = slot.local.isoformat()
        return (
            self.db_time(utc),
            local,
            local[:10],  # isoformat() starts with the zero-padded YYYY-MM-DD date
            slot.holiday,
            None if slot.shifted_from is None else slot.shifted_from.isoformat(),
            slot.reason,
            None if grace is None else self.db_time(utc + timedelta(seconds=grace)),
        )

    def _json(self, value: Any, to_json: Any) -> str | None:
        if value is None:
            return None
        found = self.shared.get(id(value))
        if found is None:
            found = self.shared[id(value)] = (value, to_json(value))
        return found[1]

    def _media_json(self, items: tuple[Media, ...]) -> str | None:
        if not items:
            return None
        if id(items) not in self.shared:
            for item in items:
                self.used_media.setdefault(item.digest, item)
        return self._json(items, media_json)

    def _parts_json(self, parts: tuple[str, ...]) -> str | None:
        if not parts:
            return None
        return self._json(parts, _parts_text)


def _parts_text(parts: tuple[str, ...]) -> str:
    return json.dumps(list(parts), ensure_ascii=False)
