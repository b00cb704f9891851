"""The discord adapter passes socialsched's conformance kit against a real local HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from socialsched_discord import DiscordAdapter

from socialsched.adapters import Adapter
from socialsched.audiences import Audience
from socialsched.model import Channel
from socialsched.testing import AdapterContract, LocalServer, Reply, key_in_text

WEBHOOK_PATH = "/api/webhooks/4242/contracttokenpart"


class DiscordWebhook(LocalServer):
    """A local channel webhook: a POST creates message number n (LocalServer's default
    reply `{"id": n}`, n counting requests), a DELETE of `/messages/n` removes it."""

    def published(self) -> list[str]:
        posts: dict[str, str] = {}
        for number, request in enumerate(self.requests, start=1):
            if request.status >= 400:
                continue
            if request.method == "POST":
                posts[str(number)] = key_in_text(request.json()["content"]) or ""
            elif request.method == "DELETE":
                posts.pop(request.path.rsplit("/", 1)[1], None)
        return list(posts.values())

    def fail_next(self, kind: str) -> bool:
        if kind == "transient":
            self.reply(Reply(429, {"message": "You are being rate limited.", "retry_after": 1.5}))
        else:
            self.reply(Reply(401, {"message": "Invalid Webhook Token", "code": 50027}))
        return True


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
        return {"DISCORD_HOOK_URL": remote.url + WEBHOOK_PATH}


def test_contract_fake_sees_the_webhook_paths():
    with DiscordWebhook() as server:
        channel = Channel(name="c", adapter="discord", secrets={"hook": "HOOK"})
        adapter = DiscordAdapter(channel, environ={"HOOK": server.url + WEBHOOK_PATH})
        message = TestDiscordContract().make_message(adapter, "k1")
        adapter.delete(adapter.publish(message, "k1"))
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", f"{WEBHOOK_PATH}?wait=true"),
        ("DELETE", f"{WEBHOOK_PATH}/messages/1"),
    ]
    assert server.published() == []
