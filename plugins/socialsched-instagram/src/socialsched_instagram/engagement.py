"""The engagement of Instagram posts: like and comment counts with the media's views
and shares insights, 50 posts a Graph API multi-id lookup."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from socialsched.adapters import CredentialsRejected, PermanentError, Receipt
from socialsched.adapters.engagement import Engagement
from socialsched.adapters.graph_engagement import (
    GRAPH_BATCH,
    Get,
    graph_ids,
    insight_values,
    lookup_many,
)

#: The counts a media gives at once (its owner sees them even when hidden from others).
FIELDS = "like_count,comments_count"
#: Its lifetime insights too: `views` replaced `impressions` (retired April 2025).
WITH_INSIGHTS = f"{FIELDS},insights.metric(views,shares)"
COUNTS: tuple[str, ...] = ("likes", "reposts", "replies", "views")

log = logging.getLogger(__name__)


def _lookup(get: Get, batch: list[str]) -> dict[str, dict[str, Any]]:
    """The fields of one batch, with insights where Instagram gives them.

    Instagram refuses a whole lookup when one media has no insights (too few viewers
    yet, or posted before the account turned professional): the batch is then asked
    one media at a time, and those refused are asked again without insights (their
    views and shares stay unknown). A refused token is raised."""
    try:
        return lookup_many(get, batch, WITH_INSIGHTS, size=len(batch))
    except CredentialsRejected:
        raise
    except PermanentError as refused:
        log.warning("instagram insights refused, asking without them: %s", refused)
        singles = batch if len(batch) > 1 else []
    found: dict[str, dict[str, Any]] = {}
    without = [] if singles else list(batch)
    for one in singles:
        try:
            found.update(lookup_many(get, [one], WITH_INSIGHTS))
        except CredentialsRejected:
            raise
        except PermanentError:
            without.append(one)
    found.update(lookup_many(get, without, FIELDS))
    return found


def engagement(
    get: Get,
    receipts: Sequence[Receipt],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Engagement]:
    """The engagement of the posts of `receipts`, by media id: likes and replies
    (comments) from the media's counts, views and reposts (shares) from its insights
    (None while Instagram has none for it). Deleted media are left out."""
    ids = graph_ids(receipts)
    found: dict[str, Engagement] = {}
    for start in range(0, len(ids), GRAPH_BATCH):
        answers = _lookup(get, ids[start : start + GRAPH_BATCH])
        fetched_at = now()
        for media_id, item in answers.items():
            insights = insight_values(item.get("insights"))
            found[media_id] = Engagement(
                fetched_at=fetched_at,
                likes=int(item.get("like_count") or 0),
                replies=int(item.get("comments_count") or 0),
                # Insights not computed yet (up to 48 hours) come back empty.
                views=insights.get("views"),
                reposts=insights.get("shares"),
            )
    return found


__all__ = ["COUNTS", "FIELDS", "WITH_INSIGHTS", "engagement"]
