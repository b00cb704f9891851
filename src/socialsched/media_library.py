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
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import attrs

from .errors import MediaError, RenderError
from .fitting import fit, variant_key
from .media import VIDEO_TYPES, Media, MediaCache, MediaItem, MediaLimits, MediaSpec, sniff_type
from .media_cache import MemoryMediaCache
from .model import Calendar, Channel, Post, Segment
from .render import Renderer, by_locale

if TYPE_CHECKING:
    import httpx

FETCH_TIMEOUT = 30.0


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


def file_problem(path: Path) -> str | None:
    """What makes the media file at `path` unusable (missing, unreadable, of an unknown
    type, an image Pillow cannot read), or None. Reads only the start of a video."""
    try:
        with path.open("rb") as handle:
            head = handle.read(32)
    except FileNotFoundError:
        return f"media file {path} not found"
    except IsADirectoryError:
        return f"media file {path} is a folder"
    except OSError as error:
        return f"cannot read media file {path}: {error.strerror}"
    problem = content_problem(head, str(path))
    if problem is not None or sniff_type(head) in VIDEO_TYPES:
        return problem
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return f"{path}: unreadable image: {error}"
    return None


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
    by default they are kept in memory); `client` is the HTTP client for URLs.
    """

    def __init__(
        self,
        calendar: Calendar,
        cache: MediaCache | None = None,
        *,
        client: httpx.Client | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        self.calendar = calendar
        self.cache: MediaCache = cache if cache is not None else MemoryMediaCache()
        self.renderer = renderer
        self._client = client
        self._base = calendar.source.parent if calendar.source is not None else None
        self._files: dict[tuple[str, int, int], Media] = {}
        self._urls: dict[str, Media] = {}
        self._fitted: dict[tuple[str, str], Media] = {}

    def sources(self, post: Post, locale: str) -> tuple[Media, ...]:
        """The original media of `post` for `locale` (alt text not rendered)."""
        return tuple(self.source(item, post) for item in items_for(post.media, locale))

    def source(self, item: MediaItem, post: Post) -> Media:
        """The original media an item names; raises `MediaError` naming the post."""
        if item.url is not None:
            return self._fetch(item.url, post)
        assert item.path is not None
        return self._read(resolve_path(item.path, self._base), post)

    def _read(self, path: Path, post: Post) -> Media:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise MediaError(f"post {post.id!r}: media file {path} not found") from None
        except OSError as error:
            raise MediaError(f"post {post.id!r}: cannot read {path}: {error.strerror}") from None
        source = str(path)
        key = (source, stat.st_size, stat.st_mtime_ns)
        media = self._files.get(key)
        if media is None:
            media = self.cache.known_source(*key)
        if media is None:
            try:
                data = path.read_bytes()
            except OSError as error:
                raise MediaError(
                    f"post {post.id!r}: cannot read {path}: {error.strerror}"
                ) from None
            media = self.cache.remember_source(*key, _parsed(data, path.name, source, post))
        self._files[key] = media
        return media

    def _fetch(self, url: str, post: Post) -> Media:
        media = self._urls.get(url)
        if media is not None:
            return media
        import httpx  # only calendars with URLs pay for importing it

        client = self._client or httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=True)
        try:
            response = client.get(url)
            response.raise_for_status()
        except httpx.HTTPStatusError as error:
            raise MediaError(
                f"post {post.id!r}: cannot fetch media {url}: HTTP {error.response.status_code}"
            ) from None
        except httpx.HTTPError as error:
            raise MediaError(
                f"post {post.id!r}: cannot fetch media {url}: {type(error).__name__}: {error}"
            ) from None
        finally:
            if self._client is None:
                client.close()
        data = response.content
        name = PurePosixPath(urlsplit(url).path).name or "media"
        # A URL has no modification time: what was fetched is kept under its size.
        media = self.cache.remember_source(url, len(data), 0, _parsed(data, name, url, post))
        self._urls[url] = media
        return media

    def fitted(self, media: Media, limits: MediaLimits, keep_metadata: bool = False) -> Media:
        """`media` fitted to `limits` (see `socialsched.fitting.fit`), computed once."""
        key = (media.digest, variant_key(limits, keep_metadata))
        variant = self._fitted.get(key)
        if variant is None:
            variant = fit(media, limits, keep_metadata=keep_metadata, cache=self.cache)
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
        renderer = self.renderer or Renderer(self.calendar)
        self.renderer = renderer
        found = []
        for item in items_for(post.media, segment.locale):
            source, label = alt_source(item, post, segment.locale)
            alt = renderer.render_alt(post, source, label, segment, channel, when, holiday)
            found.append(attrs.evolve(self.source(item, post), alt=alt))
        return tuple(found)


def _parsed(data: bytes, name: str, source: str, post: Post) -> Media:
    problem = content_problem(data[:32], source)
    if problem is not None:
        raise MediaError(f"post {post.id!r}: {problem}")
    try:
        return Media.from_bytes(data, filename=name, source=source)
    except ValueError as error:
        raise MediaError(f"post {post.id!r}: {source}: {error}") from None


__all__ = [
    "MediaLibrary",
    "alt_source",
    "content_problem",
    "file_problem",
    "items_for",
    "keep_metadata",
    "resolve_path",
]
