"""Helpers of the adapter conformance kit (`socialsched.testing`): the text every kit
message carries, what a fake network tells about what arrived, granted secrets and
sample media."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping
from typing import Protocol

import attrs

from socialsched.media.model import Media, digest_of
from socialsched.trust.grants import secret_variable

TEXT_PREFIX = "contract message "
_KEY_IN_TEXT = re.compile(re.escape(TEXT_PREFIX) + r"(\S+)")


def key_in_text(text: str) -> str | None:
    """The idempotency key a kit message carries in its text, or None."""
    match = _KEY_IN_TEXT.search(text)
    return match[1] if match else None


class Remote(Protocol):
    """The network stand-in a contract test talks to."""

    def published(self) -> list[str]:
        """Idempotency keys of the posts that exist on the remote now, one entry per
        post (a key posted twice appears twice; a deleted post is gone)."""

    def fail_next(self, kind: str) -> bool:
        """Make the next publish fail the way `kind` says: "transient" (rate limit,
        outage, timeout) or "permanent" (rejected, unauthorised). Return False when
        this remote cannot simulate that; the check is then skipped."""

    # Optional methods (the kit skips what they check when a remote lacks them):
    #
    # def garble_next_reply(self) -> bool:
    #     """Accept the next post, but answer with a reply the adapter cannot read (not
    #     JSON, fields missing). False when this remote cannot."""
    #
    # def attachments(self, key: str) -> Sequence[bytes | Arrived]:
    #     """The media that arrived with the post published under `key`, in order:
    #     their bytes, or an `Arrived` (digest, and the alt text where the network
    #     takes one)."""
    #
    # def reply_chain(self, key: str) -> list[str]:
    #     """The keys of the posts of the thread that starts with the post published
    #     under `key`: that key first, then the key of the post replying to it, then
    #     of the post replying to that one, and so on."""


@attrs.frozen
class Arrived:
    """One media item as a remote received it: the SHA-256 (hex) of its bytes, and its
    alt text (None where the network has no alt text or the remote cannot see it)."""

    digest: str
    alt: str | None = None

    @classmethod
    def of(cls, data: bytes, alt: str | None = None) -> Arrived:
        """What arrived, from the received bytes."""
        return cls(digest_of(data), alt)


_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}


def grant(values: Mapping[str, str] | None = None, /, **by_name: str) -> dict[str, str]:
    """The environment that grants each secret NAME its value, as an operator does:
    `grant(MYNET_TOKEN="s3cr3t")` is `{"SOCIALSCHED_SECRET_MYNET_TOKEN": "s3cr3t"}`.
    Pass it as an adapter's `environ` (or a contract's `environ` fixture)."""
    return {secret_variable(name): value for name, value in {**(values or {}), **by_name}.items()}


def sample_image(
    width: int = 64,
    height: int = 48,
    *,
    alt: str = "A test card",
    format: str = "PNG",
    color: int = 0,
) -> Media:
    """A small image made with Pillow, for media cases: a PNG by default, or `format`
    ("JPEG", "WEBP", "GIF"); a different `color` number gives different bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    fill = (200, (40 + 37 * color) % 256, (40 + 91 * color) % 256)
    Image.new("RGB", (width, height), fill).save(buffer, format)
    extension = "jpg" if format.upper() == "JPEG" else format.lower()
    return Media.from_bytes(buffer.getvalue(), alt=alt, filename=f"card.{extension}")


def sample_video(*, alt: str = "A test clip", seed: int = 0) -> Media:
    """A small MP4 file for media cases: a valid ISO media file header (`ftyp`) and an
    opaque payload, enough for adapters and fake networks, not for a video player. A
    different `seed` gives different bytes."""
    ftyp = _box(b"ftyp", b"isom" + (512).to_bytes(4, "big") + b"isomiso2avc1mp41")
    payload = hashlib.sha256(f"socialsched test clip {seed}".encode()).digest() * 32
    return Media.from_bytes(ftyp + _box(b"mdat", payload), alt=alt, filename="clip.mp4")


def _box(kind: bytes, content: bytes) -> bytes:
    return (8 + len(content)).to_bytes(4, "big") + kind + content
