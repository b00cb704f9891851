"""The queue recipes (docs/recipes/queues-per-market, docs/recipes/evergreen) plan what
their pages say.

Expectations come from the recipe files read as plain TOML, zoneinfo and the holidays
package, never from socialsched's queue code.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
from click.testing import CliRunner

import socialsched
from socialsched.cli import main

RECIPES = Path(__file__).resolve().parents[1] / "docs" / "recipes"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _raw(name: str) -> dict:
    return tomllib.loads((RECIPES / name / "calendar.toml").read_text(encoding="utf-8"))


def _clock(text: str) -> time:
    hour, minute = map(int, text.split(":"))
    return time(hour, minute)


def _quiet(wall: time, windows: list[str]) -> bool:
    for window in windows:
        start, end = (_clock(part) for part in window.split("-"))
        if (start <= wall < end) if start < end else (wall >= start or wall < end):
            return True
    return False


def _slots(queue: dict, segment: dict, first: date, last: date) -> list[datetime]:
    zone = ZoneInfo(segment["timezone"])
    public = holidays.country_holidays(segment["country"], years=first.year)
    days = queue.get("days", list(DAYS))
    found = []
    day = date.fromisoformat(queue["start"])
    while day <= last:
        if DAYS[day.weekday()] in days and day not in public:
            for text in queue["times"]:
                local = datetime.combine(day, _clock(text), tzinfo=zone)
                if not _quiet(local.time(), segment.get("quiet_hours", [])):
                    found.append(local)
        day += timedelta(days=1)
    return sorted(found)


def test_queues_per_market_fill_each_markets_local_slots_in_file_order():
    raw = _raw("queues-per-market")
    (queue,) = raw["queue"]
    first, last = date(2027, 1, 14), date(2027, 1, 31)
    deliveries = socialsched.plan(
        socialsched.load(RECIPES / "queues-per-market" / "calendar.toml"), first, last
    )
    posts = [post["id"] for post in raw["post"]]
    for segment in raw["segment"]:
        slots = _slots(queue, segment, first, last)[: len(posts)]
        got = [(d.post, d.utc) for d in deliveries if d.segment == segment["name"]]
        assert got == [
            (post, slot.astimezone(UTC)) for post, slot in zip(posts, slots, strict=True)
        ]
    new_york = [d for d in deliveries if d.segment == "new-york"]
    # What the page says: no 07:30 slot in New York, nothing on Martin Luther King Jr. Day.
    assert {d.local.time() for d in new_york} == {time(12, 30)}
    mlk = date(2027, 1, 18)
    assert holidays.US(years=2027).get(mlk) == "Martin Luther King Jr. Day"
    assert all(d.local.date() != mlk for d in new_york)
    assert any(d.local.date() == mlk for d in deliveries if d.segment == "madrid")


def _shown(name: str, start: str, end: str) -> list[str]:
    path = RECIPES / name / "calendar.toml"
    result = CliRunner().invoke(main, ["queue", "show", str(path), "--start", start, "--end", end])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def _page_lines(name: str) -> list[str]:
    page = (RECIPES / name / "index.md").read_text(encoding="utf-8")
    block = re.search(r"\$ socialsched queue show .*?\n(.*?)```", page, re.S)
    assert block is not None
    return [line for line in block[1].splitlines() if line.strip() != "..."]


def test_pages_show_what_queue_show_prints():
    for name, start, end in (
        ("queues-per-market", "2027-01-14", "2027-01-20"),
        ("evergreen", "2027-02-01", "2027-02-19"),
    ):
        shown = _shown(name, start, end)
        page = _page_lines(name)
        # The page leaves lines out ("..."), never changes one.
        assert all(line in shown for line in page), name


def test_evergreen_posts_recycle_within_min_gap_and_max_repeats():
    raw = _raw("evergreen")
    (queue,) = raw["queue"]
    calendar = socialsched.load(RECIPES / "evergreen" / "calendar.toml")
    first = date.fromisoformat(queue["start"])
    deliveries = socialsched.plan(calendar, first, first + timedelta(days=59))
    posts = [post["id"] for post in raw["post"]]
    evergreen = {post["id"]: post["evergreen"] for post in raw["post"] if "evergreen" in post}
    got = [(d.post, (d.local.date() - first).days) for d in deliveries]
    # Fresh run in file order, one a day; then each FAQ again once its 7 days are up,
    # least recently used first, twice (max_repeats); then nothing is left.
    assert [gap["min_gap"] for gap in evergreen.values()] == ["7d"] * 3
    assert [gap["max_repeats"] for gap in evergreen.values()] == [2] * 3
    faqs = [post for post in posts if post in evergreen]
    expected = [(post, day) for day, post in enumerate(posts)]
    expected += [(post, 8 + index) for index, post in enumerate(faqs)]
    expected += [(post, 15 + index) for index, post in enumerate(faqs)]
    assert got == expected
    zone = ZoneInfo(raw["segment"][0]["timezone"])
    assert {d.local.time() for d in deliveries} == {_clock(queue["times"][0])}
    assert all(d.local.utcoffset() == datetime(2027, 2, 1, tzinfo=zone).utcoffset()
               for d in deliveries)  # fmt: skip
