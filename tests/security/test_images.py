"""Probes: small images that would exhaust the machine, and damaged ones (issue 20,
item 4). CLI probes run from another folder under the probe's address-space limit;
the hostile files are made here (a 30000x30000 PNG is about 110 KB)."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from socialsched.media.fitting import fit
from socialsched.media.image_safety import (
    MAX_ANIMATION_PIXELS,
    MAX_PIXELS,
    ImageRefused,
    check_bounds,
)
from socialsched.media.model import Media, MediaLimits

from .hostile import calendar, gif_bomb, line_of, png_bomb, reply, serving
from .probe import assert_no_traceback, run_probe


def lint(project: Path, elsewhere: Path):
    result = run_probe("lint", f"../{project.name}/calendar.toml", cwd=elsewhere)
    assert_no_traceback(result)
    return result


def test_a_decompression_bomb_png_is_refused_with_its_line(folders):
    """Before: an uncaught DecompressionBombError traceback."""
    project, elsewhere = folders
    (project / "bomb.png").write_bytes(png_bomb())
    assert (project / "bomb.png").stat().st_size < 200_000
    path = calendar(project, '["bomb.png"]')
    result = lint(project, elsewhere)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"calendar.toml:{line_of(path, 'bomb.png')}:" in output
    assert "bomb.png: has too many pixels" in output
    assert f"socialsched refuses images over {MAX_PIXELS} pixels" in output


def test_a_decompression_bomb_behind_a_url_is_refused_with_the_posts_line(folders):
    project, elsewhere = folders
    with serving({"/bomb.png": reply(png_bomb())}) as server:
        path = calendar(project, f'["{server.url}/bomb.png"]')
        result = run_probe(
            "plan",
            "../project/calendar.toml",
            "--start",
            "2027-03-02",
            "--end",
            "2027-03-02",
            cwd=elsewhere,
            env={"SOCIALSCHED_ALLOWED_NETWORKS": "127.0.0.1/32"},
        )
    assert_no_traceback(result)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"calendar.toml:{line_of(path, 'media =')}: error: post 'launch' for segment" in output
    assert output.count("'launch'") == 1
    assert "has too many pixels" in output


def test_an_animated_gif_bomb_is_refused_before_decoding_its_frames(folders):
    """Before: a few KB (3000x3000, 300 frames) drove fitting past 4 GB."""
    project, elsewhere = folders
    (project / "party.gif").write_bytes(gif_bomb(3000, 300))
    assert (project / "party.gif").stat().st_size < 16_000
    path = calendar(project, '["party.gif"]')
    result = lint(project, elsewhere)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"calendar.toml:{line_of(path, 'party.gif')}:" in output
    total = 300 * 3000 * 3000
    assert (
        f"animation of 300 frames of 3000x3000 is {total} pixels in all, over the "
        f"{MAX_ANIMATION_PIXELS} socialsched decodes"
    ) in output


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    noise = Image.effect_noise((400, 300), 60).convert("RGB")
    noise.save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(("name", "fmt"), [("cut.png", "PNG"), ("cut.jpg", "JPEG")])
def test_a_truncated_image_is_found_at_load(folders, name, fmt):
    """Before: lint passed a truncated JPEG (Pillow's verify does not decode it)."""
    project, elsewhere = folders
    data = _encoded(fmt)
    (project / name).write_bytes(data[: len(data) // 2])
    path = calendar(project, f'["{name}"]')
    result = lint(project, elsewhere)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"calendar.toml:{line_of(path, name)}:" in output
    assert f"{name}: " in output and ("truncated" in output or "unreadable image" in output)


def test_the_bounds_apply_to_images_from_bytes():
    with pytest.raises(ImageRefused, match="too many pixels"):
        Media.from_bytes(png_bomb(), filename="bomb.png")
    with pytest.raises(ImageRefused, match="animation of 300 frames"):
        Media.from_bytes(gif_bomb(3000, 300), filename="party.gif")
    with Image.open(io.BytesIO(gif_bomb(100, 10))) as fine:
        check_bounds(fine)  # 100 000 pixels in all: nothing to refuse


FIT_UNDER_LIMIT = """
import resource, sys
sys.path.insert(0, {tests!r})
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from security.hostile import gif_bomb
from socialsched.media.fitting import fit
from socialsched.media.model import Media, MediaLimits
from PIL import Image
import io
media = Media.from_bytes(gif_bomb({side}, {frames}), filename="big.gif")
fitted = fit(media, MediaLimits(max_count=1, max_side=120, animated=True))
with Image.open(io.BytesIO(fitted.read())) as image:
    print(image.size, image.n_frames)
"""


@pytest.mark.slow
def test_an_animation_is_fitted_frame_by_frame(tmp_path):
    """100 frames of 1800x1800 (324 million pixels, within the bound) fit under a 1 GiB
    address space: fitting keeps one full-size frame at a time. Before: every frame
    was converted to RGBA first (1.3 GB)."""
    tests = str(Path(__file__).resolve().parent.parent)
    script = FIT_UNDER_LIMIT.format(tests=tests, limit=1024**3, side=1800, frames=100)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # One white pixel a frame vanishes at 1/15 scale: the writer merges equal frames.
    assert result.stdout.strip().startswith("(120, 120) ")


def test_frame_by_frame_fitting_keeps_every_frame_and_its_duration():
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    frames = [Image.new("RGB", (200, 160), colour) for colour in colours]
    buffer = io.BytesIO()
    durations = [100, 200, 300, 400, 500]
    frames[0].save(
        buffer, "GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0
    )
    media = Media.from_bytes(buffer.getvalue(), filename="colours.gif")
    fitted = fit(media, MediaLimits(max_count=1, max_side=50, animated=True))
    with Image.open(io.BytesIO(fitted.read())) as image:
        assert (image.size, image.n_frames) == ((50, 40), 5)
        seen = []
        for index in range(5):
            image.seek(index)
            seen.append((image.convert("RGB").getpixel((25, 20)), image.info["duration"]))
    assert seen == list(zip(colours, durations, strict=True))
