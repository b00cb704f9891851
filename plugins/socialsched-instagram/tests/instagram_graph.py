"""A local stand-in for the Instagram Graph API, for the instagram adapter's tests.

The fake fetches every `image_url` and `video_url` from the media server when the
container is created, as Instagram does, so a test sees the bytes that were really
reachable at the URL the adapter sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from socialsched.testing import Arrived, LocalServer, Reply, Request, key_in_text

USER = "17841400000000042"
PUBLISHED_AT = datetime(2030, 1, 15, 9, 31, tzinfo=UTC)
"""When the fake says its posts went out: the kit's messages are due a minute before."""
PREFIX = f"/v23.0/{USER}"


class InstagramGraph(LocalServer):
    """POST /USER/media creates container "c<n>" (fetching its media URL at once),
    GET /c<n> reports its status (`processing` polls of IN_PROGRESS first for a video),
    POST /USER/media_publish publishes one as post "m<n>", GET /USER/media lists the
    posts, GET /USER/content_publishing_limit reports `quota_total` and the posts made,
    GET /USER answers as the account."""

    def __init__(self, quota_total: int = 50, processing: int = 0) -> None:
        super().__init__()
        self.quota_total = quota_total
        self.processing = processing
        self.containers: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, int] = {}
        self._garble_publish = False

    def respond(self, request: Request, number: int) -> Reply | None:
        path = request.path.partition("?")[0]
        if request.method == "POST" and path == f"{PREFIX}/media":
            fields = {key: value.decode() for key, value in request.form().items()}
            url = fields.get("image_url") or fields.get("video_url")
            if url:
                fields["fetched"] = httpx.get(url).raise_for_status().content
            container = f"c{number}"
            self.containers[container] = fields
            return Reply(200, {"id": container})
        if request.method == "POST" and path == f"{PREFIX}/media_publish":
            container = request.form()["creation_id"].decode()
            post = f"m{number}"
            self.posts[post] = {
                **self.containers[container],
                "timestamp": PUBLISHED_AT.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            }
            if self._garble_publish:
                self._garble_publish = False
                return Reply(200, b"<html>published</html>")
            return Reply(200, {"id": post})
        if request.method != "GET":
            return None
        if path == f"{PREFIX}/content_publishing_limit":
            config = {"quota_total": self.quota_total, "quota_duration": 86400}
            return Reply(200, {"data": [{"quota_usage": len(self.posts), "config": config}]})
        if path == f"{PREFIX}/media":
            listed = [
                {"id": post, "caption": fields.get("caption"), "timestamp": fields["timestamp"]}
                for post, fields in reversed(self.posts.items())
            ]
            return Reply(200, {"data": listed})
        if path == PREFIX:
            return Reply(200, {"id": USER, "username": "contract_bakery"})
        container = path.rsplit("/", 1)[1]
        if container in self.containers:
            polled = self._polls[container] = self._polls.get(container, 0) + 1
            video = "video_url" in self.containers[container]
            status = "IN_PROGRESS" if video and polled <= self.processing else "FINISHED"
            return Reply(200, {"status_code": status, "id": container})
        return None

    # ---- what the contract kit asks of a remote ----

    def published(self) -> list[str]:
        return [key_in_text(fields.get("caption") or "") or "" for fields in self.posts.values()]

    def attachments(self, key: str) -> list[Arrived]:
        [fields] = [f for f in self.posts.values() if key_in_text(f.get("caption") or "") == key]
        items = (
            [self.containers[child] for child in fields["children"].split(",")]
            if fields.get("media_type") == "CAROUSEL"
            else [fields]
        )
        return [Arrived.of(item["fetched"], item.get("alt_text")) for item in items]

    def garble_next_reply(self) -> bool:
        self._garble_publish = True
        return True

    def fail_next(self, kind: str) -> bool:
        if kind == "transient":
            error = {"message": "Application request limit reached", "code": 4}
            self.reply(Reply(400, {"error": error}, headers={"Retry-After": "120"}))
        else:
            error = {"message": "Invalid parameter", "code": 100, "error_subcode": 2207026}
            self.reply(Reply(400, {"error": error}))
        return True
