"""How planned deliveries become rows: the columns that hold a delivery's content,
the JSON forms of its audience, quiet hours and tags, and the rows of a plan.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import repeat
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from sqlalchemy import Connection

from socialsched.calendar.model import Calendar, Delivery
from socialsched.media.model import Media

from . import tuning
from .bulk import _bulk_insert_values, _db_flag, _db_time
from .columns import _CONTENT_COLUMNS, _PLANNED_COLUMNS, NEW_STATE, NEW_STATE_ACTOR
from .common import DEFAULT_MISFIRE_GRACE, _naive
from .fanout import insert_fanned_out
from .media_cache import media_json
from .tables import (
    deliveries,
)

if TYPE_CHECKING:
    from socialsched.planning.plans import Route, Slot

T = TypeVar("T")


@runtime_checkable
class RoutedPlan(Protocol):
    """A plan held as routes, each with its columns (`socialsched.planning.plans.Plan`): its rows
    are built route by route, without a `Delivery` per row. The store reads plans the
    caller made; it never plans (and imports nothing from the planner)."""

    routes: list[Route]

    def gather(self, per_route: Sequence[Sequence[T]]) -> list[T]:
        """`per_route[route][slot]` for every delivery, in plan order."""
        ...


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


class PlannedRows(Mapping[str, tuple[Any, ...]]):
    """The `deliveries` row of each planned delivery, by id, in plan order: values in
    `_PLANNED_COLUMNS` order, as the database driver takes them. Every media the
    deliveries attach is added to `used_media`, by digest.

    For large schedules building the rows, not the database, was most of the cost. A
    `Plan` is read route by route: each route's shared values (post, segment, channel,
    audience, tags) and each timing's slot values (times, holiday, move) are computed
    once, and no `Delivery` is built. Its ids are computed at once, its rows only when
    read (`rows`): a first schedule of a range inserts them with `insert_all`, which on
    SQLite lets the database build them (see `fanout`). Other deliveries are taken one
    by one."""

    def __init__(
        self,
        calendar: Calendar,
        planned: Iterable[Delivery],
        now: datetime,
        dialect: str,
        used_media: dict[str, Media],
    ) -> None:
        self.builder = _RowBuilder(calendar, now, dialect, used_media)
        self.plan = planned if isinstance(planned, RoutedPlan) else None
        self._ids: Mapping[str, Any]
        if self.plan is None:
            self.__dict__["rows"] = self._ids = {
                row[0]: row for row in map(self.builder.delivery_row, planned)
            }
            return
        #: Each route's delivery ids, one per slot of its timing.
        self.route_ids = [route.delivery_ids() for route in self.plan.routes]
        self._ids = dict.fromkeys(self.plan.gather(self.route_ids))
        for route in self.plan.routes:
            for items in route.media or ():
                self.builder.media_value(items)

    def __getitem__(self, key: str) -> tuple[Any, ...]:
        return self.rows[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    @functools.cached_property
    def rows(self) -> dict[str, tuple[Any, ...]]:
        """Every row, by id, in plan order."""
        assert self.plan is not None  # set in __init__ otherwise
        by_route = [
            self.builder.route_rows(route, ids)
            for route, ids in zip(self.plan.routes, self.route_ids, strict=True)
        ]
        return {row[0]: row for row in self.plan.gather(by_route)}

    def insert_all(self, connection: Connection) -> None:
        """Insert every row, as new deliveries, in plan order."""
        fan_out = len(self) >= tuning.FANOUT_MIN_ROWS and connection.dialect.name == "sqlite"
        if self.plan is not None and fan_out:
            insert_fanned_out(connection, self.builder, self.plan, self.route_ids)
            return
        rows = list(self.rows.values())
        _bulk_insert_values(connection, deliveries, _PLANNED_COLUMNS, rows, native=True)


# A slot's values as rows hold them: utc, local, local_day, holiday, shifted_from,
# reason, deadline.
_SlotValues = tuple[Any, str, str, str | None, str | None, str | None, Any]
# A route's values as rows hold them: post, segment, channel, adapter, locale,
# audience, tags, quiet_hours, grace_s, requires_approval.
_RouteHead = tuple[str, str, str, str, str, str | None, str, str | None, int | None, Any]


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

    def route_head(self, route: Route | Delivery) -> _RouteHead:
        """What every row of `route` holds alike."""
        grace, approval, locale, quiet_hours = self._series(route.post, route.segment)
        return (
            route.post,
            route.segment,
            route.channel,
            route.adapter,
            locale,
            self._json(route.audience, _audience_json),
            _tags_json(route.tags),
            quiet_hours,
            grace,
            approval,
        )

    def timing_values(self, route: Route) -> list[_SlotValues]:
        """The slot values of `route`'s timing (one per slot), shared by every route of
        that timing and grace."""
        timing = route.timing
        grace = self._series(route.post, route.segment)[0]
        found = self.timings.get((id(timing), grace))
        if found is None:
            values = [self._slot_values(slot, grace) for slot in timing.slots]
            found = self.timings[id(timing), grace] = (timing, values)
        return found[1]

    def route_rows(self, route: Route, ids: list[str]) -> list[tuple[Any, ...]]:
        """The rows of `route`'s deliveries, one per slot of its timing."""
        return self._rows(
            self.route_head(route),
            ids,
            self.timing_values(route),
            route.texts,
            route.media or (),
            route.parts or (),
        )

    def delivery_row(self, delivery: Delivery) -> tuple[Any, ...]:
        """The row of one `Delivery`."""
        head = self.route_head(delivery)
        (row,) = self._rows(
            head,
            [delivery.id],
            [self._slot_values(delivery, head[-2])],
            [delivery.text],
            [delivery.media],
            [delivery.parts],
        )
        return row

    def _rows(
        self,
        head: _RouteHead,
        ids: list[str],
        slot_values: list[_SlotValues],
        texts: Sequence[str | None] | None,
        media: Sequence[tuple[Media, ...]],
        parts: Sequence[tuple[str, ...]],
    ) -> list[tuple[Any, ...]]:
        post, segment, channel, adapter, locale, audience, tags, quiet_hours = head[:8]
        grace, approval = head[8:]
        name, db_now = self.calendar.name, self.db_now
        media_column = list(map(self.media_value, media)) if media else repeat(None)
        parts_column = list(map(self.parts_value, parts)) if parts else repeat(None)
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
                NEW_STATE_ACTOR,
                db_now,  # updated_at
                NEW_STATE,
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

    def _slot_values(self, slot: Slot | Delivery, grace: int | None) -> _SlotValues:
        # A `Delivery` has a slot's times, holiday, move and reason under the same names.
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

    def media_value(self, items: tuple[Media, ...]) -> str | None:
        """The `media` column of a delivery with `items` (each kept in `used_media`)."""
        if not items:
            return None
        if id(items) not in self.shared:
            for item in items:
                self.used_media.setdefault(item.digest, item)
        return self._json(items, media_json)

    def parts_value(self, parts: tuple[str, ...]) -> str | None:
        """The `parts` column of a delivery with thread `parts`."""
        if not parts:
            return None
        return self._json(parts, _parts_text)


def _parts_text(parts: tuple[str, ...]) -> str:
    return json.dumps(list(parts), ensure_ascii=False)
