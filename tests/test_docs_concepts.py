"""The daylight-saving examples on the concepts page are what the planner does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import socialsched

PAGE = Path(__file__).resolve().parents[1] / "docs" / "concepts.md"
NEW_YORK = ZoneInfo("America/New_York")


def _plan_at(day: str, clock: str) -> list[socialsched.Delivery]:
    calendar = socialsched.Calendar(
        segments=[
            socialsched.Segment(
                name="ny", locale="en-US", timezone="America/New_York", country="US"
            )
        ],
        channels=[socialsched.Channel(name="out", adapter="console")],
        posts=[socialsched.Post(id="p", text="x", dates=[day], at=clock)],
    )
    return socialsched.plan(calendar, day, day)


def test_gap_time_goes_out_after_the_gap_as_the_page_says():
    (delivery,) = _plan_at("2027-03-14", "02:30")
    # fold=0 reads the missing 02:30 with the offset before the jump (EST, -5).
    expected = datetime(2027, 3, 14, 7, 30, tzinfo=UTC)
    assert datetime(2027, 3, 14, 2, 30, tzinfo=NEW_YORK).astimezone(UTC) == expected
    assert delivery.utc == expected
    assert (delivery.local.hour, delivery.local.minute) == (3, 30)
    assert "03:30 EDT (07:30 UTC)" in PAGE.read_text(encoding="utf-8")


def test_ambiguous_time_goes_out_once_at_its_first_occurrence_as_the_page_says():
    (delivery,) = _plan_at("2027-11-07", "01:30")
    first = datetime(2027, 11, 7, 1, 30, fold=0, tzinfo=NEW_YORK).astimezone(UTC)
    second = datetime(2027, 11, 7, 1, 30, fold=1, tzinfo=NEW_YORK).astimezone(UTC)
    assert first < second
    assert delivery.utc == first == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)
    assert "01:30 EDT (05:30 UTC)" in PAGE.read_text(encoding="utf-8")
