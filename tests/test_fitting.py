"""Fitting media to a network's limits: images are resized and re-encoded until they
fit, turned upright, stripped of location and other metadata; videos are never
transcoded; each variant is computed once."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image, ImageDraw, ImageSequence

from socialsched.errors import MediaError
from socialsched.media.cache import MemoryMediaCache
from socialsched.media.fitting import fit, variant_key
from socialsched.media.model import Media, MediaLimits

ORIENTATION, GPS_IFD = 0x0112, 0x8825
GPS = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
RED = (255, 0, 0)
BLUESKY_LIKE = MediaLimits(max_count=4, max_bytes=1_000_000, types=("image/jpeg", "image/png"))


def exif_bytes(orientation: int | None = None, gps: bool = True) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if gps:
        exif[GPS_IFD] = GPS
    exif[0x010F] = "PhoneMaker"  # camera make: other metadata
    return exif.tobytes()


def phone_photo(width: int = 4000, height: int = 3000) -> bytes:
    """A 12-megapixel JPEG as a phone takes it: sideways in the file with EXIF
    orientation 6 (display rotated 90 degrees clockwise), GPS position recorded, the
    stored top-left corner red, noisy enough to weigh several megabytes."""
    noise = Image.effect_noise((width, height), 40)
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge(
        "RGB", [gradient, noise, gradient.transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    )
    ImageDraw.Draw(image).rectangle((0, 0, 399, 399), fill=RED)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=exif_bytes(orientation=6))
    return buffer.getvalue()


def small_jpeg_with_gps() -> bytes:
    image = Image.effect_noise((120, 80), 30).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif_bytes(orientation=1))
    return buffer.getvalue()


def encoded(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def is_red(pixel: tuple[int, ...]) -> bool:
    red, green, blue = pixel[:3]
    return red > 200 and green < 60 and blue < 60


def opened(media: Media) -> Image.Image:
    return Image.open(io.BytesIO(media.read()))


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    return phone_photo()


def test_a_12_megapixel_phone_photo_fits_upright_without_its_location(photo_bytes, tmp_path):
    original_file = tmp_path / "photo.jpg"
    original_file.write_bytes(photo_bytes)
    assert len(photo_bytes) > 1_000_000
    original = Media.from_bytes(photo_bytes, alt="The harbour", source=str(original_file))
    fitted = fit(original, BLUESKY_LIKE)

    data = fitted.read()
    assert len(data) == fitted.size <= 1_000_000
    assert fitted.digest == hashlib.sha256(data).hexdigest()
    assert (fitted.mime_type, fitted.alt, fitted.source) == (
        "image/jpeg",
        "The harbour",
        str(original_file),
    )
    image = opened(fitted)
    exif = image.getexif()
    assert GPS_IFD not in exif and not exif.get_ifd(GPS_IFD)
    assert ORIENTATION not in exif and 0x010F not in exif
    # Orientation 6 shows the stored picture turned 90 degrees clockwise: the stored
    # 4000x3000 becomes 3000 wide and 4000 high, and the stored top-left corner
    # (x, y) = (0, 0) shows at (height - 1 - y, x), the top-right corner.
    assert image.width < image.height
    assert image.width * 4 == pytest.approx(image.height * 3, abs=8)
    assert (fitted.width, fitted.height) == image.size
    assert is_red(image.getpixel((image.width - 1, 0)))
    assert not is_red(image.getpixel((0, 0)))
    assert not is_red(image.getpixel((image.width - 1, image.height - 1)))
    # The original is untouched.
    assert original_file.read_bytes() == photo_bytes


def test_an_image_that_fits_still_loses_its_location_and_keeps_its_pixels():
    data = small_jpeg_with_gps()
    original = Media.from_bytes(data, source="small.jpg")
    fitted = fit(original, BLUESKY_LIKE)
    assert fitted.digest != original.digest
    image = opened(fitted)
    assert not image.getexif() and not image.getexif().get_ifd(GPS_IFD)
    # Only metadata went: the decoded pixels are exactly the original's.
    assert image.tobytes() == Image.open(io.BytesIO(data)).tobytes()


def test_keep_metadata_keeps_the_exif_of_an_image_that_fits():
    data = small_jpeg_with_gps()
    original = Media.from_bytes(data)
    kept = fit(original, BLUESKY_LIKE, keep_metadata=True)
    assert kept.read() == data


def test_keep_metadata_keeps_the_location_through_a_resize():
    image = Image.effect_noise((600, 400), 30).convert("RGB")
    data = encoded(image, "JPEG", quality=90, exif=exif_bytes(orientation=1))
    limits = MediaLimits(max_count=1, max_side=300)
    fitted = opened(fit(Media.from_bytes(data), limits, keep_metadata=True))
    assert fitted.size == (300, 200)
    assert fitted.getexif().get_ifd(GPS_IFD)[1] == "N"
    stripped = opened(fit(Media.from_bytes(data), limits))
    assert not stripped.getexif().get_ifd(GPS_IFD)


def test_an_image_already_within_limits_and_clean_is_returned_as_is():
    data = encoded(Image.new("RGB", (64, 48), (10, 20, 30)), "PNG")
    original = Media.from_bytes(data, alt="card")
    assert fit(original, BLUESKY_LIKE).read() == data


def test_pixel_and_side_limits_scale_the_image_down():
    data = encoded(Image.new("RGB", (1000, 500), (10, 200, 30)), "PNG")
    by_pixels = fit(Media.from_bytes(data), MediaLimits(max_count=1, max_pixels=200_000))
    assert by_pixels.width * by_pixels.height <= 200_000
    assert by_pixels.width == pytest.approx(2 * by_pixels.height, abs=2)
    assert by_pixels.mime_type == "image/png"
    by_side = fit(Media.from_bytes(data), MediaLimits(max_count=1, max_side=250))
    assert (by_side.width, by_side.height) == (250, 125)


def test_a_type_the_network_refuses_is_converted():
    opaque = encoded(Image.new("RGB", (80, 60), (0, 0, 255)), "WEBP")
    converted = fit(Media.from_bytes(opaque, filename="pic.webp"), BLUESKY_LIKE)
    assert (converted.mime_type, converted.filename) == ("image/jpeg", "pic.jpg")
    # Transparency survives: a lossless type the network takes is chosen.
    clear = encoded(Image.new("RGBA", (80, 60), (0, 0, 255, 0)), "WEBP", lossless=True)
    with_alpha = fit(Media.from_bytes(clear, filename="pic.webp"), BLUESKY_LIKE)
    assert with_alpha.mime_type == "image/png"
    assert opened(with_alpha).getpixel((0, 0))[3] == 0


def test_a_type_that_cannot_be_converted_is_refused_clearly():
    data = encoded(Image.new("RGB", (80, 60)), "PNG")
    limits = MediaLimits(max_count=1, types=("image/heic",))
    with pytest.raises(MediaError, match=r"card\.png: image/png is not accepted"):
        fit(Media.from_bytes(data, source="card.png"), limits)


def animated_gif(frames: int = 3, size: tuple[int, int] = (200, 100)) -> bytes:
    images = [Image.new("RGB", size, (60 * n, 0, 255 - 60 * n)) for n in range(frames)]
    return encoded(images[0], "GIF", save_all=True, append_images=images[1:], duration=120)


def test_an_animated_gif_is_refused_where_the_network_takes_no_animation():
    media = Media.from_bytes(animated_gif(), source="dance.gif")
    assert media.animated
    limits = MediaLimits(max_count=4, animated=False)
    with pytest.raises(MediaError, match=r"dance\.gif is animated .* no animated images"):
        fit(media, limits)


def test_an_animated_gif_stays_animated_when_resized():
    data = animated_gif()
    media = Media.from_bytes(data)
    assert fit(media, MediaLimits(max_count=1)).read() == data
    fitted = fit(media, MediaLimits(max_count=1, max_side=100))
    image = opened(fitted)
    assert image.size == (100, 50) and fitted.animated
    assert image.n_frames == 3
    colours = [frame.convert("RGB").getpixel((10, 10)) for frame in ImageSequence.Iterator(image)]
    assert len(set(colours)) == 3


def mp4(size: int) -> bytes:
    return b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * (size - 24)


def test_a_video_over_the_limit_is_an_error_not_transcoded():
    video = Media.from_bytes(mp4(5000), source="clip.mp4")
    assert video.kind == "video"
    limits = MediaLimits(max_count=1, max_bytes=4000)
    with pytest.raises(MediaError, match=r"clip\.mp4: video is 5000 bytes, over the limit of 4000"):
        fit(video, limits)
    assert fit(video, MediaLimits(max_count=1, max_bytes=5000)).read() == video.read()


def test_a_kind_the_network_takes_none_of_is_left_for_the_adapter_to_report():
    video = Media.from_bytes(mp4(100))
    assert fit(video, MediaLimits(max_count=0)) == video


class CountingCache(MemoryMediaCache):
    def __init__(self) -> None:
        super().__init__()
        self.remembered: list[tuple[str, str]] = []

    def remember_variant(self, digest: str, limits_key: str, variant: Media) -> Media:
        self.remembered.append((digest, limits_key))
        return super().remember_variant(digest, limits_key, variant)


def test_each_variant_is_fitted_once_per_digest_and_limits():
    data = encoded(Image.new("RGB", (1000, 500), (10, 200, 30)), "PNG")
    cache = CountingCache()
    limits = MediaLimits(max_count=1, max_side=200)
    first = fit(Media.from_bytes(data, alt="one"), limits, cache=cache)
    # The same content again (another file, another alt) is not fitted again.
    second = fit(Media.from_bytes(data, alt="two", source="copy.png"), limits, cache=cache)
    assert cache.remembered == [(hashlib.sha256(data).hexdigest(), variant_key(limits))]
    assert second.digest == first.digest and (second.alt, second.source) == ("two", "copy.png")
    other = MediaLimits(max_count=1, max_side=100)
    fit(Media.from_bytes(data), other, cache=cache)
    fit(Media.from_bytes(data), limits, cache=cache, keep_metadata=True)
    assert len(cache.remembered) == 3
    assert len(set(cache.remembered)) == 3
