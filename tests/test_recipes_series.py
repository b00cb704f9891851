"""The six-week-series recipe: a six-week course with a skipped holiday and one
changed session plans what its page says, and editing that session changes only its
deliveries.

Expectations come from the recipe file read as plain TOML, zoneinfo, babel and the
holidays package, never from socialsched.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import babel.dates
import holidays
import pytest
from click.testing import CliRunner

import socialsched
from socialsched.cli import main

RECIPE = Path(__file__).resolve().parents[1] / "docs" / "recipes" / "six-week-series"
RANGE = ("--start", "2027-01-01", "--end", "2027-03-31")


def raw() -> dict:
    return tomllib.loads((RECIPE / "calendar.toml").read_text(encoding="utf-8"))


def expected_deliveries(recipe: dict) -> set[tuple[str, str, datetime, str]]:
    """(segment, channel, UTC instant, text) of every session, worked out by hand."""
    post = recipe["post"][0]
    (change,) = post["occurrence"]
    hour, minute = (int(part) for part in post["schedule"].split()[1::-1])
    sessions = [post["start"] + timedelta(weeks=n) for n in range(post["count"])]
    expected = set()
    for segment in recipe["segment"]:
        zone, locale = ZoneInfo(segment["timezone"]), segment["locale"].replace("-", "_")
        city = segment["vars"]["city"]
        for day in sessions:
            if day in post["skip"]:
                continue
            if day == change["date"]:
                clock = time.fromisoformat(change["at"])
                local = datetime.combine(day, clock, zone)
                text = (
                    f"Guest night in {city}: chef Ana Ruiz cooks with us tonight at "
                    f"{babel.dates.format_time(local, 'short', locale=locale)}."
                )
                channels = change["channels"]
            else:
                local = datetime.combine(day, time(hour, minute), zone)
                text = (
                    f"Cooking course, {city}: tonight's session "
                    f"({babel.dates.format_date(day, 'long', locale=locale)}) starts at "
                    f"{babel.dates.format_time(local, 'short', locale=locale)}."
                )
                channels = post["channels"]
            for channel in channels:
                expected.add((segment["name"], channel, local.astimezone(UTC), text))
    return expected


def test_the_series_has_six_weeks_a_skipped_holiday_and_a_guest_night():
    recipe = raw()
    post = recipe["post"][0]
    assert post["count"] == 6 and post["schedule"] == "0 18 * * mon"
    (skipped,) = post["skip"]
    assert "Martin Luther King" in holidays.country_holidays("US", years=2027).get(skipped, "")
    deliveries = socialsched.plan(
        socialsched.load(RECIPE / "calendar.toml"), "2026-12-01", "2027-12-31"
    )
    got = {(d.segment, d.channel, d.utc, d.text) for d in deliveries}
    assert got == expected_deliveries(recipe)
    # Five sessions per city (one skipped), the guest night on two channels.
    assert len(deliveries) == 2 * (5 + 1)
    last = max(d.local.date() for d in deliveries)
    assert last == post["start"] + timedelta(weeks=5) == date(2027, 2, 8)


def test_the_pages_plan_is_the_plan():
    page = (RECIPE / "index.md").read_text(encoding="utf-8")
    block = page.split("--segment new-york\n", 1)[1].split("\n\n", 1)[0]
    rows = [re.split(r"\s{2,}", line.strip()) for line in block.splitlines()[1:]]
    result = CliRunner().invoke(
        main, ["plan", str(RECIPE / "calendar.toml"), *RANGE, "--segment", "new-york",
               "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    planned = json.loads(result.output)
    assert [(row[0], row[3], row[-1]) for row in rows] == [
        (item["utc"][:16].replace("T", " "), item["channel"], item["text"]) for item in planned
    ]


@pytest.fixture
def copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(RECIPE, tmp_path / "recipe")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path / "recipe" / "calendar.toml"


def test_moving_the_guest_night_moves_only_its_deliveries(copied: Path):
    page = (RECIPE / "index.md").read_text(encoding="utf-8")
    summaries = re.findall(r"^\d+ added, \d+ moved, .*$", page, flags=re.MULTILINE)
    args = ["schedule", "../recipe/calendar.toml", "--db", "../recipe/out.db", *RANGE]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    before = socialsched.plan(socialsched.load(copied), "2027-01-01", "2027-03-31")
    text = copied.read_text(encoding="utf-8")
    copied.write_text(text.replace('at = "19:30"', 'at = "20:00"'), encoding="utf-8")
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert [first.output.splitlines()[0], second.output.splitlines()[0]] == summaries
    after = socialsched.plan(socialsched.load(copied), "2027-01-01", "2027-03-31")
    old = {d.id: d for d in before}
    moved = {d.id for d in after if d.utc != old[d.id].utc}
    assert {d.id for d in after} == set(old)
    guest = {d.id for d in before if d.local.date() == raw()["post"][0]["occurrence"][0]["date"]}
    assert moved == guest and len(guest) == 4
    for delivery in after:
        if delivery.id in guest:
            zone = ZoneInfo(delivery.local.tzinfo.key)  # type: ignore[union-attr]
            local = datetime.combine(date(2027, 2, 1), time(20), zone)
            assert delivery.utc == local.astimezone(UTC)
