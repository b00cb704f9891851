"""The webhook adapter against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import attrs
import httpx
import pytest

from socialsched.adapters import (
    CredentialsRejected,
    Message,
    MissingSecretError,
    PermanentError,
    TransientError,
)
from socialsched.adapters.webhook import (
    SignatureError,
    WebhookAdapter,
    parse_retry_after,
    verify_signature,
)
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.media.model import Media
from socialsched.testing import LocalServer, Reply

KEY = "whsec_" + base64.b64encode(b"test-key-0123456789abcdef").decode()
ENV = {"SOCIALSCHED_SECRET_HOOK_KEY": KEY}


@pytest.fixture
def server():
    with LocalServer() as running:
        yield running


def make_adapter(server, **settings):
    channel = Channel(
        name="hook",
        adapter="webhook",
        settings={"url": f"{server.url}/in/tok-path", **settings},
        secrets={"signing_key": "HOOK_KEY"},
    )
    return WebhookAdapter(channel, environ=ENV)


def message(text="Hola"):
    when = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    return Message(
        delivery_id="d1",
        post="p1",
        segment="es-ES",
        channel="hook",
        locale="es-ES",
        text=text,
        utc=when,
        local=when,
        audience=Audience("list", "clientes-es"),
        tags=("promo",),
    )


def test_2xx_returns_the_remote_id_and_url_and_posts_the_message(server):
    server.reply(Reply(201, {"id": "post-77", "url": "https://net.example/p/77"}))
    receipt = make_adapter(server).publish(message(), "key-1")
    assert (receipt.remote_id, receipt.url) == ("post-77", "https://net.example/p/77")
    [request] = server.requests
    assert request.method == "POST" and request.path == "/in/tok-path"
    assert request.header("Idempotency-Key") == "key-1"
    assert request.header("Content-Type") == "application/json"
    body = request.json()
    assert body["text"] == "Hola"
    assert body["idempotency_key"] == "key-1"
    assert body["audience"] == {"kind": "list", "id": "clientes-es"}
    assert body["utc"] == "2027-03-01T09:00:00+00:00"


def test_2xx_without_a_json_body_uses_the_idempotency_key_as_remote_id(server):
    server.reply(Reply(204))
    receipt = make_adapter(server).publish(message(), "key-2")
    assert receipt.remote_id == "key-2" and receipt.url is None


def test_signature_is_hmac_sha256_of_id_timestamp_and_raw_body(server):
    # Standard Webhooks; tests/test_webhook_signing.py checks it with the official library.
    make_adapter(server).publish(message("Signed ✓"), "key-s")
    [request] = server.requests
    stamp = request.header("webhook-timestamp")
    signed = b"key-s." + stamp.encode() + b"." + request.body
    raw = base64.b64decode(KEY.removeprefix("whsec_"))
    expected = "v1," + base64.b64encode(hmac.new(raw, signed, hashlib.sha256).digest()).decode()
    assert request.header("webhook-id") == "key-s"
    assert request.header("webhook-signature") == expected
    headers = dict(request.headers)
    assert verify_signature(request.body, headers, KEY) == "key-s"
    with pytest.raises(SignatureError):
        verify_signature(request.body + b" ", headers, KEY)


def test_429_is_transient_and_carries_retry_after_seconds(server):
    server.reply(Reply(429, headers={"Retry-After": "7"}))
    with pytest.raises(TransientError) as raised:
        make_adapter(server).publish(message(), "key-r")
    assert raised.value.retry_after == 7
    assert "429" in str(raised.value)


def test_retry_after_as_an_http_date_becomes_seconds_from_now():
    now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_500_is_transient_without_retry_after(server):
    server.reply(Reply(500))
    with pytest.raises(TransientError) as raised:
        make_adapter(server).publish(message(), "key-5")
    assert raised.value.retry_after is None
    assert "500" in str(raised.value)


def test_401_is_permanent(server):
    server.reply(Reply(401))
    with pytest.raises(PermanentError, match="401"):
        make_adapter(server).publish(message(), "key-4")


def test_404_is_permanent_and_the_url_path_is_not_shown(server):
    server.reply(Reply(404))
    with pytest.raises(PermanentError) as raised:
        make_adapter(server).publish(message(), "key-4")
    assert "tok-path" not in str(raised.value)
    assert "127.0.0.1" in str(raised.value)


def test_timeout_is_transient(server):
    server.reply(Reply(200, delay=30))
    with pytest.raises(TransientError, match="no response within"):
        make_adapter(server, timeout=0.2).publish(message(), "key-t")


def test_connection_refused_is_transient():
    with LocalServer() as stopped:
        url = stopped.url
    channel = Channel(
        name="hook",
        adapter="webhook",
        settings={"url": url},
        secrets={"signing_key": "HOOK_KEY"},
    )
    with pytest.raises(TransientError):
        WebhookAdapter(channel, environ=ENV).publish(message(), "key-c")


def test_same_key_twice_sends_one_request(server):
    adapter = make_adapter(server)
    first = adapter.publish(message(), "key-once")
    second = adapter.publish(message(), "key-once")
    assert first == second
    assert len(server.requests) == 1


def test_after_a_transient_failure_the_same_key_is_sent_again(server):
    server.reply(Reply(503, headers={"Retry-After": "1"}))
    adapter = make_adapter(server)
    with pytest.raises(TransientError):
        adapter.publish(message(), "key-again")
    adapter.publish(message(), "key-again")
    assert [r.status for r in server.requests] == [503, 200]


def test_url_can_come_from_a_secret(server):
    channel = Channel(
        name="hook",
        adapter="webhook",
        secrets={"signing_key": "HOOK_KEY", "url": "HOOK_URL"},
    )
    adapter = WebhookAdapter(
        channel, environ={**ENV, "SOCIALSCHED_SECRET_HOOK_URL": f"{server.url}/secret/abc"}
    )
    adapter.publish(message(), "key-u")
    assert server.requests[0].path == "/secret/abc"
    assert "abc" not in repr(adapter)


def test_missing_url_and_missing_key_are_permanent_errors(server):
    with pytest.raises(PermanentError, match=r"settings\.url"):
        WebhookAdapter(Channel(name="hook", adapter="webhook"), environ=ENV)
    adapter = WebhookAdapter(
        Channel(
            name="hook",
            adapter="webhook",
            settings={"url": server.url},
            secrets={"signing_key": "HOOK_KEY"},
        ),
        environ={},
    )
    with pytest.raises(PermanentError, match="HOOK_KEY"):
        adapter.publish(message(), "key-m")
    assert server.requests == []


def test_max_length_setting_is_enforced_at_validation(server):
    adapter = make_adapter(server, max_length=5)
    assert adapter.validate(message("12345")) == []
    assert adapter.validate(message("123456")) == ["text is 6 characters; webhook allows 5"]


def test_body_is_utf8_json(server):
    make_adapter(server).publish(message("Crème brûlée 🍮"), "key-j")
    assert json.loads(server.requests[0].body.decode("utf-8"))["text"] == "Crème brûlée 🍮"


class BodyCutShort(httpx.SyncByteStream):
    """A response body whose connection drops before the end."""

    def __iter__(self):
        yield b'{"id": "po'
        raise httpx.ReadError("connection reset by peer")


def test_an_accepted_post_whose_body_cannot_be_read_is_still_published():
    """The 2xx says the post went out: losing the body must not turn it into an error
    (the runner would record a failed attempt and send it again)."""
    sent = []

    def handler(request):
        sent.append(request)
        return httpx.Response(201, stream=BodyCutShort())

    channel = Channel(
        name="hook",
        adapter="webhook",
        settings={"url": "https://hooks.example/in"},
        secrets={"signing_key": "HOOK_KEY"},
    )
    adapter = WebhookAdapter(channel, environ=ENV, transport=httpx.MockTransport(handler))
    receipt = adapter.publish(message(), "key-cut")
    assert (receipt.remote_id, receipt.url, receipt.extra) == ("key-cut", None, {"status": 201})
    assert adapter.publish(message(), "key-cut") == receipt
    assert len(sent) == 1


def png_bytes(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def test_media_go_inline_in_the_signed_body_and_decode_to_their_digest(server):
    image_bytes = png_bytes(40, 30)
    video_bytes = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x07" * 300
    image = Media.from_bytes(image_bytes, alt="Cartel de la campaña", filename="cartel.png")
    video = Media.from_bytes(video_bytes, alt="Anuncio", filename="anuncio.mp4")
    with_media = attrs.evolve(message(), attachments=(image, video))
    make_adapter(server).publish(with_media, "key-media")
    [request] = server.requests
    assert verify_signature(request.body, dict(request.headers), KEY) == "key-media"
    body = request.json()
    assert body["type"] == "message"
    [sent_image, sent_video] = body["attachments"]
    for sent, data, mime_type, alt in (
        (sent_image, image_bytes, "image/png", "Cartel de la campaña"),
        (sent_video, video_bytes, "video/mp4", "Anuncio"),
    ):
        decoded = base64.b64decode(sent["data"], validate=True)
        assert decoded == data
        assert sent["digest"] == hashlib.sha256(data).hexdigest()
        assert (sent["mime_type"], sent["size"], sent["alt"]) == (mime_type, len(data), alt)
    assert (sent_image["width"], sent_image["height"]) == (40, 30)


def test_media_that_cannot_be_read_fail_before_anything_is_sent(server):
    unreadable = attrs.evolve(Media.from_bytes(png_bytes(4, 4)), reader=None)
    with pytest.raises(PermanentError, match="no content"):
        make_adapter(server).publish(attrs.evolve(message(), attachments=(unreadable,)), "key-u")
    assert server.requests == []


def test_a_post_whose_response_is_not_json_is_still_published_once(server):
    # The ordering rule: once the receiver took the post, nothing may fail it.
    server.reply(Reply(200, b"\xff not json"))
    adapter = make_adapter(server)
    receipt = adapter.publish(message(), "key-nj")
    assert receipt.remote_id == "key-nj"
    assert adapter.publish(message(), "key-nj") == receipt
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_signature_is_credentials_rejected(server, status):
    server.reply(Reply(status), Reply(status))
    adapter = make_adapter(server)
    with pytest.raises(CredentialsRejected, match=str(status)):
        adapter.verify()
    with pytest.raises(CredentialsRejected, match=str(status)):
        adapter.publish(message(), "key-cr")


def test_verify_of_an_unreachable_receiver_is_transient_and_a_missing_key_is_named():
    with LocalServer() as stopped:
        url = stopped.url
    channel = Channel(
        name="hook", adapter="webhook", settings={"url": url}, secrets={"signing_key": "HOOK_KEY"}
    )
    with pytest.raises(TransientError):
        WebhookAdapter(channel, environ=ENV).verify()
    with pytest.raises(MissingSecretError, match="HOOK_KEY"):
        WebhookAdapter(channel, environ={}).verify()


def test_the_signing_key_is_a_required_secret():
    assert WebhookAdapter.required_secrets == ("signing_key",)
