"""Reading an instance's limits at plan time goes through socialsched's guarded fetch.

The instance is named by the calendar, which many hands edit: asking it must not reach
internal addresses, nor read an endless answer, nor carry the token.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpcore
import pytest
from socialsched_mastodon import MastodonAdapter

from socialsched.adapters import Message
from socialsched.calendar.model import Channel

TOKEN = "s3cr3t-mastodon-token"
ENV = {"SOCIALSCHED_SECRET_MASTO_TOKEN": TOKEN}
NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)


def adapter_for(instance: str) -> MastodonAdapter:
    channel = Channel(
        name="fedi",
        adapter="mastodon",
        secrets={"token": "MASTO_TOKEN"},
        settings={"instance": instance, "instance_limits": True},
    )
    return MastodonAdapter(channel, environ=ENV)


def message(text: str) -> Message:
    return Message(
        delivery_id="d1",
        post="p",
        segment="s",
        channel="fedi",
        locale="en",
        text=text,
        utc=NOW,
        local=NOW,
    )


class NoConnections(httpcore.NetworkBackend):
    """A backend that records what it was asked to connect to and refuses."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.asked.append((host, port))
        raise httpcore.ConnectError("test backend: no connections")


@pytest.mark.parametrize("address", ["10.0.0.5", "169.254.169.254", "127.0.0.1", "fd00::1"])
def test_an_instance_resolving_to_an_internal_address_is_never_asked(address, monkeypatch):
    monkeypatch.delenv("SOCIALSCHED_ALLOWED_NETWORKS", raising=False)
    backend = NoConnections()
    adapter = adapter_for("https://instance.example")
    adapter.instance_fetch_options = {
        "resolver": lambda host, port: [address],
        "network_backend": backend,
    }
    # Mastodon's default limit stays: 500 characters.
    assert adapter.validate(message("x" * 500)) == []
    assert adapter.validate(message("x" * 501)) != []
    assert backend.asked == []


class InstanceHandler(BaseHTTPRequestHandler):
    seen_headers: ClassVar[list[dict[str, str]]] = []
    body = b""

    def do_GET(self) -> None:
        type(self).seen_headers.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def instance_server() -> Iterator[tuple[str, type[InstanceHandler]]]:
    handler = type("Handler", (InstanceHandler,), {"seen_headers": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_an_allowed_local_instance_is_read_without_the_token(instance_server, monkeypatch):
    url, handler = instance_server
    handler.body = json.dumps({"configuration": {"statuses": {"max_characters": 1000}}}).encode()
    monkeypatch.setenv("SOCIALSCHED_ALLOWED_NETWORKS", "127.0.0.1/32")
    adapter = adapter_for(url)
    assert adapter.validate(message("x" * 1000)) == []
    assert adapter.validate(message("x" * 1001)) != []
    assert len(handler.seen_headers) == 1
    assert not any(TOKEN in value for value in handler.seen_headers[0].values())
    assert "Authorization" not in handler.seen_headers[0]


def test_the_loopback_is_refused_unless_allowed(instance_server, monkeypatch):
    url, handler = instance_server
    handler.body = json.dumps({"configuration": {"statuses": {"max_characters": 1000}}}).encode()
    monkeypatch.delenv("SOCIALSCHED_ALLOWED_NETWORKS", raising=False)
    adapter = adapter_for(url)
    assert adapter.validate(message("x" * 501)) != []  # the default 500 stays
    assert handler.seen_headers == []


def test_an_oversized_answer_keeps_the_defaults(instance_server, monkeypatch):
    url, handler = instance_server
    padding = "x" * 2_000_000
    handler.body = json.dumps(
        {"configuration": {"statuses": {"max_characters": 1000}}, "pad": padding}
    ).encode()
    monkeypatch.setenv("SOCIALSCHED_ALLOWED_NETWORKS", "127.0.0.1/32")
    adapter = adapter_for(url)
    assert adapter.validate(message("x" * 501)) != []
