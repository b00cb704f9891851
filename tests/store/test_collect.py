"""Collecting engagement into the store (SQLite and PostgreSQL): due by age, snapshots
as a time series, threads summed, resumable, within the channel's rate, TransientError
stops one channel, the engagement_collected hook, the store's read API for reports, and
the runner collecting by age without delaying publishing (time is an injected clock)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from conftest import Recorder, calendar, post, segment
from socialsched.adapters import Capabilities, Receipt, TransientError
from socialsched.adapters.engagement import Engagement
from socialsched.analytics.collect import Collector
from socialsched.calendar.model import Channel, Post, RunnerSettings
from socialsched.runner import Runner
from socialsched.scheduling import schedule
from socialsched.store import tuning as store_tuning

COUNTED = ("likes", "reposts", "replies")
THREAD_TEXT = "First sentence is here. Second sentence follows it. Third sentence ends it all now."


class Network(Recorder):
    """Publishes like `Recorder` and answers engagement for what it published: likes,
    reposts and replies from `counts` (by remote id; missing: the post is gone)."""

    capabilities = Capabilities(audiences=("any",), threads=True, engagement=COUNTED)
    # One request answers for two posts (collect's rate counts requests).
    engagement_batch = 2

    def __init__(self, channel: Channel, clock) -> None:
        super().__init__(channel)
        self.clock = clock
        self.counts: dict[str, dict[str, int]] = {}
        self.calls: list[list[str]] = []
        self.engagement_failures: list[Exception] = []
        self.events: list[str] = []
        self.on_call = None

    def publish(self, message, idempotency_key):
        receipt = super().publish(message, idempotency_key)
        self.counts[receipt.remote_id] = {"likes": 0, "reposts": 0, "replies": 0}
        self.events.append(f"publish {idempotency_key}")
        return receipt

    def engagement(self, receipts: Sequence[Receipt]) -> Mapping[str, Engagement]:
        self.calls.append([r.remote_id for r in receipts])
        self.events.append("engagement")
        if self.engagement_failures:
            raise self.engagement_failures.pop(0)
        if self.on_call is not None:
            self.on_call()
        return {
            r.remote_id: Engagement.of(self.clock(), self.counts[r.remote_id], COUNTED)
            for r in receipts
            if r.remote_id in self.counts
        }


@pytest.fixture
def network(clock) -> Network:
    return Network(Channel(name="feed", adapter="jsonl", settings={"path": "/x"}), clock)


def runner(store, network, clock) -> Runner:
    return Runner(store, adapters=lambda channel: network, sleep=clock.sleep, rng=random.Random(7))


def collector(store, network, **kwargs) -> Collector:
    return Collector(store, lambda calendar, channel: network, **kwargs)


def published(store, network, clock, posts: list[Post], **kwargs):
    """Schedule `posts` and publish what is due at the clock's time (06:00 UTC)."""
    schedule(store, calendar(posts, **kwargs), "2027-01-04", "2027-01-04")
    runner(store, network, clock).run_until_idle()
    return {r.id: r for r in store.records("published")}


def test_deliveries_are_due_at_each_age_once_and_snapshots_form_a_time_series(
    store, clock, network
):
    records = published(store, network, clock, [post("a", "05:30")])
    assert len(records) == 2
    first = clock.now
    clock.advance(minutes=59)
    assert store.engagement_due() == []
    clock.advance(minutes=1)
    due = store.engagement_due()
    assert {d.delivery_id for d in due} == set(records)
    assert {d.age for d in due} == {timedelta(hours=1)}
    assert {d.published_at for d in due} == {first}

    for record in records.values():
        network.counts[record.receipt["remote_id"]] = {"likes": 3, "reposts": 1, "replies": 0}
    result = collector(store, network).collect()
    assert result.calls == 1 and len(network.calls[0]) == 2
    assert result.totals.collected == result.totals.snapshots == 2
    # Re-running at once fetches nothing.
    again = collector(store, network).collect()
    assert again.calls == 0 and len(network.calls) == 1 and store.engagement_due() == []

    clock.advance(hours=23)
    assert {d.age for d in store.engagement_due()} == {timedelta(hours=24)}
    for record in records.values():
        network.counts[record.receipt["remote_id"]]["likes"] = 10
    collector(store, network).collect()
    # Ten days on, the 7 d age is collected once, and then nothing is ever due.
    clock.advance(days=10)
    assert {d.age for d in store.engagement_due()} == {timedelta(days=7)}
    collector(store, network).collect()
    clock.advance(days=100)
    assert store.engagement_due() == [] and len(network.calls) == 3

    series = store.engagement_snapshots(sorted(records)[:1])
    assert [s.age for s in series] == [timedelta(hours=1), timedelta(hours=24), timedelta(days=7)]
    assert [s.engagement.likes for s in series] == [3, 10, 10]
    assert {s.engagement.views for s in series} == {None}  # not given: None, never 0
    (fact, _) = store.engagement_facts()
    assert fact.engagement.likes == 10 and fact.age == timedelta(days=7) and fact.snapshots == 3


def test_collect_after_comes_from_the_calendars_runner_table(store, clock, network):
    settings = RunnerSettings(collect_after=["2h"])
    cal = attrs.evolve(calendar([post("a", "05:30")]), runner=settings)
    schedule(store, cal, "2027-01-04", "2027-01-04")
    runner(store, network, clock).run_until_idle()
    clock.advance(hours=1, minutes=59)
    assert store.engagement_due() == []
    clock.advance(minutes=1)
    assert {d.age for d in store.engagement_due()} == {timedelta(hours=2)}
    schedule(
        store,
        attrs.evolve(cal, runner=RunnerSettings(collect_after=[])),
        "2027-01-04",
        "2027-01-04",
    )
    clock.advance(days=30)
    assert store.engagement_due() == []


def test_a_threads_engagement_is_its_first_parts_plus_the_others_given(store, clock, network):
    channel = Channel(name="feed", adapter="jsonl", settings={"path": "/x", "max_length": 60})
    thread = Post(id="t", text=THREAD_TEXT, dates=("2027-01-04",), at="05:30", thread=True)
    records = published(store, network, clock, [thread, post("b", "05:30")], channels=[channel])
    threads = [r for r in records.values() if r.post == "t"]
    assert threads and all(len(r.receipt["extra"]["parts"]) == 2 for r in threads)
    uk = next(r for r in threads if r.segment == "uk")
    lisbon = next(r for r in threads if r.segment == "lisbon")
    uk_ids = [p["remote_id"] for p in uk.receipt["extra"]["parts"]]
    lisbon_ids = [p["remote_id"] for p in lisbon.receipt["extra"]["parts"]]
    network.counts[uk_ids[0]] = {"likes": 5, "reposts": 2, "replies": 1}
    network.counts[uk_ids[1]] = {"likes": 4, "reposts": 0, "replies": 7}
    del network.counts[lisbon_ids[1]]  # the second part is gone: the first counts alone
    network.counts[lisbon_ids[0]] = {"likes": 1, "reposts": 1, "replies": 1}
    clock.advance(hours=1)
    collector(store, network).collect()
    facts = {f.delivery_id: f for f in store.engagement_facts()}
    # The first part's reply is the second part itself: the thread's own, not counted.
    assert (facts[uk.id].engagement.likes, facts[uk.id].engagement.replies) == (5 + 4, 0 + 7)
    assert facts[uk.id].parts == 2
    # The second part gone, the first part's reply is someone else's.
    lisbon_counts = facts[lisbon.id].engagement
    assert (lisbon_counts.likes, lisbon_counts.replies, facts[lisbon.id].parts) == (1, 1, 1)
    # The first part gone: the thread is gone, no snapshot, asked again at its next age.
    del network.counts[uk_ids[0]]
    clock.advance(hours=23)
    result = collector(store, network).collect()
    assert result.totals.not_found == 1
    assert [s.age for s in store.engagement_snapshots([uk.id])] == [timedelta(hours=1)]
    assert store.engagement_due() == []


def test_an_interrupted_collection_loses_nothing_and_the_next_run_goes_on(store, clock, network):
    posts = [post(f"p{n}", "05:30") for n in range(5)]
    records = published(store, network, clock, posts)  # 10 deliveries
    clock.advance(hours=1)
    calls = []

    def crash_on_third_call() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the process dies mid-collection

    network.on_call = crash_on_third_call
    with pytest.raises(KeyboardInterrupt):
        collector(store, network, call_size=3).collect()
    kept = store.engagement_snapshots()
    assert len(kept) == 6  # two calls of three recorded before the crash
    network.on_call = None
    result = collector(store, network, call_size=3).collect()
    assert result.calls == 2 and result.totals.snapshots == 4
    snapshots = store.engagement_snapshots()
    assert sorted(s.delivery_id for s in snapshots) == sorted(records)
    asked = [remote for call in network.calls[3:] for remote in call]
    assert len(asked) == len(set(asked)) == 4  # only what was still due


def test_a_transient_error_stops_that_channel_with_a_message_others_go_on(store, clock, network):
    other = Network(Channel(name="other", adapter="jsonl", settings={"path": "/y"}), clock)
    channels = [
        Channel(name="feed", adapter="jsonl", settings={"path": "/x"}),
        Channel(name="other", adapter="jsonl", settings={"path": "/y"}),
    ]
    cal = calendar([post("a", "05:30", channels=("feed", "other"))], channels=channels)
    schedule(store, cal, "2027-01-04", "2027-01-04")
    by_name = {"feed": network, "other": other}
    Runner(store, adapters=lambda ch: by_name[ch.name], sleep=clock.sleep).run_until_idle()
    clock.advance(hours=1)
    network.engagement_failures.append(TransientError("429 too many requests", retry_after=60))
    result = Collector(store, lambda cal, ch: by_name[ch.name]).collect()
    (stop,) = result.stopped
    assert (stop.channel, stop.error, stop.left) == ("feed", True, 2)
    assert "429 too many requests" in stop.reason and "retry after 60 s" in stop.reason
    assert result.failed and result.recorded["other"].snapshots == 2
    assert "feed" not in result.recorded
    retry = Collector(store, lambda cal, ch: by_name[ch.name]).collect()
    assert not retry.failed and retry.recorded["feed"].snapshots == 2 and retry.left == 0


def test_collection_keeps_within_the_channels_rate_with_what_was_published(store, clock, network):
    channel = Channel(name="feed", adapter="jsonl", settings={"path": "/x"}, rate="8/1d")
    posts = [post(f"p{n}", "05:30") for n in range(3)]
    records = published(store, network, clock, posts, channels=[channel])
    assert len(records) == 6
    clock.advance(hours=1)
    # 8 a day, 6 published at 06:00: 2 calls (of 2 deliveries) are left in the window.
    result = collector(store, network, call_size=2).collect()
    assert result.calls == 2 and len(network.calls) == 2 and not result.failed
    (stop,) = result.stopped
    assert "rate 8/1d reached" in stop.reason and stop.left == 2 and not stop.error
    assert collector(store, network, call_size=2).collect().calls == 0  # the window is full
    clock.advance(hours=23, minutes=1)  # the publications left the window, the calls not
    result = collector(store, network, call_size=2).collect()
    # Due: 2 at 1 h and 4 at 24 h; 8 - 2 calls leaves room for the 3 calls needed.
    assert result.calls == 3 and result.left == 0 and result.totals.snapshots == 6


def test_the_rate_counts_requests_of_the_adapters_batch_not_calls(store, clock, network):
    channel = Channel(name="feed", adapter="jsonl", settings={"path": "/x"}, rate="9/1d")
    records = published(store, network, clock, [post("p", "05:30")], channels=[channel])
    assert len(records) == 2  # one request of the 9 a day spent on each publication
    network.engagement_batch = 1  # now each post is a request of its own
    clock.advance(hours=1)
    # 9 - 2 published leaves 7 requests: one call of 7 receipts could ask for no more,
    # but only the 2 due deliveries are asked, in one call of 2 requests.
    result = collector(store, network, call_size=100).collect()
    assert result.calls == 1 and [len(call) for call in network.calls] == [2]
    assert store.engagement_calls_since("feed", clock() - timedelta(days=1)) == 2
    # 5 requests are left in the window: 5 more posts due would take 5, not one call.
    more = [post(f"m{n}", "06:30") for n in range(4)]
    schedule(store, calendar(more, channels=[channel]), "2027-01-04", "2027-01-04")
    runner(store, network, clock).run_until_idle()  # publishes what the rate leaves: full
    network.calls.clear()
    clock.advance(hours=1)
    stopped = collector(store, network, call_size=100).collect()
    assert stopped.calls == 0 and network.calls == []
    assert "rate 9/1d reached" in stopped.stopped[0].reason


def test_engagement_collected_is_announced_per_snapshot(store, clock, network, monkeypatch):
    heard = []
    monkeypatch.setattr(
        store_tuning, "listeners", [lambda name, fields: heard.append((name, fields))]
    )
    records = published(store, network, clock, [post("a", "05:30")])
    heard.clear()
    clock.advance(hours=1)
    collector(store, network).collect()
    assert sorted(
        f["delivery_id"] for name, f in heard if name == "engagement_collected"
    ) == sorted(records)
    for _, fields in heard:
        record = records[fields["delivery_id"]]
        assert (fields["post"], fields["segment"], fields["channel"]) == (
            record.post,
            record.segment,
            record.channel,
        )
        assert isinstance(fields["engagement"], Engagement)


def test_facts_carry_what_reports_group_by(store, clock, network):
    madrid = segment("madrid", "Europe/Madrid", "ES")
    new_york = segment("new-york", "America/New_York", "US")
    item = post("a", "07:00", tags=("launch",))
    records = published(store, network, clock, [item], segments=[madrid, new_york])
    # 07:00 in Madrid is 06:00 UTC (published at once); in New York, 12:00 UTC.
    clock.advance(hours=6)
    runner(store, network, clock).run_until_idle()
    records = {r.id: r for r in store.records("published")}
    assert len(records) == 2
    clock.advance(hours=24)
    collector(store, network).collect()
    facts = {f.segment: f for f in store.engagement_facts()}
    for name, zone in (("madrid", "Europe/Madrid"), ("new-york", "America/New_York")):
        fact = facts[name]
        record = records[fact.delivery_id]
        assert fact.local == record.local
        assert fact.local.hour == 7  # the planned local time, in the segment's zone
        assert (
            fact.published_local.utcoffset()
            == fact.published_at.astimezone(ZoneInfo(zone)).utcoffset()
        )
        assert fact.tags == ("launch",) and fact.channel == "feed" and fact.post == "a"
        assert fact.engagement.counts() == {
            "likes": 0,
            "reposts": 0,
            "replies": 0,
            "quotes": None,
            "views": None,
            "clicks": None,
        }
        assert fact.to_dict()["views"] is None
    later = facts["new-york"].published_at
    assert [f.segment for f in store.engagement_facts(since=later)] == ["new-york"]
    assert [f.segment for f in store.engagement_facts(until=later)] == ["madrid"]
    assert facts["madrid"].published_at.tzinfo == UTC


def test_the_runner_publishes_what_is_due_before_collection_work(store, clock, network):
    """Collection runs in steps of one call only while nothing is due to publish: a
    delivery falling due during collection goes out before the next call."""
    posts = [post(f"p{n}", "05:30") for n in range(3)] + [post("late", "07:30")]
    published(store, network, clock, posts)
    clock.advance(hours=1, minutes=29)  # 07:29: six deliveries are 1 h old
    network.events.clear()

    def time_passes() -> None:
        clock.advance(minutes=1)  # the first call brings 07:30: "late" falls due

    network.on_call = time_passes
    worker = runner(store, network, clock)
    worker.collection.collector.call_size = 2
    worker.run_until_idle()
    late = sorted(r.id for r in store.records("published") if r.post == "late")
    first_call = network.events.index("engagement")
    assert network.events[first_call + 1 : first_call + 3] == [f"publish {key}" for key in late]
    assert network.events.count("engagement") == 3  # 6 deliveries, 2 a call
    assert len(store.engagement_snapshots()) == 6


def test_a_channel_whose_network_gives_no_counts_is_skipped_not_asked(store, clock, network):
    quiet = Recorder(Channel(name="quiet", adapter="jsonl", settings={"path": "/y"}))
    channels = [
        Channel(name="feed", adapter="jsonl", settings={"path": "/x"}),
        Channel(name="quiet", adapter="jsonl", settings={"path": "/y"}),
    ]
    cal = calendar([post("a", "05:30", channels=("feed", "quiet"))], channels=channels)
    schedule(store, cal, "2027-01-04", "2027-01-04")
    by_name = {"feed": network, "quiet": quiet}
    Runner(store, adapters=lambda ch: by_name[ch.name], sleep=clock.sleep).run_until_idle()
    clock.advance(hours=1)
    steps: list[int] = []
    result = Collector(store, lambda cal, ch: by_name[ch.name]).collect(progress=steps.append)
    assert sum(steps) == 4  # the progress reaches every due delivery, skipped ones too
    assert result.recorded["quiet"].skipped == 2 and result.recorded["quiet"].collected == 0
    assert result.recorded["feed"].snapshots == 2 and result.left == 0 and not result.failed
    (stop,) = result.stopped
    assert (stop.channel, stop.error) == ("quiet", False) and "gives no engagement" in stop.reason
    assert store.engagement_due() == []
    assert {f.channel for f in store.engagement_facts()} == {"feed"}


def test_since_keeps_to_deliveries_published_since_then(store, clock, network):
    settings = RunnerSettings(collect_after=["3h"])
    early = attrs.evolve(calendar([post("early", "05:30")]), runner=settings)
    schedule(store, early, "2027-01-04", "2027-01-04")
    runner(store, network, clock).run_until_idle()  # 06:00
    clock.advance(hours=2)  # 08:00: "later" goes out two hours after "early"
    both = attrs.evolve(calendar([post("early", "05:30"), post("later", "07:30")]), runner=settings)
    schedule(store, both, "2027-01-04", "2027-01-04")
    runner(store, network, clock).run_until_idle()
    later_sent = clock.now
    clock.advance(hours=3)
    assert {d.post for d in store.engagement_due()} == {"early", "later"}
    assert {d.post for d in store.engagement_due(since=later_sent)} == {"later"}
    result = collector(store, network).collect(since=later_sent)
    assert result.totals.snapshots == 2 and result.left == 0
    assert {f.post for f in store.engagement_facts()} == {"later"}
    assert {d.post for d in store.engagement_due()} == {"early"}


def test_a_runner_whose_collection_fails_stops_trying_for_a_while_and_keeps_publishing(
    store, clock, network, caplog
):
    from socialsched.analytics.collect_runner import BACKOFF

    published(store, network, clock, [post("a", "05:30")])
    clock.advance(hours=1)
    network.engagement_failures.append(TransientError("503 unavailable"))
    worker = runner(store, network, clock)
    with caplog.at_level("WARNING", logger="socialsched.runner"):
        worker.run_until_idle()
    assert len(network.calls) == 1  # asked once, not again and again
    assert "engagement of channel feed not collected: 503 unavailable" in caplog.text
    assert store.engagement_snapshots() == []
    worker.run_until_idle()
    assert len(network.calls) == 1  # resting
    clock.advance(seconds=BACKOFF.total_seconds())
    worker.run_until_idle()
    assert len(network.calls) == 2 and len(store.engagement_snapshots()) == 2


def test_a_plugin_that_breaks_stops_its_channel_with_a_message(store, clock, network):
    published(store, network, clock, [post("a", "05:30")])
    clock.advance(hours=1)
    network.engagement_failures.append(ZeroDivisionError("division by zero"))
    result = collector(store, network).collect()
    (stop,) = result.stopped
    assert stop.error and stop.reason == "adapter failed: division by zero" and stop.left == 2
    network.engagement = lambda receipts: [1, 2]  # not a mapping
    (stop,) = collector(store, network).collect().stopped
    assert stop.reason == "adapter answered list, not a mapping"
    assert store.engagement_snapshots() == [] and len(store.engagement_due()) == 2


def test_two_collectors_never_ask_one_network_for_the_same_posts_at_once(
    make_store, clock, network
):
    store = make_store()
    published(store, network, clock, [post("a", "05:30")])
    clock.advance(hours=1)
    other = make_store()  # another process on the same database, collecting now
    assert other.lease_engagement("cal", "feed", "collect:other", timedelta(minutes=10))
    result = collector(store, network).collect()
    (stop,) = result.stopped
    assert (stop.reason, stop.error, stop.left) == (
        "another collector is collecting it now",
        False,
        2,
    )
    assert network.calls == []
    other.release_engagement("cal", "feed", "collect:other")
    assert collector(store, network).collect().totals.snapshots == 2
    # A collector that died leaves a lease that ends.
    assert other.lease_engagement("cal", "feed", "collect:dead", timedelta(minutes=10))
    clock.advance(minutes=9)
    assert store.lease_engagement("cal", "feed", "collect:alive", timedelta(minutes=10)) is False
    clock.advance(minutes=1)
    assert store.lease_engagement("cal", "feed", "collect:alive", timedelta(minutes=10))


def test_a_delivery_still_due_after_collecting_stops_the_channel_not_loops(
    store, clock, network, monkeypatch
):
    published(store, network, clock, [post("a", "05:30")])
    clock.advance(hours=1)
    monkeypatch.setattr(store, "record_engagement", lambda *args, **kwargs: None)  # lost
    result = collector(store, network, call_size=1).collect()
    assert len(network.calls) == 1  # the first is still due: not asked again
    (stop,) = result.stopped
    assert stop.error and "still due after being collected" in stop.reason
