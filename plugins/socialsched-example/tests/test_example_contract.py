"""example-chat passes the socialsched conformance kit against a fake chat API."""

from __future__ import annotations

import pytest
from socialsched_example import ExampleChatAdapter

from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, LocalServer, Reply


class FakeChat(LocalServer):
    """The chat API on 127.0.0.1: every POST answered 200 {"id": n} unless told otherwise."""

    def published(self) -> list[str]:
        posted = {
            str(number): request.header("Idempotency-Key")
            for number, request in enumerate(self.requests, start=1)
            if request.method == "POST" and request.status == 200
        }
        deleted = {
            request.path.rsplit("/", 1)[1]
            for request in self.requests
            if request.method == "DELETE" and request.status < 300
        }
        return [key for number, key in posted.items() if number not in deleted]

    def fail_next(self, kind: str) -> bool:
        self.reply(Reply(429, headers={"Retry-After": "5"}) if kind == "transient" else Reply(403))
        return True

    def garble_next_reply(self) -> bool:
        self.reply(Reply(200, b"<html>sent</html>"))
        return True


class TestExampleChat(AdapterContract):
    adapter_class = ExampleChatAdapter

    @pytest.fixture
    def remote(self):
        with FakeChat() as server:
            yield server

    @pytest.fixture
    def channel(self, remote):
        return Channel(
            name="chat",
            adapter="example-chat",
            settings={"base_url": remote.url},
            secrets={"token": "EXAMPLE_CHAT_TOKEN"},
        )

    @pytest.fixture
    def environ(self):
        return {"SOCIALSCHED_SECRET_EXAMPLE_CHAT_TOKEN": "chat-token-abc-123"}


def test_direct_messages_go_to_the_recipient():
    from socialsched.calendar.audiences import Audience

    with FakeChat() as server:
        channel = Channel(
            name="chat",
            adapter="example-chat",
            settings={"base_url": server.url},
            secrets={"token": "T"},
        )
        adapter = ExampleChatAdapter(channel, environ={"SOCIALSCHED_SECRET_T": "tok"})
        message = TestExampleChat().make_message(
            adapter, "k1", audience=Audience("recipient", "@ana")
        )
        adapter.publish(message, "k1")
        [request] = server.requests
        assert request.path == "/direct"
        assert request.json() == {"to": "@ana", "text": message.text}
        assert request.header("Authorization") == "Bearer tok"


def test_a_refused_token_is_credentials_rejected():
    from socialsched.adapters import CredentialsRejected

    with FakeChat() as server:
        channel = Channel(
            name="chat",
            adapter="example-chat",
            settings={"base_url": server.url},
            secrets={"token": "T"},
        )
        adapter = ExampleChatAdapter(channel, environ={"SOCIALSCHED_SECRET_T": "expired"})
        server.reply(Reply(401))
        message = TestExampleChat().make_message(adapter, "k1")
        with pytest.raises(CredentialsRejected, match="401"):
            adapter.publish(message, "k1")
