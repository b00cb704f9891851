"""A finite series in the store (SQLite and PostgreSQL): changing one occurrence's
time, text, media or channels changes that delivery alone; the rest stay unchanged."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from conftest import segment
from socialsched.calendar.model import Calendar, Channel, Post
from socialsched.calendar.occurrences import Occurrence
from socialsched.media.model import MediaItem
from socialsched.scheduling import schedule

FIRST = date(2027, 1, 4)  # a Monday
WEEKS = 6
CHANGED = FIRST + timedelta(weeks=3)
RANGE = ("2027-01-01", "2027-03-31")


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def images(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, colour in (("weekly", (0, 90, 200)), ("special", (200, 0, 0))):
        path = tmp_path / f"{name}.png"
        path.write_bytes(png(colour))
        paths[name] = str(path)
    return paths


def series_calendar(images: dict[str, str], *changes: Occurrence, **post: object) -> Calendar:
    fields = {
        "id": "class",
        "text": "Class on {{ when|date }}",
        "schedule": "0 9 * * mon",
        "start": FIRST,
        "count": WEEKS,
        "media": [MediaItem(path=images["weekly"], alt="Our class")],
        "channels": ["feed"],
        "occurrence": changes,
        **post,
    }
    return Calendar(
        segments=[segment("uk")],
        channels=[Channel(name="feed", adapter="console"), Channel(name="more", adapter="console")],
        posts=[Post(**fields)],
        name="series",
    )


def by_day(store) -> dict[tuple[str, date], object]:
    return {(r.channel, r.local.date()): r for r in store.records() if r.state != "cancelled"}


def test_one_changed_occurrence_changes_one_delivery(store, images):
    first = schedule(store, series_calendar(images), *RANGE)
    assert len(first.added) == WEEKS
    before = by_day(store)
    changed_id = before["feed", CHANGED].id

    moved = schedule(store, series_calendar(images, Occurrence(date=CHANGED, at="11:30")), *RANGE)
    assert moved.moved == (changed_id,) and moved.unchanged == WEEKS - 1
    assert not (moved.added or moved.updated or moved.cancelled)
    row = by_day(store)["feed", CHANGED]
    expected = datetime.combine(CHANGED, time(11, 30), ZoneInfo("Europe/London"))
    assert row.id == changed_id and row.utc == expected.astimezone(UTC)

    text = Occurrence(date=CHANGED, at="11:30", text="Last-minute room change")
    updated = schedule(store, series_calendar(images, text), *RANGE)
    assert updated.updated == (changed_id,) and updated.unchanged == WEEKS - 1
    assert not (updated.added or updated.moved or updated.cancelled)
    assert by_day(store)["feed", CHANGED].text == "Last-minute room change"

    media = [MediaItem(path=images["special"], alt="Room 4")]
    with_media = Occurrence(date=CHANGED, at="11:30", text="Last-minute room change", media=media)
    updated = schedule(store, series_calendar(images, with_media), *RANGE)
    assert updated.updated == (changed_id,) and updated.unchanged == WEEKS - 1
    assert [m.alt for m in by_day(store)["feed", CHANGED].media] == ["Room 4"]
    others = [r for (_, day), r in by_day(store).items() if day != CHANGED]
    assert {m.alt for r in others for m in r.media} == {"Our class"}

    elsewhere = Occurrence(date=CHANGED, channels=["more"])
    result = schedule(store, series_calendar(images, elsewhere), *RANGE)
    rows = by_day(store)
    # Back to the post's time, text and media on its own day, on the other channel only.
    assert result.cancelled == (changed_id,) and len(result.added) == 1
    assert result.unchanged == WEEKS - 1 and not (result.moved or result.updated)
    assert ("feed", CHANGED) not in rows and rows["more", CHANGED].id == result.added[0]
    assert {day for (_, day) in rows} == {FIRST + timedelta(weeks=n) for n in range(WEEKS)}


def test_a_shorter_count_cancels_only_the_last_occurrence(store, images):
    schedule(store, series_calendar(images), *RANGE)
    last = by_day(store)["feed", FIRST + timedelta(weeks=WEEKS - 1)].id
    result = schedule(store, series_calendar(images, count=WEEKS - 1), *RANGE)
    assert result.cancelled == (last,) and result.unchanged == WEEKS - 1
    assert not (result.added or result.moved or result.updated)


def test_a_skip_cancels_only_that_date(store, images):
    schedule(store, series_calendar(images), *RANGE)
    skipped = FIRST + timedelta(weeks=2)
    gone = by_day(store)["feed", skipped].id
    result = schedule(store, series_calendar(images, skip=[skipped]), *RANGE)
    assert result.cancelled == (gone,) and result.unchanged == WEEKS - 1
    assert not (result.added or result.moved or result.updated)
