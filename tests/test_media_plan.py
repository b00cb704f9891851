"""Planning posts with media and threads: each delivery carries its locale's media,
fitted to its channel, with alt text rendered per locale; plan and lint report every
media problem naming post, segment, channel and file; the CLI shows the media."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import textwrap
from datetime import date
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner
from PIL import Image

import socialsched
from socialsched import plugins
from socialsched.adapters import Adapter, Capabilities, ConsoleAdapter, Receipt
from socialsched.calendar.model import Calendar, Channel, Post, Segment
from socialsched.cli import main
from socialsched.errors import PlanError
from socialsched.hookspecs import hookimpl
from socialsched.media.cache import MemoryMediaCache
from socialsched.media.model import Media, MediaItem, MediaLimits
from socialsched.planning.lint import lint
from socialsched.planning.planner import Planner

SEGMENTS = """
[[segment]]
name = "madrid"
locale = "es-ES"
timezone = "Europe/Madrid"
country = "ES"

[[segment]]
name = "mexico"
locale = "es-MX"
timezone = "America/Mexico_City"
country = "MX"

[[segment]]
name = "paris"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"

[[segment]]
name = "new-york"
locale = "en-US"
timezone = "America/New_York"
country = "US"
"""

CAMPAIGN = """
[[channel]]
name = "console"
adapter = "console"

[[post]]
id = "launch"
dates = ["2027-03-02", "2027-03-03"]
at = "10:00"
text = { default = "We are live!", es = "¡Ya estamos!", fr = "C'est parti !" }

[post.media]
default = [{ path = "img/banner.en.png", alt = "Our app, {{ segment.name }}" }]

[[post.media.es]]
path = "img/banner.es.png"
alt = { default = "unused", es = "Nuestra app en {{ segment.name }}" }
"""


def png(colour: tuple[int, int, int], size: tuple[int, int] = (120, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def write_calendar(folder: Path, body: str, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    path = folder / "calendar.toml"
    path.write_text(SEGMENTS + textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.fixture
def campaign(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    files = {"img/banner.en.png": png((0, 90, 200)), "img/banner.es.png": png((200, 40, 0))}
    folder = tmp_path / "campaign"
    folder.mkdir()
    return write_calendar(folder, CAMPAIGN, files), files


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_each_delivery_carries_its_locales_banner_and_alt_text(campaign):
    path, files = campaign
    deliveries = socialsched.plan(socialsched.load(path), "2027-03-01", "2027-03-05")
    assert len(deliveries) == 8
    spanish, english = digest(files["img/banner.es.png"]), digest(files["img/banner.en.png"])
    expected = {
        # es-MX falls back to "es" for both the list and its alt text; fr-FR to default.
        "madrid": (spanish, "Nuestra app en madrid"),
        "mexico": (spanish, "Nuestra app en mexico"),
        "paris": (english, "Our app, paris"),
        "new-york": (english, "Our app, new-york"),
    }
    for delivery in deliveries:
        (media,) = delivery.media
        assert (media.digest, media.alt) == expected[delivery.segment]
        assert media.read() == files[f"img/{media.filename}"]
        assert Path(media.source) == path.parent / "img" / media.filename
        assert (media.kind, media.mime_type, media.width, media.height) == (
            "image",
            "image/png",
            120,
            60,
        )
        assert delivery.parts == ()


def test_alt_text_that_reads_the_date_is_rendered_for_each_day(tmp_path):
    path = write_calendar(
        tmp_path,
        """
        [[channel]]
        name = "console"
        adapter = "console"

        [[post]]
        id = "daily"
        segments = ["madrid"]
        schedule = "0 9 * * *"
        text = "Offer of the day"
        media = [{ path = "offer.png", alt = "Offer of day {{ when.day }} in {{ locale }}" }]
        """,
        {"offer.png": png((1, 2, 3))},
    )
    deliveries = socialsched.plan(socialsched.load(path), "2027-03-01", "2027-03-04")
    assert [d.media[0].alt for d in deliveries] == [
        f"Offer of day {day} in es-ES" for day in (1, 2, 3, 4)
    ]


def test_python_calendars_name_media_relative_to_their_source_with_locale_alt(tmp_path):
    (tmp_path / "a.png").write_bytes(png((9, 9, 9)))
    post = Post(
        id="p",
        text="hi",
        dates=["2027-03-02"],
        at="10:00",
        media=[MediaItem(path="a.png", alt={"fr": "Une image", "default": "A picture"})],
    )
    segments = [
        Segment(name="dz", locale="fr-DZ", timezone="Africa/Algiers", country="DZ"),
        Segment(name="us", locale="en-US", timezone="America/New_York", country="US"),
    ]
    calendar = Calendar(
        segments=segments,
        channels=[Channel(name="c", adapter="console")],
        posts=[post],
        source=tmp_path / "calendar.toml",
    )
    alts = {
        d.segment: d.media[0].alt for d in socialsched.plan(calendar, "2027-03-02", "2027-03-02")
    }
    assert alts == {"dz": "Une image", "us": "A picture"}


class CountingCache(MemoryMediaCache):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.variants: list[str] = []

    def remember_source(self, source: str, size: int, mtime_ns: int, media: Media) -> Media:
        self.sources.append(source)
        return super().remember_source(source, size, mtime_ns, media)

    def remember_variant(self, digest: str, limits_key: str, variant: Media) -> Media:
        self.variants.append(digest)
        return super().remember_variant(digest, limits_key, variant)


def test_known_files_are_not_read_again_and_variants_are_fitted_once(campaign, monkeypatch):
    path, files = campaign
    calendar = socialsched.load(path)
    cache = CountingCache()
    Planner(calendar, media_cache=cache).plan("2027-03-01", "2027-03-05")
    # Two files, each read once and fitted once for the one channel, across 8 deliveries.
    assert sorted(cache.sources) == sorted(str(path.parent / name) for name in files)
    assert sorted(cache.variants) == sorted(digest(data) for data in files.values())

    reads: list[Path] = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or original(self))
    again = Planner(calendar, media_cache=cache).plan("2027-03-01", "2027-03-05")
    assert reads == [] and len(cache.sources) == 2 and len(cache.variants) == 2
    assert {d.media[0].digest for d in again} == {digest(data) for data in files.values()}

    # A replaced file (new size and time) is read again, and its new content used.
    replaced = png((0, 200, 0), size=(130, 60))
    (path.parent / "img" / "banner.en.png").write_bytes(replaced)
    third = Planner(calendar, media_cache=cache).plan("2027-03-01", "2027-03-05")
    assert len(cache.sources) == 3
    assert {d.media[0].digest for d in third if d.segment == "paris"} == {digest(replaced)}


# ---- violations: a small network with declared limits ----


class TinyAdapter(Adapter):
    """Two images a post, JPEG or PNG up to 200 pixels a side; videos up to 1000 bytes,
    MP4 only; no threads; 40 characters."""

    name = "tiny"
    capabilities = Capabilities(
        max_length=40,
        audiences=("any",),
        images=MediaLimits(max_count=2, max_side=200, types=("image/jpeg", "image/png")),
        videos=MediaLimits(max_count=1, max_bytes=1000, types=("video/mp4",)),
        max_alt_length=30,
    )
    published: ClassVar[list] = []

    def publish(self, message, idempotency_key):
        return Receipt(remote_id=idempotency_key)


class TinyPlugin:
    @hookimpl
    def register_adapters(self, register):
        register(TinyAdapter)


@pytest.fixture
def tiny():
    name = plugins.register(TinyPlugin(), name="tiny-plugin")
    yield
    plugins.unregister(name=name)


def mp4(size: int) -> bytes:
    return b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * (size - 24)


VIOLATIONS = """
[[channel]]
name = "small"
adapter = "tiny"

[[post]]
id = "gallery"
segments = ["madrid", "paris"]
dates = ["2027-03-02"]
at = "10:00"
text = "Three pictures"
media = ["a.png", "b.png", "c.png"]

[[post]]
id = "clip"
segments = ["madrid"]
dates = ["2027-03-02"]
at = "11:00"
text = "A clip"
media = [{ path = "clip.mp4", alt = "A short clip" }]

[[post]]
id = "described"
segments = ["paris"]
dates = ["2027-03-02"]
at = "12:00"
text = "Fine"
media = [{ path = "big.png", alt = "A description much longer than thirty characters" }]
"""


@pytest.fixture
def violations(tmp_path, tiny) -> Path:
    files = {name: png((n, n, n)) for n, name in enumerate(["a.png", "b.png", "c.png"])}
    files["clip.mp4"] = mp4(5000)
    files["big.png"] = png((5, 5, 5), size=(800, 400))
    return write_calendar(tmp_path, VIOLATIONS, files)


def test_lint_reports_every_media_violation_with_post_segment_channel_and_file(violations):
    problems = lint(violations, date(2027, 3, 1), date(2027, 3, 5))
    messages = [p.message for p in problems if p.severity == "error"]
    assert len(messages) == 4, messages
    folder = violations.parent

    def one(*needles: str) -> str:
        found = [m for m in messages if all(needle in m for needle in needles)]
        assert len(found) == 1, (needles, messages)
        return found[0]

    for segment in ("madrid", "paris"):
        message = one("'gallery'", f"segment {segment!r}", "channel 'small'")
        assert "3 images; tiny takes at most 2 per post" in message
        assert all(str(folder / name) in message for name in ("a.png", "b.png", "c.png"))
    message = one("'clip'", "segment 'madrid'", "channel 'small'")
    assert f"{folder / 'clip.mp4'}: video is 5000 bytes, over the limit of 1000 bytes" in message
    # The 800x400 image is fitted to 200 pixels a side without complaint; its alt
    # text is too long for the network.
    message = one("'described'", "segment 'paris'", "channel 'small'", str(folder / "big.png"))
    long_alt = "A description much longer than thirty characters"
    assert f"alt text is {len(long_alt)} characters; tiny allows 30" in message
    assert all(p.file == violations for p in problems)


def test_plan_fails_on_a_media_violation_and_names_it(violations):
    with pytest.raises(PlanError, match=r"post 'gallery' for segment 'madrid' on channel 'small'"):
        socialsched.plan(socialsched.load(violations), "2027-03-01", "2027-03-05")
    result = CliRunner().invoke(
        main, ["plan", str(violations), "--start", "2027-03-01", "--end", "2027-03-05"]
    )
    assert result.exit_code == 1
    assert "3 images; tiny takes at most 2 per post" in result.output


def test_a_network_without_videos_is_a_violation_naming_the_file(tmp_path, tiny):
    path = write_calendar(
        tmp_path,
        """
        [[channel]]
        name = "small"
        adapter = "tiny"

        [[post]]
        id = "clip"
        segments = ["madrid"]
        dates = ["2027-03-02"]
        at = "11:00"
        text = "A clip"
        media = ["clip.mp4"]
        """,
        {"clip.mp4": mp4(500)},
    )
    calendar = socialsched.load(path)
    no_videos = Capabilities(max_length=40, audiences=("any",), images=MediaLimits(max_count=1))
    refusing = type("NoVideo", (TinyAdapter,), {"capabilities": no_videos})
    problems: list = []
    Planner(calendar, adapters=lambda channel: refusing(channel)).plan(
        "2027-03-01", "2027-03-05", problems=problems
    )
    (problem,) = problems
    assert "tiny cannot publish videos" in problem.message
    assert str(tmp_path / "clip.mp4") in problem.message
    assert "segment 'madrid' on channel 'small'" in problem.message


# ---- threads ----

THREADS = """
[[channel]]
name = "short"
adapter = "console"
settings = { max_length = 40 }

[[post]]
id = "story"
segments = ["new-york"]
dates = ["2027-03-02"]
at = "10:00"
thread = "auto"
text = "Our biggest release yet. Faster sync everywhere. A new look for every screen."
media = [{ path = "a.png", alt = "Screenshot" }]
"""


def test_a_long_post_becomes_a_thread_checked_part_by_part(tmp_path):
    path = write_calendar(tmp_path, THREADS, {"a.png": png((1, 1, 1))})
    (delivery,) = socialsched.plan(socialsched.load(path), "2027-03-02", "2027-03-02")
    assert delivery.parts == (
        "Our biggest release yet. 1/3",
        "Faster sync everywhere. 2/3",
        "A new look for every screen. 3/3",
    )
    assert delivery.text.startswith("Our biggest release yet. Faster sync")
    assert delivery.media[0].alt == "Screenshot"


def test_a_thread_on_a_network_without_threads_is_a_plan_error(tmp_path, tiny):
    body = THREADS.replace('adapter = "console"', 'adapter = "tiny"').replace(
        'media = [{ path = "a.png", alt = "Screenshot" }]', ""
    )
    path = write_calendar(tmp_path, body, {})
    problems = lint(path, date(2027, 3, 2), date(2027, 3, 2))
    (problem,) = problems
    assert "tiny cannot publish threads, so the text must fit in one post" in problem.message
    # thread = true is an error there even for a short text; "auto" with a short one is not.
    short = body.replace(
        "Our biggest release yet. Faster sync everywhere. A new look for every screen.", "Short."
    )
    path.write_text(SEGMENTS + textwrap.dedent(short))
    assert lint(path, date(2027, 3, 2), date(2027, 3, 2)) == []
    path.write_text(SEGMENTS + textwrap.dedent(short.replace('thread = "auto"', "thread = true")))
    (problem,) = lint(path, date(2027, 3, 2), date(2027, 3, 2))
    assert "tiny cannot publish threads (thread = true)" in problem.message
    assert "post 'story' for segment 'new-york' on channel 'short'" in problem.message


def test_each_part_is_held_to_the_limit_not_the_whole_text(tmp_path):
    path = write_calendar(tmp_path, THREADS, {"a.png": png((1, 1, 1))})
    calendar = socialsched.load(path)
    seen: list = []

    class Watching(ConsoleAdapter):
        def validate(self, message):
            seen.append((message.part, message.parts, message.text, len(message.attachments)))
            return super().validate(message)

    Planner(calendar, adapters=lambda channel: Watching(channel)).plan("2027-03-02", "2027-03-02")
    assert seen == [
        (1, 3, "Our biggest release yet. 1/3", 1),
        (2, 3, "Faster sync everywhere. 2/3", 0),
        (3, 3, "A new look for every screen. 3/3", 0),
    ]


# ---- the command line, run from another folder ----


def test_plan_json_from_another_folder_shows_media_with_relative_paths(
    campaign, tmp_path, monkeypatch
):
    _path, files = campaign
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    relative = Path("..") / "campaign" / "calendar.toml"
    args = ["plan", str(relative), "--start", "2027-03-02", "--end", "2027-03-02"]
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 4
    by_segment = {row["segment"]: row for row in rows}
    (media,) = by_segment["mexico"]["media"]
    data = files["img/banner.es.png"]
    assert media["digest"] == digest(data) and media["size"] == len(data)
    assert (media["width"], media["height"], media["alt"]) == (120, 60, "Nuestra app en mexico")
    assert Path(media["source"]) == (tmp_path / "campaign" / "img" / "banner.es.png").resolve()

    lines = CliRunner().invoke(main, [*args, "--format", "jsonl"]).stdout.splitlines()
    assert [json.loads(line) for line in lines] == rows

    table = CliRunner(env={"COLUMNS": "200"}).invoke(main, args).stdout
    assert table.count("[1 image] ") == 4

    rows_csv = list(
        csv.DictReader(io.StringIO(CliRunner().invoke(main, [*args, "--format", "csv"]).stdout))
    )
    assert {row["media"] for row in rows_csv} == {
        str((tmp_path / "campaign" / "img" / name).resolve())
        for name in ("banner.en.png", "banner.es.png")
    }


def test_csv_of_a_plan_without_media_has_no_media_column(tmp_path):
    path = write_calendar(tmp_path, CAMPAIGN.split("[post.media]")[0], {})
    result = CliRunner().invoke(
        main, ["plan", str(path), "--start", "2027-03-02", "--end", "2027-03-02", "--format", "csv"]
    )
    header = result.stdout.splitlines()[0]
    assert header == "id,post,segment,channel,utc,local,holiday,shifted_from,reason,text"


def test_the_media_library_gives_a_posts_media_for_a_segment_with_alt_rendered(campaign):
    from datetime import datetime

    from socialsched.media.library import MediaLibrary
    from socialsched.planning.render import Renderer

    path, files = campaign
    calendar = socialsched.load(path)
    (post,) = calendar.posts
    library = MediaLibrary(calendar, MemoryMediaCache(), renderer=Renderer(calendar))
    when = datetime(2027, 3, 2, 10)
    (media,) = library.media_for(post, calendar.segment("mexico"), calendar.channels[0], when)
    assert media.read() == files["img/banner.es.png"]
    assert media.alt == "Nuestra app en mexico"
    (source,) = library.sources(post, "fr-CA")  # no fr list: the default one
    assert source.read() == files["img/banner.en.png"] and source.alt == ""


def test_a_message_for_a_delivery_carries_its_media(campaign):
    from socialsched.adapters import Message

    path, _ = campaign
    calendar = socialsched.load(path)
    delivery = socialsched.plan(calendar, "2027-03-02", "2027-03-02")[0]
    message = Message.for_delivery(
        delivery, calendar.segment(delivery.segment), calendar.channel(delivery.channel)
    )
    assert message.attachments == delivery.media and len(message.attachments) == 1


def test_lint_warns_about_media_without_alt_text_on_their_line(tmp_path):
    path = write_calendar(
        tmp_path,
        """
        [[channel]]
        name = "console"
        adapter = "console"

        [[post]]
        id = "gallery"
        dates = ["2027-03-02"]
        at = "10:00"
        text = "Pictures"
        media = [
          { path = "described.png", alt = "A described picture" },
          { path = "bare.png" },
        ]
        """,
        {"described.png": png((1, 1, 1)), "bare.png": png((2, 2, 2))},
    )
    (warning,) = lint(path, date(2027, 3, 1), date(2027, 3, 5))
    assert warning.severity == "warning" and warning.file == path
    assert warning.line == next(
        n for n, line in enumerate(path.read_text().splitlines(), 1) if "bare.png" in line
    )
    assert f"post 'gallery': {tmp_path / 'bare.png'} has no alt text" in warning.message
    result = CliRunner().invoke(main, ["lint", str(path), "--start", "2027-03-01"])
    assert result.exit_code == 0 and "has no alt text" in result.output
