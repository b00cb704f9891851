"""Media for LinkedIn posts: images through the Images API and videos through the Videos
API, each initialised for the post's author, uploaded to the URL LinkedIn gives, and
then named in the post's `content`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from socialsched.adapters import PermanentError, TransientError, read_media
from socialsched.media import Media, MediaLimits

IMAGES = MediaLimits(
    max_count=20,
    max_pixels=36_152_320,
    types=("image/jpeg", "image/png", "image/gif"),
    animated=False,
)
VIDEOS = MediaLimits(max_count=1, max_bytes=500_000_000, types=("video/mp4",))
MAX_ALT_LENGTH = 4_086
DEFAULT_PROCESSING_TIMEOUT = 600.0
PROCESSING_CHECK = 5.0

Request = Callable[..., httpx.Response]
"""The adapter's authenticated request: (method, path or URL, **httpx arguments)."""


def upload_image(request: Request, owner: str, image: Media) -> str:
    """Upload `image` for `owner`; its `urn:li:image:...`."""
    data = read_media(image)
    started = request(
        "POST",
        "/rest/images?action=initializeUpload",
        json={"initializeUploadRequest": {"owner": owner}},
    ).json()
    value = started.get("value") or {}
    if not value.get("uploadUrl") or not value.get("image"):
        raise TransientError("linkedin image upload: initializeUpload gave no upload URL")
    request("PUT", value["uploadUrl"], content=data)
    return str(value["image"])


def upload_video(
    request: Request,
    owner: str,
    video: Media,
    *,
    sleep: Callable[[float], None] = time.sleep,
    processing_timeout: float = DEFAULT_PROCESSING_TIMEOUT,
) -> str:
    """Upload `video` for `owner` in the parts LinkedIn asks for, finalize it and wait
    until it is available; its `urn:li:video:...`."""
    data = read_media(video)
    started = request(
        "POST",
        "/rest/videos?action=initializeUpload",
        json={
            "initializeUploadRequest": {
                "owner": owner,
                "fileSizeBytes": len(data),
                "uploadCaptions": False,
                "uploadThumbnail": False,
            }
        },
    ).json()
    value = started.get("value") or {}
    urn = value.get("video")
    instructions: Sequence[dict[str, Any]] = value.get("uploadInstructions") or []
    if not urn or not instructions:
        raise TransientError("linkedin video upload: initializeUpload gave no upload URLs")
    etags = []
    for part in instructions:
        chunk = data[int(part["firstByte"]) : int(part["lastByte"]) + 1]
        response = request("PUT", part["uploadUrl"], content=chunk)
        etags.append(response.headers.get("etag", ""))
    request(
        "POST",
        "/rest/videos?action=finalizeUpload",
        json={
            "finalizeUploadRequest": {
                "video": urn,
                "uploadToken": value.get("uploadToken", ""),
                "uploadedPartIds": etags,
            }
        },
    )
    waited = 0.0
    while True:
        status = request("GET", f"/rest/videos/{_quoted(urn)}").json().get("status")
        if status == "AVAILABLE":
            return str(urn)
        if status == "PROCESSING_FAILED":
            raise PermanentError(f"linkedin video {urn}: processing failed")
        if waited >= processing_timeout:
            raise TransientError(f"linkedin video {urn}: still {status} after {waited:g}s")
        sleep(PROCESSING_CHECK)
        waited += PROCESSING_CHECK


def content(items: Sequence[tuple[Media, str]]) -> dict[str, Any]:
    """The post's `content` naming the uploaded media (with their alt text)."""
    if len(items) == 1:
        media, urn = items[0]
        return {"media": _entry(media, urn)}
    return {"multiImage": {"images": [_entry(media, urn) for media, urn in items]}}


def _entry(media: Media, urn: str) -> dict[str, str]:
    entry = {"id": urn}
    if media.alt and media.kind == "image":
        entry["altText"] = media.alt
    return entry


def _quoted(urn: str) -> str:
    return quote(urn, safe="")
