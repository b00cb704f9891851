"""Opening untrusted images with Pillow within bounds.

A calendar's images come from many hands, and a few kilobytes can describe billions
of pixels: a 30000x30000 PNG compresses to about 100 KB, a 16 KB GIF can hold 300
frames of 3000x3000. Pillow's decompression-bomb limit (`Image.MAX_IMAGE_PIXELS`) is
applied as an error (its warning too), animations are bounded by frames x pixels, and
every error Pillow or the OS raises while reading becomes an `ImageRefused` with a
plain message, never a traceback.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MAX_PIXELS = 89_478_485
"""The most pixels one image (or one frame) may have: Pillow's default
decompression-bomb threshold, applied as an error."""

MAX_ANIMATION_PIXELS = 4 * MAX_PIXELS
"""The most frames x pixels per frame an animation may have (about 358 million: a
1080x1080 GIF of 300 frames); fitting works frame by frame within it."""


class ImageRefused(ValueError):
    """An image socialsched will not decode: too many pixels, too many frames x
    pixels, truncated, or unreadable. The message says which."""


def _bomb_message(error: Exception) -> str:
    return (
        f"has too many pixels ({error}); socialsched refuses images over "
        f"{MAX_PIXELS} pixels, which could exhaust memory when decoded"
    )


@contextmanager
def opened(data: bytes) -> Iterator[Any]:
    """The image in `data`, opened (header only) by Pillow with the bomb limit applied;
    raises `ImageRefused` for any error while opening or inside the block."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    with warnings.catch_warnings():
        # Pillow only warns between the limit and twice it: refuse there too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                yield image
        except ImageRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageRefused(_bomb_message(error)) from None
        except UnidentifiedImageError:
            raise ImageRefused("unreadable image: not an image Pillow can decode") from None
        except (SyntaxError, ValueError, EOFError) as error:
            raise ImageRefused(f"unreadable image: {error}") from None
        except MemoryError:
            raise ImageRefused("unreadable image: too large to decode in memory") from None
        except OSError as error:
            if "truncated" in str(error):
                raise ImageRefused(
                    "the image is truncated (its file ends before its pixels do)"
                ) from None
            raise ImageRefused(f"unreadable image: {error}") from None


def frame_count(image: Any) -> int:
    """How many frames `image` has (1 for a still image)."""
    return int(getattr(image, "n_frames", 1) or 1)


def check_bounds(image: Any) -> None:
    """Raise `ImageRefused` when `image` (opened) is over `MAX_PIXELS` a frame or,
    animated, over `MAX_ANIMATION_PIXELS` in all."""
    width, height = image.size
    pixels = width * height
    if pixels > MAX_PIXELS:
        raise ImageRefused(_bomb_message(ValueError(f"{width}x{height}")))
    if getattr(image, "is_animated", False):
        frames = frame_count(image)
        if frames * pixels > MAX_ANIMATION_PIXELS:
            raise ImageRefused(
                f"animation of {frames} frames of {width}x{height} is {frames * pixels} "
                f"pixels in all, over the {MAX_ANIMATION_PIXELS} socialsched decodes: "
                "use fewer frames or a smaller size"
            )


def check_decodes(data: bytes) -> None:
    """Decode the image in `data` (every frame of an animation, each in turn) so that
    a truncated or damaged file is found now; raises `ImageRefused`."""
    with opened(data) as image:
        check_bounds(image)
        if image.format == "JPEG":
            # Decoding at 1/8 scale reads every byte of the scan but needs 1/64 memory.
            image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
        for index in range(frame_count(image)):
            image.seek(index)
            image.load()


__all__ = [
    "MAX_ANIMATION_PIXELS",
    "MAX_PIXELS",
    "ImageRefused",
    "check_bounds",
    "check_decodes",
    "frame_count",
    "opened",
]
