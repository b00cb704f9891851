"""The HTML preview: its content, the CLI command, and the page in real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import holidays
import pytest
from click.testing import CliRunner

import socialsched
from socialsched.cli import main
from socialsched.planning.preview import render_html

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "img" / "preview.png"
START, END = date(2027, 1, 1), date(2027, 1, 10)


class _Page(HTMLParser):
    """Collects chips and day cells of a preview page (from our HTML or Chromium's DOM)."""

    def __init__(self) -> None:
        super().__init__()
        self.chips: list[dict[str, str]] = []
        self.cells: list[dict[str, str]] = []
        self.row: str | None = None
        self.body: dict[str, str] = {}
        self.remote: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        for key in ("src", "href"):
            if re.match(r"(https?:)?//", attributes.get(key, "")):
                self.remote.append(attributes[key])
        if tag == "body":
            self.body = attributes
        if tag == "tr" and "data-segment" in attributes:
            self.row = attributes["data-segment"]
        if tag == "td" and self.row is not None:
            self.cells.append({**attributes, "segment": self.row})
        if tag == "div" and "chip" in attributes.get("class", "").split():
            self.chips.append(attributes)
        if tag == "span" and "observance" in attributes.get("class", "").split():
            self.cells[-1]["observance"] = attributes["data-observance"]


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _small_calendar() -> socialsched.Calendar:
    return socialsched.Calendar(
        name="small",
        segments=[
            socialsched.Segment(
                name="us",
                locale="en-US",
                timezone="America/New_York",
                country="US",
                quiet_hours=["22:00-07:00"],
            ),
            socialsched.Segment(name="dz", locale="fr-DZ", timezone="Africa/Algiers", country="DZ"),
        ],
        channels=[socialsched.Channel(name="feed", adapter="console")],
        observances=[socialsched.Observance(name="Brand Day", date="01-05", countries=["US"])],
        posts=[
            socialsched.Post(
                id="daily", text="Hello <b>&</b> {{ segment.name }}", schedule="0 9 * * *"
            ),
            socialsched.Post(
                id="early", text="Too early", dates=["2027-01-04"], at="05:00", segments=["us"]
            ),
        ],
    )


def test_preview_has_one_chip_per_delivery_with_time_channel_and_text():
    calendar = _small_calendar()
    deliveries = socialsched.plan(calendar, START, END)
    page = _parse(render_html(calendar, deliveries, START, END))
    days = (END - START).days + 1
    # "daily" once a day in each of 2 segments, plus the one-off.
    assert len(page.chips) == 2 * days + 1
    daily = [c for c in page.chips if c["data-post"] == "daily" and c["data-segment"] == "dz"]
    assert {c["data-local"][:10] for c in daily} == {
        (START + timedelta(days=n)).isoformat() for n in range(days)
    }
    assert all(c["title"] == "Hello <b>&</b> dz" and c["data-channel"] == "feed" for c in daily)
    assert page.remote == []


def test_preview_marks_moved_delivery_with_its_reason():
    calendar = _small_calendar()
    page = _parse(render_html(calendar, socialsched.plan(calendar, START, END), START, END))
    (early,) = [c for c in page.chips if c["data-post"] == "early"]
    assert "moved" in early["class"].split()
    assert early["data-reason"] == "quiet_hours"
    assert early["data-local"].startswith("2027-01-04T07:00")  # end of 22:00-07:00
    assert "quiet hours" in early["title"]
    assert all(c["data-reason"] == "" for c in page.chips if c["data-post"] == "daily")


def test_preview_shades_each_segments_own_holidays_and_weekends():
    calendar = _small_calendar()
    page = _parse(render_html(calendar, socialsched.plan(calendar, START, END), START, END))
    for segment, country in (("us", "US"), ("dz", "DZ")):
        public = holidays.country_holidays(country, years=2027)
        weekend = {"US": {5, 6}, "DZ": {4, 5}}[country]  # Algeria rests Friday and Saturday
        for cell in (c for c in page.cells if c["segment"] == segment):
            day = date.fromisoformat(cell["data-day"])
            classes = cell.get("class", "").split()
            assert ("holiday" in classes) == (day in public), (segment, day)
            if day not in public:
                assert ("weekend" in classes) == (day.weekday() in weekend), (segment, day)


def test_preview_names_observances_without_shading_them():
    calendar = _small_calendar()
    page = _parse(render_html(calendar, socialsched.plan(calendar, START, END), START, END))
    marked = {(c["segment"], c["data-day"]) for c in page.cells if "observance" in c}
    assert marked == {("us", "2027-01-05")}  # the observance is for US segments only
    (cell,) = [c for c in page.cells if "observance" in c]
    assert cell["observance"] == "Brand Day"
    assert "holiday" not in cell.get("class", "").split()


def test_preview_command_requires_html_option(example_calendar_path):
    result = CliRunner().invoke(main, ["preview", str(example_calendar_path)])
    assert result.exit_code == 2
    assert "--html" in result.output


def test_preview_command_defaults_to_two_weeks(tmp_path, example_calendar_path):
    out = tmp_path / "plan.html"
    result = CliRunner().invoke(
        main, ["preview", str(example_calendar_path), "--start", "2027-02-01", "--html", str(out)]
    )
    assert result.exit_code == 0, result.output
    days = re.findall(r'<th data-day="([\d-]+)"', out.read_text(encoding="utf-8"))
    assert days == [(date(2027, 2, 1) + timedelta(days=n)).isoformat() for n in range(14)]


def test_preview_command_reports_unwritable_output(tmp_path, example_calendar_path):
    out = tmp_path / "missing-folder" / "plan.html"
    result = CliRunner().invoke(
        main, ["preview", str(example_calendar_path), "--start", "2027-02-01", "--html", str(out)]
    )
    assert result.exit_code == 1
    assert str(out) in result.output and "Traceback" not in result.output


def test_preview_command_writes_the_page(tmp_path, example_calendar_path):
    out = tmp_path / "plan.html"
    result = CliRunner().invoke(
        main,
        [
            "preview",
            str(example_calendar_path),
            "--start",
            "2027-01-01",
            "--end",
            "2027-01-10",
            "--html",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    page = _parse(out.read_text(encoding="utf-8"))
    expected = socialsched.plan(socialsched.load(example_calendar_path), START, END)
    assert sorted(c["data-local"] for c in page.chips) == sorted(
        d.local.isoformat() for d in expected
    )


def test_preview_command_reports_bad_calendar_without_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[segment]]\nname = "x"\nlocale = "en-US"\ntimezone = "Mars/Base"\ncountry = "US"\n'
    )
    result = CliRunner().invoke(main, ["preview", str(bad), "--html", str(tmp_path / "o.html")])
    assert result.exit_code == 1
    assert "Mars/Base" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.html").exists()


# ---- real browser ----


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path to Debian's chromium, installed with apt-get when missing and possible."""
    found = shutil.which("chromium")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], capture_output=True, timeout=600
        )
        found = shutil.which("chromium")
    if found is None:
        reason = "chromium is not installed and apt-get could not install it"
        if os.environ.get("SOCIALSCHED_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]


def _open(chromium: str, page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """The DOM Chromium builds for `page` after its scripts ran, and its console lines."""
    result = subprocess.run(
        [
            chromium,
            *_FLAGS,
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return result.stdout, console


def _screenshot(chromium: str, page: Path, out: Path, tmp_path: Path) -> tuple[int, int]:
    subprocess.run(
        [
            chromium,
            *_FLAGS,
            "--window-size=1500,1000",
            f"--user-data-dir={tmp_path / 'shot'}",
            f"--screenshot={out}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_console_check_catches_a_script_error(chromium, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>notDefined();</script></body></html>")
    _, console = _open(chromium, broken, tmp_path)
    assert any("notDefined" in line for line in console)


def test_example_preview_in_headless_chromium(chromium, tmp_path, example_calendar_path):
    out = tmp_path / "exporter.html"
    result = CliRunner().invoke(
        main,
        [
            "preview",
            str(example_calendar_path),
            "--start",
            START.isoformat(),
            "--end",
            END.isoformat(),
            "--html",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    dom, console = _open(chromium, out, tmp_path)
    assert console == []
    page = _parse(dom)
    expected = socialsched.plan(socialsched.load(example_calendar_path), START, END)
    # The inline script ran to its end and counted every chip.
    assert page.body.get("data-ready") == str(len(expected))
    assert sorted((c["data-segment"], c["data-post"], c["data-local"]) for c in page.chips) == (
        sorted((d.segment, d.post, d.local.isoformat()) for d in expected)
    )
    texts = {(d.segment, d.post, d.local.isoformat()): d.text for d in expected}
    for chip in page.chips:
        text = texts[(chip["data-segment"], chip["data-post"], chip["data-local"])]
        assert chip["title"].startswith(text)  # the rendered text is the hover tooltip
    moved = [c for c in page.chips if "moved" in c["class"].split()]
    assert {c["data-reason"] for c in moved} == {d.reason for d in expected if d.reason}

    shot = tmp_path / "preview.png"
    width, height = _screenshot(chromium, out, shot, tmp_path)
    assert (width, height) == (1500, 1000)
    if os.environ.get("SOCIALSCHED_UPDATE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
    assert SCREENSHOT.is_file(), "run with SOCIALSCHED_UPDATE_SCREENSHOT=1 to create it"
