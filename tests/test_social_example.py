"""examples/social: one post to four networks, per-network text and limit checks.

Needs the mastodon, bluesky, telegram and matrix plugins installed (the test command
installs them); skipped, naming the missing one, otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

import socialsched
from socialsched.adapters import Message
from socialsched.calendar.audiences import Audience
from socialsched.cli import main
from socialsched.errors import PlanError

for _plugin in ("mastodon", "bluesky", "telegram", "matrix"):
    pytest.importorskip(
        f"socialsched_{_plugin}", reason=f"pip install ./plugins/socialsched-{_plugin}"
    )

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "social" / "calendar.toml"


def test_each_network_gets_its_own_text() -> None:
    deliveries = socialsched.plan(socialsched.load(EXAMPLE), "2027-03-01", "2027-03-31")
    by_channel = {(d.segment, d.adapter): d.text or "" for d in deliveries}
    assert sorted({adapter for _, adapter in by_channel}) == [
        "bluesky",
        "mastodon",
        "matrix",
        "telegram",
    ]
    assert by_channel[("fr-FR", "telegram")].startswith("<b>Nouveau chez Olivar</b>")
    assert "🫒" in by_channel[("fr-FR", "bluesky")]
    assert "kaltgepresst" in by_channel[("de-DE", "mastodon")]
    assert by_channel[("de-DE", "matrix")] == by_channel[("de-DE", "mastodon")]


def _with_text(text: str) -> socialsched.Calendar:
    calendar = socialsched.load(EXAMPLE)
    posts = tuple(attrs.evolve(post, text=text) for post in calendar.posts)
    return attrs.evolve(calendar, posts=posts)


def test_limits_are_checked_per_network() -> None:
    # 320 characters: over Bluesky's 300 graphemes, within Mastodon's 500.
    calendar = _with_text("x" * 320)
    with pytest.raises(PlanError, match=r"'bluesky'.*320.*300"):
        socialsched.plan(calendar, "2027-03-01", "2027-03-31")
    others = socialsched.plan(
        calendar, "2027-03-01", "2027-03-31", channels=["fediverse", "telegram", "matrix"]
    )
    assert len(others) == 6
    with pytest.raises(PlanError, match=r"'fediverse'.*501.*500"):
        socialsched.plan(_with_text("y" * 501), "2027-03-01", "2027-03-31", channels=["fediverse"])


def test_messages_carry_each_networks_resolved_audience() -> None:
    calendar = socialsched.load(EXAMPLE)
    segments = {segment.name: segment for segment in calendar.segments}
    channels = {channel.name: channel for channel in calendar.channels}
    deliveries = socialsched.plan(calendar, "2027-03-01", "2027-03-31")
    audiences = {
        (d.segment, d.channel): Message.for_delivery(
            d, segments[d.segment], channels[d.channel]
        ).audience
        for d in deliveries
    }
    assert audiences == {
        ("fr-FR", "fediverse"): Audience("visibility", "public"),
        ("de-DE", "fediverse"): Audience("visibility", "unlisted"),
        ("fr-FR", "bluesky"): None,
        ("de-DE", "bluesky"): None,
        ("fr-FR", "telegram"): Audience("group", "@olivar_fr"),
        ("de-DE", "telegram"): Audience("group", "@olivar_de"),
        ("fr-FR", "matrix"): Audience("room", "#olivar-fr:matrix.example"),
        ("de-DE", "matrix"): Audience("room", "#olivar-de:matrix.example"),
    }


def _with_audience(channel_name: str, segment: str, audience: str) -> socialsched.Calendar:
    calendar = socialsched.load(EXAMPLE)
    channels = tuple(
        attrs.evolve(channel, audiences={**channel.audiences, segment: audience})
        if channel.name == channel_name
        else channel
        for channel in calendar.channels
    )
    return attrs.evolve(calendar, channels=channels)


@pytest.mark.parametrize(
    ("channel", "audience", "expected"),
    [
        ("matrix", "group:-100123", r"'matrix'.*cannot target a 'group' audience"),
        ("telegram", "room:!abc:example.org", r"'telegram'.*cannot target a 'room' audience"),
        ("fediverse", "visibility:friends", r"'fediverse'.*visibility 'friends'"),
        ("bluesky", "list:fans", r"'bluesky'.*cannot target a 'list' audience"),
    ],
)
def test_an_audience_the_network_cannot_reach_fails_the_plan(
    channel: str, audience: str, expected: str
) -> None:
    calendar = _with_audience(channel, "fr-FR", audience)
    with pytest.raises(PlanError, match=expected):
        socialsched.plan(calendar, "2027-03-01", "2027-03-31", channels=[channel])


def test_adapters_list_shows_each_network_plugin_with_its_package() -> None:
    result = CliRunner().invoke(main, ["adapters", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = {row["name"]: row for row in json.loads(result.output)}
    for network in ("mastodon", "bluesky", "telegram", "matrix"):
        assert listed[network]["package"].startswith(f"socialsched-{network} ")
    assert listed["mastodon"]["capabilities"]["audiences"] == ["visibility", "recipient"]
    assert listed["telegram"]["capabilities"]["audiences"] == ["group", "recipient"]
    assert listed["matrix"]["capabilities"]["audiences"] == ["room"]
    assert listed["bluesky"]["capabilities"]["audiences"] == []
