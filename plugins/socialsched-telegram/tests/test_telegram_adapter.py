"""The Telegram adapter against an HTTP fake (respx) that checks the exact requests."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import default
from zoneinfo import ZoneInfo

import attrs
import httpx
import pytest
import respx
from socialsched_telegram import TelegramAdapter

from socialsched.adapters import (
    CannotCheck,
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
from socialsched.testing import sample_image, sample_video

TOKEN = "123456789:AAH-s3cr3t_TokenValue"
ENV = {"SOCIALSCHED_SECRET_TG_TOKEN": TOKEN}
API = f"https://api.telegram.org/bot{TOKEN}"
PARIS = ZoneInfo("Europe/Paris")
# 22:30 in Paris on 5 January 2027 (UTC+1).
LATE_EVENING_UTC = datetime(2027, 1, 5, 21, 30, tzinfo=UTC)
NOON_UTC = datetime(2027, 1, 5, 11, 0, tzinfo=UTC)


def make_adapter(clock: datetime = NOON_UTC, **settings: object) -> TelegramAdapter:
    channel = Channel(
        name="tg", adapter="telegram", secrets={"token": "TG_TOKEN"}, settings=settings
    )
    adapter = TelegramAdapter(channel, environ=ENV)
    adapter.clock = lambda: clock
    return adapter


def make_message(
    text: str = "Bonne année !", audience: str | None = "group:@brand_fr", **fields: object
) -> Message:
    local = NOON_UTC.astimezone(PARIS)
    values: dict[str, object] = {
        "delivery_id": "d1",
        "post": "newyear",
        "segment": "fr",
        "channel": "tg",
        "locale": "fr-FR",
        "text": text,
        "utc": NOON_UTC,
        "local": local,
        "audience": None if audience is None else Audience.parse(audience),
        **fields,
    }
    return Message(**values)  # type: ignore[arg-type]


def ok(message_id: int = 42) -> httpx.Response:
    return httpx.Response(200, json={"ok": True, "result": {"message_id": message_id}})


def test_registered_through_entry_point() -> None:
    assert adapter_class("telegram") is TelegramAdapter


@respx.mock
def test_publish_to_channel_sends_exact_request(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/sendMessage").mock(return_value=ok(42))
    receipt = make_adapter(parse_mode="HTML").publish(make_message("<b>Hi</b>"), "k")
    assert receipt == Receipt(
        remote_id="@brand_fr/42",
        url="https://t.me/brand_fr/42",
        extra={"chat_id": "@brand_fr", "message_id": 42},
    )
    request = route.calls.last.request
    assert request.method == "POST"
    assert json.loads(request.content) == {
        "chat_id": "@brand_fr",
        "text": "<b>Hi</b>",
        "parse_mode": "HTML",
    }


@respx.mock
def test_direct_message_to_user_id_and_forum_topic(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/sendMessage").mock(return_value=ok(7))
    adapter = make_adapter(disable_link_preview=True)
    receipt = adapter.publish(make_message(audience="recipient:987654321"), "k1")
    assert json.loads(route.calls.last.request.content) == {
        "chat_id": 987654321,
        "text": "Bonne année !",
        "link_preview_options": {"is_disabled": True},
    }
    assert receipt.remote_id == "987654321/7" and receipt.url is None
    adapter.publish(make_message(audience="group:-100123/5"), "k2")
    assert json.loads(route.calls.last.request.content) == {
        "chat_id": -100123,
        "message_thread_id": 5,
        "text": "Bonne année !",
        "link_preview_options": {"is_disabled": True},
    }


@respx.mock
def test_same_key_twice_sends_once(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/sendMessage").mock(return_value=ok())
    adapter = make_adapter()
    assert adapter.publish(make_message(), "k") == adapter.publish(make_message(), "k")
    assert route.call_count == 1


@respx.mock
def test_silent_during_segment_quiet_hours(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/sendMessage").mock(return_value=ok())
    settings = {"silent_quiet_hours": True, "quiet_hours": {"fr": "22:00-08:00"}}
    make_adapter(clock=LATE_EVENING_UTC, **settings).publish(make_message(), "k1")
    assert json.loads(route.calls.last.request.content)["disable_notification"] is True
    make_adapter(clock=NOON_UTC, **settings).publish(make_message(), "k2")
    assert "disable_notification" not in json.loads(route.calls.last.request.content)


def test_quiet_hours_use_segment_zone_and_are_opt_in() -> None:
    # 21:30 UTC is 22:30 in Paris but 16:30 in New York.
    settings = {"silent_quiet_hours": True, "quiet_hours": "22:00-08:00"}
    adapter = make_adapter(clock=LATE_EVENING_UTC, **settings)
    new_york = NOON_UTC.astimezone(ZoneInfo("America/New_York"))
    assert adapter.silent(make_message()) is True
    assert adapter.silent(make_message(local=new_york, segment="us")) is False
    off = make_adapter(clock=LATE_EVENING_UTC, quiet_hours="22:00-08:00")
    assert off.silent(make_message()) is False
    assert make_adapter(silent=True).silent(make_message()) is True


def test_quiet_hours_default_to_the_segments_own() -> None:
    """Without channel quiet_hours, the segment's quiet hours (on the message) count;
    the channel's, when given, replace them."""
    segment_windows = {"quiet_hours": ("22:00-08:00",)}
    late = make_adapter(clock=LATE_EVENING_UTC, silent_quiet_hours=True)
    assert late.silent(make_message(**segment_windows)) is True
    assert late.silent(make_message()) is False  # the segment has no quiet hours
    noon = make_adapter(clock=NOON_UTC, silent_quiet_hours=True)
    assert noon.silent(make_message(**segment_windows)) is False
    channel_wins = make_adapter(
        clock=LATE_EVENING_UTC, silent_quiet_hours=True, quiet_hours={"fr": "23:00-06:00"}
    )
    assert channel_wins.silent(make_message(**segment_windows)) is False
    off = make_adapter(clock=LATE_EVENING_UTC)
    assert off.silent(make_message(**segment_windows)) is False


@respx.mock
def test_429_honours_retry_after(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{API}/sendMessage").mock(
        return_value=httpx.Response(
            429,
            json={
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 17",
                "parameters": {"retry_after": 17},
            },
        )
    )
    with pytest.raises(TransientError) as caught:
        make_adapter().publish(make_message(), "k")
    assert caught.value.retry_after == 17


@respx.mock
def test_server_error_and_timeout_are_transient(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/sendMessage")
    route.side_effect = [httpx.Response(502, text="Bad Gateway"), httpx.ConnectTimeout("x")]
    adapter = make_adapter()
    with pytest.raises(TransientError):
        adapter.publish(make_message(), "k")
    with pytest.raises(TransientError) as caught:
        adapter.publish(make_message(), "k")
    assert TOKEN not in str(caught.value)


@respx.mock
def test_bad_request_is_permanent_and_names_migrated_chat(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{API}/sendMessage").mock(
        return_value=httpx.Response(
            400,
            json={
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: group chat was upgraded to a supergroup chat",
                "parameters": {"migrate_to_chat_id": -1001234},
            },
        )
    )
    with pytest.raises(PermanentError, match="-1001234") as caught:
        make_adapter().publish(make_message(audience="group:-1234"), "k")
    assert TOKEN not in str(caught.value)


@respx.mock
def test_unauthorized_is_credentials_rejected(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{API}/sendMessage").mock(
        return_value=httpx.Response(
            401, json={"ok": False, "error_code": 401, "description": "Unauthorized"}
        )
    )
    with pytest.raises(CredentialsRejected, match="401 Unauthorized"):
        make_adapter().publish(make_message(), "k")


def test_limit_is_4096_utf16_units_after_html_parsing() -> None:
    adapter = make_adapter(parse_mode="HTML")
    assert adapter.validate(make_message("<b>" + "x" * 4096 + "</b>")) == []
    assert adapter.validate(make_message("x" * 4097)) != []
    # An emoji outside the BMP is two UTF-16 code units.
    assert adapter.text_length("😀&amp;") == 3
    assert make_adapter().validate(make_message("😀" * 2049)) != []


def test_bad_audience_and_parse_mode_are_reported() -> None:
    problems = make_adapter().validate(make_message(audience="group:brand"))
    assert len(problems) == 1 and "'brand'" in problems[0] and "'fr'" in problems[0]
    problems = make_adapter().validate(make_message(audience="recipient:@ana"))
    assert len(problems) == 1 and "numeric user id" in problems[0]
    problems = make_adapter().validate(make_message(audience="group:-100123/general"))
    assert len(problems) == 1 and "forum topic 'general'" in problems[0]
    problems = make_adapter().validate(make_message(audience=None))
    assert len(problems) == 1 and "'group:" in problems[0]
    problems = make_adapter().validate(make_message(audience="list:fans"))
    assert len(problems) == 1 and "'list'" in problems[0] and "group, recipient" in problems[0]
    with pytest.raises(PermanentError, match="parse_mode"):
        make_adapter(parse_mode="BBCode")


@respx.mock
def test_delete_sends_delete_message(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/deleteMessage").mock(
        return_value=httpx.Response(200, json={"ok": True, "result": True})
    )
    make_adapter().delete(Receipt(remote_id="-100123/42"))
    assert json.loads(route.calls.last.request.content) == {"chat_id": -100123, "message_id": 42}


@respx.mock
def test_token_never_logged(respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    respx_mock.post(f"{API}/sendMessage").mock(return_value=ok())
    # httpx's own logger: an in-process CLI run earlier may have quietened it.
    with caplog.at_level(logging.DEBUG, logger="httpx"):
        make_adapter().publish(make_message(), "k")
    assert "sendMessage" in caplog.text  # httpx did log the request ...
    assert TOKEN not in caplog.text  # ... without the token
    assert TOKEN not in repr(make_adapter())


# ---- media, verify, find, credentials ----


def form(request: httpx.Request) -> dict[str, tuple[str | None, str | None, bytes]]:
    """The multipart parts of `request`: name -> (filename, content type, bytes)."""
    parsed = BytesParser(policy=default).parsebytes(
        b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + request.content
    )
    parts = {}
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content_type = part.get_content_type() if part.get_filename() else None
        parts[str(name)] = (part.get_filename(), content_type, part.get_payload(decode=True))
    return parts


def text_of(parts: dict[str, tuple[str | None, str | None, bytes]]) -> dict[str, str]:
    return {name: data.decode() for name, (filename, _, data) in parts.items() if not filename}


@respx.mock
def test_one_photo_goes_with_send_photo_and_the_text_as_caption(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(f"{API}/sendPhoto").mock(return_value=ok(51))
    image = sample_image(alt="A red card")
    adapter = make_adapter(parse_mode="HTML", silent=True)
    receipt = adapter.publish(make_message("<b>Soldes</b>", attachments=(image,)), "k")
    parts = form(route.calls.last.request)
    assert text_of(parts) == {
        "chat_id": "@brand_fr",
        "disable_notification": "true",
        "caption": "<b>Soldes</b>",
        "parse_mode": "HTML",
    }
    assert parts["photo"] == ("card.png", "image/png", image.read())
    assert receipt.remote_id == "@brand_fr/51"


@respx.mock
def test_one_video_goes_with_send_video(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/sendVideo").mock(return_value=ok(52))
    clip = sample_video()
    make_adapter().publish(
        make_message("Regardez", audience="group:-100123/5", attachments=(clip,)), "k"
    )
    parts = form(route.calls.last.request)
    assert text_of(parts) == {
        "chat_id": "-100123",
        "message_thread_id": "5",
        "caption": "Regardez",
        "supports_streaming": "true",
    }
    assert parts["video"] == ("clip.mp4", "video/mp4", clip.read())


@respx.mock
def test_album_puts_the_caption_on_the_first_item_only(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/sendMediaGroup").mock(
        return_value=httpx.Response(
            200, json={"ok": True, "result": [{"message_id": 60}, {"message_id": 61}]}
        )
    )
    first, second = sample_image(alt="one"), sample_image(32, 32, alt="two")
    clip = sample_video()
    adapter = make_adapter(parse_mode="MarkdownV2")
    receipt = adapter.publish(make_message("*Album*", attachments=(first, second, clip)), "k")
    parts = form(route.calls.last.request)
    fields = text_of(parts)
    assert fields["chat_id"] == "@brand_fr"
    assert json.loads(fields["media"]) == [
        {
            "type": "photo",
            "media": "attach://media0",
            "caption": "*Album*",
            "parse_mode": "MarkdownV2",
        },
        {"type": "photo", "media": "attach://media1"},
        {"type": "video", "media": "attach://media2", "supports_streaming": True},
    ]
    assert parts["media0"] == ("card.png", "image/png", first.read())
    assert parts["media1"] == ("card.png", "image/png", second.read())
    assert parts["media2"] == ("clip.mp4", "video/mp4", clip.read())
    assert set(parts) == {"chat_id", "media", "media0", "media1", "media2"}
    assert receipt == Receipt(
        remote_id="@brand_fr/60",
        url="https://t.me/brand_fr/60",
        extra={"chat_id": "@brand_fr", "message_id": 60, "message_ids": [60, 61]},
    )


@respx.mock
def test_deleting_an_album_deletes_every_message(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/deleteMessages").mock(
        return_value=httpx.Response(200, json={"ok": True, "result": True})
    )
    make_adapter().delete(
        Receipt(remote_id="-100123/60", extra={"chat_id": -100123, "message_ids": [60, 61]})
    )
    assert json.loads(route.calls.last.request.content) == {
        "chat_id": -100123,
        "message_ids": [60, 61],
    }


def test_media_limits_caption_length_and_photo_shape_are_checked() -> None:
    adapter = make_adapter()
    image = sample_image()
    assert adapter.validate(make_message("x" * 1024, attachments=(image,))) == []
    assert adapter.validate(make_message("", attachments=(image,))) == []
    problems = adapter.validate(make_message("x" * 1025, attachments=(image,)))
    assert problems == [
        "text is 1025 characters; telegram takes at most 1024 as the caption of photos or videos"
    ]
    assert adapter.validate(make_message("x" * 4096)) == []
    assert adapter.validate(make_message("ok", attachments=(image,) * 11)) == [
        "11 images; telegram takes at most 10 per post"
    ]
    thin = sample_image(210, 10)
    problems = adapter.validate(make_message("ok", attachments=(thin,)))
    assert len(problems) == 1 and "210x10" in problems[0] and "20 times" in problems[0]
    big = attrs.evolve(image, size=10 * 1024 * 1024 + 1)
    problems = adapter.validate(make_message("ok", attachments=(big,)))
    assert problems == ["card.png: 10485761 bytes; telegram takes at most 10485760 bytes per image"]
    assert TelegramAdapter.capabilities.videos.max_bytes == 50 * 1024 * 1024
    assert TelegramAdapter.capabilities.mixed_media is True
    assert TelegramAdapter.capabilities.threads is False


@respx.mock
def test_an_unreadable_answer_after_sending_is_still_a_receipt(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{API}/sendMessage").mock(return_value=httpx.Response(200, text="<html>"))
    adapter = make_adapter()
    receipt = adapter.publish(make_message(), "k")
    assert receipt.remote_id == "@brand_fr/?"
    assert adapter.publish(make_message(), "k") is receipt
    with pytest.raises(PermanentError, match="never known"):
        adapter.delete(receipt)


@respx.mock
def test_verify_asks_get_me(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/getMe").mock(
        return_value=httpx.Response(
            200, json={"ok": True, "result": {"id": 123456789, "username": "brand_bot"}}
        )
    )
    assert make_adapter().verify() == "telegram bot @brand_bot (id 123456789)"
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("status", "description"), [(401, "Unauthorized"), (404, "Not Found")], ids=["401", "404"]
)
@respx.mock
def test_rejected_token_is_credentials_rejected(
    respx_mock: respx.MockRouter, status: int, description: str
) -> None:
    answer = httpx.Response(
        status, json={"ok": False, "error_code": status, "description": description}
    )
    respx_mock.post(f"{API}/getMe").mock(return_value=answer)
    respx_mock.post(f"{API}/sendPhoto").mock(return_value=answer)
    with pytest.raises(CredentialsRejected, match=f"{status} {description}") as caught:
        make_adapter().verify()
    assert TOKEN not in str(caught.value)
    with pytest.raises(CredentialsRejected):
        make_adapter().publish(make_message(attachments=(sample_image(),)), "k")


@respx.mock
def test_verify_unreachable_and_missing_token(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{API}/getMe").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientError, match="unreachable"):
        make_adapter().verify()
    channel = Channel(name="tg", adapter="telegram", secrets={"token": "TG_TOKEN"})
    with pytest.raises(MissingSecretError, match="TG_TOKEN"):
        TelegramAdapter(channel, environ={}).verify()
    assert TelegramAdapter.required_secrets == ("token",)


def test_a_forbidden_chat_is_not_a_credentials_problem() -> None:
    # 403 means the bot was removed from one chat: the token still works elsewhere.
    with respx.mock() as router:
        router.post(f"{API}/sendMessage").mock(
            return_value=httpx.Response(
                403,
                json={
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot is not a member of the channel chat",
                },
            )
        )
        with pytest.raises(PermanentError) as caught:
            make_adapter().publish(make_message(), "k")
    assert not isinstance(caught.value, CredentialsRejected)


@respx.mock
def test_find_cannot_check_a_chat(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{API}/sendMessage").mock(return_value=ok(9))
    adapter = make_adapter()
    with pytest.raises(CannotCheck, match="history"):
        adapter.find(make_message(), "k")
    sent = adapter.publish(make_message(), "k")
    assert adapter.find(make_message(), "k") == sent  # this process sent it
