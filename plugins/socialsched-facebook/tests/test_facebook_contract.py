"""The facebook adapter passes socialsched's conformance kit against a real local HTTP
server standing in for the Graph API (page feed posts, deletes, Graph error bodies)."""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from socialsched_facebook import FacebookPageAdapter

from socialsched.adapters import Adapter
from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, Arrived, LocalServer, Reply, Request, key_in_text

PAGE = "4242"


def fields_of(request: Request) -> dict[str, str]:
    """The text fields of a form request (a multipart file field left out)."""
    return {name: value.decode() for name, value in request.form().items() if name != "source"}


# The kit's messages are due 2030-01-15 09:30 UTC; a day earlier they are natively
# scheduled, the adapter's default mode.
DAY_BEFORE = datetime(2030, 1, 14, 9, 30, tzinfo=UTC)


class GraphPage(LocalServer):
    """A local Graph API: POST /v23.0/PAGE/feed creates post number n (LocalServer's
    default reply `{"id": n}`, n counting requests), attaching the unpublished photos
    POSTed to /PAGE/photos before it; POST /PAGE/videos makes a video post; DELETE
    /v23.0/n removes one; GET /PAGE/posts, /PAGE/scheduled_posts and /PAGE/videos list
    them; GET /me answers as the page. GET /v23.0/?ids=... (and GET /v23.0/n?fields=)
    gives the posts' reactions, comments, shares and insights as `set_engagement` made
    them; an id that is no post is refused as Facebook does (code 100, subcode 33)."""

    def __init__(self) -> None:
        super().__init__()
        self.engagement: dict[str, Mapping[str, int]] = {}

    def set_engagement(self, key: str, counts: Mapping[str, int]) -> bool:
        [post_id] = [
            post_id
            for post_id, (fields, _request) in self.posts().items()
            if key_in_text(fields.get("message") or fields.get("description") or "") == key
        ]
        self.engagement[post_id] = counts
        return True

    def _post_engagement(self, post_id: str) -> dict[str, Any]:
        counts = self.engagement.get(post_id, {})
        metrics = [("post_media_view", "views"), ("post_clicks", "clicks")]
        return {
            "id": post_id,
            "reactions": {"data": [], "summary": {"total_count": counts.get("likes", 0)}},
            "comments": {"data": [], "summary": {"total_count": counts.get("replies", 0)}},
            "shares": {"count": counts.get("reposts", 0)},
            "insights": {
                "data": [
                    {
                        "name": name,
                        "period": "lifetime",
                        "values": [{"value": counts.get(count, 0)}],
                    }
                    for name, count in metrics
                ]
            },
        }

    def _lookup(self, ids: list[str]) -> Reply:
        posts = self.posts()
        missing = [one for one in ids if one not in posts]
        if missing:
            error = {"message": f"Object with ID '{missing[0]}' does not exist", "code": 100}
            return Reply(400, {"error": {**error, "error_subcode": 33}})
        return Reply(200, {one: self._post_engagement(one) for one in ids})

    def posts(self) -> dict[str, tuple[dict[str, str], Request]]:
        """Post id -> (its form fields, its request), for the posts that exist now."""
        posts: dict[str, tuple[dict[str, str], Request]] = {}
        for number, request in enumerate(self.requests, start=1):
            if request.status >= 400:
                continue
            if request.method == "POST" and request.path in (
                f"/v23.0/{PAGE}/feed",
                f"/v23.0/{PAGE}/videos",
            ):
                posts[str(number)] = (fields_of(request), request)
            elif request.method == "DELETE":
                posts.pop(request.path.rsplit("/", 1)[1], None)
        return posts

    def published(self) -> list[str]:
        return [
            key_in_text(fields.get("message") or fields["description"]) or ""
            for fields, _request in self.posts().values()
        ]

    def attachments(self, key: str) -> list[Arrived]:
        [(fields, request)] = [
            (fields, request)
            for fields, request in self.posts().values()
            if key_in_text(fields.get("message") or fields["description"]) == key
        ]
        if request.path.endswith("/videos"):
            return [Arrived.of(request.form()["source"])]
        arrived = []
        for number in range(len(self.requests)):
            attached = fields.get(f"attached_media[{number}]")
            if attached is None:
                break
            photo = self.requests[int(json.loads(attached)["media_fbid"]) - 1]
            assert photo.path == f"/v23.0/{PAGE}/photos"
            parts = photo.form()
            assert parts["published"] == b"false"
            arrived.append(Arrived.of(parts["source"], parts["alt_text_custom"].decode()))
        return arrived

    def garble_next_reply(self) -> bool:
        self.reply(Reply(200, b"<html>accepted</html>"))
        return True

    def respond(self, request: Request, number: int) -> Reply | None:
        path = request.path.partition("?")[0]
        if request.method != "GET":
            return None
        if path == "/v23.0/me":
            return Reply(200, {"id": PAGE, "name": "Contract Bakery"})
        query = parse_qs(urlsplit(request.path).query)
        if path == "/v23.0/":
            return self._lookup(query["ids"][0].split(","))
        edge = path.rsplit("/", 1)[1]
        if edge.isdigit():
            reply = self._lookup([edge])
            return Reply(reply.status, reply.body[edge]) if reply.status == 200 else reply
        listed = []
        for post_id, (fields, _request) in self.posts().items():
            scheduled = fields.get("published") == "false"
            if (edge == "scheduled_posts") != scheduled:
                continue
            item = {"id": post_id, "message": fields.get("message")}
            if scheduled:
                item["scheduled_publish_time"] = int(fields["scheduled_publish_time"])
            listed.append(item)
        return Reply(200, {"data": listed})

    def fail_next(self, kind: str) -> bool:
        if kind == "transient":
            usage = {PAGE: [{"type": "pages", "estimated_time_to_regain_access": 2}]}
            self.reply(
                Reply(
                    400,
                    {"error": {"message": "Page request limit reached", "code": 32}},
                    headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
                )
            )
        else:
            error = {"message": "Error validating access token", "code": 190, "error_subcode": 463}
            self.reply(Reply(401, {"error": error}))
        return True


class TestFacebookContract(AdapterContract):
    adapter_class = FacebookPageAdapter

    def make_adapter(self, channel: Channel, environ: Mapping[str, str], remote: Any) -> Adapter:
        return FacebookPageAdapter(channel, environ=environ, clock=lambda: DAY_BEFORE)

    @pytest.fixture
    def remote(self) -> Iterator[GraphPage]:
        with GraphPage() as server:
            yield server

    @pytest.fixture
    def channel(self, remote: GraphPage) -> Channel:
        return Channel(
            name="fb-page",
            adapter="facebook",
            audiences={"us": {"kind": "targeting", "countries": ["US"]}},
            secrets={"page_token": "FB_PAGE_TOKEN"},
            settings={"page_id": PAGE, "graph_url": remote.url, "locale_keys": {"en-US": 6}},
        )

    @pytest.fixture
    def environ(self) -> dict[str, str]:
        return {"SOCIALSCHED_SECRET_FB_PAGE_TOKEN": "EAAGcontracttoken987654321"}


def test_contract_posts_are_natively_scheduled_with_targeting():
    with GraphPage() as server:
        contract = TestFacebookContract()
        channel = Channel(
            name="fb",
            adapter="facebook",
            secrets={"page_token": "TOKEN"},
            settings={"page_id": PAGE, "graph_url": server.url, "locale_keys": {"en-US": 6}},
        )
        adapter = contract.make_adapter(channel, {"SOCIALSCHED_SECRET_TOKEN": "t"}, server)
        adapter.publish(contract.make_message(adapter, "k1"), "k1")
    (request,) = server.requests
    fields = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
    assert fields["published"] == "false"
    assert fields["scheduled_publish_time"] == str(calendar.timegm((2030, 1, 15, 9, 30, 0)))
    assert json.loads(fields["targeting"]) == {
        "geo_locations": {"countries": ["US"]},
        "locales": [6],
    }
    assert server.published() == ["k1"]
