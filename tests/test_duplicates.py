"""`lint` warns about the same text sent twice to one channel and audience within
`duplicate_window`, and about two posts taking the same slot."""

from __future__ import annotations

import os
import textwrap
import time as _time
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from socialsched import plan
from socialsched.calendar.duplicates import duplicate_warnings, normalise, slot_warnings
from socialsched.calendar.model import Calendar, Channel, Delivery, Post, Segment
from socialsched.calendar.queues import Queue
from socialsched.cli import main
from socialsched.errors import CalendarError
from socialsched.planning.calendar_load import load
from socialsched.planning.lint import lint

HEAD = """
[calendar]
name = "dupes"
{window}

[[segment]]
name = "paris"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"

[[segment]]
name = "nyc"
locale = "en-US"
timezone = "America/New_York"
country = "US"

[[channel]]
name = "feed"
adapter = "console"

[[channel]]
name = "bird"
adapter = "x"
secrets = {{ access_token = "X_TOKEN" }}
"""

POSTS = """
[[post]]
id = "launch"
text = "Spring sale! https://www.shop.example/sale/?utm_source=news"
segments = ["paris"]
channels = ["feed"]
dates = ["2027-03-01"]
at = "10:00"

[[post]]
id = "reminder"
text = "spring   SALE!  http://shop.example/sale"
segments = ["paris"]
channels = ["feed"]
dates = ["2027-03-05"]
at = "18:30"

[[post]]
id = "other-page"
text = "Spring sale! https://shop.example/winter"
segments = ["paris"]
channels = ["feed"]
dates = ["2027-03-02"]
at = "10:00"

[[post]]
id = "far-apart"
text = "Spring sale! https://shop.example/sale"
segments = ["paris"]
channels = ["feed"]
dates = ["2027-03-20"]
at = "10:00"

[[post]]
id = "weekly"
text = "Weekly digest"
segments = ["nyc"]
channels = ["feed", "bird"]
dates = ["2027-03-01", "2027-03-03"]
at = "09:00"

[[post]]
id = "clash"
text = "Something else"
segments = ["nyc"]
channels = ["feed"]
dates = ["2027-03-03"]
at = "09:00"
"""


def write(folder: Path, window: str = "") -> Path:
    path = folder / "cal.toml"
    text = HEAD.format(window=window) + POSTS
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if needle in line)


def post_line(path: Path, post_id: str) -> int:
    """The line of the `[[post]]` header of post `post_id`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    at = line_of(path, f'id = "{post_id}"')
    return max(n for n in range(1, at) if lines[n - 1].strip() == "[[post]]")


def local(day: str, clock: str, zone: str) -> str:
    moment = datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), ZoneInfo(zone))
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()}"


def warnings_about(problems, words):
    return [p for p in problems if p.severity == "warning" and words in p.message]


@pytest.fixture(autouse=True)
def x_token(monkeypatch):
    monkeypatch.setenv("X_TOKEN", "t")


def test_normalise_folds_case_spacing_and_tracking_in_links():
    assert normalise("  Hello\n\tWORLD  ") == "hello world"
    same = normalise("Sale https://www.Shop.example/a/?utm_source=x&fbclid=1#top.")
    assert same == normalise("sale   http://shop.example/a.")
    assert same == "sale shop.example/a."
    # Other query parameters are kept: they may name another page.
    assert normalise("see www.shop.example/p?id=2&utm_medium=m") == "see shop.example/p?id=2"
    assert normalise("https://shop.example/a") != normalise("https://shop.example/b")


def test_same_text_within_the_window_names_both_posts_lines_and_times(tmp_path):
    path = write(tmp_path)
    problems = lint(path, date(2027, 3, 1), date(2027, 3, 31))
    assert not [p for p in problems if p.severity == "error"], problems
    found = warnings_about(problems, "same text")
    pairs = {tuple(sorted(w.message.split("'")[1:4:2])) for w in found}
    # launch/reminder: 4 days 8.5 hours apart (< 7d). reminder/far-apart: 14 days 15.5
    # hours. other-page links elsewhere. weekly repeats itself: only X refuses that.
    assert ("launch", "reminder") in pairs
    assert not any("far-apart" in pair or "other-page" in pair for pair in pairs)
    (sale,) = [w for w in found if "'launch'" in w.message]
    assert sale.file == path and sale.line == post_line(path, "launch")
    reminder = post_line(path, "reminder")
    assert f"post 'reminder' ({path}:{reminder})" in sale.message
    assert "channel 'feed'" in sale.message and "segment 'paris'" in sale.message
    assert local("2027-03-01", "10:00", "Europe/Paris") in sale.message
    assert local("2027-03-05", "18:30", "Europe/Paris") in sale.message
    assert "refuses" not in sale.message
    (bird,) = [w for w in found if "'weekly'" in w.message]
    assert "channel 'bird'" in bird.message and "X refuses duplicate posts" in bird.message
    assert local("2027-03-01", "09:00", "America/New_York") in bird.message
    assert local("2027-03-03", "09:00", "America/New_York") in bird.message


def test_window_is_the_calendar_key(tmp_path):
    # 14d 15.5h between reminder and far-apart: inside a 15-day window, not a 14-day one.
    wide = lint(write(tmp_path, 'duplicate_window = "15d"'), date(2027, 3, 1), date(2027, 3, 31))
    assert any("'far-apart'" in w.message for w in warnings_about(wide, "same text"))
    narrow = lint(write(tmp_path, 'duplicate_window = "36h"'), date(2027, 3, 1), date(2027, 3, 31))
    assert not warnings_about(narrow, "'launch'")


@pytest.mark.parametrize("value", ['"7 weeks"', '"0d"', "7", '"-1d"'])
def test_bad_window_is_an_error_at_its_line(tmp_path, value):
    path = write(tmp_path, f"duplicate_window = {value}")
    with pytest.raises(CalendarError) as raised:
        load(path)
    (problem,) = raised.value.problems
    assert problem.file == path and problem.line == line_of(path, "duplicate_window")
    assert "duplicate_window" in problem.message


def test_two_posts_in_one_slot_is_a_warning(tmp_path):
    path = write(tmp_path)
    problems = lint(path, date(2027, 3, 1), date(2027, 3, 31))
    (clash,) = warnings_about(problems, "same slot")
    assert "'weekly'" in clash.message and "'clash'" in clash.message
    assert "channel 'feed'" in clash.message and "segment 'nyc'" in clash.message
    assert local("2027-03-03", "09:00", "America/New_York") in clash.message
    assert clash.line == post_line(path, "weekly")


def test_two_posts_of_one_queue_may_share_a_slot_its_per_slot_allows():
    segment = Segment(name="s", locale="en-GB", timezone="Europe/London", country="GB")
    calendar = Calendar(
        segments=[segment],
        channels=[Channel(name="c", adapter="console")],
        posts=[
            Post(id="a", text="A", queue="q"),
            Post(id="b", text="B", queue="q"),
            Post(id="fixed", text="F", dates=["2027-01-04"], at="09:00"),
        ],
        queues=[Queue(name="q", times=["09:00"], per_slot=2, start="2027-01-04")],
    )
    deliveries = plan(calendar, "2027-01-04", "2027-01-04")
    nine = datetime(2027, 1, 4, 9, tzinfo=ZoneInfo("Europe/London"))
    assert sorted(d.post for d in deliveries if d.local == nine) == ["a", "b", "fixed"]
    # a and b share the slot by design; the fixed post's clash is still reported.
    (warning,) = slot_warnings(calendar, deliveries)
    assert "'fixed'" in warning.message and "'a'" not in warning.message


def test_lint_from_another_folder_shows_the_warning_and_exits_zero(tmp_path, monkeypatch):
    (tmp_path / "cal").mkdir()
    (tmp_path / "work").mkdir()
    path = write(tmp_path / "cal")
    monkeypatch.chdir(tmp_path / "work")
    relative = os.path.relpath(path, tmp_path / "work")
    result = CliRunner().invoke(
        main, ["lint", relative, "--start", "2027-03-01", "--end", "2027-03-31"]
    )
    assert result.exit_code == 0, result.output
    launch = post_line(path, "launch")
    assert f"{relative}:{launch}: warning: post 'launch' ({relative}:{launch})" in result.stdout
    assert "same text" in result.stdout and "same slot" in result.stdout


# ---- random plans: the neighbour scan finds exactly what comparing all pairs finds ----

SEGMENT = Segment(name="s", locale="en-GB", timezone="Europe/London", country="GB")
TEXTS = ["Hello", "hello ", "HELLO", "Bye", "https://a.example/x", "http://www.a.example/x/"]


def _calendar(posts: int, window: timedelta) -> Calendar:
    return Calendar(
        segments=[SEGMENT],
        channels=[Channel(name="c", adapter="console")],
        posts=[Post(id=f"p{i}", text="t", dates=["2027-01-01"], at="09:00") for i in range(posts)],
        duplicate_window=window,
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 200), st.sampled_from(TEXTS)), min_size=1, max_size=12),
    st.integers(1, 72),
)
def test_neighbour_scan_matches_all_pairs(entries, hours):
    window = timedelta(hours=hours)
    calendar = _calendar(len(entries), window)
    start = datetime(2027, 1, 1, tzinfo=UTC)
    deliveries = [
        Delivery(
            id=f"d{i}",
            post=f"p{i}",
            segment="s",
            channel="c",
            adapter="console",
            utc=start + timedelta(hours=offset),
            local=start + timedelta(hours=offset),
            text=text,
        )
        for i, (offset, text) in enumerate(entries)
    ]
    canon = {"hello": "hello", "bye": "bye"}

    def key(text: str) -> str:
        return canon.get(text.strip().lower(), "link")

    # Every post is its own: a pair of posts is a duplicate when some two of their
    # deliveries (here one each) share a text and are closer than the window.
    expected = {
        tuple(sorted((a.post, b.post)))
        for a in deliveries
        for b in deliveries
        if a.id < b.id and key(a.text) == key(b.text) and abs(a.utc - b.utc) < window
    }
    found = duplicate_warnings(calendar, deliveries)
    warned = {tuple(sorted(w.message.split("'")[1:4:2])) for w in found}
    # The scan reports neighbours in time: every warned pair is a real duplicate, and
    # every delivery that has a duplicate at all is in some warning.
    assert warned <= expected
    assert {p for pair in warned for p in pair} == {p for pair in expected for p in pair}
    same_slot = {
        tuple(sorted((a.post, b.post))) for a in deliveries for b in deliveries
        if a.id < b.id and a.utc == b.utc
    }  # fmt: skip
    slots = {
        tuple(sorted(w.message.split("'")[1:4:2])) for w in slot_warnings(calendar, deliveries)
    }
    assert slots <= same_slot
    assert {p for pair in slots for p in pair} == {p for pair in same_slot for p in pair}


def test_a_large_plan_is_checked_quickly():
    calendar = _calendar(1, timedelta(days=7))
    start = datetime(2027, 1, 1, tzinfo=UTC)
    deliveries = [
        Delivery(
            id=f"d{i}",
            post="p0",
            segment="s",
            channel="c",
            adapter="console",
            utc=start + timedelta(minutes=i),
            local=start + timedelta(minutes=i),
            text=f"text {i % 5000}",
        )
        for i in range(200_000)
    ]
    began = _time.perf_counter()
    duplicate_warnings(calendar, deliveries)
    slot_warnings(calendar, deliveries)
    assert _time.perf_counter() - began < 10
