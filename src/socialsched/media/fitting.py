"""Fitting media to a network's limits, with Pillow: resize and re-encode images that
are too large, convert types the network refuses, apply EXIF orientation and strip
location and other metadata. Originals are never modified; each variant is computed
once per (content digest, limits) and kept in a `MediaCache`.

Videos are never transcoded: one over the network's limits is an error.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import attrs

from socialsched.errors import MediaError

from .image_safety import ImageRefused, check_bounds, frame_count, opened
from .model import Media, MediaCache, MediaLimits

# Re-encoding tries these JPEG/WebP qualities at one size before shrinking further.
QUALITY_STEPS = (90, 85, 80, 75, 70, 65, 60)
# Shrinking stops (and fitting fails) below this many pixels on the longer side.
MIN_SIDE = 16
# Bumped when fitting changes, so that variants kept by an older version are redone.
_FIT_VERSION = "fit1"

_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}
_SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif"}
_ORIENTATION = 0x0112


def variant_key(limits: MediaLimits, keep_metadata: bool = False) -> str:
    """The key a fitted variant is kept under next to its original's digest."""
    metadata = "keep" if keep_metadata else "strip"
    return f"{_FIT_VERSION}|{limits.key()}|animated={limits.animated}|{metadata}"


def fit(
    media: Media,
    limits: MediaLimits,
    *,
    keep_metadata: bool = False,
    cache: MediaCache | None = None,
) -> Media:
    """`media` as the network whose `limits` are given can take it.

    An image over the byte, pixel or side limits is scaled down and re-encoded (quality
    steps, then smaller) until it fits; a type the network refuses is converted (e.g.
    WebP to JPEG, or PNG when the image has transparency); EXIF orientation is applied
    to the pixels; EXIF (GPS included), XMP and IPTC metadata are removed unless
    `keep_metadata`, even from an image that otherwise fits. An image that needs none
    of this is returned as is. The result keeps `media`'s alt text and source.

    Media of a kind the network takes none of are returned unchanged (the adapter's
    `media_problems` reports them). Raises `MediaError` for a video over the limits or
    of a refused type, an animated image where the network takes none, or an image
    that cannot be made to fit.
    """
    key = variant_key(limits, keep_metadata)
    variant = cache.known_variant(media.digest, key) if cache is not None else None
    if variant is None:
        variant = _fit(media, limits, keep_metadata)
        if cache is not None:
            variant = cache.remember_variant(media.digest, key, variant)
    return attrs.evolve(variant, alt=media.alt, source=media.source)


def _name(media: Media) -> str:
    return media.source or media.filename or media.digest[:12]


def _fit(media: Media, limits: MediaLimits, keep_metadata: bool) -> Media:
    if limits.max_count == 0:
        return media
    if media.kind == "video":
        return _check_video(media, limits)
    data = media.read()
    try:
        # The bomb limit, the frames x pixels bound and every Pillow or OS error are
        # handled by `opened`: what reaches here is a plain message.
        with opened(data) as image:
            check_bounds(image)
            return _fit_image(media, data, image, limits, keep_metadata)
    except ImageRefused as error:
        raise MediaError(f"{_name(media)}: {error}") from None


def _check_video(media: Media, limits: MediaLimits) -> Media:
    if not limits.accepts(media.mime_type):
        raise MediaError(
            f"{_name(media)}: {media.mime_type} videos are not accepted here (takes "
            f"{', '.join(limits.types)}); socialsched does not convert videos"
        )
    if limits.max_bytes is not None and media.size > limits.max_bytes:
        raise MediaError(
            f"{_name(media)}: video is {media.size} bytes, over the limit of "
            f"{limits.max_bytes} bytes; socialsched does not transcode videos, "
            "so make it smaller before scheduling it"
        )
    return media


def _within(media: Media, limits: MediaLimits) -> bool:
    if not limits.accepts(media.mime_type):
        return False
    if limits.max_bytes is not None and media.size > limits.max_bytes:
        return False
    pixels = media.pixels or 0
    if limits.max_pixels is not None and pixels > limits.max_pixels:
        return False
    side = max(media.width or 0, media.height or 0)
    return limits.max_side is None or side <= limits.max_side


def _has_alpha(image: Any) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )


def _target_type(media: Media, limits: MediaLimits, alpha: bool) -> str:
    """The MIME type to write: the original's when accepted, else the most sensible
    accepted one (a lossless one for images with transparency)."""
    if limits.accepts(media.mime_type):
        return media.mime_type
    preference = (
        ("image/png", "image/webp", "image/jpeg", "image/gif")
        if alpha
        else ("image/jpeg", "image/png", "image/webp", "image/gif")
    )
    for mime_type in preference:
        if limits.accepts(mime_type):
            return mime_type
    raise MediaError(
        f"{_name(media)}: {media.mime_type} is not accepted here and socialsched cannot "
        f"convert it to {', '.join(limits.types)}"
    )


def _fit_image(
    media: Media, data: bytes, image: Any, limits: MediaLimits, keep_metadata: bool
) -> Media:
    if media.animated:
        return _fit_animated(media, image, limits)
    orientation = image.getexif().get(_ORIENTATION, 1)
    upright = orientation in (1, None)
    within = _within(media, limits)
    if within and upright:
        if keep_metadata or not _has_metadata(media, data, image):
            return media
        if media.mime_type == "image/jpeg":
            # Dropping the metadata segments leaves the compressed pixels untouched.
            stripped = _strip_jpeg_metadata(data)
            if stripped is not None:
                return _variant(media, stripped, media.mime_type)
    return _reencode(media, image, limits, keep_metadata, within)


def _has_metadata(media: Media, data: bytes, image: Any) -> bool:
    if media.mime_type == "image/jpeg":
        return _strip_jpeg_metadata(data) != data
    return (
        bool(image.getexif())
        or bool(getattr(image, "text", None))
        or bool({"exif", "xmp", "XML:com.adobe.xmp"} & set(image.info))
    )


def _strip_jpeg_metadata(data: bytes) -> bytes | None:
    """`data` without its APP1 (EXIF, XMP), APP13 (IPTC) and comment segments, the
    compressed image itself untouched; None when the JPEG cannot be parsed."""
    if not data.startswith(b"\xff\xd8"):
        return None
    kept = [data[:2]]
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image: the rest is pixels
            kept.append(data[position:])
            return b"".join(kept)
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        end = position + 2 + length
        if length < 2 or end > len(data):
            return None
        if marker not in (0xE1, 0xED, 0xFE):
            kept.append(data[position:end])
        position = end
    return None


def _scale_for(width: int, height: int, limits: MediaLimits) -> float:
    scale = 1.0
    if limits.max_pixels is not None and width * height > limits.max_pixels:
        scale = min(scale, math.sqrt(limits.max_pixels / (width * height)))
    if limits.max_side is not None and max(width, height) > limits.max_side:
        scale = min(scale, limits.max_side / max(width, height))
    return scale


def _size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def _reencode(
    media: Media, image: Any, limits: MediaLimits, keep_metadata: bool, within: bool
) -> Media:
    from PIL import Image, ImageOps

    width, height = media.width or image.width, media.height or image.height
    scale = _scale_for(width, height, limits)
    if limits.max_bytes is not None and media.size > limits.max_bytes and image.format == "JPEG":
        # Bytes go roughly with the area at a similar quality: start near the size that
        # fits rather than encoding the whole picture first.
        scale = min(scale, 1.25 * math.sqrt(limits.max_bytes / media.size))
    if image.format == "JPEG" and scale < 0.5:
        # Decoding a JPEG at a fraction of its size is much faster than decoding it
        # whole; draft keeps at least the requested size.
        stored = (image.width, image.height)
        image.draft(image.mode, (math.ceil(stored[0] * scale), math.ceil(stored[1] * scale)))
    base = ImageOps.exif_transpose(image)
    if base is None:  # pragma: no cover - only with in_place=True
        base = image
    alpha = _has_alpha(base)
    target = _target_type(media, limits, alpha)
    base = _prepared(base, target, alpha)
    extra: dict[str, Any] = {}
    if "icc_profile" in image.info:
        extra["icc_profile"] = image.info["icc_profile"]
    if keep_metadata:
        exif = base.getexif()
        exif.pop(_ORIENTATION, None)
        extra["exif"] = exif.tobytes()
    while True:
        size = _size(width, height, scale)
        if max(size) < MIN_SIDE:
            raise MediaError(
                f"{_name(media)}: cannot fit within {limits.max_bytes} bytes even at "
                f"{MIN_SIDE} pixels a side"
            )
        resized = base if size == base.size else base.resize(size, Image.Resampling.LANCZOS)
        encoded = b""
        for encoded in _encodings(resized, target, extra):
            if limits.max_bytes is None or len(encoded) <= limits.max_bytes:
                return _variant(media, encoded, target)
            if len(encoded) > 2 * limits.max_bytes:
                break  # lower qualities save less than that: shrink first
        # Shrink by about what the bytes are over (area goes with the square).
        assert limits.max_bytes is not None
        ratio = math.sqrt(limits.max_bytes / len(encoded)) * 0.95
        scale *= min(0.9, max(0.5, ratio))


def _prepared(image: Any, target: str, alpha: bool) -> Any:
    """`image` in a mode the target format writes (transparency flattened on white
    for JPEG)."""
    from PIL import Image

    if image.mode == "P":
        image = image.convert("RGBA" if alpha else "RGB")
    if target == "image/jpeg":
        if alpha:
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.convert("RGBA").getchannel("A"))
            return background
        return image if image.mode in ("RGB", "L", "CMYK") else image.convert("RGB")
    if image.mode == "CMYK" or (target == "image/webp" and image.mode not in ("RGB", "RGBA")):
        return image.convert("RGBA" if alpha else "RGB")
    return image


def _encodings(image: Any, target: str, extra: dict[str, Any]) -> Iterator[bytes]:
    """The image encoded as `target`, from the best quality down."""
    format = _FORMATS[target]
    qualities = QUALITY_STEPS if target in ("image/jpeg", "image/webp") else (None,)
    for quality in qualities:
        buffer = io.BytesIO()
        options: dict[str, Any] = dict(extra)
        if quality is not None:
            options["quality"] = quality
        if target == "image/jpeg":
            options["optimize"] = True
        if target == "image/gif":
            options.pop("exif", None)
            options.pop("icc_profile", None)
        image.save(buffer, format, **options)
        yield buffer.getvalue()


def _fit_animated(media: Media, image: Any, limits: MediaLimits) -> Media:
    if not limits.animated:
        raise MediaError(
            f"{_name(media)} is animated and this network takes no animated images: "
            "use a still image instead"
        )
    if _within(media, limits):
        return media
    if not limits.accepts(media.mime_type):
        raise MediaError(
            f"{_name(media)}: animated {media.mime_type} is not accepted here (takes "
            f"{', '.join(limits.types)}) and socialsched does not convert animations"
        )
    width, height = image.size
    scale = _scale_for(width, height, limits)
    format = _FORMATS[media.mime_type]
    while True:
        size = _size(width, height, scale)
        if max(size) < MIN_SIDE:
            raise MediaError(
                f"{_name(media)}: cannot fit the animation within {limits.max_bytes} bytes"
            )
        resized, durations = _resized_frames(image, size)
        buffer = io.BytesIO()
        resized[0].save(
            buffer,
            format,
            save_all=True,
            append_images=resized[1:],
            duration=durations,
            loop=image.info.get("loop", 0),
            disposal=2,
        )
        encoded = buffer.getvalue()
        if limits.max_bytes is None or len(encoded) <= limits.max_bytes:
            return _variant(media, encoded, media.mime_type)
        scale *= min(0.9, max(0.5, math.sqrt(limits.max_bytes / len(encoded)) * 0.95))


def _resized_frames(image: Any, size: tuple[int, int]) -> tuple[list[Any], list[int]]:
    """(frames resized to `size`, their durations), decoding one full-size frame at a
    time: only the resized frames are kept, so memory goes with the target size, not
    with frames x original pixels (`check_bounds` bounds the decoding work)."""
    from PIL import Image

    resized = []
    durations = []
    for index in range(frame_count(image)):
        image.seek(index)
        durations.append(image.info.get("duration", 100))
        resized.append(image.convert("RGBA").resize(size, Image.Resampling.LANCZOS))
    return resized, durations


def _variant(media: Media, data: bytes, mime_type: str) -> Media:
    filename = media.filename
    if filename and mime_type != media.mime_type:
        filename = str(PurePosixPath(filename).with_suffix(_SUFFIXES[mime_type]))
    try:
        return Media.from_bytes(data, alt=media.alt, filename=filename, source=media.source)
    except ValueError as error:  # pragma: no cover - Pillow wrote something unreadable
        raise MediaError(f"{_name(media)}: fitting produced an unreadable image: {error}") from None


__all__ = ["MIN_SIDE", "QUALITY_STEPS", "fit", "variant_key"]
