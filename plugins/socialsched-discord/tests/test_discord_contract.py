"""The discord adapter passes socialsched's conformance kit against a real local HTTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from socialsched_discord import DiscordAdapter
from test_discord_adapter import form

from socialsched.adapters import Adapter
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.testing import (
    AdapterContract,
    Arrived,
    LocalServer,
    Reply,
    Request,
    key_in_text,
)

WEBHOOK_PATH = "/api/webhooks/4242/contracttokenpart"


class DiscordWebhook(LocalServer):
    """A local channel webhook: a POST creates message number n (LocalServer's default
    reply `{"id": n}`, n counting requests), a DELETE of `/messages/n` removes it. A
    multipart POST carries its message as `payload_json` and its files as `files[n]`."""

    def _posts(self) -> dict[str, tuple[str, list[Arrived]]]:
        posts: dict[str, tuple[str, list[Arrived]]] = {}
        for number, request in enumerate(self.requests, start=1):
            if request.status >= 400:
                continue
            if request.method == "POST":
                posts[str(number)] = _message(request)
            elif request.method == "DELETE":
                posts.pop(request.path.rsplit("/", 1)[1], None)
        return posts

    def published(self) -> list[str]:
        return [key for key, _ in self._posts().values()]

    def attachments(self, key: str) -> list[Arrived]:
        return next((files for posted, files in self._posts().values() if posted == key), [])

    def fail_next(self, kind: str) -> bool:
        if kind == "transient":
            self.reply(Reply(429, {"message": "You are being rate limited.", "retry_after": 1.5}))
        else:
            self.reply(Reply(401, {"message": "Invalid Webhook Token", "code": 50027}))
        return True


def _message(request: Request) -> tuple[str, list[Arrived]]:
    """The kit key and the files (with their descriptions) of a posted message."""
    if not (request.header("Content-Type") or "").startswith("multipart/"):
        return key_in_text(request.json()["content"]) or "", []
    parts = form(httpx.Request("POST", "http://x", headers=request.headers, content=request.body))
    payload = json.loads(parts["payload_json"][2])
    files = [
        Arrived.of(parts[f"files[{entry['id']}]"][2], entry.get("description", ""))
        for entry in payload.get("attachments", [])
    ]
    return key_in_text(payload.get("content", "")) or "", files


class TestDiscordContract(AdapterContract):
    adapter_class = DiscordAdapter

    def make_audience(self, adapter: Adapter) -> Audience:
        return Audience("webhook", "hook")

    @pytest.fixture
    def remote(self) -> Iterator[DiscordWebhook]:
        with DiscordWebhook() as server:
            yield server

    @pytest.fixture
    def channel(self, remote: DiscordWebhook) -> Channel:
        return Channel(
            name="community",
            adapter="discord",
            audiences={"fr": "webhook:hook"},
            secrets={"hook": "DISCORD_HOOK_URL"},
        )

    @pytest.fixture
    def environ(self, remote: DiscordWebhook) -> dict[str, str]:
        return {"SOCIALSCHED_SECRET_DISCORD_HOOK_URL": remote.url + WEBHOOK_PATH}


def test_contract_fake_sees_the_webhook_paths():
    with DiscordWebhook() as server:
        channel = Channel(name="c", adapter="discord", secrets={"hook": "HOOK"})
        adapter = DiscordAdapter(
            channel, environ={"SOCIALSCHED_SECRET_HOOK": server.url + WEBHOOK_PATH}
        )
        message = TestDiscordContract().make_message(adapter, "k1")
        adapter.delete(adapter.publish(message, "k1"))
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", f"{WEBHOOK_PATH}?wait=true"),
        ("DELETE", f"{WEBHOOK_PATH}/messages/1"),
    ]
    assert server.published() == []
