"""What an adapter receives and returns: the rendered `Message` and the network's `Receipt`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from socialsched.calendar.audiences import Audience, resolve_audience
from socialsched.calendar.model import Channel, Delivery, QuietWindow, Segment, quiet_windows
from socialsched.media.model import Media


@attrs.frozen
class Message:
    """A rendered delivery, as handed to an adapter.

    `audience` is the resolved `socialsched.calendar.audiences.Audience` (None when the channel
    names none for the segment); `quiet_hours` are the segment's quiet hours (local
    time windows), for adapters that deliver quietly then; `delivery_id` is empty at
    plan-time validation.

    `attachments` are the media to attach, already fitted to the network's limits.
    A thread goes out as one message per part: `part` of `parts` (1-based), with
    `reply_to` the receipt of the previous part and `thread_root` that of the first
    (both None for the first part and for a single post). Attachments go on part 1.
    """

    delivery_id: str
    post: str
    segment: str
    channel: str
    locale: str
    text: str
    utc: datetime
    local: datetime
    audience: Any = None
    tags: tuple[str, ...] = ()
    attachments: tuple[Media, ...] = ()
    quiet_hours: tuple[QuietWindow, ...] = attrs.field(default=(), converter=quiet_windows)
    reply_to: Receipt | None = None
    thread_root: Receipt | None = None
    part: int = 1
    parts: int = 1

    @classmethod
    def for_delivery(cls, delivery: Delivery, segment: Segment, channel: Channel) -> Message:
        """The message for a planned delivery, with its audience resolved and its media
        attached (a thread's parts are for the caller to send, media with part 1)."""
        if delivery.text is None:
            raise ValueError(f"delivery {delivery.id} was planned without rendering its text")
        return cls(
            delivery_id=delivery.id,
            post=delivery.post,
            segment=delivery.segment,
            channel=delivery.channel,
            locale=segment.locale,
            text=delivery.text,
            utc=delivery.utc,
            local=delivery.local,
            audience=resolve_audience(channel, segment),
            tags=delivery.tags,
            attachments=delivery.media,
            quiet_hours=segment.quiet_hours,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO 8601 times, audience as a dict)."""
        audience = self.audience
        if isinstance(audience, Audience):
            audience = audience.to_dict()
        return {
            "delivery_id": self.delivery_id,
            "post": self.post,
            "segment": self.segment,
            "channel": self.channel,
            "locale": self.locale,
            "audience": audience,
            "utc": self.utc.isoformat(),
            "local": self.local.isoformat(),
            "text": self.text,
            "tags": list(self.tags),
            "attachments": [media.to_dict() for media in self.attachments],
            "quiet_hours": [str(window) for window in self.quiet_hours],
            **(
                {
                    "part": self.part,
                    "parts": self.parts,
                    "reply_to": self.reply_to and self.reply_to.remote_id,
                    "thread_root": self.thread_root and self.thread_root.remote_id,
                }
                if self.parts > 1
                else {}
            ),
        }


@attrs.frozen
class Receipt:
    """What a network returned for a published message."""

    remote_id: str
    url: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> Receipt:
        """A receipt from the dict the store keeps of it (`attrs.asdict` of one)."""
        return cls(
            remote_id=str(stored.get("remote_id")),
            url=stored.get("url"),
            extra=stored.get("extra") or {},
        )
