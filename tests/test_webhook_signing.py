"""Webhooks follow Standard Webhooks: the official `standardwebhooks` library accepts
what the adapter sends, the signature covers id, time and body, the receiver helper
refuses replays and clock skew past 5 minutes, and the signed ping needs a 2xx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks

from socialsched.adapters import CredentialsRejected, Message, PermanentError, TransientError
from socialsched.adapters.webhook import WebhookAdapter, verify_signature
from socialsched.adapters.webhook_signing import (
    SignatureError,
    SigningKeyError,
    key_bytes,
    new_key,
    sign,
)
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.testing import LocalServer, Reply

RAW = bytes(range(32))
KEY = "whsec_" + base64.b64encode(RAW).decode()
SECRET = "HOOK_KEY"
# Granted the way operators grant socialsched's secrets.
ENV = {f"SOCIALSCHED_SECRET_{SECRET}": KEY}


@pytest.fixture
def server():
    with LocalServer() as running:
        yield running


def adapter_for(url: str, environ=None) -> WebhookAdapter:
    channel = Channel(
        name="hook",
        adapter="webhook",
        settings={"url": url},
        secrets={"signing_key": SECRET},
    )
    return WebhookAdapter(channel, environ=ENV if environ is None else environ)


def message() -> Message:
    when = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    return Message(
        delivery_id="d1",
        post="p1",
        segment="es-ES",
        channel="hook",
        locale="es-ES",
        text="Hola ✓",
        utc=when,
        local=when,
        audience=Audience("any", None),
    )


def by_hand(message_id: str, timestamp: str, body: bytes) -> str:
    """The spec's signature computed here, independently of socialsched's code."""
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(RAW, signed, hashlib.sha256).digest()).decode()


def test_a_post_carries_the_standard_headers_and_the_official_library_accepts_it(server):
    before = int(time.time())
    adapter_for(f"{server.url}/in").publish(message(), "key-1")
    after = int(time.time())
    [request] = server.requests
    headers = dict(request.headers)
    assert request.header("webhook-id") == "key-1"  # the idempotency key
    assert request.header("Idempotency-Key") == "key-1"  # kept for older receivers
    stamp = request.header("webhook-timestamp")
    assert before <= int(stamp) <= after
    assert request.header("webhook-signature") == by_hand("key-1", stamp, request.body)
    # The official library, with the key as given to socialsched.
    payload = standardwebhooks.Webhook(KEY).verify(request.body, headers)
    assert payload["text"] == "Hola ✓" and payload["type"] == "message"
    assert verify_signature(request.body, headers, KEY) == "key-1"
    # The old body-only header is gone.
    assert request.header("X-Socialsched-Signature") is None


def test_the_signature_covers_the_id_and_the_time_not_only_the_body(server):
    adapter_for(f"{server.url}/in").publish(message(), "key-2")
    [request] = server.requests
    headers = dict(request.headers)
    now = int(headers["webhook-timestamp"])
    for name, value in (("webhook-id", "key-3"), ("webhook-timestamp", str(now - 1))):
        changed = {**headers, name: value}
        with pytest.raises(SignatureError, match="no signature matches"):
            verify_signature(request.body, changed, KEY, now=now)
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            standardwebhooks.Webhook(KEY).verify(request.body, changed)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify_signature(request.body + b" ", headers, KEY, now=now)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify_signature(request.body, headers, new_key(), now=now)


def test_the_receiver_helper_refuses_old_and_future_signatures():
    body = b'{"type": "message"}'
    at = 1_800_000_000
    headers = sign(KEY, "msg_1", body, timestamp=at)
    assert headers["webhook-signature"] == by_hand("msg_1", str(at), body)
    for now in (at - 300, at, at + 300):
        assert verify_signature(body, headers, KEY, now=now) == "msg_1"
    with pytest.raises(SignatureError, match="too long ago"):
        verify_signature(body, headers, KEY, now=at + 301)
    with pytest.raises(SignatureError, match="future"):
        verify_signature(body, headers, KEY, now=at - 301)
    # The library's window agrees: 5 minutes each way from its own clock.
    fresh = sign(KEY, "msg_2", body)
    standardwebhooks.Webhook(KEY).verify(body, fresh)
    stale = sign(KEY, "msg_3", body, timestamp=int(time.time()) - 301)
    with pytest.raises(standardwebhooks.WebhookVerificationError, match="too old"):
        standardwebhooks.Webhook(KEY).verify(body, stale)
    with pytest.raises(SignatureError, match="too long ago"):
        verify_signature(body, stale, KEY)


def test_the_receiver_helper_takes_any_header_case_and_one_of_several_signatures():
    body = b"{}"
    headers = sign(KEY, "msg_1", body, timestamp=1_800_000_000)
    rotated = {
        "Webhook-Id": headers["webhook-id"],
        "WEBHOOK-TIMESTAMP": headers["webhook-timestamp"],
        "webhook-signature": "v1,b2xk " + headers["webhook-signature"],
    }
    assert verify_signature(body, rotated, KEY, now=1_800_000_000) == "msg_1"


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing header"),
        ({"webhook-id": "m", "webhook-timestamp": "1800000000"}, "missing header"),
        (
            {"webhook-id": "m", "webhook-timestamp": "soon", "webhook-signature": "v1,x"},
            "not a number",
        ),
        (
            {"webhook-id": "m", "webhook-timestamp": "1800000000", "webhook-signature": "x"},
            "no signature matches",
        ),
    ],
)
def test_the_receiver_helper_names_what_is_wrong(headers, why):
    with pytest.raises(SignatureError, match=why):
        verify_signature(b"{}", headers, KEY, now=1_800_000_000)


def test_signing_keys_are_whsec_base64_and_an_old_raw_key_is_refused_by_name(server):
    assert key_bytes(KEY) == RAW
    assert key_bytes(KEY.rstrip("=")) == RAW  # unpadded, as the spec's examples are
    assert len(key_bytes(new_key())) == 32
    for bad, why in (
        ("a-raw-key-0123456789abcdef", "whsec_ followed by the key's bytes in base64"),
        ("whsec_not*base64!", "not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "too short"),
    ):
        with pytest.raises(SigningKeyError, match=why):
            key_bytes(bad)
        adapter = adapter_for(f"{server.url}/in", {f"SOCIALSCHED_SECRET_{SECRET}": bad})
        with pytest.raises(CredentialsRejected) as raised:
            adapter.publish(message(), "key-raw")
        assert bad not in str(raised.value)
        assert SECRET in str(raised.value) and "signing_key" in str(raised.value)
    assert server.requests == []  # nothing is sent with a key in the wrong form
    # How the docs say to keep an existing raw key: whsec_ + base64 of its bytes.
    old = "a-raw-key-0123456789abcdef"
    converted = "whsec_" + base64.b64encode(old.encode()).decode()
    assert key_bytes(converted) == old.encode()


def test_check_posts_a_signed_ping_the_official_library_accepts(server):
    adapter = adapter_for(f"{server.url}/in/path")
    assert "HTTP 200" in adapter.verify()
    adapter.verify()
    first, second = server.requests
    assert (first.method, first.path) == ("POST", "/in/path")
    ping = standardwebhooks.Webhook(KEY).verify(first.body, dict(first.headers))
    assert ping["type"] == "ping" and ping["channel"] == "hook"
    datetime.strptime(ping["time"], "%Y-%m-%dT%H:%M:%SZ")
    # Each ping has an id of its own (a receiver dropping seen ids still answers).
    assert first.header("webhook-id") != second.header("webhook-id")
    assert first.header("webhook-id").startswith("ping_")
    assert first.header("Idempotency-Key") is None  # a ping is no post
    assert json.loads(first.body) == ping


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, PermanentError),
        (405, PermanentError),
        (301, PermanentError),
        (302, PermanentError),
        (401, CredentialsRejected),
        (403, CredentialsRejected),
        (500, TransientError),
        (429, TransientError),
    ],
)
def test_any_answer_but_a_2xx_fails_the_check(server, status, error):
    server.reply(Reply(status, headers={"Location": f"{server.url}/elsewhere"}))
    with pytest.raises(error, match=str(status)):
        adapter_for(f"{server.url}/wrong").verify()
    assert len(server.requests) == 1  # a redirect is not followed


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_a_2xx_answer_passes_the_check(server, status):
    server.reply(Reply(status))
    assert f"HTTP {status}" in adapter_for(f"{server.url}/in").verify()


def test_a_non_2xx_ping_is_a_permanent_error_naming_the_status(server):
    server.reply(Reply(404))
    with pytest.raises(PermanentError, match="404") as raised:
        adapter_for(f"{server.url}/tok-in-path").verify()
    assert "tok-in-path" not in str(raised.value)  # paths may hold tokens
