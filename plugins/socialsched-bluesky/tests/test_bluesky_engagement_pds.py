"""Engagement collected for real: the brand publishes through the adapter to a local PDS
with a Bluesky AppView behind it (the `bsky_network` fixture), a second account likes,
reposts, replies to and quotes the posts, the AppView indexes them, and
`BlueskyAdapter.engagement` reads the counts from the AppView itself (the channel's
`appview` setting; `app.bsky.feed.getPosts`, asked with no login and no token). The
AppView listens on 127.0.0.1, which `SOCIALSCHED_ALLOWED_NETWORKS` allows here.

`TestEngagementKitOnAppView` runs the conformance kit's engagement cases there: each
count the kit asks for is made real (that many accounts like and repost the post, and
reply to and quote it that many times) before the kit collects.

A bare PDS (the `pds` fixture, no AppView) named as the `appview` cannot count
anything: there the call fails as transient instead of reporting the posts as gone.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest
from atproto import Client, models
from socialsched_bluesky import BlueskyAdapter
from test_bluesky_local_pds import make_adapter, make_message

from conftest import Network
from socialsched.adapters import Adapter, Receipt, TransientError
from socialsched.adapters.testing_engagement import EngagementContract
from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, key_in_text
from socialsched.trust.safe_fetch import ALLOWED_NETWORKS_VARIABLE

ALLOW_LOCAL = "127.0.0.1/32"


@pytest.fixture
def local_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local AppView (and PDS) are on the loopback: allowed for engagement reads."""
    monkeypatch.setenv(ALLOWED_NETWORKS_VARIABLE, ALLOW_LOCAL)


def appview_adapter(info: dict[str, Any], appview: str) -> BlueskyAdapter:
    """The brand's adapter (publishing through its PDS) reading counts from `appview`."""
    channel = Channel(
        name="bsky",
        adapter="bluesky",
        secrets={"app_password": "BSKY_APP_PASSWORD"},
        settings={"handle": info["handle"], "service": info["url"], "appview": appview},
    )
    return BlueskyAdapter(
        channel, environ={"SOCIALSCHED_SECRET_BSKY_APP_PASSWORD": info["app_password"]}
    )


def strong_ref(receipt: Receipt) -> models.ComAtprotoRepoStrongRef.Main:
    return models.ComAtprotoRepoStrongRef.Main(uri=receipt.remote_id, cid=receipt.extra["cid"])


def records(client: Client, did: str, collection: str) -> list[Any]:
    listed = client.com.atproto.repo.list_records(
        params=models.ComAtprotoRepoListRecords.Params(repo=did, collection=collection, limit=100)
    )
    return list(listed.records)


def test_likes_reposts_replies_and_quotes_of_a_second_account_are_collected(
    bsky_network: Network, local_allowed: None
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

    collector = appview_adapter(info, info["appview"])
    found = collector.engagement([first, second, gone])
    collector.close()

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


def test_a_pds_without_an_appview_cannot_count_and_says_so(
    pds: dict[str, Any], local_allowed: None
) -> None:
    adapter = appview_adapter(pds, pds["url"])
    receipt = adapter.publish(make_message("Nobody counts this"), "engagement-no-appview")
    host = re.escape(str(urlsplit(pds["url"]).hostname))
    with pytest.raises(TransientError, match=rf"getPosts at the AppView {host}: HTTP [45]\d\d"):
        adapter.engagement([receipt])
    adapter.close()


FAN_NUMBERS = itertools.count()


class AppViewRemote:
    """The kit's view of the PDS + AppView: `set_engagement` makes the counts real."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.info = network.info
        self.brand = Client(base_url=self.info["url"])
        self.brand.login(self.info["handle"], self.info["app_password"], fetch_bsky_profile=False)
        self.fans: list[tuple[Client, str]] = []

    def fan(self, number: int) -> tuple[Client, str]:
        """The `number`th other account (created when first needed) and its DID."""
        while len(self.fans) <= number:
            handle = f"fan{next(FAN_NUMBERS)}.test"
            client = Client(base_url=self.info["url"])
            created = client.com.atproto.server.create_account(
                models.ComAtprotoServerCreateAccount.Data(
                    handle=handle, email=f"{handle}@example.com", password="fan-password"
                )
            )
            client.login(handle, "fan-password", fetch_bsky_profile=False)
            self.fans.append((client, created.did))
        return self.fans[number]

    def set_engagement(self, key: str, counts: Mapping[str, int]) -> bool:
        post = next(
            r
            for r in records(self.brand, self.info["did"], "app.bsky.feed.post")
            if key_in_text(r.value.text) == key
        )
        ref = models.ComAtprotoRepoStrongRef.Main(uri=post.uri, cid=post.cid)
        now = self.brand.get_current_time_iso()
        for number in range(counts["likes"]):
            write(*self.fan(number), models.AppBskyFeedLike.Record(subject=ref, created_at=now))
        for number in range(counts["reposts"]):
            write(*self.fan(number), models.AppBskyFeedRepost.Record(subject=ref, created_at=now))
        reply = models.AppBskyFeedPost.ReplyRef(root=ref, parent=ref)
        for number in range(counts["replies"]):
            post_record = models.AppBskyFeedPost.Record(
                text=f"reply {number}", reply=reply, created_at=now
            )
            write(*self.fan(0), post_record)
        quoted = models.AppBskyEmbedRecord.Main(record=ref)
        for number in range(counts["quotes"]):
            post_record = models.AppBskyFeedPost.Record(
                text=f"quote {number}", embed=quoted, created_at=now
            )
            write(*self.fan(0), post_record)
        self.network.index()
        return True  # views and clicks: Bluesky gives none, so the kit expects None


def write(client: Client, did: str, record: Any) -> None:
    client.com.atproto.repo.create_record(
        models.ComAtprotoRepoCreateRecord.Data(repo=did, collection=record.py_type, record=record)
    )


class TestEngagementKitOnAppView(EngagementContract):
    """The conformance kit's engagement cases against the PDS + AppView."""

    adapter_class = BlueskyAdapter
    make_message = AdapterContract.make_message
    make_audience = AdapterContract.make_audience

    @pytest.fixture
    def remote(self, bsky_network: Network) -> AppViewRemote:
        return AppViewRemote(bsky_network)

    @pytest.fixture
    def adapter(self, bsky_network: Network, local_allowed: None) -> Iterator[Adapter]:
        adapter = appview_adapter(bsky_network.info, bsky_network.info["appview"])
        yield adapter
        adapter.close()
