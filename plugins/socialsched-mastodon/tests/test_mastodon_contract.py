"""The Mastodon adapter passes socialsched's conformance kit against a fake server.

The fake (respx) behaves like Mastodon where the contract looks: it checks the bearer
token, answers a repeated `Idempotency-Key` with the status it created first, takes
media uploads with their description (shown to the kit by `attachments`), refuses a
status naming unknown media, lists the account's statuses newest first (HTML content,
`max_id` paging) and their reply chains (`reply_chain`), answers `verify_credentials`,
deletes statuses, shows statuses with their favourites, boosts, replies and quotes
(`GET /api/v1/statuses?id[]=`, counts set by `set_engagement`), and fails on request the
way Mastodon does (503 with Retry-After, 422, or a status stored behind a proxy's error
page).
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
import respx
from socialsched_mastodon import MastodonAdapter
from test_mastodon_media_threads import form_fields

from socialsched.adapters import Adapter
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, Arrived

INSTANCE = "https://contract.social.example"
TOKEN = "contract-mastodon-token-value"


# The fake's clock: the kit's messages are due at 2030-01-15 09:30 UTC.
POSTED_AT = "2030-01-15T09:31:00.000Z"
ACCOUNT = {"id": "42", "username": "brand", "acct": "brand"}


class FakeMastodon:
    """Statuses by id, each remembering the idempotency key it was created with, its
    text, reply target and media; uploads by media id with their description."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.statuses: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}
        self._by_key: dict[str, str] = {}
        self._ids = itertools.count(1001)
        self._failure: str | None = None
        self._garble = False
        router.post(f"{INSTANCE}/api/v1/statuses").mock(side_effect=self._create)
        router.delete(url__regex=rf"{INSTANCE}/api/v1/statuses/\d+$").mock(side_effect=self._delete)
        router.post(f"{INSTANCE}/api/v2/media").mock(side_effect=self._upload)
        router.get(f"{INSTANCE}/api/v1/accounts/verify_credentials").mock(side_effect=self._me)
        router.get(f"{INSTANCE}/api/v1/accounts/42/statuses").mock(side_effect=self._list)
        router.get(f"{INSTANCE}/api/v1/statuses").mock(side_effect=self._show_many)

    def published(self) -> list[str]:
        return [status["key"] for status in self.statuses.values()]

    def _status(self, key: str) -> dict[str, Any]:
        return next(status for status in self.statuses.values() if status["key"] == key)

    def attachments(self, key: str) -> list[Arrived]:
        return [
            Arrived.of(self.uploads[media["id"]], media["description"])
            for media in self._status(key)["media_attachments"]
        ]

    def reply_chain(self, key: str) -> list[str]:
        chain = [self._status(key)]
        while reply := next(
            (s for s in self.statuses.values() if s["in_reply_to_id"] == chain[-1]["id"]), None
        ):
            chain.append(reply)
        return [status["key"] for status in chain]

    def forget_keys(self) -> None:
        """What Mastodon does an hour after a status: its Idempotency-Key no longer
        finds it, so a repeated send would post again."""
        self._by_key.clear()

    def garble_next_reply(self) -> bool:
        """The next status is stored, but the answer is a proxy's error page."""
        self._garble = True
        return True

    def fail_next(self, kind: str) -> bool:
        self._failure = kind
        return True

    def set_engagement(self, key: str, counts: Mapping[str, int]) -> bool:
        """The status's counts, as Mastodon 4.5 names them."""
        self._status(key).update(
            favourites_count=counts["likes"],
            reblogs_count=counts["reposts"],
            replies_count=counts["replies"],
            quotes_count=counts["quotes"],
        )
        return True

    def _authorised(self, request: httpx.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    def _refused(self) -> httpx.Response:
        return httpx.Response(401, json={"error": "The access token is invalid"})

    def _create(self, request: httpx.Request) -> httpx.Response:
        failure, self._failure = self._failure, None
        if failure == "transient":
            return httpx.Response(503, headers={"Retry-After": "7"}, json={"error": "busy"})
        if failure == "permanent":
            return httpx.Response(422, json={"error": "Validation failed: Text too spammy"})
        if not self._authorised(request):
            return self._refused()
        key = request.headers["Idempotency-Key"]
        body = json.loads(request.content)
        if key not in self._by_key:
            if any(media_id not in self.media for media_id in body.get("media_ids", [])):
                return httpx.Response(422, json={"error": "Validation failed: unknown media"})
            status_id = str(next(self._ids))
            self._by_key[key] = status_id
            self.statuses[status_id] = {
                "id": status_id,
                "key": key,
                "url": f"{INSTANCE}/@brand/{status_id}",
                "created_at": POSTED_AT,
                "content": f"<p>{html.escape(body['status'])}</p>",
                "spoiler_text": body.get("spoiler_text", ""),
                "in_reply_to_id": body.get("in_reply_to_id"),
                "media_attachments": [self.media[i] for i in body.get("media_ids", [])],
            }
        status = self.statuses[self._by_key[key]]
        if self._garble:
            self._garble = False
            return httpx.Response(200, content=b"<html>502 Bad Gateway</html>")
        return httpx.Response(200, json={k: v for k, v in status.items() if k != "key"})

    def _upload(self, request: httpx.Request) -> httpx.Response:
        if not self._authorised(request):
            return self._refused()
        media_id = str(next(self._ids))
        fields = form_fields(request)
        self.uploads[media_id] = fields["file"][2]
        self.media[media_id] = {
            "id": media_id,
            "url": f"{INSTANCE}/media/{media_id}",
            "description": fields["description"][2].decode() if "description" in fields else None,
            "size": len(fields["file"][2]),
        }
        return httpx.Response(200, json=self.media[media_id])

    def _me(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=ACCOUNT) if self._authorised(request) else self._refused()

    def _list(self, request: httpx.Request) -> httpx.Response:
        if not self._authorised(request):
            return self._refused()
        newest_first = sorted(self.statuses.values(), key=lambda s: int(s["id"]), reverse=True)
        max_id = request.url.params.get("max_id")
        if max_id is not None:
            newest_first = [s for s in newest_first if int(s["id"]) < int(max_id)]
        limit = int(request.url.params.get("limit", 20))
        page = [{k: v for k, v in s.items() if k != "key"} for s in newest_first[:limit]]
        return httpx.Response(200, json=page)

    def _show_many(self, request: httpx.Request) -> httpx.Response:
        if not self._authorised(request):
            return self._refused()
        ids = request.url.params.get_list("id[]")
        if len(ids) > 20:
            return httpx.Response(422, json={"error": "Validation failed"})
        shown = [self.statuses[i] for i in ids if i in self.statuses]
        return httpx.Response(200, json=[{k: v for k, v in s.items() if k != "key"} for s in shown])

    def _delete(self, request: httpx.Request) -> httpx.Response:
        if not self._authorised(request):
            return self._refused()
        status_id = request.url.path.rsplit("/", 1)[1]
        status = self.statuses.pop(status_id, None)
        if status is None:
            return httpx.Response(404, json={"error": "Record not found"})
        self._by_key.pop(status["key"], None)
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
        return {"SOCIALSCHED_SECRET_MASTODON_CONTRACT_TOKEN": TOKEN}
