"""`socialsched report --html` in real headless Chromium: the page makes no request
of its own, and its heatmap cells are each segment's local hours (Madrid and New York
posts published at the same UTC instant land in different local hours).

Expected cells are computed here with zoneinfo from the publication instants.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from test_reports_store import Answering

from conftest import calendar, post, segment
from socialsched.adapters.engagement import COUNTS
from socialsched.analytics.collect import Collector
from socialsched.calendar.model import Channel
from socialsched.cli import main
from socialsched.runner import Runner
from socialsched.scheduling import schedule
from socialsched.store import Store

ZONES = {"madrid": "Europe/Madrid", "new-york": "America/New_York"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Winter and summer: the same UTC instant is 09:00 / 03:00 in January and 10:00 /
# 04:00 in July (Madrid / New York): the offsets differ by season, and so do the cells.
INSTANTS = (datetime(2027, 1, 4, 8, 0, tzinfo=UTC), datetime(2027, 7, 5, 8, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path to Debian's chromium, installed with apt-get when missing and possible (as
    tests/test_preview.py does)."""
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


def open_page(chromium: str, page: Path, tmp_path: Path) -> tuple[str, list[str], list[str]]:
    """The DOM Chromium builds for `page`, its console lines, and the URLs the page
    itself asked for (from Chromium's network log; the browser's own background
    requests are not the page's and are left out)."""
    net_log = tmp_path / "net-log.json"
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--log-net-log={net_log}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requested = [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start_job
        and "file://" in event.get("params", {}).get("network_isolation_key", "")
        and not event["params"].get("url", "").startswith("file:")
    ]
    return result.stdout, console, requested


class Cells(HTMLParser):
    """The heatmap cells (td with data-hour) of a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str]] = []
        self.bars: list[dict[str, str]] = []
        self.markets: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "td" and "data-hour" in found:
            self.cells.append(found)
        if tag == "g" and "data-channel" in found:
            self.bars.append(found)
        if tag == "g" and found.get("class") == "bar" and "data-segment" in found:
            self.markets.append(found)


def test_the_network_log_check_sees_a_page_that_fetches(chromium, tmp_path):
    page = tmp_path / "fetches.html"
    page.write_text('<html><body><img src="https://example.invalid/x.png"></body></html>')
    _, _, requested = open_page(chromium, page, tmp_path)
    assert requested == ["https://example.invalid/x.png"]


def test_heatmap_hours_are_each_segments_local_hours(chromium, tmp_path, clock, monkeypatch):
    segments = [
        segment(name, zone, "ES" if name == "madrid" else "US") for name, zone in ZONES.items()
    ]
    posts = []
    for n, instant in enumerate(INSTANTS):
        # One post per segment, planned at the local time of the same UTC instant.
        for name, zone in ZONES.items():
            local = instant.astimezone(ZoneInfo(zone))
            posts.append(
                post(
                    f"{name}-{n}",
                    local.strftime("%H:%M"),
                    dates=(local.date().isoformat(),),
                    segments=[name],
                )
            )
    store = Store(tmp_path / "outbox.db", clock=clock)
    schedule(store, calendar(posts, segments=segments), "2027-01-01", "2027-07-31")
    likes = {r.id: 3 + n for n, r in enumerate(sorted(store.records(), key=lambda r: r.id))}
    answering = Answering(Channel(name="feed", adapter="jsonl", settings={"path": "/x"}), clock)
    answering.counts.update(
        {i: {"likes": n, **dict.fromkeys(COUNTS[1:])} for i, n in likes.items()}
    )
    for instant in INSTANTS:
        clock.now = instant
        Runner(
            store, adapters=lambda channel: answering, sleep=clock.sleep, rng=random.Random(3)
        ).run_until_idle()
    published = {r.id: r for r in store.records() if r.state == "published"}
    assert len(published) == 4
    clock.now = datetime(2027, 7, 5, 10, 0, tzinfo=UTC)
    Collector(store, lambda calendar, channel: answering).collect()
    sent = {
        a.delivery_id: a.at.replace(tzinfo=UTC) for a in store.log() if a.to_state == "published"
    }
    store.close()
    assert set(sent[i] for i in published) == set(INSTANTS)  # same UTC instants for both

    work = tmp_path / "elsewhere"
    (work / "out").mkdir(parents=True)
    monkeypatch.chdir(work)
    result = CliRunner().invoke(
        main, ["report", "--html", "out/report.html", "--db", "../outbox.db"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 4 deliveries to out/report.html" in result.stderr

    dom, console, requested = open_page(chromium, work / "out" / "report.html", tmp_path)
    assert requested == []
    assert console == []
    parser = Cells()
    parser.feed(dom)
    assert len(parser.cells) == 2 * 7 * 24
    filled = {
        (c["data-segment"], c["data-weekday"], int(c["data-hour"])): (
            int(c["data-deliveries"]),
            c["data-median"],
        )
        for c in parser.cells
        if c["data-deliveries"] != "0"
    }
    expected = {}
    for delivery_id, record in published.items():
        local = sent[delivery_id].astimezone(ZoneInfo(ZONES[record.segment]))
        expected[record.segment, WEEKDAYS[local.weekday()], local.hour] = (
            1,
            f"{float(likes[delivery_id]):g}",
        )
    assert filled == expected
    # The same instant, different local hours per segment, and per season.
    assert len({hour for _, _, hour in filled}) == 4
    assert {b["data-channel"] for b in parser.bars} == {"feed"}
    # The market chart: a bar per segment, its median the median of its likes.
    assert {
        (b["data-segment"], b["data-deliveries"], b["data-median"]) for b in parser.markets
    } == {
        (
            name,
            "2",
            f"{statistics.median(likes[i] for i, r in published.items() if r.segment == name):g}",
        )
        for name in ZONES
    }


def test_the_html_option_reports_an_unwritable_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["report", "--html", "missing/dir/report.html", "--db", "outbox.db"]
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "missing/dir/report.html" in result.output
