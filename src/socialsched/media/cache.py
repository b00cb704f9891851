"""An in-memory `MediaCache`: what the planner uses when no store provides one."""

from __future__ import annotations

import attrs

from .model import Media


def _holding_bytes(media: Media) -> Media:
    """`media` with its bytes in memory, so that `read()` needs no file or network."""
    data = media.read()
    return attrs.evolve(media, reader=lambda: data)


class MemoryMediaCache:
    """Keeps sources and fitted variants in memory for the life of the object.

    Follows the `socialsched.media.model.MediaCache` protocol: a source is known again only
    while its size and modification time are unchanged.
    """

    def __init__(self) -> None:
        self._sources: dict[str, tuple[int, int, Media]] = {}
        self._variants: dict[tuple[str, str], Media] = {}

    def known_source(self, source: str, size: int, mtime_ns: int) -> Media | None:
        """The media last kept from `source` with this size and mtime, else None."""
        entry = self._sources.get(source)
        if entry is None or entry[:2] != (size, mtime_ns):
            return None
        return entry[2]

    def remember_source(self, source: str, size: int, mtime_ns: int, media: Media) -> Media:
        """Keep `media` read from `source`; returns the kept copy."""
        kept = _holding_bytes(media)
        self._sources[source] = (size, mtime_ns, kept)
        return kept

    def known_variant(self, digest: str, limits_key: str) -> Media | None:
        """The variant of `digest` fitted to `limits_key`, if kept."""
        return self._variants.get((digest, limits_key))

    def remember_variant(self, digest: str, limits_key: str, variant: Media) -> Media:
        """Keep `variant` as the fit of `digest` to `limits_key`; returns the kept copy."""
        kept = _holding_bytes(variant)
        self._variants[(digest, limits_key)] = kept
        return kept


__all__ = ["MemoryMediaCache"]
