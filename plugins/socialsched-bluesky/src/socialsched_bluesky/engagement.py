"""Engagement of published Bluesky posts: likes, reposts, replies and quotes.

The counts live in an AppView, not in the account's repository. `app.bsky.feed.getPosts`
is a public AppView endpoint: asked of the channel's `appview` (default
https://public.api.bsky.app) with no token and no login, it answers for up to 25 post
URIs a call, leaving out posts that no longer exist. So no secret goes there, and it
needs no destination approval; reads go through `socialsched.trust.safe_fetch.Fetcher` (one
connection pool, public addresses only unless SOCIALSCHED_ALLOWED_NETWORKS allows
others, a byte cap and a deadline per call).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from socialsched.adapters import PermanentError, TransientError
from socialsched.adapters.engagement import Engagement
from socialsched.trust.safe_fetch import Fetcher, FetchRefused

if TYPE_CHECKING:
    from .adapter import BlueskyAdapter

#: The counts the adapter declares (`Capabilities.engagement`).
ENGAGEMENT = ("likes", "reposts", "replies", "quotes")
#: The most URIs `app.bsky.feed.getPosts` takes in one call.
BATCH = 25
#: The AppView asked when the channel names none: Bluesky's public, unauthenticated one.
DEFAULT_APPVIEW = "https://public.api.bsky.app"
#: The most bytes one getPosts answer may have (25 post views with their records and
#: embeds are far fewer).
MAX_ANSWER_BYTES = 5_000_000
_POST = "/app.bsky.feed.post/"
_FIELDS = {
    "likes": "likeCount",
    "reposts": "repostCount",
    "replies": "replyCount",
    "quotes": "quoteCount",
}


def appview_url(channel_name: str, value: object) -> str:
    """The channel's `appview` setting checked: an http(s) URL with a host, no path
    beyond "/" (the XRPC path is added), without the trailing slash."""
    text = str(value).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.path:
        raise PermanentError(
            f"channel {channel_name!r}: bluesky settings.appview must be an AppView's "
            f"https:// URL such as {DEFAULT_APPVIEW!r}, not {str(value)!r}"
        )
    return text


def post_engagement(
    adapter: BlueskyAdapter, fetcher: Fetcher, uris: Sequence[str]
) -> dict[str, Engagement]:
    """The engagement of the posts at `uris` (at:// URIs of `app.bsky.feed.post`
    records; other receipts have none to ask), by URI, read from the adapter's AppView
    without credentials; deleted posts are left out. A refused or failed read, or an
    answer other than 2xx, raises `TransientError` naming the AppView's host (with
    `retry_after` on a rate limit)."""
    wanted = list(dict.fromkeys(uri for uri in uris if uri.startswith("at://") and _POST in uri))
    found: dict[str, Engagement] = {}
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start : start + BATCH]
        answer = _get_posts(adapter, fetcher, chunk)
        fetched_at = adapter.clock()
        for post in answer:
            if not isinstance(post, Mapping) or post.get("uri") not in chunk:
                continue  # never ours to report
            counts = {name: _count(post.get(field)) for name, field in _FIELDS.items()}
            found[str(post["uri"])] = Engagement.of(fetched_at, counts, declared=ENGAGEMENT)
    return found


def _get_posts(adapter: BlueskyAdapter, fetcher: Fetcher, chunk: list[str]) -> list[Any]:
    url = f"{adapter.appview}/xrpc/app.bsky.feed.getPosts?" + urlencode(
        [("uris", uri) for uri in chunk]
    )
    where = f"bluesky getPosts at the AppView {urlsplit(adapter.appview).hostname}"
    try:
        fetched = fetcher.get(
            url,
            max_bytes=MAX_ANSWER_BYTES,
            deadline=adapter.timeout,
            headers={"Accept": "application/json"},
        )
    except FetchRefused as error:
        retry_after = _retry_after(error, adapter.clock()) if error.status == 429 else None
        what = "rate limited" if error.status == 429 else str(error)
        raise TransientError(f"{where}: {what}", retry_after=retry_after) from None
    try:
        posts = json.loads(fetched.data)["posts"]
    except (ValueError, KeyError, TypeError):
        posts = None
    if not isinstance(posts, list):
        raise TransientError(f"{where}: the answer is not a getPosts answer (no posts list)")
    return posts


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _retry_after(error: FetchRefused, now: datetime) -> float | None:
    """Seconds to wait, from `Retry-After` (seconds) or `ratelimit-reset` (a Unix time)."""
    for name, absolute in (("retry-after", False), ("ratelimit-reset", True)):
        value = error.headers.get(name, "").strip()
        if value.isdigit():
            seconds = int(value) - (now.timestamp() if absolute else 0)
            return max(0.0, seconds)
    return None


__all__ = [
    "BATCH",
    "DEFAULT_APPVIEW",
    "ENGAGEMENT",
    "MAX_ANSWER_BYTES",
    "appview_url",
    "post_engagement",
]
