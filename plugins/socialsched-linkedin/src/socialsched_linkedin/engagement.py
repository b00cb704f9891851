"""The engagement of LinkedIn posts, 20 posts a call: an organization's from its share
statistics (likes, comments, reposts, impressions, clicks), a member's from the posts'
social actions (likes and comments: LinkedIn gives members no other per-post counts
through the same access)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from socialsched.adapters import Receipt
from socialsched.adapters.engagement import Engagement

#: Posts named in one call (LinkedIn documents no larger list for either endpoint).
BATCH = 20
#: `totalShareStatistics` name -> the `Engagement` count it gives.
STATISTICS: Mapping[str, str] = {
    "likeCount": "likes",
    "shareCount": "reposts",
    "commentCount": "replies",
    "impressionCount": "views",
    "clickCount": "clicks",
}
ORGANIZATION_COUNTS: tuple[str, ...] = ("likes", "reposts", "replies", "views", "clicks")
MEMBER_COUNTS: tuple[str, ...] = ("likes", "replies")
#: The post URNs the Posts API hands out, by the share statistics parameter naming them.
_KINDS = {"urn:li:share:": "shares", "urn:li:ugcPost:": "ugcPosts"}

Request = Callable[..., httpx.Response]
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def post_urns(receipts: Sequence[Receipt]) -> list[str]:
    """The distinct post URNs of `receipts` (shares and ugcPosts), in order; a receipt
    without one (`unknown:...`) is left out."""
    seen: dict[str, None] = {}
    for receipt in receipts:
        if receipt.remote_id.startswith(tuple(_KINDS)):
            seen.setdefault(receipt.remote_id)
    return list(seen)


def restli_list(urns: Sequence[str]) -> str:
    """A Rest.li 2.0 list of URNs for a query string: `List(urn%3Ali%3A...,...)`."""
    return "List(" + ",".join(quote(urn, safe="") for urn in urns) + ")"


def organization_engagement(
    request: Request, organization: str, receipts: Sequence[Receipt], now: Clock = _now
) -> dict[str, Engagement]:
    """Likes, reposts, replies (comments), views (impressions) and clicks of an
    organization's posts, by URN: one `GET /rest/organizationalEntityShareStatistics`
    per `BATCH` posts, naming them in `shares=List(...)` and `ugcPosts=List(...)`. A
    post LinkedIn gives no statistics for (deleted, or over the 12 months it keeps) is
    left out."""
    urns = post_urns(receipts)
    found: dict[str, Engagement] = {}
    for start in range(0, len(urns), BATCH):
        batch = urns[start : start + BATCH]
        query = f"q=organizationalEntity&organizationalEntity={quote(organization, safe='')}"
        for prefix, parameter in _KINDS.items():
            named = [urn for urn in batch if urn.startswith(prefix)]
            if named:
                query += f"&{parameter}={restli_list(named)}"
        body = _json(request("GET", f"/rest/organizationalEntityShareStatistics?{query}"))
        fetched_at = now()
        for element in body.get("elements") or []:
            urn = element.get("share") or element.get("ugcPost")
            if urn not in batch:
                continue  # the organization's total, or a post not asked for
            statistics = element.get("totalShareStatistics") or {}
            given = {count: statistics.get(name) for name, count in STATISTICS.items()}
            found[urn] = Engagement.of(fetched_at, given, ORGANIZATION_COUNTS)
    return found


def member_engagement(
    request: Request, receipts: Sequence[Receipt], now: Clock = _now
) -> dict[str, Engagement]:
    """Likes and replies (comments) of a member's posts, by URN: one batch
    `GET /rest/socialActions?ids=List(...)` per `BATCH` posts. A deleted post comes back
    under `errors` and is left out."""
    urns = post_urns(receipts)
    found: dict[str, Engagement] = {}
    for start in range(0, len(urns), BATCH):
        batch = urns[start : start + BATCH]
        body = _json(request("GET", f"/rest/socialActions?ids={restli_list(batch)}"))
        fetched_at = now()
        results = body.get("results") or {}
        for urn in batch:
            item = results.get(urn)
            if not isinstance(item, Mapping):
                continue
            likes = item.get("likesSummary") or {}
            comments = item.get("commentsSummary") or {}
            given = {
                "likes": likes.get("totalLikes"),
                "replies": comments.get("aggregatedTotalComments", comments.get("count")),
            }
            found[urn] = Engagement.of(fetched_at, given, MEMBER_COUNTS)
    return found


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


__all__ = [
    "BATCH",
    "MEMBER_COUNTS",
    "ORGANIZATION_COUNTS",
    "STATISTICS",
    "member_engagement",
    "organization_engagement",
    "post_urns",
    "restli_list",
]
