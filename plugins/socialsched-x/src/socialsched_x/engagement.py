"""The engagement of X posts: `public_metrics` from the posts lookup, 100 posts a call."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from socialsched.adapters import Receipt
from socialsched.adapters.engagement import Engagement

#: Most post ids one `GET /2/tweets` takes.
BATCH = 100
#: X's `public_metrics` name -> the `Engagement` count it gives. `impression_count` is
#: the views X shows under every post; clicks are only in `non_public_metrics`, which
#: needs the author's own token and ends 30 days after posting, so they are not given.
METRICS: Mapping[str, str] = {
    "like_count": "likes",
    "retweet_count": "reposts",
    "reply_count": "replies",
    "quote_count": "quotes",
    "impression_count": "views",
}
COUNTS: tuple[str, ...] = tuple(METRICS.values())

Request = Callable[..., dict[str, Any]]


def post_ids(receipts: Sequence[Receipt]) -> list[str]:
    """The distinct X post ids among `receipts`, in order. A receipt without a real id
    (`unknown:...`, a reply that named none) is left out: X would refuse the whole call."""
    seen: dict[str, None] = {}
    for receipt in receipts:
        if receipt.remote_id.isdigit():
            seen.setdefault(receipt.remote_id)
    return list(seen)


def engagement(
    request: Request,
    receipts: Sequence[Receipt],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Engagement]:
    """The engagement of the posts of `receipts`, by post id, through `request` (the
    adapter's signed `GET`): one `GET /2/tweets?ids=...&tweet.fields=public_metrics`
    per `BATCH` posts. X lists a deleted post under `errors` instead of `data`, so it
    is left out."""
    ids = post_ids(receipts)
    found: dict[str, Engagement] = {}
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        params = {"ids": ",".join(batch), "tweet.fields": "public_metrics"}
        body = request("GET", "/2/tweets", params=params)
        fetched_at = now()
        for item in body.get("data") or []:
            post_id = str(item.get("id") or "")
            if post_id not in batch:
                continue
            metrics = item.get("public_metrics") or {}
            given = {count: metrics.get(name) for name, count in METRICS.items()}
            found[post_id] = Engagement.of(fetched_at, given, COUNTS)
    return found


__all__ = ["BATCH", "COUNTS", "METRICS", "engagement", "post_ids"]
