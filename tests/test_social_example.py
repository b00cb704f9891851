"""examples/social: one post to four networks, per-network text and limit checks.

Needs the mastodon, bluesky, telegram and matrix plugins installed (the test command
installs them); skipped, naming the missing one, otherwise.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

import socialsched
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
