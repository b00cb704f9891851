"""Media uploads through X API v2's chunked upload endpoints: initialize, append the
bytes in segments, finalize, wait while X processes a video or GIF, then set the alt
text (`POST /2/media/metadata`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from socialsched.adapters import PermanentError, TransientError, read_media
from socialsched.media import Media, MediaLimits

SEGMENT_BYTES = 4 * 1024 * 1024
"""Bytes per appended segment (X takes at most 5 MB per request)."""
IMAGES = MediaLimits(
    max_count=4,
    max_bytes=5_000_000,
    types=("image/jpeg", "image/png", "image/webp", "image/gif"),
)
VIDEOS = MediaLimits(max_count=1, max_bytes=512_000_000, types=("video/mp4",))
MAX_ALT_LENGTH = 1_000
DEFAULT_PROCESSING_TIMEOUT = 600.0

Request = Callable[..., dict[str, Any]]
"""The adapter's authenticated request: (method, path, **httpx arguments) -> JSON."""


def category(media: Media) -> str:
    """X's media_category for `media`: how X processes it and where it may be used."""
    if media.kind == "video":
        return "tweet_video"
    return "tweet_gif" if media.mime_type == "image/gif" and media.animated else "tweet_image"


def upload(
    request: Request,
    media: Media,
    *,
    sleep: Callable[[float], None] = time.sleep,
    processing_timeout: float = DEFAULT_PROCESSING_TIMEOUT,
) -> str:
    """Upload `media` and set its alt text; the media id to name in a post."""
    data = read_media(media)
    started = request(
        "POST",
        "/2/media/upload/initialize",
        json={
            "media_type": media.mime_type,
            "total_bytes": len(data),
            "media_category": category(media),
        },
    )
    media_id = str((started.get("data") or {}).get("id") or "")
    if not media_id:
        raise TransientError("x media upload: initialize gave no media id")
    for index, offset in enumerate(range(0, len(data), SEGMENT_BYTES)):
        request(
            "POST",
            f"/2/media/upload/{media_id}/append",
            data={"segment_index": str(index)},
            files={"media": ("segment", data[offset : offset + SEGMENT_BYTES])},
        )
    finished = request("POST", f"/2/media/upload/{media_id}/finalize")
    processing = (finished.get("data") or {}).get("processing_info")
    waited = 0.0
    while processing and processing.get("state") in ("pending", "in_progress"):
        if waited >= processing_timeout:
            raise TransientError(f"x media {media_id}: still processing after {waited:g}s")
        pause = float(processing.get("check_after_secs") or 1)
        sleep(pause)
        waited += max(pause, 0.001)
        status = request(
            "GET", "/2/media/upload", params={"command": "STATUS", "media_id": media_id}
        )
        processing = (status.get("data") or {}).get("processing_info")
    if processing and processing.get("state") == "failed":
        error = processing.get("error") or {}
        raise PermanentError(
            f"x media {media_id}: processing failed "
            f"({error.get('message') or error.get('name') or 'no detail given'})"
        )
    if media.alt:
        request(
            "POST",
            "/2/media/metadata",
            json={"id": media_id, "metadata": {"alt_text": {"text": media.alt}}},
        )
    return media_id
