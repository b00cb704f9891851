"""Loading `media` from calendar files: paths resolved next to the calendar, every bad
file or item reported with file and line, the type told by content, not name."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from socialsched import CalendarError, Problem, load
from socialsched.calendar.model import Post
from socialsched.media.model import MediaItem

HEAD = """
[[segment]]
name = "fr-FR"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"

[[channel]]
name = "community"
adapter = "console"

[[post]]
id = "hello"
text = "Bonjour"
schedule = "0 10 * * *"
"""


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


def write(folder: Path, media: str, files: dict[str, bytes] | None = None) -> Path:
    for name, data in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    path = folder / "calendar.toml"
    path.write_text(HEAD.lstrip("\n") + textwrap.dedent(media), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(
        number
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if needle in line
    )


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(CalendarError) as caught:
        load(path)
    return caught.value.problems


def test_relative_paths_become_absolute_next_to_the_calendar(tmp_path, monkeypatch):
    folder = tmp_path / "campaign"
    path = write(
        folder,
        'media = [{ path = "img/banner.png", alt = "A banner" }, "https://example.org/a.png"]\n',
        {"img/banner.png": png_bytes()},
    )
    monkeypatch.chdir(tmp_path)
    calendar = load(Path("campaign") / "calendar.toml")
    banner, remote = calendar.posts[0].media
    assert banner == MediaItem(path=str(folder / "img" / "banner.png"), alt="A banner")
    assert remote == MediaItem(url="https://example.org/a.png")
    assert path.exists()


def test_locale_tables_of_media_resolve_each_list(tmp_path):
    path = write(
        tmp_path,
        """
        [post.media]
        default = ["en.png"]
        es = [{ path = "es.png", alt = { default = "Banner", es = "Cartel" } }]

        # A segment that reads the "es" entries (a key no segment uses is an error).
        [[segment]]
        name = "madrid"
        locale = "es-ES"
        timezone = "Europe/Madrid"
        country = "ES"
        """,
        {"en.png": png_bytes(), "es.png": png_bytes()},
    )
    media = load(path).posts[0].media
    assert media == {
        "default": (MediaItem(path=str(tmp_path / "en.png")),),
        "es": (
            MediaItem(path=str(tmp_path / "es.png"), alt={"default": "Banner", "es": "Cartel"}),
        ),
    }


def test_a_missing_file_is_reported_on_its_line(tmp_path):
    path = write(
        tmp_path,
        """
        media = [
          { path = "img/here.png", alt = "ok" },
          { path = "img/missing.png", alt = "gone" },
        ]
        """,
        {"img/here.png": png_bytes()},
    )
    (problem,) = problems_of(path)
    assert (problem.file, problem.line) == (path, line_of(path, "img/missing.png"))
    # The same message as for a path outside the calendar's folder (which must not
    # tell whether such a file exists).
    assert problem.message == (
        f"media file 'img/missing.png' not found: it must be inside the calendar's "
        f"folder {tmp_path.resolve()} or a folder listed in SOCIALSCHED_ALLOWED_PATHS"
    )
    assert problem.where == "post 'hello'"
    assert str(problem).startswith(f"{path}:{problem.line}: error: post 'hello': media file ")


def test_the_type_is_told_by_content_not_by_name(tmp_path):
    path = write(
        tmp_path,
        """
        media = [
          "really-a-png.jpg",
          "notes.jpg",
        ]
        """,
        {"really-a-png.jpg": png_bytes(), "notes.jpg": b"shopping list: eggs, milk\n"},
    )
    (problem,) = problems_of(path)
    assert problem.line == line_of(path, '"notes.jpg"')
    assert "notes.jpg is not a JPEG, PNG, WebP or GIF image or an MP4 video" in problem.message


def test_an_unreadable_image_is_reported_on_its_line(tmp_path):
    broken = png_bytes()[:8] + b"\x00" * 40  # a PNG signature, then nothing valid
    path = write(tmp_path, 'media = ["broken.png"]\n', {"broken.png": broken})
    (problem,) = problems_of(path)
    assert problem.line == line_of(path, "broken.png")
    assert "broken.png: unreadable image" in problem.message


@pytest.mark.parametrize(
    ("media", "expected"),
    [
        (
            'media = [{ file = "a.png" }]',
            "unknown key 'file' in a media item (allowed: path, url, alt)",
        ),
        (
            'media = [{ path = "a.png", alt = 3 }]',
            "alt must be a string or a table keyed by locale",
        ),
        ("media = [{ path = 3 }]", "a media item's path must be a string, not 3"),
        ('media = [{ alt = "no file" }]', "a media item needs exactly one of path or url"),
        ('media = [{ url = "ftp://x/a.png" }]', "must start with http:// or https://"),
        ("media = 5", "media must be a list of items"),
    ],
)
def test_a_bad_item_table_is_reported_on_the_media_line(tmp_path, media, expected):
    path = write(tmp_path, media + "\n", {"a.png": png_bytes()})
    (problem,) = problems_of(path)
    assert problem.line == line_of(path, "media =")
    assert expected in problem.message


def test_every_media_problem_of_a_file_is_reported_at_once(tmp_path):
    path = write(
        tmp_path,
        """
        media = ["one-missing.png", "two-missing.png"]

        [[post]]
        id = "second"
        text = "Encore"
        schedule = "0 11 * * *"
        media = ["three-missing.png"]
        """,
    )
    names = sorted(Path(p.message.split()[2].strip("'")).name for p in problems_of(path))
    assert names == ["one-missing.png", "three-missing.png", "two-missing.png"]


def test_python_api_takes_the_same_items():
    post = Post(
        id="p",
        text="t",
        schedule="0 10 * * *",
        media={"default": ["a.png"], "es": [{"path": "b.png", "alt": {"es": "Hola"}}]},
        thread="auto",
        number_parts=False,
    )
    assert post.media == {
        "default": (MediaItem(path="a.png"),),
        "es": (MediaItem(path="b.png", alt={"es": "Hola"}),),
    }
    with pytest.raises(ValueError, match="thread"):
        Post(id="p", text="t", schedule="0 10 * * *", thread="sometimes")


def test_broken_alt_text_template_is_reported_at_load_on_its_line(tmp_path):
    path = write(
        tmp_path,
        """
        [[post.media]]
        path = "a.png"
        alt = { default = "fine", fr = "Cartel {{ segment.name " }
        """,
        {"a.png": png_bytes()},
    )
    (problem,) = problems_of(path)
    assert problem.line == line_of(path, "Cartel")
    assert "template syntax error" in problem.message and "alt" in problem.message
