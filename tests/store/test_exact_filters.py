"""Pause, resume and the activity log match tags and names exactly, on SQLite and
PostgreSQL: `%` and `_` are not wildcards, and quotes or backslashes in a tag cannot
make one tag's stored JSON look like another's."""

from __future__ import annotations

import pytest

from conftest import Recorder, calendar, post, segment
from socialsched import scheduling
from socialsched.calendar.model import Channel

# Each pair: a tag, and tags that a LIKE on the JSON text (or a substring test on it)
# would have confused with it. The expected matches below come from this table, not
# from the store.
TAGS = {
    "a": ("promo", "pr_mo", "%"),
    "b": ("prXmo",),
    "c": ('"x', "x\\"),
    "d": ("x", "back\\slash"),
    "e": (", ", "50%_off"),
    "f": ("o'brien", 'say "hi"'),
    "g": ("PROMO",),
    "h": (),
}
PROBES = (
    "promo",
    "pr_mo",
    "%",
    "_",
    "pr%",
    "x",
    '"x',
    "x\\",
    "\\",
    "back\\slash",
    ", ",
    '", "',
    "50%_off",
    "50__off",
    "o'brien",
    "'",
    'say "hi"',
    '"',
    "hi",
    "",
)


def schedule(store):
    posts = [post(post_id, "07:00", tags=tags) for post_id, tags in TAGS.items()]
    scheduling.schedule(store, calendar(posts), "2027-01-04", "2027-01-04")


def paused_posts(store):
    return {record.post for record in store.records("paused")}


@pytest.mark.parametrize("tag", PROBES)
def test_pause_and_resume_by_tag_match_exactly_that_tag(store, tag):
    schedule(store)
    expected = {post_id for post_id, tags in TAGS.items() if tag in tags}
    segments = 2  # the default calendar's segments: every post goes to both
    assert store.pause(tag=tag, reason="probe") == segments * len(expected)
    assert paused_posts(store) == expected
    assert store.resume(tag=tag) == segments * len(expected)
    assert paused_posts(store) == set()


def test_a_resume_by_wildcard_lifts_nothing_it_did_not_pause(store):
    schedule(store)
    store.pause(tag="pr_mo")
    store.pause(tag="x")
    assert paused_posts(store) == {"a", "d"}
    assert store.resume(tag="%") == 0
    assert store.resume(tag="pr%") == 0
    assert paused_posts(store) == {"a", "d"}
    assert store.resume(tag="pr_mo") == 2
    assert paused_posts(store) == {"d"}


WILD_NAMES = ("a_c", "abc", "a%", "a'b", 'a"b', "a\\b", "a\\\\b")


@pytest.mark.parametrize("name", WILD_NAMES)
def test_pause_resume_and_log_match_post_segment_and_channel_names_exactly(store, name):
    channels = [
        Channel(name=n, adapter="jsonl", settings={"path": "/nonexistent"}) for n in WILD_NAMES
    ]
    cal = calendar(
        [post(n, "07:00") for n in WILD_NAMES],
        segments=[segment(n) for n in WILD_NAMES],
        channels=channels,
    )
    scheduling.schedule(store, cal, "2027-01-04", "2027-01-04")
    per_name = len(WILD_NAMES) ** 2  # deliveries of one post (segments x channels)

    for field in ("post", "segment", "channel"):
        assert store.pause(**{field: name}) == per_name
        assert {getattr(r, field) for r in store.records("paused")} == {name}
        assert store.resume(**{field: name}) == per_name
        assert store.records("paused") == []

    everything = store.log()
    for field in ("post", "segment", "channel"):
        expected = [entry for entry in everything if getattr(entry, field) == name]
        assert store.log(**{field: name}) == expected
        assert len(expected) >= 3 * per_name  # scheduled, paused, scheduled again


def test_a_retry_whose_error_mentions_credentials_rejected_is_counted_a_retry(store, clock):
    """`outcomes` tells a hold by how the runner words its reason (a prefix), not by
    the words appearing anywhere: a network's error text cannot turn a retry into a
    hold."""
    import random

    from socialsched.adapters import TransientError
    from socialsched.runner import Runner

    scheduling.schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    adapter = Recorder(Channel(name="feed", adapter="jsonl", settings={"path": "/x"}))
    adapter.failures = [TransientError("upstream: credentials rejected by the proxy")]
    worker = Runner(
        store,
        adapters=lambda channel: adapter,
        sleep=clock.sleep,
        rng=random.Random(7),
        worker="w1",
    )
    worker.dispatch()
    totals = worker.outcomes().totals
    assert (totals["retried"], totals["held"]) == (1, 0)
