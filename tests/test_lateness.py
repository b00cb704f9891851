"""`lateness.past_deliveries`, the pure part of what `schedule` says about deliveries
already past: what the store holds decides what counts (store runs: tests/store/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from socialsched.calendar.model import Calendar, Channel, Delivery, Post, Segment
from socialsched.planning.lateness import PastDeliveries, Stored, past_deliveries
from socialsched.store import DEFAULT_MISFIRE_GRACE
from socialsched.store.records import Hold

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
SEGMENT = Segment(name="uk", locale="en-GB", timezone="Europe/London", country="GB")
CALENDAR = Calendar(
    segments=[SEGMENT],
    channels=[Channel(name="feed", adapter="console")],
    posts=[
        Post(id="plain", text="t", dates=["2027-01-04"], at="09:00"),
        Post(id="late", text="t", dates=["2027-01-04"], at="09:00", late="publish"),
    ],
)


def delivery(ident: str, post: str, ago: timedelta, tags: tuple[str, ...] = ()) -> Delivery:
    moment = NOW - ago
    return Delivery(
        id=ident,
        post=post,
        segment="uk",
        channel="feed",
        adapter="console",
        utc=moment,
        local=moment,
        text="t",
        tags=tags,
    )


def stored(state: str, utc: datetime, *, actor="schedule", deadline=None, grace=3600, **kw):
    return Stored(
        state=state,
        actor=actor,
        utc=utc,
        grace_s=grace,
        deadline=deadline,
        approved=kw.get("approved", False),
        attempts=kw.get("attempts", 0),
    )


def test_history_is_not_counted_and_what_schedule_revives_is():
    two_hours = timedelta(hours=2)
    planned = [delivery(f"d-{state}", "plain", two_hours) for state in ("published", "missed")]
    planned += [delivery("d-op", "plain", two_hours), delivery("d-sched", "plain", two_hours)]
    held = {
        "d-published": stored("published", NOW - two_hours),
        "d-missed": stored("missed", NOW - two_hours),
        "d-op": stored("cancelled", NOW - two_hours, actor="operator"),
        "d-sched": stored("cancelled", NOW - two_hours, actor="schedule"),
    }
    found = past_deliveries(CALENDAR, planned, NOW, held)
    # Only the one `schedule` cancelled itself comes back: two hours late, grace one hour.
    assert found == PastDeliveries(now=NOW, missed=1)


def test_an_unchanged_delivery_keeps_its_stored_deadline_a_moved_one_gets_a_new_one():
    ago = DEFAULT_MISFIRE_GRACE + timedelta(minutes=30)  # past the default grace
    kept, moved = delivery("kept", "plain", ago), delivery("moved", "plain", ago)
    resumed_until = NOW + timedelta(minutes=20)  # resumed after a pause: a later deadline
    held = {
        "kept": stored("scheduled", kept.utc, deadline=resumed_until),
        "moved": stored("scheduled", kept.utc - timedelta(days=1), deadline=resumed_until),
    }
    found = past_deliveries(CALENDAR, [kept, moved], NOW, held)
    assert (found.within_grace, found.missed) == (1, 1)
    assert found.deadline == resumed_until


def test_pause_rules_paused_rows_late_posts_and_approval():
    hour = timedelta(hours=1)
    planned = [
        delivery("tagged", "plain", hour / 2, tags=("promo",)),
        delivery("was-paused", "plain", hour * 5),
        delivery("late", "late", timedelta(days=3)),
        delivery("future", "plain", -hour),
    ]
    held = {"was-paused": stored("paused", NOW - hour * 5)}
    found = past_deliveries(CALENDAR, planned, NOW, held, [Hold(tag="promo")])
    assert found == PastDeliveries(now=NOW, late=1, paused=2)
    gated = Calendar(
        segments=[SEGMENT],
        channels=CALENDAR.channels,
        posts=[
            Post(id="plain", text="t", dates=["2027-01-04"], at="09:00", requires_approval=True)
        ],
    )
    waiting = delivery("w", "plain", hour / 2)
    found = past_deliveries(gated, [waiting], NOW)
    assert (found.awaiting_approval, found.deadline) == (1, waiting.utc + DEFAULT_MISFIRE_GRACE)
    approved = {"w": stored("scheduled", waiting.utc, approved=True, deadline=NOW + hour / 2)}
    assert past_deliveries(gated, [waiting], NOW, approved).within_grace == 1


def test_the_line_counts_in_words():
    assert PastDeliveries(now=NOW).text() is None
    one = PastDeliveries(now=NOW, missed=1).text()
    assert one == (
        "1 planned delivery is already past (now 2027-01-04 12:00 UTC): "
        "1 will be marked missed (past its misfire grace)"
    )
    many = PastDeliveries(
        now=NOW, missed=2, late=3, within_grace=4, awaiting_approval=1, paused=2,
        deadline=NOW + timedelta(minutes=5),
    ).text()  # fmt: skip
    assert many == (
        "12 planned deliveries are already past (now 2027-01-04 12:00 UTC): "
        "2 will be marked missed (past their misfire grace), "
        '3 will be published late (late = "publish"), '
        "4 are still within their grace and will go out at once when a runner runs, "
        "1 waits for approval (missed at the end of the grace if not approved by then), "
        "2 are paused by a pause rule until it is lifted; "
        "the first grace ends at 2027-01-04 12:05 UTC"
    )
