"""Engagement collected for real: the brand publishes through the adapter to a local PDS
with a Bluesky AppView behind it (the `bsky_network` fixture), a second account likes,
reposts, replies to and quotes the posts, the AppView indexes them, and
`BlueskyAdapter.engagement` reads the counts through the PDS (`app.bsky.feed.getPosts`,
which the PDS passes on to its AppView).

A bare PDS (the `pds` fixture, no AppView) cannot count anything: there the call fails
as transient instead of reporting the posts as gone.
"""

from __future__ import annotations

from typing import Any

import pytest
from atproto import Client, models
from conftest import Network
from test_bluesky_local_pds import make_adapter, make_message

from socialsched.adapters import Receipt, TransientError


def strong_ref(receipt: Receipt) -> models.ComAtprotoRepoStrongRef.Main:
    return models.ComAtprotoRepoStrongRef.Main(uri=receipt.remote_id, cid=receipt.extra["cid"])


def records(client: Client, did: str, collection: str) -> list[Any]:
    listed = client.com.atproto.repo.list_records(
        params=models.ComAtprotoRepoListRecords.Params(repo=did, collection=collection, limit=100)
    )
    return list(listed.records)


def test_likes_reposts_replies_and_quotes_of_a_second_account_are_collected(
    bsky_network: Network,
) -> None:
    info = bsky_network.info
    brand = make_adapter(info)
    first = brand.publish(make_message("Engagement: the first post"), "engagement-1")
    second = brand.publish(make_message("Engagement: the second post"), "engagement-2")
    gone = brand.publish(make_message("Engagement: a post deleted later"), "engagement-3")

    reader = Client(base_url=info["url"])
    reader.login(info["reader_handle"], info["reader_password"])  # fetches its profile: `me`
    reader.like(first.remote_id, first.extra["cid"])
    reader.repost(first.remote_id, first.extra["cid"])
    reader.like(second.remote_id, second.extra["cid"])
    reader.like(gone.remote_id, gone.extra["cid"])
    reader.send_post(
        "A reply to the first post",
        reply_to=models.AppBskyFeedPost.ReplyRef(root=strong_ref(first), parent=strong_ref(first)),
    )
    reader.send_post(
        "Quoting the second post", embed=models.AppBskyEmbedRecord.Main(record=strong_ref(second))
    )
    brand.delete(gone)
    bsky_network.index()

    # The second account's repository holds what it did, as the PDS stored it.
    likes = records(reader, info["reader_did"], "app.bsky.feed.like")
    reposts = records(reader, info["reader_did"], "app.bsky.feed.repost")
    assert sorted(r.value.subject.uri for r in likes) == sorted(
        [first.remote_id, second.remote_id, gone.remote_id]
    )
    assert [r.value.subject.uri for r in reposts] == [first.remote_id]

    collector = make_adapter(info)
    found = collector.engagement([first, second, gone])

    assert set(found) == {first.remote_id, second.remote_id}, "the deleted post is left out"
    assert found[first.remote_id].counts() == {
        "likes": 1,
        "reposts": 1,
        "replies": 1,
        "quotes": 0,
        "views": None,
        "clicks": None,
    }
    assert found[second.remote_id].counts() == {
        "likes": 1,
        "reposts": 0,
        "replies": 0,
        "quotes": 1,
        "views": None,
        "clicks": None,
    }


def test_a_pds_without_an_appview_cannot_count_and_says_so(pds: dict[str, Any]) -> None:
    adapter = make_adapter(pds)
    receipt = adapter.publish(make_message("Nobody counts this"), "engagement-no-appview")
    with pytest.raises(TransientError, match="getPosts"):
        adapter.engagement([receipt])
