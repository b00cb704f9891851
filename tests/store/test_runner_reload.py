"""SIGHUP applies before the next delivery, even in the middle of a claimed batch: the
deliveries after the one in flight go out through adapters set up from the re-read
channel table, in the same pass."""

from __future__ import annotations

import signal
from typing import Any

import attrs
from conftest import Recorder, calendar, post

from socialsched.adapters import Message, Receipt
from socialsched.model import Channel
from socialsched.runner import Runner


def feed(path: str) -> Channel:
    return Channel(name="feed", adapter="jsonl", settings={"path": path})


def test_sighup_mid_batch_applies_before_the_next_delivery(store, clock):
    posts = [post(f"p{index}", "05:59") for index in range(3)]  # 6 deliveries: 2 segments
    old = calendar(posts, channels=[feed("/srv/old.jsonl")])
    store.schedule(old, "2027-01-04", "2027-01-04")
    sent: list[tuple[str, str]] = []  # (the adapter's path setting, idempotency key)
    runner: Runner

    class Adapter(Recorder):
        def publish(self, message: Message, idempotency_key: str) -> Receipt:
            sent.append((self.channel.settings["path"], idempotency_key))
            if len(sent) == 1:
                # While the first delivery is in flight: the operator changes the
                # channel and sends SIGHUP (the handler the runner installs).
                new = attrs.evolve(old, channels=[feed("/srv/new.jsonl")])
                store.schedule(new, "2027-01-04", "2027-01-04")
                runner._on_hangup(signal.SIGHUP, None)
            return super().publish(message, idempotency_key)

    def adapters(channel: Channel) -> Any:
        return Adapter(channel)

    runner = Runner(store, adapters=adapters, batch=50, sleep=clock.sleep)
    assert runner.dispatch() == 6  # one pass, one claimed batch
    assert [path for path, _ in sent] == ["/srv/old.jsonl"] + ["/srv/new.jsonl"] * 5
    published = store.records("published")
    assert sorted(key for _, key in sent) == sorted(r.id for r in published)
    assert len(published) == 6


def test_without_sighup_the_batch_keeps_its_adapter(store, clock):
    # The control: a changed channel table alone changes nothing mid-batch.
    posts = [post(f"p{index}", "05:59") for index in range(2)]
    old = calendar(posts, channels=[feed("/srv/old.jsonl")])
    store.schedule(old, "2027-01-04", "2027-01-04")
    paths: list[str] = []

    class Adapter(Recorder):
        def publish(self, message: Message, idempotency_key: str) -> Receipt:
            paths.append(self.channel.settings["path"])
            if len(paths) == 1:
                new = attrs.evolve(old, channels=[feed("/srv/new.jsonl")])
                store.schedule(new, "2027-01-04", "2027-01-04")
            return super().publish(message, idempotency_key)

    runner = Runner(store, adapters=lambda channel: Adapter(channel), sleep=clock.sleep)
    assert runner.dispatch() == 4
    assert paths == ["/srv/old.jsonl"] * 4
