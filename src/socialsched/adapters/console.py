"""The built-in console adapter: prints each message, for trying a calendar end to end."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TextIO

import attrs

from socialsched.calendar.model import Channel
from socialsched.media.model import Media, MediaLimits

from .base import Adapter
from .capabilities import Capabilities
from .errors import PermanentError, TransientError
from .messages import Message, Receipt

# What the built-in console and jsonl adapters take: they print or record media and
# thread parts rather than upload them, so any of socialsched's types goes.
PRINTED = Capabilities(
    audiences=("any",),
    images=MediaLimits(max_count=10),
    videos=MediaLimits(max_count=4),
    mixed_media=True,
    threads=True,
)


def with_max_length(capabilities: Capabilities, channel: Channel) -> Capabilities:
    """`capabilities` limited to the channel's `max_length` setting, when it has one:
    the console and jsonl adapters then split long text into threads as a network
    would."""
    max_length = channel.settings.get("max_length")
    if max_length is None:
        return capabilities
    return attrs.evolve(capabilities, max_length=int(max_length))


class ConsoleAdapter(Adapter):
    """Prints each message to standard output: for trying a calendar end to end.

    Each attachment gets a line under the text (file name, type, bytes, pixel size,
    digest, alt text); a thread part is marked with its number and the part it
    replies to."""

    name = "console"
    capabilities = PRINTED

    def __init__(
        self,
        channel: Channel,
        environ: Mapping[str, str] | None = None,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(channel, environ)
        self.stream = stream
        self._receipts: dict[str, Receipt] = {}
        self.capabilities = with_max_length(self.capabilities, channel)

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        # Idempotent within one process only: a terminal keeps no record to check.
        if idempotency_key in self._receipts:
            return self._receipts[idempotency_key]
        stream = self.stream or sys.stdout
        audience = f" -> {message.audience}" if message.audience else ""
        part = ""
        if message.parts > 1:
            reply = f", replying to {message.reply_to.remote_id}" if message.reply_to else ""
            part = f" ({message.part}/{message.parts}{reply})"
        lines = [
            f"[{message.channel}/{message.segment}{audience}] {message.local.isoformat()}"
            f"{part} {message.text}",
            *(
                f"  attachment {number}/{len(message.attachments)}: {_describe(media)}"
                for number, media in enumerate(message.attachments, start=1)
            ),
        ]
        receipt = Receipt(remote_id=idempotency_key)  # before printing: nothing fails after
        try:
            # One write, so a failing console never shows half a post.
            print("\n".join(lines), file=stream, flush=True)
        except OSError as error:
            raise TransientError(f"cannot write to the console: {error.strerror}") from None
        except ValueError as error:  # writing to a closed stream
            raise PermanentError(f"cannot write to the console: {error}") from None
        self._receipts[idempotency_key] = receipt
        return receipt

    def verify(self) -> str:
        return "prints to standard output"


def _describe(media: Media) -> str:
    size = f" {media.width}x{media.height}" if media.width and media.height else ""
    name = media.filename or media.source or "(unnamed)"
    alt = json.dumps(media.alt, ensure_ascii=False)
    return f"{name} {media.mime_type} {media.size:,} bytes{size} sha256:{media.digest} alt: {alt}"
