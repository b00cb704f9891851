"""The runner: publishing, receipts, retries, rate limits, misfires, approval, pauses,
leases and lifecycle events (time is an injected clock, never slept through)."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from sqlalchemy import event

from conftest import Recorder, calendar, post, segment
from socialsched import store as store_module
from socialsched.adapters import PermanentError, QuotaReached, TransientError
from socialsched.adapters.registry import adapter_class
from socialsched.calendar.model import Channel
from socialsched.calendar.policy import Rate, RateError, retry_delay
from socialsched.runner import Runner
from socialsched.scheduling import schedule
from socialsched.store import tuning as store_tuning


def runner(store, recorder, clock, **kwargs):
    return Runner(
        store, adapters=lambda channel: recorder, sleep=clock.sleep, rng=random.Random(7), **kwargs
    )


def test_due_deliveries_are_published_once_with_their_id_as_idempotency_key(store, clock, recorder):
    schedule(
        store, calendar([post("a", "05:30"), post("later", "18:00")]), "2027-01-04", "2027-01-04"
    )
    handled = runner(store, recorder, clock).run_until_idle()
    due = {r.id for r in store.records() if r.post == "a"}
    assert handled == 2
    assert {key for _, key in recorder.published} == due
    assert all(message.delivery_id == key for message, key in recorder.published)
    assert {m.text for m, _ in recorder.published} == {"a text"}
    for key in due:
        record = store.get(key)
        assert record.state == "published" and record.attempts == 1
        assert record.receipt["remote_id"] == f"r-{key}"
        entry = store.log(delivery=key)[-1]
        assert (entry.from_state, entry.to_state, entry.attempt) == ("claimed", "published", 1)
        assert entry.receipt["url"] == f"https://example.test/{key}"
    assert {r.state for r in store.records() if r.post == "later"} == {"scheduled"}
    # Nothing more is due: another pass publishes nothing.
    assert runner(store, recorder, clock).run_until_idle() == 0
    assert len(recorder.published) == 2


def test_messages_carry_the_segments_quiet_hours(store, clock, recorder):
    """Adapters that deliver quietly (Telegram) get each segment's own quiet hours."""
    from socialsched.calendar.model import QuietWindow

    uk = attrs.evolve(segment("uk"), quiet_hours=["22:00-23:30", "12:30-13:30"])
    cal = calendar([post("a", "05:30")], segments=[uk, segment("lisbon", "Europe/Lisbon", "PT")])
    schedule(store, cal, "2027-01-04", "2027-01-04")
    runner(store, recorder, clock).run_until_idle()
    windows = {message.segment: message.quiet_hours for message, _ in recorder.published}
    assert windows == {
        "uk": (QuietWindow.parse("22:00-23:30"), QuietWindow.parse("12:30-13:30")),
        "lisbon": (),
    }
    assert [m.to_dict()["quiet_hours"] for m, _ in recorder.published if m.segment == "uk"] == [
        ["22:00-23:30", "12:30-13:30"]
    ]


def test_changed_quiet_hours_update_unsent_deliveries(store):
    cal = calendar([post("a")])
    schedule(store, cal, "2027-01-04", "2027-01-04")
    quiet_uk = attrs.evolve(segment("uk"), quiet_hours="21:00-06:00")
    edited = calendar([post("a")], segments=[quiet_uk, segment("lisbon", "Europe/Lisbon", "PT")])
    result = schedule(store, edited, "2027-01-04", "2027-01-04")
    assert len(result.updated) == 1 and result.unchanged == 1
    assert {r.segment: r.quiet_hours for r in store.records()} == {
        "uk": ("21:00-06:00",),
        "lisbon": (),
    }


def test_transient_errors_back_off_then_fail_at_the_channel_limit(store, clock, recorder):
    channel = Channel(name="feed", adapter="jsonl", settings={"path": "/x"}, max_attempts=3)
    cal = calendar([post("a", "05:30")], channels=[channel], segments=None)
    schedule(store, cal, "2027-01-04", "2027-01-04")
    uk = next(r for r in store.records() if r.segment == "uk")
    store.cancel(next(r.id for r in store.records() if r.segment == "lisbon"))
    recorder.failures = [TransientError("503", retry_after=None)] * 3
    worker = runner(store, recorder, clock)
    worker.dispatch()
    first = store.get(uk.id)
    delay = (first.due - clock.now).total_seconds()
    # attempt 1: base 30s * 2**0, jitter in [0.5, 1]
    assert first.state == "scheduled" and first.attempts == 1 and 15 <= delay <= 30
    assert first.last_error == "503"
    clock.now = first.due
    worker.dispatch()
    second = store.get(uk.id)
    delay = (second.due - clock.now).total_seconds()
    assert second.attempts == 2 and 30 <= delay <= 60
    clock.now = second.due
    worker.dispatch()
    third = store.get(uk.id)
    assert third.state == "failed" and third.attempts == 3
    assert "gave up after 3 attempts" in store.log(delivery=uk.id)[-1].reason
    assert recorder.published == []


def test_retry_after_is_honoured(store, clock, recorder):
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    recorder.failures = [TransientError("slow down", retry_after=900)] * 2
    runner(store, recorder, clock).dispatch()
    for record in store.records():
        assert record.due >= clock.now + timedelta(seconds=900)


def test_a_used_up_network_quota_defers_without_counting_attempts(store, clock, recorder):
    channel = Channel(name="feed", adapter="jsonl", settings={"path": "/x"}, max_attempts=2)
    schedule(store, calendar([post("a", "05:30")], channels=[channel]), "2027-01-04", "2027-01-04")
    # More quota refusals than max_attempts: none of them may fail the delivery.
    recorder.failures = [QuotaReached("25 of 25 posts used", retry_after=1728)] * 6
    worker = runner(store, recorder, clock)
    for _ in range(3):
        worker.dispatch()
        records = store.records()
        assert {r.state for r in records} == {"scheduled"}
        assert {r.attempts for r in records} == {0}
        assert {r.due for r in records} == {clock.now + timedelta(seconds=1728)}
        clock.now += timedelta(seconds=1728)
    worker.dispatch()
    assert {r.state for r in store.records()} == {"published"}
    assert {r.attempts for r in store.records()} == {1}
    reasons = [e.reason for e in store.log() if e.to_state == "scheduled" and e.from_state]
    assert sum("25 of 25 posts used" in (reason or "") for reason in reasons) == 6


def test_permanent_error_fails_at_once(store, clock, recorder):
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    recorder.failures = [PermanentError("rejected: bad content")]
    runner(store, recorder, clock).run_until_idle()
    states = sorted(r.state for r in store.records())
    assert states == ["failed", "published"]
    failed = store.records("failed")[0]
    assert failed.attempts == 1 and failed.last_error == "rejected: bad content"


def test_unknown_adapter_fails_deliveries_with_a_clear_reason(store, clock):
    # The plugin providing the channel's adapter was uninstalled after scheduling.
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    Runner(
        store, adapters=lambda c: adapter_class("nosuchnetwork")(c), sleep=clock.sleep
    ).run_until_idle()
    failed = store.records("failed")
    assert len(failed) == 2 and "unknown adapter 'nosuchnetwork'" in failed[0].last_error


def test_rate_limit_defers_instead_of_failing(store, clock, recorder):
    channel = Channel(name="feed", adapter="jsonl", settings={"path": "/x"}, rate="3/10min")
    cal = calendar([post(f"p{i}", "05:30") for i in range(4)], channels=[channel])
    schedule(store, cal, "2027-01-04", "2027-01-04")  # 8 due deliveries
    worker = runner(store, recorder, clock)
    assert worker.dispatch() == 3
    assert worker.dispatch() == 0
    assert len(store.records("scheduled")) == 5 and not store.records("failed")
    clock.advance(minutes=10)
    assert worker.dispatch() == 3
    # run_until_idle waits (on the injected clock) for the window to free up.
    worker.run_until_idle()
    assert len(store.records("published")) == 8 and len(recorder.published) == 8


def test_rate_text_is_checked():
    assert Rate.parse("300/5min") == Rate(300, timedelta(minutes=5))
    assert Rate.parse("10/s") == Rate(10, timedelta(seconds=1))
    with pytest.raises(RateError, match="channel 'feed': rate '300 per hour'"):
        Rate.parse("300 per hour", "feed")


def test_bad_rate_is_refused_when_scheduling(store):
    channel = Channel(name="feed", adapter="jsonl", settings={"path": "/x"}, rate="fast")
    with pytest.raises(RateError, match="'fast'"):
        schedule(store, calendar([post("a")], channels=[channel]), "2027-01-04", "2027-01-04")


def test_retry_delay_grows_exponentially_and_is_capped():
    rng = random.Random(1)
    for attempt in range(1, 12):
        delay = retry_delay(attempt, rng=rng)
        expected = min(3600, 30 * 2 ** (attempt - 1))
        assert expected * 0.5 <= delay <= expected
    assert retry_delay(1, retry_after=120, rng=rng) == 120


def test_late_deliveries_are_missed_unless_the_post_says_publish(store, clock, recorder):
    cal = calendar(
        [
            post("strict", "02:00"),
            post("graceful", "02:00", misfire_grace="6h"),
            post("anyway", "02:00", late="publish"),
        ],
        segments=None,
    )
    schedule(store, cal, "2027-01-04", "2027-01-04")
    clock.now = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # 4h (London) / 5h (Lisbon) late
    runner(store, recorder, clock).run_until_idle()
    states = {(r.post, r.segment): r.state for r in store.records()}
    assert states[("strict", "uk")] == states[("strict", "lisbon")] == "missed"
    assert states[("graceful", "uk")] == states[("graceful", "lisbon")] == "published"
    assert states[("anyway", "uk")] == states[("anyway", "lisbon")] == "published"
    assert store.log(post="strict")[-1].reason == "later than its misfire grace"


def test_posts_needing_approval_wait_for_it(store, clock, recorder):
    schedule(
        store,
        calendar([post("review", "05:30", requires_approval=True, late="publish")]),
        "2027-01-04",
        "2027-01-04",
    )
    worker = runner(store, recorder, clock)
    assert worker.run_until_idle() == 0
    uk, lisbon = sorted(store.records(), key=lambda r: r.segment != "uk")
    assert store.approve(uk.id) == 1
    worker.run_until_idle()
    assert store.get(uk.id).state == "published" and store.get(lisbon.id).state == "scheduled"
    assert store.approve(post="review") == 1
    worker.run_until_idle()
    assert {r.state for r in store.records()} == {"published"}


def test_paused_segment_publishes_nothing_then_everything_after_resume(store, clock, recorder):
    cal = calendar([post("promo", "07:00", tags=("promo",)), post("service", "07:00")])
    schedule(store, cal, "2027-01-04", "2027-01-04")
    assert store.pause(segment="uk", tag="promo", reason="telco outage") == 1
    assert store.pause(segment="lisbon", reason="strike") == 2
    worker = runner(store, recorder, clock)
    clock.now = datetime(2027, 1, 4, 7, 30, tzinfo=UTC)
    worker.run_until_idle()
    published = {(m.post, m.segment) for m, _ in recorder.published}
    assert published == {("service", "uk")}
    clock.now = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)  # hours past every misfire grace
    worker.run_until_idle()
    assert len(store.records("paused")) == 3 and not store.records("missed")
    assert store.resume(segment="uk", tag="promo") == 1
    assert store.resume(segment="lisbon") == 2
    worker.run_until_idle()
    assert len(recorder.published) == 4
    assert {r.state for r in store.records()} == {"published"}
    entry = next(e for e in store.log(post="promo", segment="uk") if e.to_state == "paused")
    assert (entry.actor, entry.reason) == ("operator", "telco outage")


def test_overlapping_pauses_hold_until_both_are_lifted(store, clock, recorder):
    schedule(store, calendar([post("promo", "05:30", tags=("promo",))]), "2027-01-04", "2027-01-04")
    store.pause(tag="promo")
    store.pause(segment="uk")
    assert store.resume(tag="promo") == 1  # lisbon: uk stays paused by the segment hold
    runner(store, recorder, clock).run_until_idle()
    assert {m.segment for m, _ in recorder.published} == {"lisbon"}
    assert store.resume(everything=True) == 1
    runner(store, recorder, clock).run_until_idle()
    assert {m.segment for m, _ in recorder.published} == {"lisbon", "uk"}


def test_crashed_workers_lease_expires_and_is_reclaimed(store, clock, recorder):
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    lost = store.claim("dead-worker", limit=10, lease=timedelta(minutes=2))
    assert len(lost) == 2
    worker = runner(store, recorder, clock)
    assert worker.dispatch() == 0  # leases still running
    clock.advance(minutes=3)
    assert worker.dispatch() == 2
    assert {r.state for r in store.records()} == {"published"}
    # The dead worker never began sending them (no sending mark): they went back to
    # scheduled with no attempt counted, then out once.
    assert {r.attempts for r in store.records()} == {1}
    assert [key for _, key in recorder.published] == [r.id for r in lost]
    # The dead worker coming back cannot overwrite what the new owner recorded.
    assert store.record_published(lost[0], "dead-worker", {"remote_id": "x"}) is False
    reasons = [e.reason for e in store.log(delivery=lost[0].id)]
    assert "lease expired: claimed by a runner that stopped before sending it" in reasons


def test_concurrent_claims_never_overlap(store, clock):
    cal = calendar([post(f"p{i}", "05:30") for i in range(30)])
    schedule(store, cal, "2027-01-04", "2027-01-04")
    claimed: list[list[str]] = [[], [], [], []]

    def work(index):
        while batch := store.claim(f"w{index}", limit=5, lease=timedelta(minutes=5)):
            claimed[index] += [r.id for r in batch]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [key for ids in claimed for key in ids]
    assert len(everything) == len(set(everything)) == 60


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_claim_skips_rows_locked_by_another_transaction(make_store):
    store = make_store(clock=lambda: datetime(2027, 1, 4, 6, 0, tzinfo=UTC))
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    first = sorted(r.id for r in store.records())[0]

    def fail_instead_of_waiting(dbapi_connection, record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
        dbapi_connection.commit()

    store.engine.dispose()
    event.listen(store.engine, "connect", fail_instead_of_waiting)
    with store.engine.connect() as other:
        other.exec_driver_sql(f"SELECT id FROM deliveries WHERE id = '{first}' FOR UPDATE")
        got = store.claim("w", limit=10, lease=timedelta(minutes=1))
        other.rollback()
    assert [r.id for r in got] != [] and first not in {r.id for r in got}


def test_lifecycle_events_go_through_one_function(store, clock, recorder, monkeypatch):
    seen = []
    monkeypatch.setattr(
        store_tuning, "listeners", [lambda name, fields: seen.append((name, dict(fields)))]
    )
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    recorder.failures = [PermanentError("no")]
    runner(store, recorder, clock).run_until_idle()
    names = sorted(name for name, _ in seen)
    assert names == [
        "delivery_failed",
        "delivery_published",
        "delivery_scheduled",
        "delivery_scheduled",
    ]
    published = next(f for n, f in seen if n == "delivery_published")
    assert published["receipt"].remote_id == f"r-{published['delivery'].id}"
    assert published["channel"].name == published["delivery"].channel
    assert published["attempt"] == 1
    failed = next(f for n, f in seen if n == "delivery_failed")
    assert isinstance(failed["error"], PermanentError) and failed["final"] is True


def test_cancel_publish_now_and_retract(store, clock, recorder):
    schedule(store, calendar([post("a", "20:00")]), "2027-01-04", "2027-01-04")
    uk, lisbon = sorted(store.records(), key=lambda r: r.segment != "uk")
    worker = runner(store, recorder, clock)
    assert worker.publish_now(uk.id).state == "published"
    assert [key for _, key in recorder.published] == [uk.id]
    assert store.cancel(lisbon.id).state == "cancelled"
    clock.advance(hours=20)
    worker.run_until_idle()
    assert len(recorder.published) == 1
    record = worker.retract(uk.id)
    assert record.state == "cancelled"
    assert [r.remote_id for r in recorder.deleted] == [f"r-{uk.id}"]
    assert store.log(delivery=uk.id)[-1].reason == "retracted from the network"
    with pytest.raises(store_module.StoreError, match="is cancelled"):
        store.cancel(uk.id)
    with pytest.raises(store_module.StoreError, match="no delivery with id 'nope'"):
        store.cancel("nope")


def test_stop_gives_back_claimed_work_unattempted(store, clock):
    schedule(
        store, calendar([post(f"p{i}", "05:30") for i in range(3)]), "2027-01-04", "2027-01-04"
    )
    holder: list[Runner] = []

    class StopAfterOne(Recorder):
        def publish(self, message, idempotency_key):
            holder[0].stop()
            return super().publish(message, idempotency_key)

    adapter = StopAfterOne(Channel(name="feed", adapter="jsonl"))
    worker = Runner(store, adapters=lambda c: adapter, sleep=clock.sleep)
    holder.append(worker)
    worker.run_until_idle()
    assert len(adapter.published) == 1
    assert len(store.records("scheduled")) == 5 and not store.records("claimed")
    assert {r.attempts for r in store.records("scheduled")} == {0}


def test_adapter_that_cannot_be_built_fails_its_deliveries(store, clock):
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")

    def broken(channel):
        raise KeyError("settings.token")

    Runner(store, adapters=broken, sleep=clock.sleep).run_until_idle()
    failed = store.records("failed")
    assert len(failed) == 2 and "cannot set up adapter 'jsonl'" in failed[0].last_error


def test_run_keeps_one_wake_job_for_the_next_due_time_plus_a_poll(tmp_path, recorder):
    from socialsched.store import Store

    store = Store(tmp_path / "run.db")  # real time: deliveries far in the future
    days = tuple(f"2099-01-{day:02d}" for day in range(5, 25))
    schedule(
        store,
        calendar([post(f"p{i}", "10:00", dates=days) for i in range(10)]),
        "2099-01-01",
        "2099-01-31",
    )
    worker = Runner(store, adapters=lambda c: recorder, poll=timedelta(seconds=60))
    thread = threading.Thread(target=worker.run, kwargs={"handle_signals": False})
    thread.start()
    try:
        expected = datetime(2099, 1, 5, 10, 0, tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)
        deadline = time.monotonic() + 30
        while True:
            scheduler = worker._scheduler
            jobs = scheduler.get_jobs() if scheduler is not None else []
            # Jobs added before the scheduler starts have no next_run_time yet.
            times = [getattr(j, "next_run_time", None) for j in jobs]
            wake = [j for j, at in zip(jobs, times, strict=True) if at and at.year == 2099]
            if wake or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(store.records()) == 400
        assert len(jobs) == 2  # the wake-up and the safety poll, whatever the backlog
        assert abs((wake[0].next_run_time - expected).total_seconds()) < 1
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert not thread.is_alive() and recorder.published == []
    store.close()


def test_run_until_idle_stops_on_sigterm_and_puts_the_handler_back(store, clock, recorder):
    import os
    import signal

    posts = [post(name, "05:30") for name in ("a", "b", "c")]
    schedule(store, calendar(posts), "2027-01-04", "2027-01-04")
    seen: list[int] = []

    class Terminated(Recorder):
        def publish(self, message, idempotency_key):  # type: ignore[no-untyped-def]
            receipt = super().publish(message, idempotency_key)
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill` from a shell, mid-batch
            return receipt

    terminated = Terminated(recorder.channel)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        runner = Runner(store, adapters=lambda c: terminated, sleep=clock.sleep)
        runner.run_until_idle(handle_signals=True)
        handler_after = signal.getsignal(signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    # The delivery in flight is finished and recorded; the rest go back, unattempted.
    assert len(terminated.published) == 1
    assert [r.state for r in store.records("published")] == ["published"]
    assert len(store.records("scheduled")) == len(store.records()) - 1
    assert seen == [signal.SIGTERM]  # the test's own handler, back in place
    assert handler_after is not None and handler_after(signal.SIGTERM, None) is None


def test_until_idle_looks_again_soon_while_another_worker_holds_claims(store, clock, recorder):
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    held = store.claim("other", limit=10, lease=timedelta(minutes=5))
    assert held
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 8:  # the other worker finishes: nothing is left in flight
            for record in held:
                assert store.record_published(record, "other", {"id": record.id})

    worker = Runner(store, adapters=lambda channel: recorder, sleep=sleep)
    assert worker.run_until_idle(max_wait=1.0) == 0
    # 0.05 s, doubling after each look, up to max_wait; then it returns at once.
    assert waits == [min(1.0, 0.05 * 2**look) for look in range(8)]
    assert recorder.published == []
