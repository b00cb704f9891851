"""Deliveries: what planning gives, one message to one segment on one channel at one
instant, and a fast way to build many of them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import attrs

from .media import Media


# No __weakref__ slot: it would keep `_DeliveryFields` below from sharing the layout.
@attrs.frozen(slots=True, weakref_slot=False)
class Delivery:
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


class _DeliveryFields:
    """A mutable twin of `Delivery` with the same slots, hence the same memory layout.

    Attrs' frozen `__init__` stores each field through `object.__setattr__`, which is
    most of the cost of planning a large calendar. Plain slot stores followed by a
    switch of `__class__` build an equal `Delivery` about three times faster.
    """

    __slots__ = Delivery.__slots__

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


if _DeliveryFields.__init__.__code__.co_varnames[1:16] != tuple(
    field.name for field in attrs.fields(Delivery)
):
    raise ImportError("_DeliveryFields must take exactly Delivery's fields, in order")


#: `Delivery(*fields)`, all fifteen fields given positionally, built faster (bulk planning).
build_delivery = cast(Callable[..., Delivery], _DeliveryFields)
