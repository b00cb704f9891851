"""The Matrix adapter against a fake homeserver: a real HTTP server on 127.0.0.1 that
records every request and deduplicates transaction ids as the Client-Server spec says."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import attrs
import pytest
from socialsched_matrix import MatrixAdapter
from socialsched_matrix import adapter as matrix_adapter
from socialsched_matrix.adapter import transaction_id

from socialsched.adapters import (
    CredentialsRejected,
    Message,
    MissingSecretError,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.adapters.registry import adapter_class
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.media import Media
from socialsched.testing import sample_image, sample_video

TOKEN = "syt_c2VjcmV0_token_value"
ROOM = "!news:hs.example"
ALIAS = "#news-fr:hs.example"
API = "/_matrix/client/v3"
MEDIA_UPLOAD = "/_matrix/media/v3/upload"
USER = "@brand:hs.example"
NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)


class FakeHomeserver:
    """Records requests; answers send, redact, alias lookups, media uploads, whoami and
    room history (`/messages`, newest first with `from`/`limit` paging and the
    `senders`/`types` filter) like a homeserver."""

    def __init__(self, keep_alive: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self.connections: set[tuple[str, int]] = set()  # client addresses seen
        self.scripted: list[tuple[int, dict[str, Any]]] = []
        self.events: dict[tuple[str, str], str] = {}  # (token, txn id) -> event id
        self.timeline: dict[str, list[dict[str, Any]]] = {}  # room id -> events, oldest first
        self.media: dict[str, tuple[str, bytes]] = {}  # mxc URI -> (content type, bytes)
        self.aliases = {ALIAS: ROOM}
        self.clock_ms = int(time.time() * 1000)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 keeps a connection open across requests (to count them).
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.handle(self)

            def do_PUT(self) -> None:
                fake.handle(self)

            def do_POST(self) -> None:
                fake.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        url = urlsplit(handler.path)
        content_type = handler.headers.get("Content-Type") or ""
        record = {
            "method": handler.command,
            "path": unquote(url.path),
            "raw_path": url.path,
            "query": {key: values[0] for key, values in parse_qs(url.query).items()},
            "authorization": handler.headers.get("Authorization"),
            "content_type": content_type,
            "body": json.loads(raw) if raw and content_type == "application/json" else None,
            "data": raw,
        }
        self.requests.append(record)
        self.connections.add(handler.client_address)
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
        if request["path"] == MEDIA_UPLOAD and request["method"] == "POST":
            uri = f"mxc://hs.example/m{len(self.media) + 1}"
            self.media[uri] = (request["content_type"], request["data"])
            return 200, {"content_uri": uri}
        parts = request["path"].removeprefix(API).strip("/").split("/")
        if request["method"] == "GET" and parts == ["account", "whoami"]:
            return 200, {"user_id": USER, "device_id": "DEVICE1", "is_guest": False}
        if request["method"] == "GET" and parts[:2] == ["directory", "room"]:
            alias = parts[2]
            if alias in self.aliases:
                return 200, {"room_id": self.aliases[alias], "servers": ["hs.example"]}
            return 404, {"errcode": "M_NOT_FOUND", "error": "Room alias not found"}
        if request["method"] == "GET" and parts[0] == "rooms" and parts[2] == "messages":
            return self.messages(parts[1], request["query"])
        if request["method"] == "PUT" and parts[0] == "rooms" and parts[2] in ("send", "redact"):
            txn = parts[-1]
            key = (request["authorization"], txn)
            if key not in self.events:
                self.events[key] = f"${len(self.events) + 1}abc"
                if parts[2] == "send":
                    self.clock_ms += 1000
                    self.timeline.setdefault(parts[1], []).append(
                        {
                            "type": parts[3],
                            "event_id": self.events[key],
                            "sender": USER,
                            "room_id": parts[1],
                            "origin_server_ts": self.clock_ms,
                            "content": request["body"],
                            "unsigned": {"transaction_id": txn},
                        }
                    )
            return 200, {"event_id": self.events[key]}
        return 404, {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}

    def messages(self, room_id: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        assert query.get("dir") == "b", "the adapter reads history backwards"
        wanted = json.loads(query.get("filter", "{}"))
        events = [
            event
            for event in reversed(self.timeline.get(room_id, []))
            if event["sender"] in wanted.get("senders", [event["sender"]])
            and event["type"] in wanted.get("types", [event["type"]])
        ]
        start, limit = int(query.get("from") or 0), int(query.get("limit", 10))
        chunk = events[start : start + limit]
        body: dict[str, Any] = {"chunk": chunk, "start": str(start)}
        if start + limit < len(events):
            body["end"] = str(start + limit)
        return 200, body


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
    return MatrixAdapter(channel, environ={"SOCIALSCHED_SECRET_MATRIX_TOKEN": TOKEN})


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
    assert request["body"] == {
        "msgtype": "m.text",
        "body": "Bonne année !",
        "org.socialsched.post": {"key": "key-1", "event": 1, "events": 1},
    }


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
        "org.socialsched.post": {"key": "k", "event": 1, "events": 1},
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
    wrong = MatrixAdapter(channel, environ={"SOCIALSCHED_SECRET_MATRIX_TOKEN": "wrong-token-value"})
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


# ---- media, verify, find, credentials ----


def with_media(text: str, *media: Media) -> Message:
    return attrs.evolve(make_message(text), attachments=media)


def sends(homeserver: FakeHomeserver) -> list[dict[str, Any]]:
    return [r for r in homeserver.requests if r["method"] == "PUT" and "/send/" in r["path"]]


def test_media_are_uploaded_then_sent_as_events_with_alt_text_then_the_text(
    homeserver: FakeHomeserver,
) -> None:
    image = sample_image(alt="Croissants on a tray")
    clip = sample_video(alt="A baker at work")
    receipt = make_adapter(homeserver).publish(with_media("Nouveautés", image, clip), "key-1")

    first, second = (r for r in homeserver.requests if r["method"] == "POST")
    assert (first["path"], first["query"], first["content_type"]) == (
        MEDIA_UPLOAD,
        {"filename": "card.png"},
        "image/png",
    )
    assert first["data"] == image.read()
    assert first["authorization"] == f"Bearer {TOKEN}"
    assert (second["query"], second["content_type"], second["data"]) == (
        {"filename": "clip.mp4"},
        "video/mp4",
        clip.read(),
    )
    events = sends(homeserver)
    assert [r["path"].rsplit("/", 1)[1] for r in events] == [
        transaction_id("key-1#media1"),
        transaction_id("key-1#media2"),
        "key-1",
    ]
    assert [r["body"] for r in events] == [
        {
            "msgtype": "m.image",
            "body": "Croissants on a tray",
            "info": {"mimetype": "image/png", "size": image.size, "w": 64, "h": 48},
            "url": "mxc://hs.example/m1",
            "org.socialsched.post": {"key": "key-1", "event": 1, "events": 3},
        },
        {
            "msgtype": "m.video",
            "body": "A baker at work",
            "info": {"mimetype": "video/mp4", "size": clip.size},
            "url": "mxc://hs.example/m2",
            "org.socialsched.post": {"key": "key-1", "event": 2, "events": 3},
        },
        {
            "msgtype": "m.text",
            "body": "Nouveautés",
            "org.socialsched.post": {"key": "key-1", "event": 3, "events": 3},
        },
    ]
    assert receipt == Receipt(
        remote_id=f"{ROOM}/$3abc",
        url=f"https://matrix.to/#/{ROOM}/$3abc",
        extra={"room_id": ROOM, "event_id": "$3abc", "media_event_ids": ["$1abc", "$2abc"]},
    )
    # Sending again posts no event twice (the homeserver knows the transaction ids).
    assert make_adapter(homeserver).publish(with_media("Nouveautés", image, clip), "key-1") == (
        receipt
    )
    assert len(homeserver.timeline[ROOM]) == 3


def test_media_without_text_and_without_alt_text(homeserver: FakeHomeserver) -> None:
    image = sample_image(alt="")
    assert make_adapter(homeserver).validate(with_media("", image)) == []
    receipt = make_adapter(homeserver).publish(with_media("", image), "key-2")
    (event,) = sends(homeserver)
    assert event["body"]["body"] == "card.png"  # no alt text: the file name, as the spec says
    assert event["path"].endswith("/key-2")  # the post's last event has the key's own txn id
    assert receipt.remote_id == f"{ROOM}/$1abc" and "media_event_ids" not in receipt.extra


def test_upload_limit_follows_the_homeservers_setting() -> None:
    channel = Channel(
        name="mx",
        adapter="matrix",
        settings={"homeserver": "https://hs", "user_id": USER, "max_upload_mb": 100},
    )
    big = attrs.evolve(sample_image(), size=60 * 1024 * 1024)
    assert MatrixAdapter(channel, environ={}).validate(with_media("x", big)) == []
    settings = {"homeserver": "https://hs", "user_id": USER}
    default = MatrixAdapter(Channel(name="mx", adapter="matrix", settings=settings), environ={})
    assert default.validate(with_media("x", big)) == [
        f"card.png: {60 * 1024 * 1024} bytes; matrix takes at most {50 * 1024 * 1024} "
        "bytes per image"
    ]
    assert MatrixAdapter.required_settings == ("homeserver", "user_id")
    assert MatrixAdapter.required_secrets == ("access_token",)


def test_delete_redacts_every_event_of_the_post(homeserver: FakeHomeserver) -> None:
    adapter = make_adapter(homeserver)
    adapter.delete(adapter.publish(with_media("Texte", sample_image()), "k"))
    redacted = [r["path"] for r in homeserver.requests if "/redact/" in r["path"]]
    assert [path.split("/redact/")[1].split("/")[0] for path in redacted] == ["$1abc", "$2abc"]


def test_verify_asks_whoami(homeserver: FakeHomeserver) -> None:
    said = make_adapter(homeserver).verify()
    assert said == f"matrix {USER} on {homeserver.url} (device DEVICE1)"
    (request,) = homeserver.requests
    assert (request["method"], request["path"]) == ("GET", f"{API}/account/whoami")


def test_verify_rejects_a_token_of_another_account_or_a_bad_one(
    homeserver: FakeHomeserver,
) -> None:
    homeserver.scripted.append((200, {"user_id": "@intern:hs.example", "device_id": "X"}))
    with pytest.raises(CredentialsRejected, match=r"belongs to @intern:hs\.example"):
        make_adapter(homeserver).verify()
    channel = make_adapter(homeserver).channel
    wrong = MatrixAdapter(channel, environ={"SOCIALSCHED_SECRET_MATRIX_TOKEN": "syt_wrong_value"})
    with pytest.raises(CredentialsRejected, match="M_UNKNOWN_TOKEN") as caught:
        wrong.verify()
    assert "syt_wrong_value" not in str(caught.value)
    with pytest.raises(CredentialsRejected, match="M_UNKNOWN_TOKEN"):
        wrong.publish(make_message(), "k")
    with pytest.raises(MissingSecretError, match="MATRIX_TOKEN"):
        MatrixAdapter(channel, environ={}).verify()


def test_verify_unreachable_is_transient(homeserver: FakeHomeserver) -> None:
    homeserver.server.shutdown()
    homeserver.server.server_close()
    with pytest.raises(TransientError, match="unreachable"):
        make_adapter(homeserver).verify()


def test_a_new_worker_finds_the_post_by_its_marker(homeserver: FakeHomeserver) -> None:
    image = sample_image()
    posted = make_adapter(homeserver).publish(with_media("Soldes", image), "key-1")
    make_adapter(homeserver).publish(make_message("Soldes"), "key-2")  # same text
    before = len(homeserver.requests)
    assert make_adapter(homeserver).find(with_media("Soldes", image), "key-1") == posted
    (read,) = homeserver.requests[before:]
    assert (read["method"], read["path"]) == ("GET", f"{API}/rooms/{ROOM}/messages")
    assert read["query"]["dir"] == "b" and read["query"]["limit"] == "100"
    assert json.loads(read["query"]["filter"]) == {"types": ["m.room.message"], "senders": [USER]}
    assert make_adapter(homeserver).find(make_message("Soldes"), "key-3") is None


def test_an_incomplete_post_is_not_found(homeserver: FakeHomeserver) -> None:
    make_adapter(homeserver).publish(with_media("Soldes", sample_image()), "key-1")
    del homeserver.timeline[ROOM][-1]  # the worker died before the text event
    assert make_adapter(homeserver).find(with_media("Soldes", sample_image()), "key-1") is None


def test_find_pages_back_until_a_day_before_the_due_time(
    homeserver: FakeHomeserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matrix_adapter, "FIND_PAGE", 2)
    adapter = make_adapter(homeserver)
    now = datetime.now(UTC)
    homeserver.clock_ms = int((now - timedelta(days=3)).timestamp() * 1000)
    for number in range(4):
        adapter.publish(make_message(f"old {number}"), f"old-{number}")
    homeserver.clock_ms = int(now.timestamp() * 1000)
    for number in range(3):
        adapter.publish(make_message(f"new {number}"), f"new-{number}")
    due_now = attrs.evolve(make_message(), utc=now)
    before = len(homeserver.requests)
    assert make_adapter(homeserver).find(due_now, "never-sent") is None
    pages = homeserver.requests[before:]
    # Newest first: new-2, new-1 | new-0, old-3 -> older than a day before: stop.
    assert [page["query"].get("from") for page in pages] == [None, "2"]
    # The last new post is found on the first page.
    assert make_adapter(homeserver).find(due_now, "new-2") is not None


def test_an_unreadable_answer_after_sending_is_still_a_receipt(
    homeserver: FakeHomeserver,
) -> None:
    homeserver.scripted.append((200, {"unexpected": True}))
    receipt = make_adapter(homeserver).publish(make_message(), "k")
    assert receipt == Receipt(remote_id=f"{ROOM}/?", extra={"room_id": ROOM, "event_id": "?"})


def test_publishes_reuse_one_connection_and_close_ends_it() -> None:
    server = FakeHomeserver(keep_alive=True)
    server.thread.start()
    try:
        adapter = make_adapter(server)
        for number in range(4):
            adapter.publish(make_message(f"post {number}"), f"key-{number}")
        assert len(server.requests) >= 4
        assert len(server.connections) == 1  # one client, one kept connection
        adapter.close()
        adapter.publish(make_message("after close"), "key-after")
        adapter.close()
        assert len(server.connections) == 2  # a new client after close
    finally:
        server.server.shutdown()
        server.server.server_close()
