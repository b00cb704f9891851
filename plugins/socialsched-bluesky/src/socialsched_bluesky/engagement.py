"""Engagement of published Bluesky posts: likes, reposts, replies and quotes.

The counts live in the AppView, not in the account's repository: `app.bsky.feed.getPosts`
(asked of the account's PDS, which passes it on to its AppView) answers for up to 25
post URIs a call, leaving out posts that no longer exist. A PDS without an AppView
cannot answer it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from atproto import models

from socialsched.engagement import Engagement

if TYPE_CHECKING:
    from .adapter import BlueskyAdapter

#: The counts the adapter declares (`Capabilities.engagement`).
ENGAGEMENT = ("likes", "reposts", "replies", "quotes")
#: The most URIs `app.bsky.feed.getPosts` takes in one call.
BATCH = 25
_POST = "/app.bsky.feed.post/"


def post_engagement(adapter: BlueskyAdapter, uris: Sequence[str]) -> dict[str, Engagement]:
    """The engagement of the posts at `uris` (at:// URIs of `app.bsky.feed.post`
    records; other receipts have none to ask), by URI; deleted posts are left out.
    Rate limits raise `TransientError` with `retry_after`, as publishing does."""
    wanted = list(dict.fromkeys(uri for uri in uris if uri.startswith("at://") and _POST in uri))
    if not wanted:
        return {}
    client = adapter._login()
    found: dict[str, Engagement] = {}
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start : start + BATCH]
        get_posts = functools.partial(
            client.app.bsky.feed.get_posts, models.AppBskyFeedGetPosts.Params(uris=chunk)
        )
        answer = adapter._call("getPosts", get_posts)
        fetched_at = adapter.clock()
        for post in answer.posts:
            if post.uri not in chunk:
                continue  # never ours to report
            counts = {
                "likes": post.like_count,
                "reposts": post.repost_count,
                "replies": post.reply_count,
                "quotes": post.quote_count,
            }
            found[post.uri] = Engagement.of(fetched_at, counts, declared=ENGAGEMENT)
    return found


__all__ = ["BATCH", "ENGAGEMENT", "post_engagement"]
