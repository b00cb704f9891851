"""The Mastodon adapter passes socialsched's conformance kit against a fake server.

The fake (respx) behaves like Mastodon where the contract looks: it checks the bearer
token, answers a repeated `Idempotency-Key` with the status it created first, deletes
statuses, and fails on request the way Mastodon does (503 with Retry-After, 422).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping

import httpx
import pytest
import respx
from socialsched_mastodon import MastodonAdapter

from socialsched.adapters import Adapter
from socialsched.audiences import Audience
from socialsched.model import Channel
from socialsched.testing import AdapterContract

INSTANCE = "https://contract.social.example"
TOKEN = "contract-mastodon-token-value"


class FakeMastodon:
    """Statuses by id, each remembering the idempotency key it was created with."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.statuses: dict[str, str] = {}
        self._by_key: dict[str, str] = {}
        self._ids = itertools.count(1001)
        self._failure: str | None = None
        router.post(f"{INSTANCE}/api/v1/statuses").mock(side_effect=self._create)
        router.delete(url__regex=rf"{INSTANCE}/api/v1/statuses/\d+$").mock(side_effect=self._delete)

    def published(self) -> list[str]:
        return list(self.statuses.values())

    def fail_next(self, kind: str) -> bool:
        self._failure = kind
        return True

    def _authorised(self, request: httpx.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    def _create(self, request: httpx.Request) -> httpx.Response:
        failure, self._failure = self._failure, None
        if failure == "transient":
            return httpx.Response(503, headers={"Retry-After": "7"}, json={"error": "busy"})
        if failure == "permanent":
            return httpx.Response(422, json={"error": "Validation failed: Text too spammy"})
        if not self._authorised(request):
            return httpx.Response(401, json={"error": "The access token is invalid"})
        key = request.headers["Idempotency-Key"]
        if key not in self._by_key:
            status_id = str(next(self._ids))
            self._by_key[key] = status_id
            self.statuses[status_id] = key
        status_id = self._by_key[key]
        status = json.loads(request.content)
        return httpx.Response(
            200,
            json={"id": status_id, "url": f"{INSTANCE}/@brand/{status_id}", **status},
        )

    def _delete(self, request: httpx.Request) -> httpx.Response:
        if not self._authorised(request):
            return httpx.Response(401, json={"error": "The access token is invalid"})
        status_id = request.url.path.rsplit("/", 1)[1]
        if self.statuses.pop(status_id, None) is None:
            return httpx.Response(404, json={"error": "Record not found"})
        return httpx.Response(200, json={"id": status_id})


class TestMastodonContract(AdapterContract):
    adapter_class = MastodonAdapter

    def make_audience(self, adapter: Adapter) -> Audience:
        # The kit's generic audience has no meaning on Mastodon; a visibility does.
        return Audience("visibility", "public")

    @pytest.fixture
    def remote(self) -> Iterator[FakeMastodon]:
        with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
            yield FakeMastodon(router)

    @pytest.fixture
    def channel(self, remote: FakeMastodon) -> Channel:
        return Channel(
            name="fedi",
            adapter="mastodon",
            settings={"instance": INSTANCE, "instance_limits": False},
            secrets={"token": "MASTODON_CONTRACT_TOKEN"},
        )

    @pytest.fixture
    def environ(self) -> Mapping[str, str]:
        return {"MASTODON_CONTRACT_TOKEN": TOKEN}
