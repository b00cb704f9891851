"""A local stand-in for the Instagram Graph API, for the instagram adapter's tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from socialsched.adapters.graph_testing import FakeContainerApi

USER = "17841400000000042"


class InstagramGraph(FakeContainerApi):
    """Instagram's edges (`media`, `media_publish`, `content_publishing_limit`), posts
    "m<n>" captioned, only video containers processed, the account at /USER; a post's
    like and comment counts and its views and shares insights."""

    api_version = "v23.0"
    user = USER
    create_edge = "media"
    publish_edge = "media_publish"
    quota_edge = "content_publishing_limit"
    text_field = "caption"
    status_field = "status_code"
    post_prefix = "m"
    profile_path = f"/v23.0/{USER}"
    processed_kinds = ("video_url",)
    transient_status = 400
    count_fields: ClassVar[Mapping[str, str]] = {"like_count": "likes", "comments_count": "replies"}
    insight_metrics: ClassVar[Mapping[str, str]] = {"views": "views", "shares": "reposts"}
    permanent_error: ClassVar[dict[str, Any]] = {
        "message": "Invalid parameter",
        "code": 100,
        "error_subcode": 2207026,
    }
