"""The engagement of Facebook Page posts: reactions, comments, shares and post
insights, 50 posts a Graph API multi-id lookup."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from socialsched.adapters import Receipt
from socialsched.adapters.engagement import Engagement
from socialsched.adapters.graph_engagement import (
    Get,
    graph_ids,
    insight_values,
    lookup_many,
    summary_total,
)

#: The post insight that counts views (it replaced `post_impressions`, which Meta
#: retired in November 2025) and the one that counts clicks.
VIEWS_METRIC = "post_media_view"
CLICKS_METRIC = "post_clicks"
_TOTALS = "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)"
#: What a feed post is asked for: reaction and comment totals (no reactions or comments
#: themselves), its shares and its lifetime insights.
POST_FIELDS = f"{_TOTALS},shares,insights.metric({VIEWS_METRIC},{CLICKS_METRIC})"
#: A video post is a page video, which has no shares or post insights.
VIDEO_FIELDS = _TOTALS
COUNTS: tuple[str, ...] = ("likes", "reposts", "replies", "views", "clicks")


def is_video(receipt: Receipt) -> bool:
    """Whether `receipt` is a page video's (its id a video's, not a feed post's)."""
    return "/videos/" in (receipt.url or "")


def engagement(
    get: Get,
    receipts: Sequence[Receipt],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Engagement]:
    """The engagement of the posts of `receipts`, by post id: likes are reactions of
    every kind, replies comments, reposts shares, views and clicks the post's lifetime
    insights (None while Facebook has not computed them). A page video gives likes and
    replies only (the others None). Deleted posts are left out."""
    videos = {receipt.remote_id for receipt in receipts if is_video(receipt)}
    ids = graph_ids(receipts)
    found: dict[str, Engagement] = {}
    posts = lookup_many(get, [one for one in ids if one not in videos], POST_FIELDS)
    fetched_at = now()
    for post_id, item in posts.items():
        insights = insight_values(item.get("insights"))
        found[post_id] = Engagement(
            fetched_at=fetched_at,
            likes=summary_total(item.get("reactions")) or 0,
            replies=summary_total(item.get("comments")) or 0,
            # Facebook leaves `shares` out of a post nobody shared.
            reposts=int((item.get("shares") or {}).get("count") or 0),
            # Insights not computed yet come back empty: unknown, not zero.
            views=insights.get(VIEWS_METRIC),
            clicks=insights.get(CLICKS_METRIC),
        )
    clips = lookup_many(get, [one for one in ids if one in videos], VIDEO_FIELDS)
    fetched_at = now()
    for video_id, item in clips.items():
        found[video_id] = Engagement(
            fetched_at=fetched_at,
            likes=summary_total(item.get("reactions")) or 0,
            replies=summary_total(item.get("comments")) or 0,
        )
    return found


__all__ = ["COUNTS", "POST_FIELDS", "VIDEO_FIELDS", "engagement", "is_video"]
