"""Rejected credentials hold the channel (no retries burnt) until `resume --channel`."""

from __future__ import annotations

import random

from conftest import Recorder, calendar, post
from socialsched.adapters import CredentialsRejected
from socialsched.calendar.model import Channel
from socialsched.runner import Runner
from socialsched.scheduling import schedule

FEED = Channel(name="feed", adapter="jsonl", settings={"path": "/tmp/feed"})
OTHER = Channel(name="other", adapter="jsonl", settings={"path": "/tmp/other"})


def test_a_rejection_holds_the_channel_once_and_resume_publishes_everything(store, clock):
    cal = calendar([post("a", "05:30"), post("b", "05:45")], channels=[FEED, OTHER])
    schedule(store, cal, "2027-01-04", "2027-01-04")
    recorders = {name: Recorder(channel) for name, channel in (("feed", FEED), ("other", OTHER))}
    recorders["feed"].failures = [CredentialsRejected("feed.example: HTTP 401 Unauthorized")]
    runner = Runner(
        store,
        adapters=lambda channel: recorders[channel.name],
        sleep=clock.sleep,
        rng=random.Random(1),
    )
    runner.run_until_idle()

    feed = [r for r in store.records() if r.channel == "feed"]
    other = [r for r in store.records() if r.channel == "other"]
    assert len(feed) == len(other) == 4  # 2 posts x 2 segments
    # One publication was tried and rejected; the channel's deliveries all wait, none
    # failed, none lost an attempt. The other channel went on publishing.
    assert recorders["feed"].published == []
    assert recorders["feed"].failures == []
    assert {(r.state, r.attempts) for r in feed} == {("paused", 0)}
    assert {(r.state, r.attempts) for r in other} == {("published", 1)}
    [entry] = store.hold_entries()
    assert entry.hold.channel == "feed" and entry.actor == "runner" and entry.credentials
    assert entry.reason == "credentials rejected: feed.example: HTTP 401 Unauthorized"
    assert store.status().holds == (entry,)
    assert store.status().counts["paused"] == 4
    # The log says why each delivery of the channel stopped.
    stopped = [e for e in store.log(channel="feed") if e.to_state == "paused"]
    assert {e.delivery_id for e in stopped} == {r.id for r in feed}
    assert all("credentials rejected" in (e.reason or "") for e in stopped)
    rejected = [e for e in stopped if e.from_state == "claimed"]
    assert len(rejected) >= 1 and rejected[0].reason == entry.reason

    # Another pass changes nothing: the channel stays held.
    runner.run_until_idle()
    assert recorders["feed"].published == []

    # Fixed: resume the channel; everything goes out, each at its first attempt.
    assert store.resume(channel="feed") == 4
    assert store.hold_entries() == []
    runner.run_until_idle()
    published = {key for _, key in recorders["feed"].published}
    assert published == {r.id for r in feed}
    assert {(r.state, r.attempts) for r in store.records() if r.channel == "feed"} == {
        ("published", 1)
    }


def test_an_operator_pause_is_not_a_credentials_hold(store):
    schedule(store, calendar([post("a")], channels=[FEED]), "2027-01-04", "2027-01-04")
    store.pause(channel="feed", reason="account under review")
    [entry] = store.hold_entries()
    assert (entry.actor, entry.credentials) == ("operator", False)
    # The runner's hold of a channel already paused adds no second rule.
    assert store.hold_channel("feed", reason="credentials rejected: x") == 0
    assert len(store.hold_entries()) == 1
