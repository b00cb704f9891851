"""The daylight-saving examples on the concepts page are what the planner does."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import socialsched
from socialsched.scheduling import schedule

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


# ---- the delivery lifecycle section ----


def _lifecycle() -> str:
    text = PAGE.read_text(encoding="utf-8")
    return text[text.index("## The delivery lifecycle") :].split("\n## ", 1)[0]


def test_lifecycle_table_lists_exactly_the_store_states():
    from socialsched.store.tables import STATES

    rows = re.findall(r"^\| `(\w+)` \|", _lifecycle(), flags=re.MULTILINE)
    assert rows == list(STATES)


class _Edge:
    """A stand-in random generator that always draws the low or the high end."""

    def __init__(self, high: bool) -> None:
        self.high = high

    def uniform(self, low: float, high: float) -> float:
        return high if self.high else low


def test_backoff_ranges_are_the_ones_the_page_gives():
    from socialsched.calendar.policy import retry_delay

    section = " ".join(_lifecycle().split())
    for attempt, low, high in ((1, 15, 30), (2, 30, 60)):
        assert f"{low}–{high} s after the {'first' if attempt == 1 else 'second'}" in section
        assert retry_delay(attempt, rng=_Edge(False)) == low
        assert retry_delay(attempt, rng=_Edge(True)) == high
    assert retry_delay(30, rng=_Edge(True)) == 3600  # "capped at one hour"
    assert retry_delay(1, 600, rng=_Edge(True)) == 600  # never sooner than retry_after


def test_approval_after_the_grace_leaves_it_missed_and_publish_now_sends_it(tmp_path):
    from socialsched.runner import Runner
    from socialsched.store import Store

    now = [datetime(2027, 1, 4, 6, tzinfo=UTC)]
    calendar = socialsched.Calendar(
        segments=[
            socialsched.Segment(
                name="ny", locale="en-US", timezone="America/New_York", country="US"
            )
        ],
        channels=[socialsched.Channel(name="out", adapter="console")],
        posts=[
            socialsched.Post(
                id="p", text="x", dates=["2027-01-05"], at="09:00", requires_approval=True
            )
        ],
    )
    due = datetime(2027, 1, 5, 9, tzinfo=NEW_YORK).astimezone(UTC)
    with Store(tmp_path / "s.db", clock=lambda: now[0]) as store:
        schedule(store, calendar, "2027-01-05", "2027-01-05")
        runner = Runner(store, worker="w")
        now[0] = due + timedelta(minutes=5)
        assert runner.run_until_idle() == 0  # due, within the grace, but not approved
        assert [r.state for r in store.records()] == ["scheduled"]
        now[0] = due + timedelta(hours=1, minutes=1)
        runner.run_until_idle()
        assert store.approve(post="p") == 1
        (record,) = store.records()
        assert (record.state, record.approved) == ("missed", True)
        assert runner.publish_now(record.id).state == "published"
    assert "approved after its grace ran out is already `missed`" in " ".join(_lifecycle().split())
