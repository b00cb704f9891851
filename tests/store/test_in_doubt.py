"""Deliveries in doubt: their worker died between sending and recording. The runner asks
the network before sending again; where it cannot, the channel's `on_doubt` decides.
A dead worker is a claim nobody finishes (time is an injected clock)."""

from __future__ import annotations

import random
from datetime import timedelta

import attrs
import pytest

from conftest import Recorder, calendar, post
from socialsched import scheduling
from socialsched.adapters import Capabilities, Message, Receipt, TransientError
from socialsched.calendar.model import Channel
from socialsched.planning.planner import Planner
from socialsched.runner import Runner
from socialsched.store import StoreError
from socialsched.testing import sample_image

DAY = "2027-01-04"


class Network(Recorder):
    """A recorder whose network can be asked for earlier posts (by idempotency key)."""

    name = "network"

    def __init__(self, channel: Channel, environ=None) -> None:
        super().__init__(channel, environ)
        self.posts: dict[str, str] = {}  # idempotency key -> remote id
        self.lookups: list[str] = []
        self.lookup_failure: Exception | None = None

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        receipt = super().publish(message, idempotency_key)
        self.posts[idempotency_key] = receipt.remote_id
        return receipt

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        self.lookups.append(idempotency_key)
        if self.lookup_failure is not None:
            raise self.lookup_failure
        if idempotency_key not in self.posts:
            return None
        return Receipt(remote_id=self.posts[idempotency_key], url="https://net.example/found")


class Blind(Recorder):
    """A network that cannot be asked (base `find`) and does not honour keys."""

    name = "blind"
    capabilities = Capabilities(audiences=("any",), idempotent=False)


# The planner checks messages against the installed jsonl adapter; the runner publishes
# through the test adapters.
SETTINGS = {"path": "/nonexistent/feed.jsonl"}


def make_runner(store, clock, adapter):
    return Runner(
        store,
        adapters=lambda channel: adapter,
        sleep=clock.sleep,
        rng=random.Random(3),
        lease=timedelta(minutes=2),
    )


def crash_while_publishing(store, clock, sent_by_dead_worker, adapter, marked=None):
    """A worker claims every due delivery, marks them as being sent (all, or the first
    `marked`), sends the first (the network gets it) and dies before recording
    anything; its lease then runs out."""
    claimed = store.claim("dead-worker", limit=10, lease=timedelta(minutes=2))
    assert claimed
    for record in claimed[:marked]:
        assert store.mark_sending(record, "dead-worker")
    if sent_by_dead_worker:
        first = claimed[0]
        adapter.publish(Runner._message(first), first.id)
        adapter.published.clear()  # what the runner sends from here on is what counts
    clock.advance(minutes=3)
    return claimed


def schedule(store, channel: Channel) -> None:
    scheduling.schedule(
        store, calendar([post("a", "05:30")], channels=[channel]), "2027-01-04", "2027-01-04"
    )


def test_a_post_found_on_the_network_is_recorded_not_sent_again(store, clock):
    channel = Channel(name="feed", adapter="jsonl", settings=SETTINGS)
    schedule(store, channel)
    network = Network(channel)
    first, second = crash_while_publishing(store, clock, True, network, marked=1)

    make_runner(store, clock, network).run_until_idle()

    # Only the first was being sent when its worker died: only it is in doubt.
    assert network.lookups == [first.id]
    # The first went out before the crash: found, recorded, not posted again. The
    # second never went out: back to scheduled at once, sent now, once, its first
    # attempt.
    assert [key for _, key in network.published] == [second.id]
    assert store.get(second.id).attempts == 1
    back = [e for e in store.log(delivery=second.id) if e.to_state == "scheduled"]
    assert [(e.from_state, e.reason) for e in back][-1] == (
        "claimed",
        "lease expired: claimed by a runner that stopped before sending it",
    )
    assert sorted(network.posts) == sorted([first.id, second.id])
    found = store.get(first.id)
    assert found.state == "published"
    assert found.receipt["remote_id"] == f"r-{first.id}"
    assert found.receipt["url"] == "https://net.example/found"
    assert store.get(second.id).state == "published"
    reasons = [(e.from_state, e.to_state, e.reason) for e in store.log(delivery=first.id)]
    assert reasons[-2][:2] == ("claimed", "claimed")
    assert reasons[-2][2].startswith("lease expired (worker dead-worker gone): in doubt")
    assert reasons[-1] == (
        "claimed",
        "published",
        "found on the network: it went out before its worker died",
    )


@pytest.mark.parametrize("on_doubt", [None, "hold"])
def test_an_uncheckable_delivery_is_held_until_resolved(store, clock, on_doubt):
    channel = Channel(name="feed", adapter="jsonl", settings=SETTINGS, on_doubt=on_doubt)
    schedule(store, channel)
    blind = Blind(channel)
    first, second = crash_while_publishing(store, clock, True, blind)
    runner = make_runner(store, clock, blind)

    runner.run_until_idle()

    assert blind.published == []
    assert {store.get(first.id).state, store.get(second.id).state} == {"doubt"}
    assert store.status().counts["doubt"] == 2
    # What the runner reports is what the store recorded.
    assert runner.outcomes().totals["doubt"] == 2
    entry = store.log(delivery=first.id)[-1]
    assert (entry.from_state, entry.to_state) == ("claimed", "doubt")
    assert "on_doubt = hold" in entry.reason and f"resolve {first.id}" in entry.reason
    # Later passes leave them alone.
    runner.run_until_idle()
    assert blind.published == []

    # The operator looked: the first went out, the second did not.
    assert store.resolve(first.id, sent=True).state == "published"
    assert store.resolve(second.id, sent=False).state == "scheduled"
    runner.run_until_idle()
    assert [key for _, key in blind.published] == [second.id]
    assert store.get(second.id).state == "published"
    assert store.log(delivery=first.id)[-1].actor == "operator"
    with pytest.raises(StoreError, match="is published"):
        store.resolve(first.id, sent=False)


def test_resend_policy_and_idempotent_networks_send_again_under_the_same_key(store, clock):
    channel = Channel(name="feed", adapter="jsonl", settings=SETTINGS, on_doubt="resend")
    schedule(store, channel)
    blind = Blind(channel)
    claimed = crash_while_publishing(store, clock, False, blind)
    make_runner(store, clock, blind).run_until_idle()
    assert sorted(key for _, key in blind.published) == sorted(r.id for r in claimed)
    assert {r.state for r in store.records()} == {"published"}


def test_idempotent_adapters_resend_by_default(store, clock):
    channel = Channel(name="feed", adapter="jsonl", settings=SETTINGS)
    schedule(store, channel)
    recorder = Recorder(channel)  # idempotent, cannot look up posts
    claimed = crash_while_publishing(store, clock, False, recorder)
    make_runner(store, clock, recorder).run_until_idle()
    assert sorted(key for _, key in recorder.published) == sorted(r.id for r in claimed)


def test_a_failed_lookup_counts_as_uncheckable(store, clock):
    channel = Channel(name="feed", adapter="jsonl", settings=SETTINGS)
    schedule(store, channel)
    network = Network(channel)
    network.capabilities = Capabilities(audiences=("any",), idempotent=False)
    network.lookup_failure = TransientError("network.example: HTTP 503")
    crash_while_publishing(store, clock, False, network)
    make_runner(store, clock, network).run_until_idle()
    assert network.published == []
    assert {r.state for r in store.records()} == {"doubt"}
    assert all("HTTP 503" in (r.last_error or "") for r in store.records())


def test_a_delivery_that_keeps_killing_its_worker_fails(store, clock):
    channel = Channel(name="feed", adapter="jsonl", settings=SETTINGS, max_attempts=2)
    schedule(store, channel)
    recorder = Recorder(channel)
    for record in store.claim("dead-1", limit=10, lease=timedelta(minutes=2)):  # attempt 1
        store.mark_sending(record, "dead-1")
    clock.advance(minutes=3)
    # Each takeover counts an attempt: a second worker dies as well.
    assert len(store.take_over_expired("dead-2", lease=timedelta(minutes=2), limit=10)) == 2
    clock.advance(minutes=3)
    make_runner(store, clock, recorder).run_until_idle()
    assert recorder.published == []
    for record in store.records():
        assert (record.state, record.attempts) == ("failed", 3)
        assert "worker died" in record.last_error


def test_a_paused_channel_keeps_a_delivery_in_doubt_from_going_out(store, clock):
    channel = Channel(name="feed", adapter="jsonl", settings=SETTINGS)
    schedule(store, channel)
    network = Network(channel)
    crash_while_publishing(store, clock, False, network)
    store.pause(channel="feed", reason="crisis")
    make_runner(store, clock, network).run_until_idle()
    assert network.published == []
    assert {(r.state, r.attempts) for r in store.records()} == {("paused", 1)}


def test_a_media_post_sent_again_carries_its_attachments(store, clock):
    channel = Channel(name="feed", adapter="jsonl", settings=SETTINGS)
    cal = calendar([post("a", "05:30")], channels=[channel])
    image = sample_image()
    planned = [attrs.evolve(d, media=(image,)) for d in Planner(cal).plan(DAY, DAY)]
    store.schedule(cal, DAY, DAY, planned=planned)
    network = Network(channel)
    crash_while_publishing(store, clock, False, network)
    make_runner(store, clock, network).run_until_idle()
    assert len(network.published) == 2
    for message, _ in network.published:
        (attachment,) = message.attachments
        assert attachment.read() == image.read() and attachment.alt == image.alt


PARTS = ("One. 1/4", "Two. 2/4", "Three. 3/4", "Four. 4/4")


def test_a_thread_in_doubt_goes_on_after_the_part_found_on_the_network(store, clock):
    channel = Channel(name="feed", adapter="jsonl", settings=SETTINGS)
    cal = calendar([post("a", "05:30")], channels=[channel])
    planned = [attrs.evolve(d, parts=PARTS) for d in Planner(cal).plan(DAY, DAY)][:1]
    store.schedule(cal, DAY, DAY, planned=planned)
    network = Network(channel)
    [record] = store.claim("dead-worker", limit=10, lease=timedelta(minutes=2))
    keys = [record.id, f"{record.id}#2", f"{record.id}#3", f"{record.id}#4"]
    # The dead worker sent parts 1 to 3 and recorded 1 and 2 before it died.
    for number, key in enumerate(keys[:3], start=1):
        assert store.mark_sending(record, "dead-worker")
        network.publish(Runner._message(record), key)
        if number < 3:
            receipt = {"remote_id": f"r-{key}", "url": None, "extra": {}}
            store.record_thread_part(record, "dead-worker", number, receipt, timedelta(minutes=2))
    network.published.clear()
    clock.advance(minutes=3)

    make_runner(store, clock, network).run_until_idle()

    # Part 3 was found, not sent again; part 4 went out as its reply.
    assert network.lookups == [keys[2]]
    assert [key for _, key in network.published] == [keys[3]]
    [(last, _)] = network.published
    assert (last.part, last.text) == (4, PARTS[3])
    assert last.reply_to.remote_id == f"r-{keys[2]}"
    assert last.thread_root.remote_id == f"r-{keys[0]}"
    done = store.get(record.id)
    assert done.state == "published"
    assert [p["remote_id"] for p in done.receipt["extra"]["parts"]] == [f"r-{k}" for k in keys]
