"""Media: the images and videos posts carry, used by the plan, store, run and adapter steps
of load -> plan -> store -> run -> adapter.

This package reads media files and URLs safely (`library`, `image_safety`), fits them to
each network's limits (`fitting`), caches them in memory (`cache`; the store's cache is
`socialsched.store.media_cache`) and hands them to media hosts for networks that take
URLs (`hosts`). Its model
(`model`: Media, MediaItem, MediaLimits, MediaCache) is re-exported here, so plugins keep
importing `from socialsched.media import Media, MediaLimits`.
"""

from .model import (
    IMAGE_TYPES,
    MEDIA_KINDS,
    NO_MEDIA,
    VIDEO_TYPES,
    Media,
    MediaCache,
    MediaItem,
    MediaLimits,
    MediaSpec,
    digest_of,
    image_geometry,
    kind_of,
    media_spec,
    sniff_type,
)

__all__ = [
    "IMAGE_TYPES",
    "MEDIA_KINDS",
    "NO_MEDIA",
    "VIDEO_TYPES",
    "Media",
    "MediaCache",
    "MediaItem",
    "MediaLimits",
    "MediaSpec",
    "digest_of",
    "image_geometry",
    "kind_of",
    "media_spec",
    "sniff_type",
]
