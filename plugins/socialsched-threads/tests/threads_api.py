"""A local stand-in for the Threads API, for the threads adapter's tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from socialsched.adapters.graph_testing import FakeContainerApi

USER = "27841400000000042"


class ThreadsApi(FakeContainerApi):
    """Threads' edges (`threads`, `threads_publish`, `threads_publishing_limit`), posts
    "t<n>" with their text, every media container processed, the profile at /me; a
    post's views, likes, replies, reposts and quotes insights."""

    api_version = "v1.0"
    user = USER
    create_edge = "threads"
    publish_edge = "threads_publish"
    quota_edge = "threads_publishing_limit"
    text_field = "text"
    status_field = "status"
    post_prefix = "t"
    profile_path = "/v1.0/me"
    insight_metrics: ClassVar[Mapping[str, str]] = {
        name: name for name in ("views", "likes", "replies", "reposts", "quotes")
    }

    def __init__(self, quota_total: int = 250, processing: int = 0) -> None:
        super().__init__(quota_total, processing)
