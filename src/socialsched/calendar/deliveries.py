"""Deliveries: what planning gives, one message to one segment on one channel at one
instant, and fast ways to build many of them: eagerly (`build_delivery`) or lazily
(`lazy_delivery`, fields other than the five every reader reads filled on first access)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import attrs

from socialsched.media.model import Media

#: The fields a lazily built delivery is given at once: what a loop over a plan reads.
EAGER_FIELDS = ("post", "segment", "channel", "utc", "local")
#: `Delivery`'s fields, in order (checked against attrs' below).
_FIELDS = (
    "id", "post", "segment", "channel", "adapter", "utc", "local", "text", "holiday",
    "shifted_from", "reason", "audience", "tags", "media", "parts",
)  # fmt: skip


class _LazyFields:
    """The slots of `Delivery` and of its mutable twins below, in their one common base.

    A twin becomes a `Delivery` by assigning `__class__`, which Python allows between
    classes of one layout after comparing the slots each adds to their common base:
    here, none, so the comparison costs next to nothing (with fifteen slots on each side
    it was a third of the cost of building a delivery). Attrs reuses these slots rather
    than adding its own.

    `_columns` and `_position` say where a delivery read from a plan's columns finds its
    unset fields (see `_LazyField`). They are not attrs fields: `attrs.fields`,
    `attrs.asdict`, equality, hashing and `repr` see only `Delivery`'s own.
    """

    __slots__ = ("_columns", "_position", *_FIELDS)


_COLUMNS = cast(Any, _LazyFields.__dict__["_columns"])
_POSITION = cast(Any, _LazyFields.__dict__["_position"])


class _LazyField:
    """`Delivery`'s descriptor for a field a lazily built delivery (`lazy_delivery`)
    leaves unset: reading it unset asks the delivery's columns for the value and stores
    it, so each field is computed at most once (its id hashed only when read).

    It wraps the field's slot. Only the fields outside `EAGER_FIELDS` get one: those a
    loop over a plan reads stay plain slots, and `Delivery` has no `__getattr__`, which
    would slow every attribute read down (Python does not specialize such reads).
    """

    __slots__ = ("name", "slot")

    def __init__(self, name: str, slot: Any) -> None:
        self.name = name
        self.slot = slot

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            return self.slot.__get__(instance, owner)
        except AttributeError:
            try:
                columns = _COLUMNS.__get__(instance)
            except AttributeError:
                raise AttributeError(
                    f"{type(instance).__name__!r} object has no attribute {self.name!r}"
                ) from None
            value = columns.lazy_field(self.name, _POSITION.__get__(instance))
            self.slot.__set__(instance, value)  # frozen to users, not to its filler
            return value

    def __set__(self, instance: Any, value: Any) -> None:
        # Reached only through `object.__setattr__` (attrs' frozen `__init__`, copies):
        # `Delivery.__setattr__` refuses every other assignment.
        self.slot.__set__(instance, value)

    def __delete__(self, instance: Any) -> None:
        self.slot.__delete__(instance)


# No __weakref__ slot: it would keep the twins below from sharing the layout.
@attrs.frozen(slots=True, weakref_slot=False)
class Delivery(_LazyFields):
    """One planned message: a post, to a segment, on a channel, at one instant."""

    id: str
    post: str
    segment: str
    channel: str
    adapter: str
    utc: datetime
    local: datetime
    text: str | None
    holiday: str | None = None
    shifted_from: datetime | None = None
    reason: str | None = None
    audience: Any = None
    tags: tuple[str, ...] = ()
    media: tuple[Media, ...] = ()
    parts: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO 8601 strings for times); `media` and `parts` only
        when the delivery has them."""
        extra: dict[str, Any] = {}
        if self.media:
            extra["media"] = [media.to_dict() for media in self.media]
        if self.parts:
            extra["parts"] = list(self.parts)
        return {
            "id": self.id,
            "post": self.post,
            "segment": self.segment,
            "channel": self.channel,
            "adapter": self.adapter,
            "utc": self.utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "local": self.local.isoformat(),
            "text": self.text,
            "holiday": self.holiday,
            "shifted_from": self.shifted_from.isoformat() if self.shifted_from else None,
            "reason": self.reason,
            # A resolved `Audience` (planner output) becomes its dict; anything else as is.
            "audience": (
                self.audience.to_dict() if hasattr(self.audience, "to_dict") else self.audience
            ),
            "tags": list(self.tags),
            **extra,
        }


if tuple(field.name for field in attrs.fields(Delivery)) != _FIELDS or Delivery.__slots__:
    raise ImportError("Delivery's fields must be _FIELDS, in order, in _LazyFields' slots")
for _name in _FIELDS:
    if _name not in EAGER_FIELDS:
        setattr(Delivery, _name, _LazyField(_name, Delivery.__dict__[_name]))
del _name


class _DeliveryFields(_LazyFields):
    """A mutable twin of `Delivery`: the same slots, hence the same memory layout.

    Attrs' frozen `__init__` stores each field through `object.__setattr__`, which is
    most of the cost of planning a large calendar. Plain slot stores followed by a
    switch of `__class__` build an equal `Delivery` about three times faster.
    """

    __slots__ = ()

    def __init__(
        self,
        id: str,
        post: str,
        segment: str,
        channel: str,
        adapter: str,
        utc: datetime,
        local: datetime,
        text: str | None,
        holiday: str | None,
        shifted_from: datetime | None,
        reason: str | None,
        audience: Any,
        tags: tuple[str, ...],
        media: tuple[Media, ...],
        parts: tuple[str, ...],
    ) -> None:
        self.id = id
        self.post = post
        self.segment = segment
        self.channel = channel
        self.adapter = adapter
        self.utc = utc
        self.local = local
        self.text = text
        self.holiday = holiday
        self.shifted_from = shifted_from
        self.reason = reason
        self.audience = audience
        self.tags = tags
        self.media = media
        self.parts = parts
        self.__class__ = Delivery  # type: ignore[assignment]


if _DeliveryFields.__init__.__code__.co_varnames[1:16] != _FIELDS:
    raise ImportError("_DeliveryFields must take exactly Delivery's fields, in order")


#: `Delivery(*fields)`, all fifteen fields given positionally, built faster (bulk planning).
build_delivery: Callable[..., Delivery] = cast(Callable[..., Delivery], _DeliveryFields)


class _LazyDeliveryFields(_LazyFields):
    """A mutable twin of `Delivery` (same layout) storing only `EAGER_FIELDS` and where
    the rest is read from (see `_LazyFields`), then becoming a `Delivery`."""

    __slots__ = ()

    def __init__(
        self,
        route: tuple[Any, str, str, str],
        position: int,
        utc: datetime,
        local: datetime,
    ) -> None:
        # One tuple for what a route's deliveries share: one argument, unpacked in one go.
        self._columns, self.post, self.segment, self.channel = route
        self._position = position
        self.utc = utc
        self.local = local
        self.__class__ = Delivery  # type: ignore[assignment]


#: `lazy_delivery((columns, post, segment, channel), position, utc, local)`: a `Delivery`
#: whose other fields are `columns.lazy_field(name, position)`, computed when first read.
lazy_delivery: Callable[..., Delivery] = cast(Callable[..., Delivery], _LazyDeliveryFields)
