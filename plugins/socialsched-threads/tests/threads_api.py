"""A local stand-in for the Threads API, for the threads adapter's tests."""

from __future__ import annotations

from socialsched.graph_testing import FakeContainerApi

USER = "27841400000000042"


class ThreadsApi(FakeContainerApi):
    """Threads' edges (`threads`, `threads_publish`, `threads_publishing_limit`), posts
    "t<n>" with their text, every media container processed, the profile at /me."""

    api_version = "v1.0"
    user = USER
    create_edge = "threads"
    publish_edge = "threads_publish"
    quota_edge = "threads_publishing_limit"
    text_field = "text"
    status_field = "status"
    post_prefix = "t"
    profile_path = "/v1.0/me"

    def __init__(self, quota_total: int = 250, processing: int = 0) -> None:
        super().__init__(quota_total, processing)
