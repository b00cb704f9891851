"""The Matrix adapter against a fake homeserver: a real HTTP server on 127.0.0.1 that
records every request and deduplicates transaction ids as the Client-Server spec says."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from socialsched_matrix import MatrixAdapter
from socialsched_matrix.adapter import transaction_id

from socialsched.adapters import Message, PermanentError, Receipt, TransientError
from socialsched.audiences import Audience
from socialsched.model import Channel
from socialsched.registry import adapter_class

TOKEN = "syt_c2VjcmV0_token_value"
ROOM = "!news:hs.example"
ALIAS = "#news-fr:hs.example"
API = "/_matrix/client/v3"
NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)


class FakeHomeserver:
    """Records requests; answers send, redact and alias lookups like a homeserver."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.scripted: list[tuple[int, dict[str, Any]]] = []
        self.events: dict[tuple[str, str], str] = {}  # (token, txn id) -> event id
        self.aliases = {ALIAS: ROOM}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.handle(self)

            def do_PUT(self) -> None:
                fake.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        path = urlsplit(handler.path).path
        record = {
            "method": handler.command,
            "path": unquote(path),
            "raw_path": path,
            "authorization": handler.headers.get("Authorization"),
            "body": json.loads(raw) if raw else None,
        }
        self.requests.append(record)
        status, body = self.answer(record)
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def answer(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.scripted:
            return self.scripted.pop(0)
        if request["authorization"] != f"Bearer {TOKEN}":
            return 401, {"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token"}
        parts = request["path"].removeprefix(API).strip("/").split("/")
        if request["method"] == "GET" and parts[:2] == ["directory", "room"]:
            alias = parts[2]
            if alias in self.aliases:
                return 200, {"room_id": self.aliases[alias], "servers": ["hs.example"]}
            return 404, {"errcode": "M_NOT_FOUND", "error": "Room alias not found"}
        if request["method"] == "PUT" and parts[0] == "rooms" and parts[2] in ("send", "redact"):
            txn = parts[-1]
            key = (request["authorization"], txn)
            if key not in self.events:
                self.events[key] = f"${len(self.events) + 1}abc"
            return 200, {"event_id": self.events[key]}
        return 404, {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}


@pytest.fixture
def homeserver() -> Iterator[FakeHomeserver]:
    server = FakeHomeserver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def make_adapter(homeserver: FakeHomeserver, **settings: object) -> MatrixAdapter:
    channel = Channel(
        name="mx",
        adapter="matrix",
        secrets={"access_token": "MATRIX_TOKEN"},
        settings={"homeserver": homeserver.url, "user_id": "@brand:hs.example", **settings},
    )
    return MatrixAdapter(channel, environ={"MATRIX_TOKEN": TOKEN})


def make_message(text: str = "Bonne année !", audience: str | None = f"room:{ROOM}") -> Message:
    return Message(
        delivery_id="d1",
        post="newyear",
        segment="fr",
        channel="mx",
        locale="fr-FR",
        text=text,
        utc=NOW,
        local=NOW,
        audience=None if audience is None else Audience.parse(audience),
    )


def test_registered_through_entry_point() -> None:
    assert adapter_class("matrix") is MatrixAdapter


def test_publish_sends_exact_request(homeserver: FakeHomeserver) -> None:
    receipt = make_adapter(homeserver).publish(make_message(), "key-1")
    assert receipt == Receipt(
        remote_id=f"{ROOM}/$1abc",
        url=f"https://matrix.to/#/{ROOM}/$1abc",
        extra={"room_id": ROOM, "event_id": "$1abc"},
    )
    (request,) = homeserver.requests
    assert request["method"] == "PUT"
    assert request["path"] == f"{API}/rooms/{ROOM}/send/m.room.message/key-1"
    assert request["authorization"] == f"Bearer {TOKEN}"
    assert request["body"] == {"msgtype": "m.text", "body": "Bonne année !"}


def test_same_key_is_the_same_transaction_so_one_event(homeserver: FakeHomeserver) -> None:
    first = make_adapter(homeserver).publish(make_message(), "key-1")
    second = make_adapter(homeserver).publish(make_message(), "key-1")
    assert first == second
    assert len(homeserver.events) == 1
    assert len(homeserver.requests) == 2


def test_unsafe_key_becomes_hashed_transaction_id(homeserver: FakeHomeserver) -> None:
    make_adapter(homeserver).publish(make_message(), "cal/post 1:fr")
    expected = transaction_id("cal/post 1:fr")
    assert len(expected) == 64 and "/" not in expected
    assert homeserver.requests[0]["raw_path"].endswith(f"/m.room.message/{expected}")


def test_alias_is_resolved_then_used(homeserver: FakeHomeserver) -> None:
    adapter = make_adapter(homeserver)
    adapter.publish(make_message(audience=f"room:{ALIAS}"), "k1")
    adapter.publish(make_message(audience=f"room:{ALIAS}"), "k2")
    paths = [(r["method"], r["path"]) for r in homeserver.requests]
    assert paths == [
        ("GET", f"{API}/directory/room/{ALIAS}"),
        ("PUT", f"{API}/rooms/{ROOM}/send/m.room.message/k1"),
        ("PUT", f"{API}/rooms/{ROOM}/send/m.room.message/k2"),
    ]


def test_unknown_alias_is_permanent(homeserver: FakeHomeserver) -> None:
    with pytest.raises(PermanentError, match="M_NOT_FOUND"):
        make_adapter(homeserver).publish(make_message(audience="room:#nope:hs.example"), "k")


def test_html_format_and_notice(homeserver: FakeHomeserver) -> None:
    adapter = make_adapter(homeserver, format="html", msgtype="m.notice")
    adapter.publish(make_message("<b>Soldes</b> &amp; plus"), "k")
    assert homeserver.requests[0]["body"] == {
        "msgtype": "m.notice",
        "body": "Soldes & plus",
        "format": "org.matrix.custom.html",
        "formatted_body": "<b>Soldes</b> &amp; plus",
    }


def test_rate_limit_is_transient_with_retry_after(homeserver: FakeHomeserver) -> None:
    homeserver.scripted.append(
        (429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests", "retry_after_ms": 2500})
    )
    with pytest.raises(TransientError) as caught:
        make_adapter(homeserver).publish(make_message(), "k")
    assert caught.value.retry_after == 2.5
    assert len(homeserver.requests) == 1  # nio did not sleep and retry on its own


def test_server_error_is_transient(homeserver: FakeHomeserver) -> None:
    homeserver.scripted.append((502, {"errcode": "M_UNKNOWN", "error": "Bad gateway"}))
    with pytest.raises(TransientError):
        make_adapter(homeserver).publish(make_message(), "k")


def test_forbidden_and_bad_token_are_permanent_without_secret(
    homeserver: FakeHomeserver,
) -> None:
    homeserver.scripted.append((403, {"errcode": "M_FORBIDDEN", "error": "not in room"}))
    with pytest.raises(PermanentError, match="M_FORBIDDEN"):
        make_adapter(homeserver).publish(make_message(), "k")
    channel = Channel(
        name="mx",
        adapter="matrix",
        secrets={"access_token": "MATRIX_TOKEN"},
        settings={"homeserver": homeserver.url, "user_id": "@brand:hs.example"},
    )
    wrong = MatrixAdapter(channel, environ={"MATRIX_TOKEN": "wrong-token-value"})
    with pytest.raises(PermanentError, match="M_UNKNOWN_TOKEN") as caught:
        wrong.publish(make_message(), "k")
    assert "wrong-token-value" not in str(caught.value)
    assert TOKEN not in repr(make_adapter(homeserver))


def test_unreachable_homeserver_is_transient(homeserver: FakeHomeserver) -> None:
    homeserver.server.shutdown()
    homeserver.server.server_close()
    with pytest.raises(TransientError, match="unreachable"):
        make_adapter(homeserver).publish(make_message(), "k")


def test_delete_redacts_the_event(homeserver: FakeHomeserver) -> None:
    adapter = make_adapter(homeserver)
    receipt = adapter.publish(make_message(), "k")
    adapter.delete(receipt)
    redact = homeserver.requests[-1]
    assert redact["method"] == "PUT"
    assert redact["path"].startswith(f"{API}/rooms/{ROOM}/redact/$1abc/")
    assert redact["body"] == {}


def test_publish_works_inside_a_running_event_loop(homeserver: FakeHomeserver) -> None:
    async def caller() -> Receipt:
        return make_adapter(homeserver).publish(make_message(), "k")

    assert asyncio.run(caller()).extra["room_id"] == ROOM


def test_validation_names_segment_and_bad_room() -> None:
    channel = Channel(
        name="mx",
        adapter="matrix",
        secrets={"access_token": "MATRIX_TOKEN"},
        settings={"homeserver": "https://hs.example", "user_id": "@brand:hs.example"},
    )
    adapter = MatrixAdapter(channel, environ={})
    problems = adapter.validate(make_message(audience="room:news"))
    assert len(problems) == 1 and "'fr'" in problems[0] and "room:news" in problems[0]
    problems = adapter.validate(make_message(audience=None))
    assert len(problems) == 1 and "room:!id:server" in problems[0]
    problems = adapter.validate(make_message(audience="group:-100123"))
    assert len(problems) == 1 and "'group'" in problems[0] and "supports: room" in problems[0]
    assert adapter.validate(make_message("x" * 70_000)) != []
    assert adapter.validate(make_message("x" * 1000)) == []


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(PermanentError, match=r"settings\.homeserver"):
        MatrixAdapter(Channel(name="mx", adapter="matrix"), environ={})
    channel = Channel(
        name="mx",
        adapter="matrix",
        settings={"homeserver": "https://h", "user_id": "@b:h", "msgtype": "m.emote"},
    )
    with pytest.raises(PermanentError, match="msgtype"):
        MatrixAdapter(channel, environ={})
