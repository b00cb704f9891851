"""The Telegram adapter passes socialsched's conformance kit against a fake Bot API.

The fake (respx) answers `sendMessage` and `deleteMessage` as the Bot API does: it
checks the token in the URL path, numbers messages per chat, and fails on request with
a 429 carrying `parameters.retry_after`, or a 400 "Bad Request".
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
import respx
from socialsched_telegram import TelegramAdapter

from socialsched.adapters import Adapter
from socialsched.audiences import Audience
from socialsched.model import Channel
from socialsched.testing import AdapterContract, key_in_text

API_URL = "https://bot-api.contract.example"
TOKEN = "424242:AAContract-s3cr3t_token"


class FakeBotApi:
    """Messages by (chat id, message id), each with the kit key its text carries."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.messages: dict[tuple[Any, int], str] = {}
        self._ids = itertools.count(100)
        self._failure: str | None = None
        router.post(url__regex=rf"^{API_URL}/bot[^/]+/sendMessage$").mock(side_effect=self._send)
        router.post(url__regex=rf"^{API_URL}/bot[^/]+/deleteMessage$").mock(
            side_effect=self._delete
        )

    def published(self) -> list[str]:
        return list(self.messages.values())

    def fail_next(self, kind: str) -> bool:
        self._failure = kind
        return True

    def _error(self, code: int, description: str, **parameters: Any) -> httpx.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return httpx.Response(code, json=body)

    def _check(self, request: httpx.Request) -> httpx.Response | None:
        failure, self._failure = self._failure, None
        if failure == "transient":
            return self._error(429, "Too Many Requests: retry after 3", retry_after=3)
        if failure == "permanent":
            return self._error(400, "Bad Request: chat not found")
        if f"/bot{TOKEN}/" not in request.url.path:
            return self._error(401, "Unauthorized")
        return None

    def _send(self, request: httpx.Request) -> httpx.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        body = json.loads(request.content)
        message_id = next(self._ids)
        self.messages[(body["chat_id"], message_id)] = key_in_text(body["text"]) or ""
        return httpx.Response(200, json={"ok": True, "result": {"message_id": message_id}})

    def _delete(self, request: httpx.Request) -> httpx.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        body = json.loads(request.content)
        if self.messages.pop((body["chat_id"], body["message_id"]), None) is None:
            return self._error(400, "Bad Request: message to delete not found")
        return httpx.Response(200, json={"ok": True, "result": True})


class TestTelegramContract(AdapterContract):
    adapter_class = TelegramAdapter

    def make_audience(self, adapter: Adapter) -> Audience:
        # Telegram needs a real chat id; the kit's generic audience id is not one.
        return Audience("group", "-1001234567890")

    @pytest.fixture
    def remote(self) -> Iterator[FakeBotApi]:
        with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
            yield FakeBotApi(router)

    @pytest.fixture
    def channel(self, remote: FakeBotApi) -> Channel:
        return Channel(
            name="tg",
            adapter="telegram",
            settings={"api_url": API_URL},
            secrets={"token": "TELEGRAM_CONTRACT_TOKEN"},
        )

    @pytest.fixture
    def environ(self) -> Mapping[str, str]:
        return {"TELEGRAM_CONTRACT_TOKEN": TOKEN}
