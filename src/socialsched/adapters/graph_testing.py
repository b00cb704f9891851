"""A local stand-in for a network that publishes through containers, as Instagram and
Threads do, for the tests of adapters built on `socialsched.graph.ContainerPublisher`.

The fake fetches every `image_url` and `video_url` from the media server when the
container is created, as the networks do, so a test sees the bytes that were really
reachable at the URL the adapter sent. Subclasses name the network's edges and fields
with the same class attributes the adapter uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx

from .testing_samples import Arrived, key_in_text
from .testing_server import LocalServer, Reply, Request

#: When the fake says its posts went out: the contract kit's messages are due a minute
#: before.
PUBLISHED_AT = datetime(2030, 1, 15, 9, 31, tzinfo=UTC)


class FakeContainerApi(LocalServer):
    """POST /USER/{create_edge} creates container "c<n>" (fetching its media URL at
    once), GET /c<n> reports its status (`processing` polls of IN_PROGRESS first for a
    container whose media is of `processed_kinds`), POST /USER/{publish_edge} publishes
    one as post "{post_prefix}<n>", GET /USER/{create_edge} lists the posts,
    GET /USER/{quota_edge} reports `quota_total` and the posts made, GET
    {profile_path} answers as the account, DELETE /<post> deletes a post.

    Engagement, as `set_engagement` made it: GET /?ids=<posts>&fields=... and GET
    /<post>?fields=... give each post's `count_fields` (and its `insight_metrics` when
    the fields ask for `insights`), GET /<post>/insights?metric=... its insights; a post
    that does not exist is refused as the Graph API does (code 100, subcode 33)."""

    api_version: ClassVar[str]
    user: ClassVar[str]
    create_edge: ClassVar[str]
    publish_edge: ClassVar[str]
    quota_edge: ClassVar[str]
    text_field: ClassVar[str]
    status_field: ClassVar[str]
    post_prefix: ClassVar[str]
    #: The path that answers as the account (e.g. /v1.0/me).
    profile_path: ClassVar[str]
    username: ClassVar[str] = "contract_bakery"
    #: Which media make a container wait to be processed: "image_url", "video_url".
    processed_kinds: ClassVar[tuple[str, ...]] = ("image_url", "video_url")
    #: The status of the transient error `fail_next` replies with, and the permanent one.
    transient_status: ClassVar[int] = 429
    permanent_error: ClassVar[dict[str, Any]] = {"message": "Invalid parameter", "code": 100}
    #: A post's fields that are counts, and its insights metrics: the network's name ->
    #: the `socialsched.engagement.COUNTS` name it gives.
    count_fields: ClassVar[Mapping[str, str]] = {}
    insight_metrics: ClassVar[Mapping[str, str]] = {}

    def __init__(self, quota_total: int = 50, processing: int = 0) -> None:
        super().__init__()
        self.quota_total = quota_total
        self.processing = processing
        self.containers: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, int] = {}
        self._garble_publish = False
        self.engagement: dict[str, Mapping[str, int]] = {}

    @property
    def prefix(self) -> str:
        """The account's path."""
        return f"/{self.api_version}/{self.user}"

    def respond(self, request: Request, number: int) -> Reply | None:
        path = request.path.partition("?")[0]
        prefix = self.prefix
        if request.method == "POST" and path == f"{prefix}/{self.create_edge}":
            fields: dict[str, Any] = {key: value.decode() for key, value in request.form().items()}
            url = fields.get("image_url") or fields.get("video_url")
            if url:
                fields["fetched"] = httpx.get(url).raise_for_status().content
            container = f"c{number}"
            self.containers[container] = fields
            return Reply(200, {"id": container})
        if request.method == "POST" and path == f"{prefix}/{self.publish_edge}":
            container = request.form()["creation_id"].decode()
            post = f"{self.post_prefix}{number}"
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
        if path == f"{prefix}/{self.quota_edge}":
            config = {"quota_total": self.quota_total, "quota_duration": 86400}
            return Reply(200, {"data": [{"quota_usage": len(self.posts), "config": config}]})
        if path == f"{prefix}/{self.create_edge}":
            text = self.text_field
            listed = [
                {"id": post, text: fields.get(text), "timestamp": fields["timestamp"]}
                for post, fields in reversed(self.posts.items())
            ]
            return Reply(200, {"data": listed})
        if path == self.profile_path:
            return Reply(200, {"id": self.user, "username": self.username})
        engagement = self._engagement(path, parse_qs(urlsplit(request.path).query))
        if engagement is not None:
            return engagement
        container = path.rsplit("/", 1)[1]
        if container in self.containers:
            polled = self._polls[container] = self._polls.get(container, 0) + 1
            fields = self.containers[container]
            waits = any(kind in fields for kind in self.processed_kinds)
            status = "IN_PROGRESS" if waits and polled <= self.processing else "FINISHED"
            return Reply(200, {self.status_field: status, "id": container})
        return None

    # ---- engagement ----

    def _insights(self, post: str, metrics: list[str]) -> dict[str, Any]:
        counts = self.engagement.get(post, {})
        return {
            "data": [
                {
                    "name": metric,
                    "period": "lifetime",
                    "values": [{"value": counts.get(self.insight_metrics[metric], 0)}],
                    "id": f"{post}/insights/{metric}/lifetime",
                }
                for metric in metrics
            ]
        }

    def _fields(self, post: str, fields: str) -> dict[str, Any]:
        counts = self.engagement.get(post, {})
        found: dict[str, Any] = {"id": post}
        for field, count in self.count_fields.items():
            if field in fields:
                found[field] = counts.get(count, 0)
        if "insights.metric(" in fields:
            asked = fields.split("insights.metric(", 1)[1].split(")", 1)[0]
            found["insights"] = self._insights(post, asked.split(","))
        return found

    def _engagement(self, path: str, query: Mapping[str, list[str]]) -> Reply | None:
        """The reply to an engagement lookup, or None when `path` is none."""
        parts = path.removeprefix(f"/{self.api_version}/").split("/")
        if parts == [""] and "ids" in query:
            posts = query["ids"][0].split(",")
        elif parts[0] in self.posts and (len(parts) == 1 or parts[1:] == ["insights"]):
            posts = parts[:1]
        elif len(parts) <= 2 and parts[0].removeprefix(self.post_prefix).isdigit():
            posts = parts[:1]  # a post that is gone
        else:
            return None
        missing = [post for post in posts if post not in self.posts]
        if missing:
            error = {"message": f"Object with ID '{missing[0]}' does not exist", "code": 100}
            return Reply(400, {"error": {**error, "error_subcode": 33}})
        if parts[1:] == ["insights"]:
            return Reply(200, self._insights(posts[0], query["metric"][0].split(",")))
        fields = query.get("fields", [""])[0]
        if parts == [""]:
            return Reply(200, {post: self._fields(post, fields) for post in posts})
        return Reply(200, self._fields(posts[0], fields))

    def _post_of(self, key: str) -> dict[str, Any]:
        text = self.text_field
        [fields] = [f for f in self.posts.values() if key_in_text(f.get(text) or "") == key]
        return fields

    # ---- what the contract kit asks of a remote ----

    def published(self) -> list[str]:
        text = self.text_field
        return [key_in_text(fields.get(text) or "") or "" for fields in self.posts.values()]

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
            chain.append(key_in_text(self.posts[current].get(self.text_field) or "") or "")

    def garble_next_reply(self) -> bool:
        self._garble_publish = True
        return True

    def set_engagement(self, key: str, counts: Mapping[str, int]) -> bool:
        """Give the post published under `key` these counts; False when the network
        names none of its counts here (`count_fields`, `insight_metrics`)."""
        if not self.count_fields and not self.insight_metrics:
            return False
        fields = self._post_of(key)
        [post] = [post for post, found in self.posts.items() if found is fields]
        self.engagement[post] = counts
        return True

    def fail_next(self, kind: str) -> bool:
        if kind == "transient":
            error = {"message": "Application request limit reached", "code": 4}
            self.reply(
                Reply(self.transient_status, {"error": error}, headers={"Retry-After": "120"})
            )
        else:
            self.reply(Reply(400, {"error": self.permanent_error}))
        return True


__all__ = ["PUBLISHED_AT", "FakeContainerApi"]
