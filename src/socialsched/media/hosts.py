"""Media hosts: making a stored image or video reachable at a public URL while it is
published, for networks that fetch media from a URL rather than taking the bytes
(Instagram, Threads).

A channel names its host in `settings.media_host`, a table whose `kind` picks the host
(default "folder") and whose other keys configure it:

    [channel.settings.media_host]
    folder = "/srv/www/media"
    base_url = "https://example.com/media"

The built-in "folder" host writes each file into a folder that the user's web server
serves at `base_url`, named by its digest, and removes it once the post is out. A
plugin provides another kind (object storage, a CDN) through the
`register_media_hosts` hook.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from socialsched.errors import SocialschedError

from .model import Media

DEFAULT_KIND = "folder"
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
}


class MediaHostError(SocialschedError):
    """A media host is misconfigured or could not make a file reachable."""


class MediaHost(Protocol):
    """Makes media reachable at a public URL for the time of publishing."""

    def put(self, media: Media) -> str:
        """Make `media` reachable and return its public URL."""

    def remove(self, url: str) -> None:
        """Stop serving what `put` returned `url` for (called after publishing)."""


MediaHostFactory = Callable[[Mapping[str, Any]], MediaHost]
"""Builds a host from the channel's `media_host` table (without `kind`)."""


def file_name(media: Media) -> str:
    """The name a host gives `media`: its digest and an extension matching its type."""
    return media.digest + _EXTENSIONS.get(media.mime_type, "")


@attrs.frozen
class FolderMediaHost:
    """Writes media into `folder`, served by the user's web server at `base_url`."""

    folder: Path = attrs.field(converter=Path)
    base_url: str = attrs.field(converter=lambda url: str(url).rstrip("/"))

    @base_url.validator
    def _check_base_url(self, attribute: Any, value: str) -> None:
        if not value.startswith(("http://", "https://")):
            raise MediaHostError(f"media_host base_url {value!r} must start with https://")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> FolderMediaHost:
        """A folder host from `{ folder = ..., base_url = ... }`."""
        missing = [key for key in ("folder", "base_url") if not settings.get(key)]
        if missing:
            raise MediaHostError(
                f"media_host needs {' and '.join(missing)} "
                '(e.g. { folder = "/srv/www/media", base_url = "https://example.com/media" })'
            )
        unknown = sorted(set(settings) - {"folder", "base_url"})
        if unknown:
            raise MediaHostError(f"unknown media_host key {unknown[0]!r} for kind 'folder'")
        return cls(settings["folder"], settings["base_url"])

    def put(self, media: Media) -> str:
        name = file_name(media)
        target = self.folder / name
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                # Written aside, then renamed: the web server never serves half a file.
                handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".upload-")
                try:
                    with os.fdopen(handle, "wb") as stream:
                        stream.write(media.read())
                    os.chmod(temporary, 0o644)
                    os.replace(temporary, target)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(temporary)
                    raise
        except OSError as error:
            raise MediaHostError(f"cannot write {target}: {error.strerror}") from None
        return f"{self.base_url}/{name}"

    def remove(self, url: str) -> None:
        name = url.rpartition("/")[2]
        if name and not name.startswith("."):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / name).unlink()


def media_host(
    settings: Mapping[str, Any] | None, factories: Mapping[str, MediaHostFactory]
) -> MediaHost:
    """The host a channel's `media_host` table describes, built by the factory of its
    kind in `factories` (`MediaHostError` when it names none, an unknown kind or is
    incomplete). `socialsched.plugins.media_host(settings)` passes the factories that
    socialsched and its plugins provide."""
    if not settings:
        raise MediaHostError(
            "this network fetches media from a URL: set settings.media_host = "
            '{ folder = "...", base_url = "https://..." } (see docs/media-hosts.md)'
        )
    if not isinstance(settings, Mapping):
        raise MediaHostError("settings.media_host must be a table")
    options = dict(settings)
    kind = str(options.pop("kind", DEFAULT_KIND))
    if kind not in factories:
        raise MediaHostError(
            f"unknown media_host kind {kind!r} (installed: {', '.join(sorted(factories))})"
        )
    return factories[kind](options)


@contextlib.contextmanager
def hosted(host: MediaHost, attachments: Sequence[Media]) -> Iterator[list[str]]:
    """Public URLs for `attachments` while the block runs; removed afterwards, even
    when publishing failed."""
    urls: list[str] = []
    try:
        for media in attachments:
            urls.append(host.put(media))
        yield urls
    finally:
        for url in urls:
            with contextlib.suppress(Exception):
                host.remove(url)


__all__ = [
    "FolderMediaHost",
    "MediaHost",
    "MediaHostError",
    "MediaHostFactory",
    "file_name",
    "hosted",
    "media_host",
]
