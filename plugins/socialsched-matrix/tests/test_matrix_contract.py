"""The Matrix adapter passes socialsched's conformance kit against a fake homeserver.

The fake is the one `test_matrix_adapter` uses (a real HTTP server on 127.0.0.1 that
deduplicates transaction ids as the Client-Server spec says, keeps uploaded media and
serves room history), extended to remember which events are live, forget redacted
ones, show the media and alt text of each post, and fail on request as a homeserver
does (429 M_LIMIT_EXCEEDED with retry_after_ms, 403 M_FORBIDDEN).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from socialsched_matrix import MatrixAdapter
from socialsched_matrix.adapter import MARKER
from test_matrix_adapter import API, ROOM, TOKEN, FakeHomeserver

from socialsched.adapters import Adapter
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, Arrived


class ContractHomeserver(FakeHomeserver):
    """Also tracks live events (redacted ones are gone): a post is its events that carry
    the adapter's marker with the kit key."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[str, dict[str, Any]] = {}  # event id -> content

    def published(self) -> list[str]:
        marks = [content.get(MARKER) or {} for content in self.live.values()]
        return [mark["key"] for mark in marks if mark and mark["event"] == mark["events"]]

    def attachments(self, key: str) -> list[Arrived]:
        return [
            Arrived.of(self.media[content["url"]][1], content["body"])
            for content in self.live.values()
            if (content.get(MARKER) or {}).get("key") == key and "url" in content
        ]

    def fail_next(self, kind: str) -> bool:
        if kind == "transient":
            self.scripted.append(
                (429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too many", "retry_after_ms": 2500})
            )
        else:
            self.scripted.append((403, {"errcode": "M_FORBIDDEN", "error": "Not in room"}))
        return True

    def answer(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, body = super().answer(request)
        parts = request["path"].removeprefix(API).strip("/").split("/")
        if status == 200 and request["method"] == "PUT" and parts[0] == "rooms":
            if parts[2] == "send":
                self.live[body["event_id"]] = request["body"]
            elif parts[2] == "redact":
                self.live.pop(parts[3], None)
        return status, body


class TestMatrixContract(AdapterContract):
    adapter_class = MatrixAdapter

    def make_audience(self, adapter: Adapter) -> Audience:
        # Matrix needs a real room id; the kit's generic audience id is not one.
        return Audience("room", ROOM)

    @pytest.fixture
    def remote(self) -> Iterator[ContractHomeserver]:
        server = ContractHomeserver()
        server.thread.start()
        yield server
        server.server.shutdown()
        server.server.server_close()

    @pytest.fixture
    def channel(self, remote: ContractHomeserver) -> Channel:
        return Channel(
            name="mx",
            adapter="matrix",
            secrets={"access_token": "MATRIX_CONTRACT_TOKEN"},
            settings={"homeserver": remote.url, "user_id": "@brand:hs.example"},
        )

    @pytest.fixture
    def environ(self) -> Mapping[str, str]:
        return {"SOCIALSCHED_SECRET_MATRIX_CONTRACT_TOKEN": TOKEN}
