"""The media and alt-text limits a Mastodon instance announces in its configuration
(`GET /api/v2/instance`), applied over Mastodon's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from socialsched.adapters import Capabilities
from socialsched.media import IMAGE_TYPES, VIDEO_TYPES, MediaLimits


def instance_media_limits(
    capabilities: Capabilities, statuses: Mapping[str, Any], media: Mapping[str, Any]
) -> Capabilities:
    """`capabilities` with the media limits an instance announces in its configuration
    (`statuses.max_media_attachments`, `media_attachments.*`); what it leaves out keeps
    Mastodon's default."""

    def limits(current: MediaLimits, kind_types: tuple[str, ...], prefix: str) -> MediaLimits:
        changes: dict[str, Any] = {}
        if prefix == "image" and statuses.get("max_media_attachments") is not None:
            changes["max_count"] = int(statuses["max_media_attachments"])
        if media.get(f"{prefix}_size_limit") is not None:
            changes["max_bytes"] = int(media[f"{prefix}_size_limit"])
        if media.get(f"{prefix}_matrix_limit") is not None:
            changes["max_pixels"] = int(media[f"{prefix}_matrix_limit"])
        supported = media.get("supported_mime_types")
        if isinstance(supported, list):
            types = tuple(mime for mime in kind_types if mime in supported)
            # No accepted type at all: the kind is refused (empty types would mean any).
            changes["types"] = types or current.types
            if not types:
                changes["max_count"] = 0
        return attrs.evolve(current, **changes)

    alt_length = media.get("description_limit")
    return attrs.evolve(
        capabilities,
        images=limits(capabilities.images, IMAGE_TYPES, "image"),
        videos=limits(capabilities.videos, VIDEO_TYPES, "video"),
        max_alt_length=int(alt_length) if alt_length is not None else capabilities.max_alt_length,
    )
