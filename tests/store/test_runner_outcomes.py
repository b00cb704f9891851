"""What a runner reports is what the store recorded, and nothing that fails after a post
went out is recorded as a failed attempt of it."""

from __future__ import annotations

import random
from collections import Counter

from conftest import Recorder, calendar, post
from socialsched.adapters import CredentialsRejected, PermanentError, TransientError
from socialsched.calendar.model import Channel
from socialsched.runner import Runner
from socialsched.scheduling import schedule
from socialsched.store import tuning as store_tuning


def runner(store, adapter, clock, **kwargs):
    return Runner(
        store, adapters=lambda channel: adapter, sleep=clock.sleep, rng=random.Random(7), **kwargs
    )


def log_counts(store, worker):
    """Per (channel, to_state, from_state): the log entries `worker` wrote."""
    return Counter(
        (entry.channel, entry.from_state, entry.to_state)
        for entry in store.log()
        if entry.actor == worker
    )


def test_outcomes_count_what_the_log_holds_per_channel(store, clock):
    feed = Channel(name="feed", adapter="jsonl", settings={"path": "/x"})
    news = Channel(name="news", adapter="jsonl", settings={"path": "/y"})
    cal = calendar(
        [
            post("ok", "05:30", channels=["feed"]),
            post("flaky", "05:40", channels=["news"]),
            post("late", "02:00", channels=["news"]),
        ],
        channels=[feed, news],
    )
    schedule(store, cal, "2027-01-04", "2027-01-04")
    failures = {
        ("flaky", "uk"): TransientError("503"),
        ("flaky", "lisbon"): PermanentError("rejected"),
    }

    class Scripted(Recorder):
        def publish(self, message, idempotency_key):
            failure = failures.pop((message.post, message.segment), None)
            if failure is not None:
                raise failure
            return super().publish(message, idempotency_key)

    worker = runner(store, Scripted(feed), clock, worker="w1")
    worker.run_until_idle()
    outcomes = worker.outcomes()
    assert outcomes.per_channel == {
        "feed": {"published": 2},
        "news": {"retried": 1, "failed": 1, "missed": 2},
    }
    assert outcomes.totals == {
        "published": 2,
        "retried": 1,
        "failed": 1,
        "deferred": 0,
        "missed": 2,
        "held": 0,
        "doubt": 0,
    }
    # The same numbers, counted from the activity log by hand.
    entries = log_counts(store, "w1")
    assert entries[("feed", "claimed", "published")] == 2
    assert entries[("news", "claimed", "scheduled")] == 1
    assert entries[("news", "claimed", "failed")] == 1
    assert entries[("news", "scheduled", "missed")] == 2
    # Another runner's work is not counted, nor what this one did before `after`.
    other = runner(store, Recorder(feed), clock, worker="w2")
    clock.advance(hours=2)
    other.run_until_idle()
    assert worker.outcomes() == outcomes
    assert other.outcomes().per_channel == {"news": {"published": 1}}


def test_deferred_work_is_counted_apart_from_retries(store, clock):
    schedule(
        store, calendar([post(f"p{i}", "05:30") for i in range(3)]), "2027-01-04", "2027-01-04"
    )
    holder: list[Runner] = []

    class StopAfterOne(Recorder):
        def publish(self, message, idempotency_key):
            holder[0].stop()
            return super().publish(message, idempotency_key)

    worker = runner(store, StopAfterOne(Channel(name="feed", adapter="jsonl")), clock)
    holder.append(worker)
    worker.run_until_idle()
    # Six deliveries due, one claim batch: one published, five given back.
    assert worker.outcomes().per_channel == {"feed": {"published": 1, "deferred": 5}}
    back = [e for e in store.log() if (e.from_state, e.to_state) == ("claimed", "scheduled")]
    assert len(back) == 5 and all(e.reason == "deferred: runner stopping" for e in back)


class ReturnsNoReceipt(Recorder):
    def publish(self, message, idempotency_key):
        super().publish(message, idempotency_key)
        return {"id": "not a Receipt"}


def test_an_adapter_returning_no_receipt_is_still_recorded_published(store, clock):
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    adapter = ReturnsNoReceipt(Channel(name="feed", adapter="jsonl"))
    runner(store, adapter, clock).run_until_idle()
    assert len(adapter.published) == 2  # each went out once, never again
    for record in store.records():
        assert record.state == "published" and record.attempts == 1
        assert record.receipt["remote_id"] == record.id
    changes = {(e.from_state, e.to_state) for e in store.log()}
    assert ("claimed", "failed") not in changes and ("claimed", "scheduled") not in changes


def test_a_database_hiccup_while_recording_is_retried_not_counted_as_an_attempt(
    store, clock, recorder, monkeypatch
):
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    real = store.record_published
    hiccups = [RuntimeError("connection reset")]

    def flaky(*args, **kwargs):
        if hiccups:
            raise hiccups.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "record_published", flaky)
    runner(store, recorder, clock).run_until_idle()
    assert len(recorder.published) == 2
    assert [r.state for r in store.records()] == ["published", "published"]
    assert {r.attempts for r in store.records()} == {1}


def test_a_publication_that_cannot_be_recorded_is_left_claimed_not_failed(
    store, clock, recorder, monkeypatch
):
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    worker = runner(store, recorder, clock, worker="w1")
    tries = []

    def broken(*args, **kwargs):
        tries.append(1)
        if len(tries) == 3:
            worker.stop()  # SIGTERM while the store cannot record the receipt
        raise RuntimeError("database gone")

    monkeypatch.setattr(store, "record_published", broken)
    worker.dispatch()
    # Recording is retried until the runner stops; nothing else is sent meanwhile.
    assert len(tries) == 3
    assert len(recorder.published) == 1
    states = sorted(r.state for r in store.records())
    # Neither retried nor failed: the published one keeps its claim until its lease
    # runs out (the journal, when kept, records it); the other was never sent.
    assert states[0] == "claimed"
    assert states[1] in {"claimed", "scheduled"}
    assert {r.last_error for r in store.records()} == {None}
    # The one never sent is given back for later (deferred), not counted as sent.
    counted = {k: v for k, v in worker.outcomes().totals.items() if v}
    assert counted == ({"deferred": 1} if states[1] == "scheduled" else {})


def test_a_failing_listener_after_recording_leaves_the_publication_alone(
    store, clock, recorder, monkeypatch
):
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")

    def listener(event, fields):
        if event == "delivery_published":
            raise ValueError("metrics backend down")

    monkeypatch.setattr(store_tuning, "listeners", [listener])
    worker = runner(store, recorder, clock)
    worker.run_until_idle()
    assert [r.state for r in store.records()] == ["published", "published"]
    assert worker.outcomes().totals["published"] == 2


def test_deliveries_given_back_for_rejected_credentials_count_as_held(store, clock):
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")

    class Refused(Recorder):
        def publish(self, message, idempotency_key):
            raise CredentialsRejected("token expired")

    worker = runner(store, Refused(Channel(name="feed", adapter="jsonl")), clock, worker="w1")
    worker.run_until_idle()
    # The first attempt is refused; the channel is held and both deliveries wait.
    assert worker.outcomes().per_channel == {"feed": {"held": 2}}
    given_back = [e for e in store.log() if e.actor == "w1" and e.from_state == "claimed"]
    assert len(given_back) == 2 and {e.to_state for e in given_back} == {"paused"}
