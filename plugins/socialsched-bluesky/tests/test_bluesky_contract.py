"""The Bluesky adapter passes socialsched's conformance kit against an XRPC fake.

The fake (respx) stores `app.bsky.feed.post` records by (repo, record key) the way a
PDS does: `createRecord` refuses a key that exists, `getRecord` answers RecordNotFound
for a missing one, `deleteRecord` removes it; `uploadBlob` keeps blobs by CID, so the
kit sees the bytes and alt text that arrived (`attachments`) and reply chains
(`reply_chain`); a create can be made to fail with 502 (transient) or 400
InvalidRequest (permanent), or store a record and answer with an unreadable reply.
Like Bluesky's public AppView (the adapter's default `appview`, asked with no token),
`app.bsky.feed.getPosts` shows the posts it has with their like, repost, reply and
quote counts (set by `set_engagement`); a request carrying credentials is refused.
`test_bluesky_local_pds.py` runs the same kit against a real local PDS.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
import respx
from socialsched_bluesky import BlueskyAdapter
from test_bluesky_adapter import APP_PASSWORD, DID, SERVICE, XRPC, fake_jwt

from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, Arrived, key_in_text

APPVIEW = "https://public.api.bsky.app"


def blob_cid(data: bytes) -> str:
    """The CID a PDS gives a blob: CIDv1, raw codec, SHA-256, base32."""
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


class FakePds:
    """Post records by (repo, rkey), with the kit key their text carries; blobs by CID."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}
        self.counts: dict[str, Mapping[str, int]] = {}
        self._failure: str | None = None
        self._garble = False
        router.post(f"{XRPC}/com.atproto.server.createSession").mock(side_effect=self._login)
        router.get(f"{XRPC}/com.atproto.repo.getRecord").mock(side_effect=self._get)
        router.post(f"{XRPC}/com.atproto.repo.createRecord").mock(side_effect=self._create)
        router.post(f"{XRPC}/com.atproto.repo.deleteRecord").mock(side_effect=self._delete)
        router.post(f"{XRPC}/com.atproto.repo.uploadBlob").mock(side_effect=self._upload)
        router.get(f"{APPVIEW}/xrpc/app.bsky.feed.getPosts").mock(side_effect=self._get_posts)

    def published(self) -> list[str]:
        return [key_in_text(record["text"]) or "" for record in self.records.values()]

    def _record(self, key: str) -> tuple[str, dict[str, Any]]:
        return next(
            (f"at://{repo}/app.bsky.feed.post/{rkey}", record)
            for (repo, rkey), record in self.records.items()
            if key_in_text(record["text"]) == key
        )

    def attachments(self, key: str) -> list[Arrived]:
        embed = self._record(key)[1].get("embed") or {}
        items = embed.get("images") or ([embed] if "video" in embed else [])
        return [
            Arrived.of(
                self.blobs[(item.get("image") or item["video"])["ref"]["$link"]], item["alt"]
            )
            for item in items
        ]

    def reply_chain(self, key: str) -> list[str]:
        uri, record = self._record(key)
        chain = [key]
        while child := next(
            (
                (f"at://{repo}/app.bsky.feed.post/{rkey}", r)
                for (repo, rkey), r in self.records.items()
                if (r.get("reply") or {}).get("parent", {}).get("uri") == uri
            ),
            None,
        ):
            uri, record = child
            chain.append(key_in_text(record["text"]) or "")
        return chain

    def garble_next_reply(self) -> bool:
        """The next record is stored, but the answer is not an XRPC one."""
        self._garble = True
        return True

    def fail_next(self, kind: str) -> bool:
        self._failure = kind
        return True

    def set_engagement(self, key: str, counts: Mapping[str, int]) -> bool:
        self.counts[self._record(key)[0]] = counts
        return True

    def _login(self, request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("password") != APP_PASSWORD:
            return httpx.Response(
                401, json={"error": "AuthenticationRequired", "message": "Invalid password"}
            )
        jwt = fake_jwt()
        return httpx.Response(
            200, json={"accessJwt": jwt, "refreshJwt": jwt, "handle": "brand.example", "did": DID}
        )

    def _upload(self, request: httpx.Request) -> httpx.Response:
        cid = blob_cid(request.content)
        self.blobs[cid] = request.content
        blob = {
            "$type": "blob",
            "ref": {"$link": cid},
            "mimeType": request.headers["Content-Type"],
            "size": len(request.content),
        }
        return httpx.Response(200, json={"blob": blob})

    def _get(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if (params["repo"], params["rkey"]) not in self.records:
            return httpx.Response(
                400, json={"error": "RecordNotFound", "message": "Could not locate record"}
            )
        uri = f"at://{params['repo']}/app.bsky.feed.post/{params['rkey']}"
        return httpx.Response(200, json={"uri": uri, "cid": "bafyexisting", "value": {}})

    def _create(self, request: httpx.Request) -> httpx.Response:
        failure, self._failure = self._failure, None
        if failure == "transient":
            return httpx.Response(502, json={"error": "UpstreamFailure"})
        if failure == "permanent":
            return httpx.Response(400, json={"error": "InvalidRequest", "message": "bad record"})
        body = json.loads(request.content)
        where = (body["repo"], body["rkey"])
        if where in self.records:
            return httpx.Response(400, json={"error": "InvalidRequest", "message": "exists"})
        self.records[where] = body["record"]
        if self._garble:
            self._garble = False
            return httpx.Response(200, json={"unexpected": "shape"})
        uri = f"at://{body['repo']}/app.bsky.feed.post/{body['rkey']}"
        return httpx.Response(200, json={"uri": uri, "cid": "bafynew"})

    def _get_posts(self, request: httpx.Request) -> httpx.Response:
        uris = request.url.params.get_list("uris")
        if "authorization" in {name.lower() for name in request.headers}:
            return httpx.Response(400, json={"error": "InvalidRequest", "message": "no tokens"})
        if len(uris) > 25:
            return httpx.Response(400, json={"error": "InvalidRequest", "message": "too many"})
        views = []
        for (repo, rkey), record in self.records.items():
            uri = f"at://{repo}/app.bsky.feed.post/{rkey}"
            if uri in uris:
                counts = self.counts.get(uri, {})
                views.append(
                    {
                        "uri": uri,
                        "cid": "bafyexisting",
                        "author": {"did": repo, "handle": "brand.example"},
                        "record": record,
                        "indexedAt": record["createdAt"],
                        "likeCount": counts.get("likes", 0),
                        "repostCount": counts.get("reposts", 0),
                        "replyCount": counts.get("replies", 0),
                        "quoteCount": counts.get("quotes", 0),
                    }
                )
        return httpx.Response(200, json={"posts": views})

    def _delete(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.records.pop((body["repo"], body["rkey"]), None)
        return httpx.Response(200, json={})


class TestBlueskyContract(AdapterContract):
    adapter_class = BlueskyAdapter

    @pytest.fixture
    def remote(self) -> Iterator[FakePds]:
        with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
            yield FakePds(router)

    @pytest.fixture
    def channel(self, remote: FakePds) -> Channel:
        return Channel(
            name="bsky",
            adapter="bluesky",
            secrets={"app_password": "BSKY_CONTRACT_PASSWORD"},
            settings={"handle": "brand.example", "service": SERVICE},
        )

    @pytest.fixture
    def environ(self) -> Mapping[str, str]:
        return {"SOCIALSCHED_SECRET_BSKY_CONTRACT_PASSWORD": APP_PASSWORD}
