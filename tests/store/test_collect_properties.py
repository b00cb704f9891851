"""Hypothesis: for any `collect_after` ages, publication times and collection times,
each run collects exactly the deliveries an independent model says are due (an age
reached that is larger than the largest collected), once each, with that age."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialsched.adapters import Adapter, Capabilities
from socialsched.adapters.engagement import Engagement
from socialsched.analytics.collect import Collector
from socialsched.calendar.model import Calendar, Channel, RunnerSettings, Segment
from socialsched.scheduling import schedule
from socialsched.store import Store
from socialsched.store.tables import deliveries

START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)
HOURS = (1, 2, 6, 24, 72, 168)


class Counting(Adapter):
    name = "counting"
    capabilities = Capabilities(audiences=("any",), engagement=("likes",))

    def __init__(self, channel: Channel, clock) -> None:
        super().__init__(channel)
        self.clock = clock
        self.asked: list[str] = []

    def publish(self, message, idempotency_key):  # pragma: no cover - never publishes
        raise AssertionError("collection only")

    def engagement(self, receipts):
        self.asked.extend(r.remote_id for r in receipts)
        return {r.remote_id: Engagement(self.clock(), likes=1) for r in receipts}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ages=st.lists(st.sampled_from(HOURS), min_size=1, max_size=3, unique=True),
    published=st.lists(st.integers(0, 200), min_size=1, max_size=6),
    runs=st.lists(st.integers(0, 400), min_size=1, max_size=6),
    call_size=st.integers(1, 4),
)
def test_each_run_collects_exactly_what_is_due(ages, published, runs, call_size):
    now = [START]
    channel = Channel(name="feed", adapter="jsonl", settings={"path": "/x"})
    network = Counting(channel, lambda: now[0])
    cal = Calendar(
        segments=[Segment(name="uk", locale="en-GB", timezone="UTC", country="GB")],
        channels=[channel],
        posts=[],
        name="cal",
        runner=RunnerSettings(collect_after=[f"{hours}h" for hours in ages]),
    )
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "outbox.db", clock=lambda: now[0])
        try:
            schedule(store, cal, "2027-01-04", "2027-01-04")
            sent = {f"d{n}": START + timedelta(hours=h) for n, h in enumerate(published)}
            seed(store, sent)
            collected: dict[str, list[int]] = {key: [] for key in sent}
            for offset in sorted(runs):
                now[0] = START + timedelta(hours=offset)
                due = {}
                for key, at in sent.items():
                    reached = [a for a in ages if at + timedelta(hours=a) <= now[0]]
                    done = collected[key]
                    if reached and (not done or max(reached) > done[-1]):
                        due[key] = max(reached)
                network.asked.clear()
                result = Collector(store, lambda c, ch: network, call_size=call_size).collect()
                assert sorted(network.asked) == sorted(f"r-{key}" for key in due)
                assert result.totals.snapshots == len(due) and result.left == 0
                for key, age in due.items():
                    collected[key].append(age)
            stored: dict[str, list[int]] = {key: [] for key in sent}
            for snapshot in store.engagement_snapshots():
                stored[snapshot.delivery_id].append(int(snapshot.age.total_seconds()) // 3600)
            assert stored == collected
        finally:
            store.close()


def seed(store: Store, sent: dict[str, datetime]) -> None:
    rows = [
        {
            "id": key,
            "calendar": "cal",
            "post": "p",
            "segment": "uk",
            "channel": "feed",
            "adapter": "jsonl",
            "locale": "en-GB",
            "utc": at.replace(tzinfo=None),
            "local": at.isoformat(),
            "local_day": at.date().isoformat(),
            "tags": "[]",
            "state": "published",
            "due": at.replace(tzinfo=None),
            "sent_at": at.replace(tzinfo=None),
            "receipt": json.dumps({"remote_id": f"r-{key}", "url": None, "extra": {}}),
            "updated_at": at.replace(tzinfo=None),
        }
        for key, at in sent.items()
    ]
    with store.engine.begin() as connection:
        connection.execute(deliveries.insert(), rows)


def test_seeded_rows_are_what_the_store_reads():
    """The property test's seeding matches what the store holds for published rows."""
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "outbox.db", clock=lambda: START + timedelta(hours=2))
        try:
            seed(store, {"d0": START})
            (record,) = store.records("published")
            assert attrs.evolve(record).receipt == {"remote_id": "r-d0", "url": None, "extra": {}}
            assert [d.delivery_id for d in store.engagement_due()] == ["d0"]
        finally:
            store.close()
