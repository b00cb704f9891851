"""A local stand-in for the Threads API, for the threads adapter's tests.

The fake fetches every `image_url` and `video_url` from the media server when the
container is created, as Threads does, so a test sees the bytes that were really
reachable at the URL the adapter sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from socialsched.testing import Arrived, LocalServer, Reply, Request, key_in_text

USER = "27841400000000042"
PREFIX = f"/v1.0/{USER}"
PUBLISHED_AT = datetime(2030, 1, 15, 9, 31, tzinfo=UTC)
"""When the fake says its posts went out: the kit's messages are due a minute before."""


class ThreadsApi(LocalServer):
    """POST /USER/threads creates container "c<n>" (fetching its media URL at once),
    GET /c<n> reports its status (`processing` polls of IN_PROGRESS first for media),
    POST /USER/threads_publish publishes one as post "t<n>", DELETE /t<n> deletes it,
    GET /USER/threads lists the posts, GET /USER/threads_publishing_limit reports
    `quota_total` and the posts made, GET /me answers as the profile."""

    def __init__(self, quota_total: int = 250, processing: int = 0) -> None:
        super().__init__()
        self.quota_total = quota_total
        self.processing = processing
        self.containers: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, int] = {}
        self._garble_publish = False

    def respond(self, request: Request, number: int) -> Reply | None:
        path = request.path.partition("?")[0]
        if request.method == "POST" and path == f"{PREFIX}/threads":
            fields = {key: value.decode() for key, value in request.form().items()}
            url = fields.get("image_url") or fields.get("video_url")
            if url:
                fields["fetched"] = httpx.get(url).raise_for_status().content
            container = f"c{number}"
            self.containers[container] = fields
            return Reply(200, {"id": container})
        if request.method == "POST" and path == f"{PREFIX}/threads_publish":
            container = request.form()["creation_id"].decode()
            post = f"t{number}"
            self.posts[post] = {
                **self.containers[container],
                "timestamp": PUBLISHED_AT.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            }
            if self._garble_publish:
                self._garble_publish = False
                return Reply(200, b"<html>published</html>")
            return Reply(200, {"id": post})
        if request.method == "DELETE":
            found = self.posts.pop(path.rsplit("/", 1)[1], None)
            return Reply(200 if found else 404, {"success": bool(found)})
        if request.method != "GET":
            return None
        if path == f"{PREFIX}/threads_publishing_limit":
            config = {"quota_total": self.quota_total, "quota_duration": 86400}
            return Reply(200, {"data": [{"quota_usage": len(self.posts), "config": config}]})
        if path == f"{PREFIX}/threads":
            listed = [
                {"id": post, "text": fields.get("text"), "timestamp": fields["timestamp"]}
                for post, fields in reversed(self.posts.items())
            ]
            return Reply(200, {"data": listed})
        if path == "/v1.0/me":
            return Reply(200, {"id": USER, "username": "contract_bakery"})
        container = path.rsplit("/", 1)[1]
        if container in self.containers:
            polled = self._polls[container] = self._polls.get(container, 0) + 1
            status = "IN_PROGRESS" if polled <= self.processing else "FINISHED"
            return Reply(200, {"status": status, "id": container})
        return None

    # ---- what the contract kit asks of a remote ----

    def _post_of(self, key: str) -> dict[str, Any]:
        [fields] = [f for f in self.posts.values() if key_in_text(f.get("text") or "") == key]
        return fields

    def published(self) -> list[str]:
        return [key_in_text(fields.get("text") or "") or "" for fields in self.posts.values()]

    def attachments(self, key: str) -> list[Arrived]:
        fields = self._post_of(key)
        items = (
            [self.containers[child] for child in fields["children"].split(",")]
            if fields.get("media_type") == "CAROUSEL"
            else [fields]
        )
        return [Arrived.of(item["fetched"], item.get("alt_text")) for item in items]

    def reply_chain(self, key: str) -> list[str]:
        """The keys of the post for `key` and of the replies under it, in order."""
        chain = [key]
        current = next(post for post, f in self.posts.items() if f is self._post_of(key))
        while True:
            replies = [p for p, f in self.posts.items() if f.get("reply_to_id") == current]
            if not replies:
                return chain
            current = replies[0]
            chain.append(key_in_text(self.posts[current].get("text") or "") or "")

    def garble_next_reply(self) -> bool:
        self._garble_publish = True
        return True

    def fail_next(self, kind: str) -> bool:
        if kind == "transient":
            error = {"message": "Application request limit reached", "code": 4}
            self.reply(Reply(429, {"error": error}, headers={"Retry-After": "120"}))
        else:
            error = {"message": "Invalid parameter", "code": 100}
            self.reply(Reply(400, {"error": error}))
        return True
