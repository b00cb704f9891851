"""The Telegram adapter passes socialsched's conformance kit against a fake Bot API.

The fake (respx) answers `sendMessage`, `sendPhoto`, `sendVideo`, `sendMediaGroup`,
`deleteMessage`, `deleteMessages` and `getMe` as the Bot API does: it checks the token
in the URL path, numbers messages per chat, keeps the uploaded files of each post, and
fails on request with a 429 carrying `parameters.retry_after`, or a 400 "Bad Request".
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
from test_telegram_adapter import form

from socialsched.adapters import Adapter
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, key_in_text

API_URL = "https://bot-api.contract.example"
TOKEN = "424242:AAContract-s3cr3t_token"


class FakeBotApi:
    """Messages by (chat id, message id), each with the kit key its text carries."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.messages: dict[tuple[Any, int], str] = {}
        self.files: dict[str, list[bytes]] = {}  # key -> the bytes uploaded with it
        self._ids = itertools.count(100)
        self._failure: str | None = None
        for method in ("sendMessage", "sendPhoto", "sendVideo", "sendMediaGroup"):
            router.post(url__regex=rf"^{API_URL}/bot[^/]+/{method}$").mock(side_effect=self._send)
        for method in ("deleteMessage", "deleteMessages"):
            router.post(url__regex=rf"^{API_URL}/bot[^/]+/{method}$").mock(side_effect=self._delete)
        router.post(url__regex=rf"^{API_URL}/bot[^/]+/getMe$").mock(side_effect=self._get_me)

    def published(self) -> list[str]:
        # An album is several messages but one post: count its first message only.
        return [key for key in self.messages.values() if not key.startswith("+")]

    def attachments(self, key: str) -> list[bytes]:
        return self.files.get(key, [])

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
        if request.headers["content-type"].startswith("multipart/"):
            parts = form(request)
            fields = {name: data.decode() for name, (file, _, data) in parts.items() if not file}
            uploads = [data for name, (file, _, data) in parts.items() if file]
            chat_id: Any = json.loads(fields["chat_id"])
            album = "media" in fields
            if album:  # an album: the caption rides on the first item
                items = json.loads(fields["media"])
                text = items[0].get("caption", "")
            else:
                items = [{}]
                text = fields.get("caption", "")
        else:
            body = json.loads(request.content)
            chat_id, text, items, uploads = body["chat_id"], body["text"], [{}], []
            album = False
        key = key_in_text(text) or ""
        self.files[key] = uploads
        results = []
        for number, _ in enumerate(items):
            message_id = next(self._ids)
            self.messages[(chat_id, message_id)] = key if number == 0 else f"+{key}"
            results.append({"message_id": message_id})
        result: Any = results if album else results[0]
        return httpx.Response(200, json={"ok": True, "result": result})

    def _get_me(self, request: httpx.Request) -> httpx.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        bot = {"id": 424242, "is_bot": True, "username": "contract_bot"}
        return httpx.Response(200, json={"ok": True, "result": bot})

    def _delete(self, request: httpx.Request) -> httpx.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        body = json.loads(request.content)
        ids = body.get("message_ids") or [body["message_id"]]
        for message_id in ids:
            if self.messages.pop((body["chat_id"], message_id), None) is None:
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
        return {"SOCIALSCHED_SECRET_TELEGRAM_CONTRACT_TOKEN": TOKEN}
