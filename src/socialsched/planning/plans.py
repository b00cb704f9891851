"""The columnar plan: every delivery of a plan, held as columns rather than objects.

A plan of a large calendar is mostly repetition: every segment of a market shares the
same slots (instants, local times, holidays, moves), and every delivery of a (post,
segment, channel) route shares its post, segment, channel, audience and tags. `Plan`
keeps each group's slots once (`Timing`) and each route's own columns (texts, media,
thread parts) beside them, and orders the deliveries without building them: one entry
per distinct instant, pointing at the routes due then. `Delivery` objects are built
only when asked for (iterating, indexing), one at a time, equal to those the planner
built before the plan became columnar. They are built lazily: a delivery gets its post,
segment, channel and instants at once, and its other fields (the id's hash above all)
from its route's columns when they are first read (`socialsched.calendar.deliveries`).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import accumulate, chain, groupby, repeat
from operator import floordiv, itemgetter, mod
from typing import Any, NamedTuple, TypeVar, overload

from socialsched.calendar.model import Delivery, build_delivery, lazy_delivery
from socialsched.media.model import Media


class Slot(NamedTuple):
    """One occurrence of a post in one market, after every move."""

    key: str
    utc: datetime
    local: datetime
    holiday: str | None
    shifted_from: datetime | None
    reason: str | None


T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class Timing(NamedTuple):
    """A group's slots, with what ordering and ids need of them, computed once."""

    slots: list[Slot]
    #: Each slot's instant in microseconds since 1970: what plans are ordered by.
    order: list[int]
    #: Each slot's key as it goes into delivery ids.
    id_keys: list[bytes]

    @classmethod
    def of(cls, slots: list[Slot]) -> Timing:
        """The timing of `slots` (which must have distinct instants)."""
        return cls(
            slots,
            [(slot.utc - _EPOCH) // _MICROSECOND for slot in slots],
            [slot.key.encode() for slot in slots],
        )


def delivery_id(calendar: str, post: str, segment: str, channel: str, slot: str) -> str:
    """Stable id of a delivery: the same inputs give the same id on every machine."""
    raw = "\x1f".join((calendar, post, segment, channel, slot)).encode()
    return hashlib.sha256(raw).hexdigest()[:20]


class Route(NamedTuple):
    """One post going to one segment on one channel: what all its deliveries share,
    and its columns (one value per slot of `timing`)."""

    post: str
    segment: str
    channel: str
    adapter: str
    audience: Any
    tags: tuple[str, ...]
    #: What `delivery_id` hashes before the slot key.
    id_prefix: bytes
    timing: Timing
    #: Rendered texts, one per slot; None when the plan was not rendered.
    texts: Sequence[str] | None = None
    #: Media and thread parts, one per slot; None when the post has none.
    media: Sequence[tuple[Media, ...]] | None = None
    parts: Sequence[tuple[str, ...]] | None = None

    @classmethod
    def make(
        cls,
        calendar: str,
        post: str,
        segment: str,
        channel: str,
        adapter: str,
        audience: Any,
        tags: tuple[str, ...],
        timing: Timing,
        **columns: Any,
    ) -> Route:
        """A route of calendar `calendar` (whose name goes into delivery ids)."""
        prefix = "\x1f".join((calendar, post, segment, channel, "")).encode()
        return cls(post, segment, channel, adapter, audience, tags, prefix, timing, **columns)

    def delivery_id(self, slot: int) -> str:
        """The id of the delivery at `slot` (as `delivery_id` computes it)."""
        return hashlib.sha256(self.id_prefix + self.timing.id_keys[slot]).hexdigest()[:20]

    def delivery_ids(self) -> list[str]:
        """The ids of every delivery of the route, one per slot of its timing."""
        prefix, sha256 = self.id_prefix, hashlib.sha256
        return [sha256(prefix + key).hexdigest()[:20] for key in self.timing.id_keys]

    def fields(self, slot: int) -> tuple[Any, ...]:
        """The delivery at `slot` as a tuple of `Delivery`'s fields, in order."""
        _, utc, local, holiday, shifted_from, reason = self.timing.slots[slot]
        return (
            self.delivery_id(slot),
            self.post,
            self.segment,
            self.channel,
            self.adapter,
            utc,
            local,
            None if self.texts is None else self.texts[slot],
            holiday,
            shifted_from,
            reason,
            self.audience,
            self.tags,
            () if self.media is None else self.media[slot],
            () if self.parts is None else self.parts[slot],
        )

    def delivery(self, slot: int) -> Delivery:
        """The `Delivery` at `slot`, every field computed now."""
        return build_delivery(*self.fields(slot))

    def lazy_delivery(self, slot: int) -> Delivery:
        """The `Delivery` at `slot`, its fields other than post, segment, channel, utc
        and local computed when first read (`lazy_field`)."""
        found = self.timing.slots[slot]
        return lazy_delivery(self.head(), slot, found.utc, found.local)

    def head(self) -> tuple[Route, str, str, str]:
        """What `lazy_delivery` takes of the route: (itself, post, segment, channel)."""
        return self, self.post, self.segment, self.channel

    def lazy_field(self, name: str, slot: int) -> Any:
        """Field `name` of the delivery at `slot` (as `fields` gives it)."""
        if name == "id":
            return self.delivery_id(slot)
        if name in _SLOT_FIELDS:
            return getattr(self.timing.slots[slot], name)
        if name in _COLUMN_FIELDS:
            column = getattr(self, _COLUMN_FIELDS[name])
            empty = None if name == "text" else ()
            return empty if column is None else column[slot]
        return getattr(self, name)  # adapter, audience, tags: the route's own


_SLOT_FIELDS = frozenset({"holiday", "shifted_from", "reason"})
_COLUMN_FIELDS = {"text": "texts", "media": "media", "parts": "parts"}


def _route_head(route: Route) -> tuple[Any, ...]:
    """What `Delivery.to_dict()` gives of a route's shared fields, in its order."""
    audience = route.audience
    if hasattr(audience, "to_dict"):
        audience = audience.to_dict()
    return (route.post, route.segment, route.channel, route.adapter, audience, route.tags)


def _slot_texts(slot: Slot) -> tuple[Any, ...]:
    """What `Delivery.to_dict()` gives of a slot's fields: utc, local, holiday,
    shifted_from, reason."""
    return (
        slot.utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        slot.local.isoformat(),
        slot.holiday,
        slot.shifted_from.isoformat() if slot.shifted_from else None,
        slot.reason,
    )


# A run of deliveries due at one instant, in plan order: indices into the plan's routes,
# the number (in the plan's timings) of each one's timing, and the slot of each. When
# one timing is due, (its routes, its number, its slot). When several timings meet,
# (the routes, the timing of each, {timing: slot}): the first two are shared by every
# instant where the same timings meet, so the plan stores no list per delivery for them.
_Block = tuple[list[int], int, int] | tuple[list[int], list[int], dict[int, int]]


def _blocks(routes: Sequence[Route]) -> tuple[list[Timing], list[_Block]]:
    """The plan's timings and its order as blocks: deliveries sorted by (instant, post,
    segment, channel), given `routes` sorted by (post, segment, channel).

    Routes sharing a timing share its slots, so the sort works on (instant, timing)
    entries, one per distinct slot, not on deliveries: only instants where several
    timings meet need their routes merged, once for each set of timings that meet
    (a sort of integers, route index and timing number in one, in C)."""
    members: dict[int, list[int]] = {}
    timings: list[Timing] = []
    for index, route in enumerate(routes):
        found = members.get(id(route.timing))
        if found is None:
            found = members[id(route.timing)] = []
            timings.append(route.timing)
        found.append(index)  # ascending: routes come in plan order
    route_lists = [members[id(timing)] for timing in timings]
    entries = [
        (instant, number, slot)
        for number, timing in enumerate(timings)
        for slot, instant in enumerate(timing.order)
    ]
    entries.sort()
    count = len(timings)
    merges: dict[tuple[int, ...], tuple[list[int], list[int]]] = {}
    blocks: list[_Block] = []
    for _, same_instant in groupby(entries, key=itemgetter(0)):
        meeting = list(same_instant)
        if len(meeting) == 1:
            _, number, slot = meeting[0]
            blocks.append((route_lists[number], number, slot))
            continue
        met = tuple(number for _, number, _ in meeting)
        merge = merges.get(met)
        if merge is None:
            # Keys `index * count + number`: sorted, they give the routes in plan order
            # and, by remainder, the timing of each.
            keys = sorted(index * count + number for number in met for index in route_lists[number])
            merge = merges[met] = (
                list(map(floordiv, keys, repeat(count))),
                list(map(mod, keys, repeat(count))),
            )
        blocks.append((*merge, {number: slot for _, number, slot in meeting}))
    return timings, blocks


def _block_slots(block: _Block) -> Iterator[int]:
    """The slot of each delivery of `block`, in order."""
    indices, numbers, slots = block
    if isinstance(slots, int):
        return repeat(slots, len(indices))
    assert isinstance(numbers, list)
    return map(slots.__getitem__, numbers)


class Plan(Sequence[Delivery]):
    """The deliveries of a plan, sorted by UTC instant (then post, segment, channel).

    A read-only sequence of `Delivery`: `len`, iteration, indexing and slicing work as
    on a list, and a plan equals a list of the same deliveries. It holds columns, not
    deliveries: each `Delivery` is built when it is asked for. `routes` and `columns()`
    read the columns directly.
    """

    __slots__ = ("_blocks", "_offsets", "_timings", "routes")

    def __init__(self, routes: Sequence[Route]) -> None:
        #: The routes, sorted by (post, segment, channel), each with its columns.
        self.routes = list(routes)
        self._timings, self._blocks = _blocks(self.routes)
        self._offsets = list(accumulate((len(block[0]) for block in self._blocks), initial=0))

    def __len__(self) -> int:
        return self._offsets[-1]

    def positions(self) -> Iterator[tuple[int, int]]:
        """Each delivery as (its route's index in `routes`, its slot in the route), in
        plan order."""
        for block in self._blocks:
            yield from zip(block[0], _block_slots(block), strict=True)

    def gather(self, per_route: Sequence[Sequence[T]]) -> list[T]:
        """`per_route[route][slot]` for every delivery, in plan order: with one list
        per route in `routes` (its rows, its ids...), the plan's order of them, read
        block by block without a (route, slot) pair per delivery."""
        gathered: list[T] = []
        for block in self._blocks:
            indices, _, slots = block
            if isinstance(slots, int):
                gathered += [per_route[index][slots] for index in indices]
            else:
                gathered += [
                    per_route[index][slot]
                    for index, slot in zip(indices, _block_slots(block), strict=True)
                ]
        return gathered

    def ordered(self) -> Iterator[tuple[Route, int]]:
        """Each delivery as (its route, its slot in the route), in plan order."""
        routes = self.routes
        for index, slot in self.positions():
            yield routes[index], slot

    def columns(self) -> Iterator[tuple[Any, ...]]:
        """Each delivery as a tuple of `Delivery`'s fields, in plan order, without
        building `Delivery` objects."""
        for route, slot in self.ordered():
            yield route.fields(slot)

    def dicts(self) -> Iterator[dict[str, Any]]:
        """Each delivery as `Delivery.to_dict()` gives it, in plan order, read from the
        columns without building `Delivery` objects: what a route or a slot shares is
        converted once (so dicts may share their inner values: read them, do not
        change them)."""
        heads = [_route_head(route) for route in self.routes]
        slot_texts: dict[int, list[tuple[Any, ...]]] = {}
        for route in self.routes:
            if id(route.timing) not in slot_texts:
                slot_texts[id(route.timing)] = [_slot_texts(slot) for slot in route.timing.slots]
        media: dict[int, tuple[tuple[Media, ...], list[dict[str, Any]]]] = {}
        routes = self.routes
        for index, slot in self.positions():
            route = routes[index]
            post, segment, channel, adapter, audience, tags = heads[index]
            utc, local, holiday, shifted_from, reason = slot_texts[id(route.timing)][slot]
            row = {
                "id": route.delivery_id(slot),
                "post": post,
                "segment": segment,
                "channel": channel,
                "adapter": adapter,
                "utc": utc,
                "local": local,
                "text": None if route.texts is None else route.texts[slot],
                "holiday": holiday,
                "shifted_from": shifted_from,
                "reason": reason,
                "audience": audience,
                "tags": list(tags),
            }
            items = () if route.media is None else route.media[slot]
            if items:
                # Keyed by identity (each entry keeps its tuple alive): a route's
                # deliveries share one tuple.
                found = media.get(id(items))
                if found is None:
                    found = media[id(items)] = (items, [item.to_dict() for item in items])
                row["media"] = list(found[1])
            parts = () if route.parts is None else route.parts[slot]
            if parts:
                row["parts"] = list(parts)
            yield row

    def __iter__(self) -> Iterator[Delivery]:
        # Block by block, each a C-level `map` building lazy deliveries
        # (`Route.lazy_delivery`): what a block's routes share (one instant, and one slot
        # of one timing or one per timing met) is read once, and no Python code runs per
        # delivery but `lazy_delivery`'s.
        return chain.from_iterable(self._block_deliveries())

    def _block_deliveries(self) -> Iterator[Iterator[Delivery]]:
        make, timings = lazy_delivery, self._timings
        heads = [route.head() for route in self.routes]
        # The heads of each run of routes, looked up once per run rather than per block:
        # blocks of one timing, or of timings that meet alike, share their list of routes.
        runs: dict[int, list[tuple[Route, str, str, str]]] = {}
        for indices, numbers, slots in self._blocks:
            run = runs.get(id(indices))
            if run is None:
                run = runs[id(indices)] = list(map(heads.__getitem__, indices))
            if isinstance(numbers, int) and isinstance(slots, int):
                found = timings[numbers].slots[slots]
                yield map(make, run, repeat(slots), repeat(found.utc), repeat(found.local))
            elif isinstance(numbers, list) and isinstance(slots, dict):
                # One instant, so one UTC time; a local time per timing met.
                local_of = {
                    number: timings[number].slots[slot].local for number, slot in slots.items()
                }
                number, slot = next(iter(slots.items()))
                yield map(
                    make,
                    run,
                    map(slots.__getitem__, numbers),
                    repeat(timings[number].slots[slot].utc),
                    map(local_of.__getitem__, numbers),
                )

    @overload
    def __getitem__(self, index: int) -> Delivery: ...

    @overload
    def __getitem__(self, index: slice) -> list[Delivery]: ...

    def __getitem__(self, index: int | slice) -> Delivery | list[Delivery]:
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("plan index out of range")
        block = bisect_right(self._offsets, index) - 1
        indices, numbers, slots = self._blocks[block]
        within = index - self._offsets[block]
        slot = slots if isinstance(slots, int) else slots[numbers[within]]  # type: ignore[index]
        return self.routes[indices[within]].lazy_delivery(slot)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(
            mine == theirs for mine, theirs in zip(self, other, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Plan of {len(self)} deliveries on {len(self.routes)} routes>"


__all__ = ["Plan", "Route", "Slot", "Timing", "delivery_id"]
