"""The slack adapter passes socialsched's conformance kit: its webhook side against a real
local HTTP server, its bot side against a fake Slack Web API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx
from fake_slack import FakeSlackApi
from socialsched_slack import SlackAdapter

from socialsched.adapters import Adapter
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, LocalServer, Reply, key_in_text

WEBHOOK_PATH = "/services/T0CONTRACT/B0CONTRACT/hooksecretpart"


class SlackWebhook(LocalServer):
    """A local incoming webhook: each accepted POST is one Slack message."""

    def published(self) -> list[str]:
        # A message without text (verify's probe) is refused by Slack and posts nothing.
        return [
            key_in_text(request.json()["text"]) or ""
            for request in self.requests
            if request.method == "POST" and request.status < 400 and "text" in request.json()
        ]

    def fail_next(self, kind: str) -> bool:
        if kind == "transient":
            self.reply(Reply(429, b"rate_limited", headers={"Retry-After": "7"}))
        else:
            self.reply(Reply(403, b"action_prohibited"))
        return True


class TestSlackContract(AdapterContract):
    adapter_class = SlackAdapter

    def make_audience(self, adapter: Adapter) -> Audience:
        return Audience("webhook", "hook")

    @pytest.fixture
    def remote(self) -> Iterator[SlackWebhook]:
        with SlackWebhook() as server:
            yield server

    @pytest.fixture
    def channel(self, remote: SlackWebhook) -> Channel:
        return Channel(
            name="team-slack",
            adapter="slack",
            audiences={"team": "webhook:hook"},
            secrets={"hook": "SLACK_HOOK_URL"},
            settings={"format": "text"},
        )

    @pytest.fixture
    def environ(self, remote: SlackWebhook) -> dict[str, str]:
        return {"SOCIALSCHED_SECRET_SLACK_HOOK_URL": remote.url + WEBHOOK_PATH}


def test_contract_requests_went_to_the_webhook_path():
    # The contract fake answers any path; the URL the adapter posts to is the secret's.
    with SlackWebhook() as server:
        channel = Channel(name="c", adapter="slack", secrets={"hook": "HOOK"})
        adapter = SlackAdapter(
            channel, environ={"SOCIALSCHED_SECRET_HOOK": server.url + WEBHOOK_PATH}
        )
        contract = TestSlackContract()
        adapter.publish(contract.make_message(adapter, "k1"), "k1")
    assert [(r.method, r.path) for r in server.requests] == [("POST", WEBHOOK_PATH)]
    assert server.published() == ["k1"]


BOT_TOKEN = "xoxb-contract-s3cr3t-token"
API_URL = "https://slack.contract.example/api"


class TestSlackBotContract(AdapterContract):
    """The bot-token side: chat.postMessage, the external file upload flow, auth.test,
    conversations.history lookups and deletes, against a fake Slack Web API."""

    adapter_class = SlackAdapter

    def make_audience(self, adapter: Adapter) -> Audience:
        return Audience("group", "C0CONTRACT")

    @pytest.fixture
    def remote(self) -> Iterator[FakeSlackApi]:
        with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
            yield FakeSlackApi(router, API_URL, BOT_TOKEN)

    @pytest.fixture
    def channel(self, remote: FakeSlackApi) -> Channel:
        return Channel(
            name="team-slack",
            adapter="slack",
            audiences={"team": "group:C0CONTRACT"},
            secrets={"bot_token": "SLACK_BOT_TOKEN"},
            settings={"format": "text", "api_url": API_URL},
        )

    @pytest.fixture
    def environ(self) -> dict[str, str]:
        return {"SOCIALSCHED_SECRET_SLACK_BOT_TOKEN": BOT_TOKEN}
