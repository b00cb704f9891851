"""Media: the images and videos a post carries, as a calendar names them and as an
adapter receives them.

A calendar names media with `MediaItem`s (a file path or an http(s) URL, plus alt text
per locale). What an adapter receives in `Message.attachments` is a `Media`: the kind,
MIME type, size in bytes, pixel size, alt text, content digest and a way to read the
bytes (from the file, a fitted variant in memory, or the store on another machine).
What a network accepts is declared per kind with `MediaLimits` in its `Capabilities`.

The type of a file is decided by its content (magic bytes), never by its name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import attrs

from socialsched.calendar.locale_keys import locale_table

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
"""Image MIME types socialsched accepts in a calendar."""

VIDEO_TYPES = ("video/mp4",)
"""Video MIME types socialsched accepts in a calendar."""

MEDIA_KINDS = ("image", "video")


def sniff_type(head: bytes) -> str | None:
    """The MIME type of a file from its first bytes (at least 16), or None when it is
    none of `IMAGE_TYPES` or `VIDEO_TYPES`."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    # ISO base media file: a box size, then "ftyp" and a major brand.
    if head[4:8] == b"ftyp" and head[8:12] != b"qt  " and head[8:11] != b"hei":
        return "video/mp4"
    return None


def kind_of(mime_type: str) -> str:
    """ "image" or "video" for a MIME type."""
    return mime_type.partition("/")[0]


def digest_of(data: bytes) -> str:
    """The content digest socialsched names media by: SHA-256, hex."""
    return hashlib.sha256(data).hexdigest()


def _mime_types(values: Iterable[str]) -> tuple[str, ...]:
    # A typed converter: mypy cannot infer the element type through `converter=tuple`.
    return tuple(values)


@attrs.frozen
class MediaLimits:
    """What a network accepts of one kind of media (images or videos) in one post.

    `max_count` 0 means the kind is not accepted at all. `max_pixels` bounds width x
    height, `max_side` the longer side; `types` lists accepted MIME types (empty:
    any of socialsched's). `animated` says whether an animated GIF stays animated.
    """

    max_count: int = 0
    max_bytes: int | None = None
    max_pixels: int | None = None
    max_side: int | None = None
    types: tuple[str, ...] = attrs.field(default=(), converter=_mime_types)
    animated: bool = True

    def accepts(self, mime_type: str) -> bool:
        """Whether this network takes media of `mime_type` at all."""
        return self.max_count > 0 and (not self.types or mime_type in self.types)

    def key(self) -> str:
        """A short stable text of the limits that shape a fitted variant."""
        return f"{self.max_bytes}:{self.max_pixels}:{self.max_side}:{','.join(self.types)}"


NO_MEDIA = MediaLimits()


@attrs.frozen
class Media:
    """One image or video as an adapter receives it.

    `digest` is the SHA-256 (hex) of the bytes `read()` returns (for a fitted image,
    of the fitted bytes); `source` is the file or URL it came from, for messages.
    """

    kind: str = attrs.field(validator=attrs.validators.in_(MEDIA_KINDS))
    mime_type: str
    size: int
    digest: str
    width: int | None = None
    height: int | None = None
    alt: str = ""
    filename: str = ""
    animated: bool = False
    source: str = ""
    reader: Callable[[], bytes] | None = attrs.field(default=None, eq=False, repr=False)

    def read(self) -> bytes:
        """The bytes to upload."""
        if self.reader is None:
            raise ValueError(f"media {self.filename or self.digest[:12]} has no content")
        return self.reader()

    @classmethod
    def from_bytes(
        cls, data: bytes, *, alt: str = "", filename: str = "", source: str = ""
    ) -> Media:
        """A `Media` holding `data` in memory, its type and pixel size read from it.

        Raises `ValueError` when the bytes are not a supported image or video.
        """
        mime_type = sniff_type(data[:32])
        if mime_type is None:
            raise ValueError(
                f"{filename or 'media'} is not a JPEG, PNG, WebP or GIF image or an MP4 video"
            )
        width = height = None
        animated = False
        if kind_of(mime_type) == "image":
            width, height, animated = image_geometry(data)
        return cls(
            kind=kind_of(mime_type),
            mime_type=mime_type,
            size=len(data),
            digest=digest_of(data),
            width=width,
            height=height,
            alt=alt,
            filename=filename,
            animated=animated,
            source=source,
            reader=lambda: data,
        )

    @property
    def pixels(self) -> int | None:
        """Width x height, when known."""
        if self.width is None or self.height is None:
            return None
        return self.width * self.height

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (no bytes)."""
        return {
            "kind": self.kind,
            "mime_type": self.mime_type,
            "size": self.size,
            "digest": self.digest,
            "width": self.width,
            "height": self.height,
            "alt": self.alt,
            "filename": self.filename,
            "source": self.source,
        }


def image_geometry(data: bytes) -> tuple[int, int, bool]:
    """(width, height, animated) of an image, read with Pillow (header only); width
    and height as displayed, that is after its EXIF orientation.

    Raises `ValueError` when Pillow cannot read it or it has too many pixels.
    """
    from .image_safety import check_bounds, opened

    # Pillow's bomb limit and a bound on an animation's frames x pixels apply here,
    # before anything decodes the pixels (`ImageRefused` is a ValueError).
    with opened(data) as image:
        check_bounds(image)
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
        animated = bool(getattr(image, "is_animated", False))
    if orientation in (5, 6, 7, 8):  # rotated a quarter turn
        width, height = height, width
    return width, height, animated


def _alt(value: Any) -> str | Mapping[str, str] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return locale_table({str(k): str(v) for k, v in value.items()}, "alt")
    raise ValueError("alt must be a string or a table keyed by locale")


def _optional_text(what: str) -> Callable[[Any, Any, Any], None]:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"a media item's {what} must be a string, not {value!r}")

    return check


@attrs.frozen
class MediaItem:
    """One image or video of a post, as a calendar names it.

    Exactly one of `path` (a file; relative paths are relative to the calendar file's
    folder, resolved by the loader) or `url` (http or https, fetched at schedule time).
    `alt` is the alt text: a string or a table keyed by locale, Jinja allowed as in text.
    """

    path: str | None = attrs.field(default=None, validator=_optional_text("path"))
    url: str | None = attrs.field(default=None, validator=_optional_text("url"))
    alt: str | Mapping[str, str] | None = attrs.field(default=None, converter=_alt)

    def __attrs_post_init__(self) -> None:
        if (self.path is None) == (self.url is None):
            raise ValueError("a media item needs exactly one of path or url")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"media url {self.url!r} must start with http:// or https://")

    @property
    def source(self) -> str:
        """The path or URL."""
        return self.path if self.path is not None else str(self.url)

    @classmethod
    def parse(cls, value: Any) -> MediaItem:
        """A `MediaItem` from a string (a path or URL) or a table with path/url and alt."""
        if isinstance(value, MediaItem):
            return value
        if isinstance(value, str):
            if value.startswith(("http://", "https://")):
                return cls(url=value)
            return cls(path=value)
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {"path", "url", "alt"})
            if unknown:
                raise ValueError(
                    f"unknown key {unknown[0]!r} in a media item (allowed: path, url, alt)"
                )
            return cls(**value)
        raise ValueError(f"a media item must be a path or a table with path and alt, not {value!r}")


MediaSpec = tuple[MediaItem, ...] | Mapping[str, tuple[MediaItem, ...]]
"""A post's media: one list for every locale, or lists keyed by locale ("default")."""


def media_spec(value: Any) -> MediaSpec:
    """A post's `media` from a list of items or a table of lists keyed by locale."""
    if value is None:
        return ()
    if isinstance(value, Mapping) and not ({"path", "url", "alt"} & set(value)):
        lists = {str(locale): media_spec(items) for locale, items in value.items()}
        return locale_table(lists, "media")  # type: ignore[arg-type]
    if isinstance(value, str | Mapping | MediaItem):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ValueError(
            f"media must be a list of items (a path or url, with alt) or a table of such "
            f"lists keyed by locale, not {value!r}"
        )
    return tuple(MediaItem.parse(item) for item in value)


class MediaCache(Protocol):
    """Where media already seen are remembered, so that a file is not read, hashed or
    fitted again. The planner uses an in-memory one by default; the store provides a
    persistent one (content-addressed blobs in the database) so that scheduling the
    same files again reads nothing and runners on other machines read the bytes from
    the database.

    `source` is an absolute file path or a URL; `limits_key` is `MediaLimits.key()`.
    Every `Media` returned has a working `read()`.
    """

    def known_source(self, source: str, size: int, mtime_ns: int) -> Media | None:
        """The media last stored from `source` when it had this size and modification
        time (None: never, or the file changed since)."""

    def remember_source(self, source: str, size: int, mtime_ns: int, media: Media) -> Media:
        """Keep `media` (read from `source`, its bytes included) and return the kept
        copy, whose `read()` no longer needs the file."""

    def known_variant(self, digest: str, limits_key: str) -> Media | None:
        """The variant of media `digest` fitted to limits `limits_key`, if kept."""

    def remember_variant(self, digest: str, limits_key: str, variant: Media) -> Media:
        """Keep `variant` (its bytes included) as the fit of `digest` to `limits_key`."""


__all__ = [
    "IMAGE_TYPES",
    "NO_MEDIA",
    "VIDEO_TYPES",
    "Media",
    "MediaCache",
    "MediaItem",
    "MediaLimits",
    "MediaSpec",
    "digest_of",
    "image_geometry",
    "media_spec",
    "sniff_type",
]
