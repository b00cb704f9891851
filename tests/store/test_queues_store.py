"""Queues in the store, on SQLite and PostgreSQL: editing a queue moves deliveries (same
ids) rather than cancelling and adding them, a delivery re-flowing out of the range
and back is revived, and a queued post that went out keeps its slot."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import attrs

from conftest import calendar, segment
from socialsched.calendar.model import Calendar, Post
from socialsched.calendar.queues import Queue
from socialsched.planning.planner import Planner
from socialsched.runner import Runner
from socialsched.scheduling import queue_pins, schedule

LONDON = ZoneInfo("Europe/London")
# 2027-01-04 (the clock's day, a Monday) to 01-10 has no public holiday in GB.
QUEUE = Queue(name="q", times=["05:00", "10:00"], start="2027-01-04")


def queued(*ids: str) -> list[Post]:
    return [Post(id=i, text=f"{i} text", queue="q", misfire_grace="3h") for i in ids]


def cal(*ids: str) -> Calendar:
    base = calendar([], segments=[segment("uk")])
    return attrs.evolve(base, posts=queued(*ids), queues=[QUEUE])


def london(day: int, hour: int) -> datetime:
    return datetime(2027, 1, day, hour, tzinfo=LONDON).astimezone(UTC)


def stored(store) -> dict[str, tuple[str, datetime, str]]:
    return {r.post: (r.id, r.utc, r.state) for r in store.records()}


def test_reordering_and_removing_queued_posts_moves_them(store):
    first = schedule(store, cal("a", "b", "c", "d"), "2027-01-04", "2027-01-10")
    assert len(first.added) == 4
    ids = {post: row[0] for post, row in stored(store).items()}
    assert {post: row[1] for post, row in stored(store).items()} == {
        "a": london(4, 5), "b": london(4, 10), "c": london(5, 5), "d": london(5, 10),
    }  # fmt: skip
    swapped = schedule(store, cal("b", "a", "c", "d"), "2027-01-04", "2027-01-10")
    assert sorted(swapped.moved) == sorted([ids["a"], ids["b"]])
    assert not swapped.added and not swapped.cancelled
    removed = schedule(store, cal("b", "c", "d"), "2027-01-04", "2027-01-10")
    assert removed.cancelled == (ids["a"],) and not removed.added
    assert sorted(removed.moved) == sorted([ids["c"], ids["d"]])
    rows = stored(store)
    assert rows["a"][2] == "cancelled"
    assert {p: rows[p][:2] for p in "bcd"} == {
        "b": (ids["b"], london(4, 5)),
        "c": (ids["c"], london(4, 10)),
        "d": (ids["d"], london(5, 5)),
    }


def test_a_delivery_pushed_past_the_range_is_cancelled_then_revived_as_a_move(store):
    schedule(store, cal("a", "b", "c", "d"), "2027-01-04", "2027-01-05")
    d_id = stored(store)["d"][0]
    pushed = schedule(store, cal("new", "a", "b", "c", "d"), "2027-01-04", "2027-01-05")
    # d re-flows to 01-06, past the range: this range no longer holds it.
    assert pushed.cancelled == (d_id,) and len(pushed.added) == 1 and len(pushed.moved) == 3
    later = schedule(store, cal("new", "a", "b", "c", "d"), "2027-01-06", "2027-01-10")
    assert later.moved == (d_id,) and not later.added
    assert stored(store)["d"] == (d_id, london(6, 5), "scheduled")


def test_a_published_queued_post_keeps_its_slot(store, clock, recorder):
    schedule(store, cal("a", "b", "c"), "2027-01-04", "2027-01-10")
    Runner(store, adapters=lambda channel: recorder).run_until_idle()
    published = [r for r in store.records("published")]
    assert [r.post for r in published] == ["a"]  # 05:00 London is before the clock's 06:00
    pins = queue_pins(store, cal("new", "a", "b", "c"))
    assert [(p.post, p.key, p.utc) for p in pins] == [("a", "queue", london(4, 5))]
    result = schedule(store, cal("new", "a", "b", "c"), "2027-01-04", "2027-01-10")
    rows = stored(store)
    assert rows["a"] == (published[0].id, london(4, 5), "published")
    assert {p: rows[p][1] for p in ("new", "b", "c")} == {
        "new": london(4, 10), "b": london(5, 5), "c": london(5, 10),
    }  # fmt: skip
    assert len(result.added) == 1 and len(result.moved) == 2 and not result.cancelled
    # Without the pin the planner would put "new" on a's slot: the store's pins matter.
    unpinned = Planner(cal("new", "a", "b", "c")).plan("2027-01-04", "2027-01-10")
    assert next(d for d in unpinned if d.post == "new").utc == london(4, 5)
