"""The engagement of Threads posts: each post's media insights (views, likes, replies,
reposts, quotes), one call a post, as the Threads API has no multi-post lookup."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from socialsched.adapters import Receipt
from socialsched.adapters.engagement import Engagement
from socialsched.adapters.graph_engagement import Get, graph_ids, insight_values, lookup_each

#: The Threads media insights asked for; each is the `Engagement` count of its name.
METRICS: tuple[str, ...] = ("views", "likes", "replies", "reposts", "quotes")
COUNTS: tuple[str, ...] = METRICS


def engagement(
    get: Get,
    receipts: Sequence[Receipt],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Engagement]:
    """The engagement of the posts of `receipts`, by post id, one
    `GET /{id}/insights?metric=views,likes,replies,reposts,quotes` a post. A metric
    Threads leaves out of its answer (not computed yet) is None; deleted posts are left
    out."""
    found: dict[str, Engagement] = {}
    for post_id in graph_ids(receipts):
        answers = lookup_each(get, [post_id], "insights", {"metric": ",".join(METRICS)})
        if post_id not in answers:
            continue
        insights = insight_values(answers[post_id])
        found[post_id] = Engagement(
            fetched_at=now(), **{count: insights.get(count) for count in COUNTS}
        )
    return found


__all__ = ["COUNTS", "METRICS", "engagement"]
