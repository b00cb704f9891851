"""The Telegram adapter against an HTTP fake (respx) that checks the exact requests."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from socialsched_telegram import TelegramAdapter

from socialsched.adapters import Message, PermanentError, Receipt, TransientError
from socialsched.audiences import Audience
from socialsched.model import Channel
from socialsched.registry import adapter_class

TOKEN = "123456789:AAH-s3cr3t_TokenValue"
ENV = {"TG_TOKEN": TOKEN}
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
def test_unauthorized_is_permanent(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{API}/sendMessage").mock(
        return_value=httpx.Response(
            401, json={"ok": False, "error_code": 401, "description": "Unauthorized"}
        )
    )
    with pytest.raises(PermanentError, match="401 Unauthorized"):
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
    with caplog.at_level(logging.DEBUG):
        make_adapter().publish(make_message(), "k")
    assert "sendMessage" in caplog.text  # httpx did log the request ...
    assert TOKEN not in caplog.text  # ... without the token
    assert TOKEN not in repr(make_adapter())
