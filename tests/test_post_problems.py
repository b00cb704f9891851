"""Limit and media errors found while planning name the file and line where the post
was written (the line naming the media file, or holding the text) and the post once,
through `lint`, `plan` and `schedule` run from another folder than the calendar's.
Expected lines are found in the calendar's text by the test itself."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from calendar_text import only_line_of, write_calendar
from click.testing import CliRunner
from PIL import Image

import socialsched
from socialsched import plugins
from socialsched.adapters import Adapter, Capabilities, Receipt
from socialsched.calendar.model import Calendar, Channel, Post, Segment
from socialsched.cli import main
from socialsched.errors import CalendarError, PlanError, Problem
from socialsched.hookspecs import hookimpl
from socialsched.media.model import MediaLimits
from socialsched.planning.planner import Planner

DAY = "2027-03-02"
RANGE = ["--start", DAY, "--end", DAY]

HEAD = """\
[[segment]]
name = "paris"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"

[[channel]]
name = "short"
adapter = "console"
settings = { max_length = 20 }

[[channel]]
name = "strict"
adapter = "strict"
"""


class StrictAdapter(Adapter):
    """Images up to 2 a post; videos up to 1000 bytes; 200 characters."""

    name = "strict"
    capabilities = Capabilities(
        max_length=200,
        audiences=("any",),
        images=MediaLimits(max_count=2),
        videos=MediaLimits(max_count=1, max_bytes=1000, types=("video/mp4",)),
    )

    def publish(self, message, idempotency_key):
        return Receipt(remote_id=idempotency_key)


class StrictPlugin:
    @hookimpl
    def register_adapters(self, register):
        register(StrictAdapter)


@pytest.fixture(autouse=True)
def strict():
    name = plugins.register(StrictPlugin(), name="strict-plugin")
    yield
    plugins.unregister(name=name)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The calendar's folder; the working folder is another one beside it."""
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return tmp_path / "project"


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), (9, 9, 9)).save(buffer, "PNG")
    return buffer.getvalue()


def mp4(size: int) -> bytes:
    return b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * (size - 24)


def write(project: Path, posts: str, files: dict[str, bytes] | None = None) -> Path:
    return write_calendar(project, HEAD + posts, files)


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def errors_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if ": error: " in line]


TOO_LONG = f"""
[[post]]
id = "essay"
channels = ["short"]
dates = ["{DAY}"]
at = "10:00"
text = "Far more than twenty characters"
"""


@pytest.mark.parametrize("command", ["lint", "plan", "schedule"])
def test_a_text_too_long_names_file_line_and_the_post_once(project, command):
    path = write(project, TOO_LONG)
    extra = ["--db", "state.db"] if command == "schedule" else []
    result = cli(command, "../project/calendar.toml", *RANGE, *extra)
    assert result.exit_code == 1, result.output
    (error,) = errors_of(result.stderr)
    line = only_line_of(path, "text = ")
    assert error.startswith(f"../project/calendar.toml:{line}: error: post 'essay' ")
    assert "for segment 'paris' on channel 'short'" in error
    assert "text is 31 characters" in error
    assert error.count("essay") == 1
    assert "Traceback" not in result.output


MEDIA = f"""
[[post]]
id = "gallery"
channels = ["strict"]
dates = ["{DAY}"]
at = "10:00"
text = "Pictures"
media = [
  {{ path = "a.png", alt = "A" }},
  {{ path = "clip.mp4", alt = "A clip" }},
]
"""


@pytest.mark.parametrize("command", ["lint", "plan", "schedule"])
def test_an_oversized_media_file_names_its_line_and_the_post_once(project, command):
    path = write(project, MEDIA, {"a.png": png(), "clip.mp4": mp4(5000)})
    extra = ["--db", "state.db", "--dry-run"] if command == "schedule" else []
    result = cli(command, "../project/calendar.toml", *RANGE, *extra)
    assert result.exit_code == 1, result.output
    (error,) = errors_of(result.stderr)
    line = only_line_of(path, "clip.mp4")
    assert error.startswith(f"../project/calendar.toml:{line}: error: post 'gallery' ")
    assert "for segment 'paris' on channel 'strict' (strict)" in error
    assert "video is 5000 bytes, over the limit of 1000 bytes" in error
    assert error.count("gallery") == 1


def test_media_the_network_refuses_name_the_media_line_and_the_post_once(project):
    posts = MEDIA.replace('{ path = "clip.mp4", alt = "A clip" }', '"b.png", "c.png"')
    path = write(project, posts, {name: png() for name in ("a.png", "b.png", "c.png")})
    result = cli("lint", "../project/calendar.toml", *RANGE)
    (error,) = errors_of(result.stderr)
    assert error.startswith(f"../project/calendar.toml:{only_line_of(path, 'media = [')}: error: ")
    assert "3 images; strict takes at most 2 per post" in error
    assert error.count("gallery") == 1


def test_a_file_that_is_no_image_is_named_on_its_line_when_loaded(project):
    path = write(project, MEDIA, {"a.png": b"just text, not a picture", "clip.mp4": mp4(500)})
    result = cli("plan", "../project/calendar.toml", *RANGE)
    assert result.exit_code == 1
    (error,) = errors_of(result.stderr)
    assert error.startswith(f"../project/calendar.toml:{only_line_of(path, 'a.png')}: error: ")
    assert "is not a JPEG, PNG, WebP or GIF image or an MP4 video" in error
    assert error.count("gallery") == 1


def test_the_python_api_raises_a_plan_error_with_the_located_problem(project):
    path = write(project, TOO_LONG)
    calendar = socialsched.load(path)
    with pytest.raises(PlanError) as caught:
        socialsched.plan(calendar, DAY, DAY)
    assert isinstance(caught.value, CalendarError)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == (path, only_line_of(path, "text = "))
    problems: list[Problem] = []
    assert list(Planner(calendar).plan(date(2027, 3, 2), date(2027, 3, 2), problems=problems)) == []
    assert problems == [problem]
    assert problem.where is None and problem.message.count("essay") == 1


def test_a_python_built_calendar_names_the_post_once_without_a_file():
    calendar = Calendar(
        segments=[Segment(name="paris", locale="fr-FR", timezone="Europe/Paris", country="FR")],
        channels=[Channel(name="short", adapter="console", settings={"max_length": 5})],
        posts=[Post(id="essay", dates=[DAY], at="10:00", text="Too long here")],
    )
    problems: list[Problem] = []
    Planner(calendar).plan(DAY, DAY, problems=problems)
    (problem,) = problems
    assert problem.file is None and problem.line is None
    assert str(problem).count("essay") == 1


def test_a_spreadsheet_row_is_named_by_its_file_and_line(project):
    (project / "posts.csv").write_text(
        "id,text,date,at,channels\n"
        f"fine,Short,{DAY},09:00,short\n"
        f"essay,Far more than twenty characters,{DAY},10:00,short\n",
        encoding="utf-8",
    )
    (project / "calendar.toml").write_text(
        '[calendar]\nposts_from = ["posts.csv"]\n\n' + HEAD, encoding="utf-8"
    )
    result = cli("lint", "../project/calendar.toml", *RANGE)
    assert result.exit_code == 1, result.output
    (error,) = errors_of(result.stderr)
    assert error.startswith("../project/posts.csv:3: error: post 'essay' for segment 'paris'")
    assert error.count("essay") == 1


def test_an_alt_text_that_fails_to_render_names_the_post_and_segment_once(project):
    posts = MEDIA.replace('alt = "A clip"', 'alt = "A {{ nope }}"')
    path = write(project, posts, {"a.png": png(), "clip.mp4": mp4(500)})
    result = cli("lint", "../project/calendar.toml", *RANGE)
    assert result.exit_code == 1
    (error,) = errors_of(result.stderr)
    assert error.startswith(f"../project/calendar.toml:{only_line_of(path, 'media = [')}: error: ")
    assert "undefined variable ('nope' is undefined)" in error
    assert error.count("gallery") == 1 and error.count("paris") == 1
