"""The multi-network example: one post on six networks with per-network text and limits,
and a photo on Instagram and Threads."""

from __future__ import annotations

import hashlib
import shutil
import zoneinfo
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from socialsched import load, plan
from socialsched.adapters.registry import available_adapters
from socialsched.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "networks" / "calendar.toml"
NETWORKS = {"slack", "discord", "email", "facebook", "x", "linkedin"}
PHOTO_NETWORKS = {"instagram", "threads"}

pytestmark = pytest.mark.skipif(
    not set(available_adapters()) >= NETWORKS | PHOTO_NETWORKS,
    reason="needs pip install -e plugins/socialsched-* (eight network plugins)",
)


def next_week() -> tuple[date, date]:
    # Facebook's native scheduling window (10 minutes to 180 days from now) is checked
    # at plan time, so the example is planned for the coming week, whenever this runs.
    start = date.today() + timedelta(days=2)
    return start, start + timedelta(days=6)


def test_each_network_gets_its_own_text_at_each_markets_monday_10():
    start, end = next_week()
    deliveries = plan(load(EXAMPLE), start, end)

    launch = [d for d in deliveries if d.post == "weekly-launch"]
    by_adapter = {d.adapter: d.text for d in launch if d.segment == "fr-FR"}
    assert set(by_adapter) == NETWORKS
    assert len(set(by_adapter.values())) == len(NETWORKS)
    assert by_adapter["slack"].startswith("*This week at Olivar*")
    assert "#kitchen" in by_adapter["discord"]
    assert "subscribed to the Olivar list" in by_adapter["email"]
    assert by_adapter["x"].endswith("#oliveoil")
    assert by_adapter["linkedin"].startswith("This week at Olivar: the new harvest")
    monday = next(
        start + timedelta(days=i) for i in range(7) if (start + timedelta(days=i)).weekday() == 0
    )
    paris_10 = datetime(
        monday.year, monday.month, monday.day, 10, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")
    )
    assert {d.utc for d in launch if d.segment == "fr-FR"} == {
        paris_10.astimezone(zoneinfo.ZoneInfo("UTC"))
    }
    assert len(launch) == 3 * len(NETWORKS)


def test_plan_checks_facebooks_scheduling_window():
    far = date.today() + timedelta(days=400)
    result = CliRunner().invoke(
        main,
        [
            "plan",
            str(EXAMPLE),
            "--start",
            far.isoformat(),
            "--end",
            (far + timedelta(days=7)).isoformat(),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "facebook-page" in result.output
    assert "facebook schedules natively only 10 minutes to 180.0 days ahead" in result.output
    assert "Traceback" not in result.output


def test_plan_checks_each_networks_length_limit(tmp_path):
    long_template = EXAMPLE.parent / "templates" / "launch.j2"
    calendar_dir = tmp_path / "networks"
    shutil.copytree(EXAMPLE.parent, calendar_dir)
    # Discord embeds take 4,096 characters; Slack, email and Facebook take this text.
    (calendar_dir / "templates" / "launch.j2").write_text(
        '{% if channel.adapter == "discord" %}'
        + "x" * 4097
        + "{% else %}"
        + long_template.read_text(encoding="utf-8")
        + "{% endif %}",
        encoding="utf-8",
    )
    start, end = next_week()
    result = CliRunner().invoke(
        main,
        ["plan", str(calendar_dir / "calendar.toml"), "--start", str(start), "--end", str(end)],
    )
    assert result.exit_code == 1, result.output
    assert "community-discord" in result.output
    assert "text is 4097 characters; discord allows 4096" in result.output


def test_each_network_gets_the_audience_it_understands():
    from socialsched.adapters import Message
    from socialsched.calendar.audiences import Audience

    calendar = load(EXAMPLE)
    start, end = next_week()
    segments = {s.name: s for s in calendar.segments}
    channels = {c.name: c for c in calendar.channels}
    audiences = {
        (d.channel, d.segment): Message.for_delivery(
            d, segments[d.segment], channels[d.channel]
        ).audience
        for d in plan(calendar, start, end)
    }
    assert audiences[("team-slack", "fr-FR")] == Audience("webhook", "SLACK_WEBHOOK_FR")
    assert audiences[("community-discord", "de-DE")] == Audience("webhook", "DISCORD_WEBHOOK_DE")
    assert audiences[("newsletter", "en-US")] == Audience("list", "news@lists.olivar.example")
    assert audiences[("facebook-page", "fr-FR")] == Audience("targeting", countries=("FR", "BE"))
    # A bare targeting table targets the segment's own country and locale.
    assert audiences[("facebook-page", "en-US")] == Audience(
        "targeting", countries=("US",), locales=("en-US",)
    )


def test_the_harvest_photo_goes_to_instagram_and_threads_at_noon_with_its_alt_text():
    start, end = next_week()
    photos = [d for d in plan(load(EXAMPLE), start, end) if d.post == "harvest-photo"]
    assert {d.adapter for d in photos} == PHOTO_NETWORKS and len(photos) == 3 * 2
    image = EXAMPLE.parent / "img" / "harvest.jpg"
    for delivery in photos:
        (media,) = delivery.media
        assert media.digest == hashlib.sha256(image.read_bytes()).hexdigest()
        assert media.alt == "A pale oval like a drop of fresh oil on olive green"
        assert delivery.local.hour == 12 and delivery.local.weekday() == 0
