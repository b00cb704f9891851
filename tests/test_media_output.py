"""Media fetched from URLs, and media as the outputs show them: the HTML preview's
thumbnails with alt text, the iCalendar description, the jsonl adapter's records."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
from datetime import UTC, datetime

import icalendar
import pytest
from PIL import Image

import socialsched
from socialsched.adapters import JsonlAdapter, Message
from socialsched.calendar.model import Calendar, Channel, Post, Segment
from socialsched.errors import PlanError
from socialsched.media.model import Media, MediaItem
from socialsched.planning.export import to_ics
from socialsched.planning.planner import Planner
from socialsched.planning.preview import render_html
from socialsched.testing import LocalServer, Reply


def png(colour: tuple[int, int, int], size: tuple[int, int] = (300, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def calendar_with(media: list[MediaItem], source=None) -> Calendar:
    return Calendar(
        segments=[
            Segment(name="paris", locale="fr-FR", timezone="Europe/Paris", country="FR"),
            Segment(name="madrid", locale="es-ES", timezone="Europe/Madrid", country="ES"),
        ],
        channels=[Channel(name="console", adapter="console")],
        posts=[
            Post(id="launch", text="Hello", dates=["2027-03-02"], at="10:00", media=media),
        ],
        source=source,
    )


# ---- URLs ----


@pytest.fixture(autouse=True)
def local_media_server_allowed(monkeypatch):
    """These tests fetch from a server on 127.0.0.1, which media URLs may reach only
    when the operator allows it (see tests/security/test_media_urls.py)."""
    monkeypatch.setenv("SOCIALSCHED_ALLOWED_NETWORKS", "127.0.0.1/32")


def test_a_url_is_fetched_once_for_every_route_that_uses_it():
    data = png((0, 128, 0))
    with LocalServer() as server:
        server.reply(Reply(200, data, {"Content-Type": "image/png"}))
        url = f"{server.url}/assets/banner.png"
        alt = {"fr": "Bannière", "es": "Cartel"}
        deliveries = socialsched.plan(
            calendar_with([MediaItem(url=url, alt=alt)]), "2027-03-02", "2027-03-02"
        )
        assert [(r.method, r.path) for r in server.requests] == [("GET", "/assets/banner.png")]
    media = {d.segment: d.media[0] for d in deliveries}
    assert {segment: m.alt for segment, m in media.items()} == {
        "paris": "Bannière",
        "madrid": "Cartel",
    }
    for item in media.values():
        assert item.digest == hashlib.sha256(data).hexdigest()
        assert (item.source, item.filename, item.read()) == (url, "banner.png", data)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(404, b"not here"), "HTTP 404"),
        (Reply(200, b"<html>a page, not an image</html>"), "is not a JPEG, PNG, WebP or GIF"),
    ],
)
def test_a_failed_fetch_names_the_post_and_the_url(reply, expected):
    with LocalServer() as server:
        server.reply(reply)
        url = f"{server.url}/banner.png"
        with pytest.raises(PlanError) as caught:
            socialsched.plan(calendar_with([MediaItem(url=url)]), "2027-03-02", "2027-03-02")
    message = str(caught.value)
    assert "post 'launch'" in message and url in message and expected in message


def test_an_unreachable_url_is_a_problem_lint_reports():
    with LocalServer() as server:
        url = f"{server.url}/gone.png"
    # The server is stopped: nothing listens on its port any more.
    problems: list = []
    Planner(calendar_with([MediaItem(url=url)])).plan("2027-03-02", "2027-03-02", problems=problems)
    assert len(problems) == 2  # one per segment, each naming the URL
    assert all(f"cannot fetch media {url}" in p.message for p in problems)


# ---- the outputs ----


@pytest.fixture
def planned(tmp_path):
    (tmp_path / "banner.png").write_bytes(png((220, 30, 30)))
    calendar = calendar_with(
        [
            MediaItem(
                path="banner.png", alt={"fr": "Une bannière <rouge>", "default": "A red banner"}
            )
        ],
        source=tmp_path / "calendar.toml",
    )
    return calendar, socialsched.plan(calendar, "2027-03-02", "2027-03-02")


def test_preview_shows_self_contained_thumbnails_with_alt_text(planned):
    calendar, deliveries = planned
    page = render_html(calendar, deliveries, deliveries[0].local.date(), deliveries[0].local.date())
    images = re.findall(r'<img src="data:image/jpeg;base64,([^"]+)" alt="([^"]*)"', page)
    assert sorted(alt for _, alt in images) == ["A red banner", "Une bannière &lt;rouge&gt;"]
    for encoded, _ in images:
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as thumb:
            assert max(thumb.size) <= 96 and thumb.size == (96, 64)
            red, green, blue = thumb.convert("RGB").getpixel((48, 32))
            assert red > 180 and green < 70 and blue < 70
    # Nothing is fetched from elsewhere.
    assert not re.search(r'(src|href)="(https?:|//)', page)


def test_ics_description_names_the_media_files(planned):
    _, deliveries = planned
    document = icalendar.Calendar.from_ical(
        to_ics(deliveries, "cal", stamp=datetime(2027, 1, 1, tzinfo=UTC))
    )
    descriptions = [str(event["description"]) for event in document.walk("VEVENT")]
    assert descriptions == ["Hello\n\nMedia: banner.png"] * 2


def message_with(media: tuple[Media, ...]) -> Message:
    moment = datetime(2027, 3, 2, 9, tzinfo=UTC)
    return Message(
        delivery_id="d1",
        post="launch",
        segment="paris",
        channel="console",
        locale="fr-FR",
        text="Hello",
        utc=moment,
        local=moment,
        attachments=media,
    )


def test_jsonl_records_attachments_by_description(tmp_path):
    data = png((1, 2, 3))
    media = Media.from_bytes(
        data, alt="Une bannière", filename="banner.png", source="/x/banner.png"
    )
    channel = Channel(name="log", adapter="jsonl", settings={"path": str(tmp_path / "out.jsonl")})
    JsonlAdapter(channel).publish(message_with((media,)), "k1")
    (record,) = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert record["attachments"] == [
        {
            "kind": "image",
            "mime_type": "image/png",
            "size": len(data),
            "digest": hashlib.sha256(data).hexdigest(),
            "width": 300,
            "height": 200,
            "alt": "Une bannière",
            "filename": "banner.png",
            "source": "/x/banner.png",
        }
    ]


def test_preview_command_from_another_folder_embeds_each_banner_once(tmp_path, monkeypatch):
    from pathlib import Path

    from click.testing import CliRunner

    from socialsched.cli import main

    recipe = Path(__file__).resolve().parents[1] / "docs" / "recipes" / "banner-per-language"
    monkeypatch.chdir(tmp_path)
    relative = os.path.relpath(recipe / "calendar.toml", tmp_path)
    days = ["--start", "2027-03-16", "--end", "2027-03-16"]
    result = CliRunner().invoke(main, ["preview", relative, *days, "--html", "p.html"])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "p.html").read_text(encoding="utf-8")
    uris = re.findall(r'<img src="(data:image/[a-z]+;base64,[^"]+)"', page)
    assert len(uris) == 5 and len(set(uris)) == 3  # five markets, three banners
    assert 'alt="Anuncio verde: REBAJAS DE PRIMAVERA -20 %"' in page


def test_preview_and_ics_say_a_delivery_is_a_thread():
    text = "First sentence of the story. Second sentence of the story. Third one ends it."
    calendar = Calendar(
        segments=[Segment(name="paris", locale="fr-FR", timezone="Europe/Paris", country="FR")],
        channels=[Channel(name="short", adapter="console", settings={"max_length": 40})],
        posts=[Post(id="story", text=text, dates=["2027-03-02"], at="10:00", thread="auto")],
    )
    (delivery,) = socialsched.plan(calendar, "2027-03-02", "2027-03-02")
    assert len(delivery.parts) == 3
    page = render_html(calendar, [delivery], delivery.local.date(), delivery.local.date())
    assert '<span class="parts">thread of 3</span>' in page
    (event,) = icalendar.Calendar.from_ical(to_ics([delivery], "cal")).walk("VEVENT")
    assert str(event["description"]) == f"{text}\n\nThread of 3 parts"
