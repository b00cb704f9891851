"""The media library: from a post's `media` items to the `Media` a delivery carries.

It picks the items for a segment's locale (fr-DZ, fr, default), reads files (a file
whose size and modification time a `MediaCache` already knows is not read or hashed
again), fetches http(s) URLs, fits images to a channel's limits once per content
digest and limits, and renders alt text per locale with the post's text context.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import urlsplit

import attrs

from socialsched.calendar.locale_keys import lookup as by_locale
from socialsched.calendar.model import Calendar, Channel, Post, Segment
from socialsched.calendar.post_problems import PostLines, PostMediaError
from socialsched.errors import MediaError, RenderError
from socialsched.trust.paths import (
    MAX_FILE_BYTES,
    PathMissing,
    PathRefused,
    confined,
    read_regular,
    regular_size,
)

from .cache import MemoryMediaCache
from .fitting import fit, variant_key
from .image_safety import ImageRefused, check_decodes
from .model import VIDEO_TYPES, Media, MediaCache, MediaItem, MediaLimits, MediaSpec, sniff_type


class AltRenderer(Protocol):
    """What renders a media item's alt text: planning's `Renderer` (the template
    engine belongs to planning, which media does not import)."""

    def render_alt(
        self,
        post: Post,
        source: str,
        label: str,
        segment: Segment,
        channel: Channel,
        when: datetime,
        holiday: str | None = None,
    ) -> str: ...


UNDECLARED_MEDIA_BYTES = 100_000_000
"""The byte cap of media for networks that declare no byte limit (console, jsonl), and
the least cap whatever the networks declare: images are read at up to this size and
fitted down to the network's limit."""


def items_for(media: MediaSpec, locale: str) -> tuple[MediaItem, ...]:
    """A post's media items for `locale`: the list itself, or the list keyed by the
    locale's fallback ('fr-DZ', 'fr', 'default'); none when no key matches."""
    if not isinstance(media, Mapping):
        return media
    found = by_locale(media, locale)
    return found[1] if found is not None else ()


def alt_source(item: MediaItem, post: Post, locale: str) -> tuple[str, str]:
    """(template text, label for errors) of an item's alt text in `locale`.

    Raises `RenderError` when the alt text is a table with no entry for the locale.
    """
    alt = item.alt
    label = f"post {post.id!r} media {item.source!r} alt"
    if alt is None:
        return "", label
    if isinstance(alt, str):
        return alt, label
    found = by_locale(alt, locale)
    if found is None:
        raise RenderError(
            f"{label}: no alt text for locale {locale!r} (has: {', '.join(alt)}; add one of "
            "them or 'default')"
        )
    return found[1], f"{label}[{found[0]!r}]"


def resolve_path(path: str, base: Path | None) -> Path:
    """A media path as an absolute path: relative ones are relative to `base` (the
    calendar file's folder), else to the working folder."""
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        resolved = (base or Path.cwd()) / resolved
    return resolved.resolve()


def content_problem(head: bytes, name: str) -> str | None:
    """What is wrong with a media file whose first bytes are `head` (its type is told
    by its content, never by its name), or None."""
    if sniff_type(head) is None:
        what = "is empty" if not head else "is not a JPEG, PNG, WebP or GIF image or an MP4 video"
        return f"{name} {what} (judged by its content, not its name)"
    return None


def file_problem(path: Path, label: str | None = None, missing: str | None = None) -> str | None:
    """What makes the media file at `path` unusable (missing, not a regular file, over
    `MAX_FILE_BYTES`, of an unknown type, an image Pillow cannot decode: truncated,
    damaged, too many pixels), or None. `label` names it in messages (default: the
    path); `missing` is the message for a missing file (the loader gives the one of a
    path outside the allowed folders, so the two cannot be told apart). Nothing but a
    regular file is opened; only the start of a video is read. The caller has checked
    that `path` is inside the allowed folders."""
    label = label or str(path)
    try:
        regular_size(path, f"media file {label}")
        head = read_regular(path, f"media file {label}", head=32)
    except PathMissing as error:
        return missing or str(error)
    except PathRefused as error:
        return str(error)
    problem = content_problem(head, label)
    if problem is not None or sniff_type(head) in VIDEO_TYPES:
        return problem
    try:
        check_decodes(read_regular(path, f"media file {label}"))
    except PathRefused as error:
        return str(error)
    except ImageRefused as error:
        return f"{label}: {error}"
    return None


def byte_cap(calendar: Calendar) -> int:
    """The most bytes read of one media file or URL of `calendar`: the largest any of
    its channels' networks accepts (at least `UNDECLARED_MEDIA_BYTES`, since images
    are fitted down), never over `MAX_FILE_BYTES`."""
    from socialsched.adapters.registry import adapter_class

    largest = UNDECLARED_MEDIA_BYTES
    for channel in calendar.channels:
        try:
            capabilities = adapter_class(channel.adapter).capabilities
        except Exception:  # an unknown adapter is reported elsewhere
            continue
        for limits in (capabilities.images, capabilities.videos):
            if limits.max_count and limits.max_bytes is not None:
                largest = max(largest, limits.max_bytes)
    return min(largest, MAX_FILE_BYTES)


def keep_metadata(channel: Channel) -> bool:
    """Whether the channel's settings ask to keep image metadata (`keep_metadata`)."""
    value = channel.settings.get("keep_metadata", False)
    if not isinstance(value, bool):
        raise MediaError(
            f"channel {channel.name!r}: settings.keep_metadata must be true or false, not {value!r}"
        )
    return value


class MediaLibrary:
    """Reads, fetches and fits the media of a calendar's posts, each once.

    `cache` keeps sources and fitted variants (the store passes a persistent one;
    by default they are kept in memory). Files of a calendar loaded from a file must
    be inside its folder (see `socialsched.trust.paths`); URLs are fetched with
    `socialsched.trust.safe_fetch`. Neither is read past `byte_cap(calendar)` bytes.
    """

    def __init__(
        self,
        calendar: Calendar,
        cache: MediaCache | None = None,
        *,
        renderer: AltRenderer | None = None,
    ) -> None:
        self.calendar = calendar
        self.cache: MediaCache = cache if cache is not None else MemoryMediaCache()
        self.renderer = renderer
        self.max_bytes = byte_cap(calendar)
        self._base = calendar.source.parent if calendar.source is not None else None
        self._files: dict[tuple[str, int, int], Media] = {}
        self._urls: dict[str, Media] = {}
        self._fitted: dict[tuple[str, str], Media] = {}
        #: Where each post was written, for messages naming file and line.
        self.lines = PostLines(calendar)

    def sources(self, post: Post, locale: str) -> tuple[Media, ...]:
        """The original media of `post` for `locale` (alt text not rendered)."""
        return tuple(self.source(item, post) for item in items_for(post.media, locale))

    def source(self, item: MediaItem, post: Post) -> Media:
        """The original media an item names; raises `MediaError` naming the post."""
        if item.url is not None:
            return self._fetch(item.url, post)
        assert item.path is not None
        source = self.calendar.source
        if source is None:
            # A calendar built in Python: its paths are the program's, not a contributor's.
            return self._read(resolve_path(item.path, self._base), post)
        try:
            path = confined(item.path, source, "media file")
        except PathRefused as error:
            raise self._error(post, item.path, str(error)) from None
        return self._read(path, post)

    def _error(self, post: Post, source: str | None, detail: str) -> PostMediaError:
        """A `MediaError` about `source` of `post`, beginning `FILE:LINE: post 'ID'`
        (the line naming the file, when the calendar came from a file)."""
        return PostMediaError(
            self.lines.location(post.id, source, "media"), post.id, source, detail
        )

    def _read(self, path: Path, post: Post) -> Media:
        label = f"media file {path}"
        try:
            stat = regular_size(path, label, self.max_bytes)
        except PathRefused as error:
            raise self._error(post, str(path), str(error)) from None
        source = str(path)
        key = (source, stat.st_size, stat.st_mtime_ns)
        media = self._files.get(key)
        if media is None:
            media = self.cache.known_source(*key)
        if media is None:
            try:
                data = read_regular(path, label, self.max_bytes)
            except PathRefused as error:
                raise self._error(post, str(path), str(error)) from None
            media = self.cache.remember_source(*key, _parsed(data, path.name, source, post, self))
        self._files[key] = media
        return media

    def _fetch(self, url: str, post: Post) -> Media:
        media = self._urls.get(url)
        if media is not None:
            return media
        from socialsched.trust.safe_fetch import FetchRefused, fetch

        try:
            data = fetch(url, max_bytes=self.max_bytes).data
        except FetchRefused as error:
            raise self._error(post, url, f"cannot fetch media {url}: {error}") from None
        name = PurePosixPath(urlsplit(url).path).name or "media"
        # A URL has no modification time: what was fetched is kept under its size.
        media = self.cache.remember_source(url, len(data), 0, _parsed(data, name, url, post, self))
        self._urls[url] = media
        return media

    def fitted(
        self,
        media: Media,
        limits: MediaLimits,
        keep_metadata: bool = False,
        post: Post | None = None,
    ) -> Media:
        """`media` fitted to `limits` (see `socialsched.media.fitting.fit`), computed once;
        an error names `post`'s file and line when given."""
        key = (media.digest, variant_key(limits, keep_metadata))
        variant = self._fitted.get(key)
        if variant is None:
            try:
                variant = fit(media, limits, keep_metadata=keep_metadata, cache=self.cache)
            except MediaError as error:
                if post is None:
                    raise
                raise self._error(post, media.source or None, str(error)) from None
            self._fitted[key] = variant
        return attrs.evolve(variant, alt=media.alt, source=media.source)

    def media_for(
        self,
        post: Post,
        segment: Segment,
        channel: Channel,
        when: datetime,
        holiday: str | None = None,
    ) -> tuple[Media, ...]:
        """The post's media for `segment`'s locale, as read (not fitted), each with
        its alt text rendered for the segment and channel at local time `when`."""
        renderer = self.renderer
        if renderer is None:
            raise ValueError(
                "MediaLibrary needs renderer= (a socialsched.planning.render.Renderer) "
                "to render alt texts"
            )
        found = []
        for item in items_for(post.media, segment.locale):
            source, label = alt_source(item, post, segment.locale)
            alt = renderer.render_alt(post, source, label, segment, channel, when, holiday)
            found.append(attrs.evolve(self.source(item, post), alt=alt))
        return tuple(found)


def post_location(calendar: Calendar, post: Post) -> str:
    """`FILE:LINE: post 'ID'` (the line of the post's `media`, else of its block; a
    spreadsheet row's line) when known, else `post 'ID'`: how media errors begin."""
    return PostLines(calendar).location(post.id, key="media")


def _parsed(data: bytes, name: str, source: str, post: Post, library: MediaLibrary) -> Media:
    problem = content_problem(data[:32], source)
    if problem is not None:
        raise library._error(post, source, problem)
    try:
        media = Media.from_bytes(data, filename=name, source=source)
        if media.kind == "image" and "://" in source:
            # A file was decoded whole by the loader; a URL's body is only now known:
            # find a truncated or damaged image before it is stored.
            check_decodes(data)
    except ValueError as error:
        raise library._error(post, source, f"{source}: {error}") from None
    return media


__all__ = [
    "UNDECLARED_MEDIA_BYTES",
    "AltRenderer",
    "MediaLibrary",
    "alt_source",
    "byte_cap",
    "content_problem",
    "file_problem",
    "items_for",
    "keep_metadata",
    "post_location",
    "resolve_path",
]
