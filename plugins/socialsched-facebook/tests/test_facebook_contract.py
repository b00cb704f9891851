"""The facebook adapter passes socialsched's conformance kit against a real local HTTP
server standing in for the Graph API (page feed posts, deletes, Graph error bodies)."""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest
from socialsched_facebook import FacebookPageAdapter

from socialsched.adapters import Adapter
from socialsched.model import Channel
from socialsched.testing import AdapterContract, LocalServer, Reply, key_in_text

PAGE = "4242"
# The kit's messages are due 2030-01-15 09:30 UTC; a day earlier they are natively
# scheduled, the adapter's default mode.
DAY_BEFORE = datetime(2030, 1, 14, 9, 30, tzinfo=UTC)


class GraphPage(LocalServer):
    """A local Graph API: POST /v23.0/PAGE/feed creates post number n (LocalServer's
    default reply `{"id": n}`, n counting requests); DELETE /v23.0/n removes it."""

    def published(self) -> list[str]:
        posts: dict[str, str] = {}
        for number, request in enumerate(self.requests, start=1):
            if request.status >= 400:
                continue
            if request.method == "POST" and request.path == f"/v23.0/{PAGE}/feed":
                fields = parse_qs(request.body.decode())
                posts[str(number)] = key_in_text(fields["message"][0]) or ""
            elif request.method == "DELETE":
                posts.pop(request.path.rsplit("/", 1)[1], None)
        return list(posts.values())

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
        return {"FB_PAGE_TOKEN": "EAAGcontracttoken987654321"}


def test_contract_posts_are_natively_scheduled_with_targeting():
    with GraphPage() as server:
        contract = TestFacebookContract()
        channel = Channel(
            name="fb",
            adapter="facebook",
            secrets={"page_token": "TOKEN"},
            settings={"page_id": PAGE, "graph_url": server.url, "locale_keys": {"en-US": 6}},
        )
        adapter = contract.make_adapter(channel, {"TOKEN": "t"}, server)
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
