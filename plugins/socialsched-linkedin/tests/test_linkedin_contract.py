"""The linkedin adapter passes socialsched's conformance kit against a real local HTTP
server standing in for the Posts API."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import pytest
from socialsched_linkedin import LinkedInAdapter

from socialsched.calendar.model import Channel
from socialsched.testing import (
    AdapterContract,
    Arrived,
    LocalServer,
    Reply,
    Request,
    key_in_text,
)

ORG = "urn:li:organization:42"


class PostsApi(LocalServer):
    """A local Posts API: POST /rest/posts creates urn:li:share:n (in x-restli-id),
    DELETE /rest/posts/{urn} removes it, GET /rest/posts lists the author's posts and
    GET /v2/userinfo answers as a member. The Images and Videos APIs hand out upload
    URLs on this server (/upload/n, a video in two parts) and keep what was PUT there;
    a finalized video is AVAILABLE. GET /rest/organizationalEntityShareStatistics gives
    the organization's posts named in `shares=List(...)` their statistics, as
    `set_engagement` made them."""

    def __init__(self) -> None:
        super().__init__()
        self.uploaded: dict[str, bytes] = {}
        self.statistics: dict[str, dict[str, int]] = {}

    def set_engagement(self, key: str, counts: Mapping[str, int]) -> bool:
        [urn] = [u for u, post in self.posts().items() if key_in_text(post["commentary"]) == key]
        self.statistics[urn] = {
            "likeCount": counts["likes"],
            "shareCount": counts["reposts"],
            "commentCount": counts["replies"],
            "impressionCount": counts["views"],
            "clickCount": counts["clicks"],
            "uniqueImpressionsCount": counts["quotes"],  # not a quote: must not come back
        }
        return True

    def _share_statistics(self, request: Request) -> Reply:
        raw = request.path.partition("?")[2]
        query = parse_qs(raw)
        assert query["q"] == ["organizationalEntity"]
        assert query["organizationalEntity"] == [ORG]
        named = [pair.partition("=")[2] for pair in raw.split("&") if pair.startswith("shares=")]
        urns = [unquote(urn) for urn in named[0].removeprefix("List(")[:-1].split(",")]
        posts = self.posts()
        elements = [
            {
                "organizationalEntity": ORG,
                "share": urn,
                "totalShareStatistics": self.statistics.get(urn, {}),
            }
            for urn in urns
            if urn in posts
        ]
        return Reply(200, {"paging": {"count": 10, "start": 0}, "elements": elements})

    def attachments(self, key: str) -> list[Arrived]:
        [post] = [p for p in self.posts().values() if key_in_text(p["commentary"]) == key]
        content = post["content"]
        items = content["multiImage"]["images"] if "multiImage" in content else [content["media"]]
        return [Arrived.of(self.uploaded[item["id"]], item.get("altText")) for item in items]

    def _media(self, request: Request, number: int, path: str) -> Reply:
        if request.method == "PUT":
            urn, _, part = unquote(path.removeprefix("/upload/")).partition("#")
            self.uploaded[urn] = self.uploaded.get(urn, b"") + request.body
            return Reply(201, headers={"etag": f"etag-{part or 0}"})
        if "initializeUpload" in request.path and path == "/rest/images":
            urn = f"urn:li:image:{number}"
            upload = f"{self.url}/upload/{quote(urn, safe='')}"
            return Reply(200, {"value": {"uploadUrl": upload, "image": urn}})
        if "initializeUpload" in request.path:
            urn = f"urn:li:video:{number}"
            size = request.json()["initializeUploadRequest"]["fileSizeBytes"]
            half = size // 2
            parts = [(0, half - 1), (half, size - 1)]
            instructions = [
                {
                    "uploadUrl": f"{self.url}/upload/{quote(f'{urn}#{n}', safe='')}",
                    "firstByte": first,
                    "lastByte": last,
                }
                for n, (first, last) in enumerate(parts)
            ]
            return Reply(
                200,
                {"value": {"video": urn, "uploadInstructions": instructions, "uploadToken": ""}},
            )
        if "finalizeUpload" in request.path:
            return Reply(200)
        return Reply(200, {"status": "AVAILABLE"})

    def posts(self) -> dict[str, dict[str, Any]]:
        """Post urn -> its JSON body, for the posts that exist now."""
        posts: dict[str, dict[str, Any]] = {}
        for number, request in enumerate(self.requests, start=1):
            if request.status >= 400:
                continue
            if request.method == "POST" and request.path == "/rest/posts":
                posts[f"urn:li:share:{number}"] = request.json()
            elif request.method == "DELETE":
                posts.pop(unquote(request.path.rsplit("/", 1)[1]), None)
        return posts

    def published(self) -> list[str]:
        return [key_in_text(post["commentary"]) or "" for post in self.posts().values()]

    def garble_next_reply(self) -> bool:
        self.reply(Reply(201, b"<html>created</html>"))
        return True

    def fail_next(self, kind: str) -> bool:
        if kind == "transient":
            self.reply(Reply(429, {"message": "Too many"}, headers={"Retry-After": "1"}))
        else:
            self.reply(Reply(401, {"message": "Invalid access token"}))
        return True

    def respond(self, request: Request, number: int) -> Reply | None:
        path = request.path.partition("?")[0]
        if path.startswith(("/upload/", "/rest/images", "/rest/videos")):
            return self._media(request, number, path)
        if request.method == "POST" and path == "/rest/posts":
            return Reply(201, headers={"x-restli-id": f"urn:li:share:{number}"})
        if request.method == "DELETE":
            return Reply(204)
        if path == "/rest/organizationalEntityShareStatistics":
            return self._share_statistics(request)
        if path == "/v2/userinfo":
            return Reply(200, {"sub": "abc", "name": "Contract Member"})
        if path == "/rest/posts":
            elements = [{"id": urn, **post} for urn, post in self.posts().items()]
            return Reply(200, {"elements": elements[::-1]})
        return Reply(404, {"message": "Not Found"})


class TestLinkedInContract(AdapterContract):
    adapter_class = LinkedInAdapter

    @pytest.fixture
    def remote(self) -> Iterator[PostsApi]:
        with PostsApi() as server:
            yield server

    @pytest.fixture
    def channel(self, remote: PostsApi) -> Channel:
        return Channel(
            name="li",
            adapter="linkedin",
            secrets={"access_token": "LI_TOKEN"},
            settings={
                "author": ORG,
                "api_url": remote.url,
                "geo_urns": {"US": "urn:li:geo:103644278"},
            },
        )

    @pytest.fixture
    def environ(self) -> dict[str, str]:
        return {"SOCIALSCHED_SECRET_LI_TOKEN": "li-contract-token-987654321"}
