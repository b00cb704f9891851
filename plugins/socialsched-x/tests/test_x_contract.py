"""The x adapter passes socialsched's conformance kit against a real local HTTP server
standing in for X API v2 (posts, media uploads, reply chains, duplicate refusals,
deletes)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs

import pytest
from socialsched_x import XAdapter

from socialsched.calendar.model import Channel
from socialsched.testing import (
    AdapterContract,
    Arrived,
    LocalServer,
    Reply,
    Request,
    key_in_text,
)

USER = "77"


class XApi(LocalServer):
    """A local X API v2: POST /2/tweets creates post number n (refusing a text the
    account already posted, as X does), DELETE /2/tweets/n removes it, GET /2/users/me
    answers as user 77 and GET /2/users/77/tweets lists the posts, newest first. The
    media upload endpoints keep what was uploaded: a video is "pending" once after
    finalize, then "succeeded" on the STATUS check. GET /2/tweets?ids=... gives the
    posts' `public_metrics` (as `set_engagement` made them)."""

    def __init__(self) -> None:
        super().__init__()
        self.uploads: dict[str, dict[str, Any]] = {}
        self.metrics: dict[str, dict[str, int]] = {}

    def set_engagement(self, key: str, counts: Mapping[str, int]) -> bool:
        [post_id] = [pid for pid, post in self.posts().items() if key_in_text(post["text"]) == key]
        self.metrics[post_id] = {
            "like_count": counts["likes"],
            "retweet_count": counts["reposts"],
            "reply_count": counts["replies"],
            "quote_count": counts["quotes"],
            "impression_count": counts["views"],
            "bookmark_count": counts["clicks"],  # not a click: must not come back as one
        }
        return True

    def _lookup(self, request: Request) -> Reply:
        query = parse_qs(request.path.partition("?")[2])
        assert query["tweet.fields"] == ["public_metrics"]
        posts = self.posts()
        data, errors = [], []
        for post_id in query["ids"][0].split(","):
            if post_id in posts:
                metrics = self.metrics.get(post_id, {})
                data.append(
                    {"id": post_id, "text": posts[post_id]["text"], "public_metrics": metrics}
                )
            else:
                errors.append(
                    {"value": post_id, "title": "Not Found Error", "resource_id": post_id}
                )
        return Reply(200, {"data": data, "errors": errors} if errors else {"data": data})

    def attachments(self, key: str) -> list[Arrived]:
        [post] = [post for post in self.posts().values() if key_in_text(post["text"]) == key]
        uploads = [self.uploads[media_id] for media_id in post["media"]["media_ids"]]
        return [Arrived.of(b"".join(item["segments"]), item.get("alt")) for item in uploads]

    def _media(self, request: Request, number: int, path: str) -> Reply:
        if path == "/2/media/upload/initialize":
            media_id = f"900{number}"
            self.uploads[media_id] = {**request.json(), "segments": []}
            return Reply(200, {"data": {"id": media_id, "expires_after_secs": 86400}})
        if path == "/2/media/metadata":
            body = request.json()
            self.uploads[body["id"]]["alt"] = body["metadata"]["alt_text"]["text"]
            return Reply(200, {"data": {"associated_metadata": True}})
        if path == "/2/media/upload":  # STATUS
            return Reply(200, {"data": {"processing_info": {"state": "succeeded"}}})
        media_id, step = path.split("/")[4:6]
        upload = self.uploads[media_id]
        if step == "append":
            form = request.form()
            assert int(form["segment_index"]) == len(upload["segments"])
            upload["segments"].append(form["media"])
            return Reply(204)
        data: dict[str, Any] = {"id": media_id}
        if upload["media_category"] == "tweet_video":
            data["processing_info"] = {"state": "pending", "check_after_secs": 0}
        return Reply(200, {"data": data})

    def posts(self) -> dict[str, dict[str, Any]]:
        """Post id -> its JSON payload, for the posts that exist now."""
        posts: dict[str, dict[str, Any]] = {}
        for number, request in enumerate(self.requests, start=1):
            if request.status >= 400:
                continue
            if request.method == "POST" and request.path == "/2/tweets":
                posts[str(number)] = request.json()
            elif request.method == "DELETE":
                posts.pop(request.path.rsplit("/", 1)[1], None)
        return posts

    def published(self) -> list[str]:
        return [key_in_text(post["text"]) or "" for post in self.posts().values()]

    def reply_chain(self, key: str) -> list[str]:
        posts = self.posts()
        [current] = [pid for pid, post in posts.items() if key_in_text(post["text"]) == key]
        chain = [key]
        while True:
            replies = [
                pid
                for pid, post in posts.items()
                if (post.get("reply") or {}).get("in_reply_to_tweet_id") == current
            ]
            if not replies:
                return chain
            current = replies[0]
            chain.append(key_in_text(posts[current]["text"]) or "")

    def garble_next_reply(self) -> bool:
        self.reply(Reply(201, b"<html>created</html>"))
        return True

    def fail_next(self, kind: str) -> bool:
        if kind == "transient":
            self.reply(
                Reply(429, {"title": "Too Many Requests"}, headers={"x-rate-limit-reset": "0"})
            )
        else:
            self.reply(Reply(401, {"title": "Unauthorized"}))
        return True

    def respond(self, request: Request, number: int) -> Reply | None:
        path = request.path.partition("?")[0]
        if path.startswith("/2/media/"):
            return self._media(request, number, path)
        if request.method == "POST" and path == "/2/tweets":
            text = request.json()["text"]
            if any(post["text"] == text for post in self.posts().values()):
                return Reply(
                    403, {"detail": "You are not allowed to create a Tweet with duplicate content."}
                )
            return Reply(201, {"data": {"id": str(number), "text": text}})
        if request.method == "DELETE":
            return Reply(200, {"data": {"deleted": True}})
        if path == "/2/tweets":
            return self._lookup(request)
        if path == "/2/users/me":
            return Reply(200, {"data": {"id": USER, "username": "contract"}})
        if path == f"/2/users/{USER}/tweets":
            listed = [{"id": pid, "text": post["text"]} for pid, post in self.posts().items()]
            return Reply(200, {"data": listed[::-1]})
        return Reply(404, {"title": "Not Found"})


class TestXContract(AdapterContract):
    adapter_class = XAdapter

    @pytest.fixture
    def remote(self) -> Iterator[XApi]:
        with XApi() as server:
            yield server

    @pytest.fixture
    def channel(self, remote: XApi) -> Channel:
        return Channel(
            name="x-main",
            adapter="x",
            secrets={"access_token": "X_TOKEN"},
            settings={"api_url": remote.url},
        )

    @pytest.fixture
    def environ(self) -> dict[str, str]:
        return {"SOCIALSCHED_SECRET_X_TOKEN": "x-contract-token-987654321"}


def test_a_retry_after_a_lost_reply_does_not_post_twice():
    with XApi() as server:
        contract = TestXContract()
        channel = Channel(
            name="x", adapter="x", secrets={"access_token": "T"}, settings={"api_url": server.url}
        )
        message = contract.make_message(XAdapter(channel, {"SOCIALSCHED_SECRET_T": "t"}), "k1")
        first = XAdapter(channel, {"SOCIALSCHED_SECRET_T": "t"}).publish(message, "k1")
        # Another process (the reply was lost, the runner retries) posts it again.
        again = XAdapter(channel, {"SOCIALSCHED_SECRET_T": "t"}).publish(message, "k1")
    assert again.remote_id == first.remote_id
    assert server.published() == ["k1"]
