"""The discord adapter against an HTTP fake that checks the exact requests (respx)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx
import pytest
import respx
from socialsched_discord import DiscordAdapter

from socialsched.adapters import Message, PermanentError, Receipt, TransientError
from socialsched.model import Channel
from socialsched.registry import available_adapters

FR_URL = "https://discord.com/api/webhooks/111/frtokenpart"
ENV = {"DISCORD_FR": FR_URL, "DISCORD_DEFAULT": "https://discord.com/api/webhooks/222/deftok"}
POSTED = {"id": "9001", "channel_id": "555", "guild_id": "777", "content": "x"}


def channel(**settings: object) -> Channel:
    return Channel(
        name="community",
        adapter="discord",
        audiences={"fr": "DISCORD_FR"},
        secrets={"webhook": "DISCORD_DEFAULT"},
        settings=settings,
    )


def message(text: str = "Salut @everyone", audience: object = "DISCORD_FR") -> Message:
    moment = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    return Message(
        delivery_id="d1",
        post="launch",
        segment="fr",
        channel="community",
        locale="fr-FR",
        text=text,
        utc=moment,
        local=moment,
        audience=audience,
    )


def test_registered_under_its_entry_point():
    assert available_adapters()["discord"] is DiscordAdapter


@respx.mock
def test_publish_posts_content_with_wait_and_no_mention_pings():
    route = respx.post(FR_URL, params={"wait": "true"}).mock(
        return_value=httpx.Response(200, json=POSTED)
    )
    receipt = DiscordAdapter(
        channel(username="Bakery", avatar_url="https://cdn.example/logo.png"), environ=ENV
    ).publish(message(), "k1")

    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.path == "/api/webhooks/111/frtokenpart"
    assert request.url.params["wait"] == "true"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "content": "Salut @everyone",
        "username": "Bakery",
        "avatar_url": "https://cdn.example/logo.png",
        "allowed_mentions": {"parse": []},
    }
    assert receipt == Receipt(
        remote_id="9001",
        url="https://discord.com/channels/777/555/9001",
        extra={"webhook": "DISCORD_FR", "channel_id": "555"},
    )


@respx.mock
def test_embed_format_sends_description_title_color_and_allows_4096():
    route = respx.post(FR_URL).mock(return_value=httpx.Response(200, json=POSTED))
    adapter = DiscordAdapter(
        channel(format="embed", embed_title="News", embed_color=0x5865F2, allow_mentions=True),
        environ=ENV,
    )
    adapter.publish(message("Long read"), "k1")
    assert json.loads(route.calls.last.request.content) == {
        "embeds": [{"description": "Long read", "title": "News", "color": 0x5865F2}]
    }
    assert adapter.validate(message("e" * 4096)) == []
    assert adapter.validate(message("e" * 4097)) == ["text is 4097 characters; discord allows 4096"]


def test_content_limit_is_2000():
    adapter = DiscordAdapter(channel(), environ=ENV)
    assert adapter.validate(message("c" * 2000)) == []
    assert adapter.validate(message("c" * 2001)) == ["text is 2001 characters; discord allows 2000"]


def test_empty_text_is_a_validation_problem():
    problems = DiscordAdapter(channel(), environ=ENV).validate(message("  \n"))
    assert problems == ["text is empty; discord refuses empty messages"]


@respx.mock
def test_no_audience_uses_the_webhook_secret():
    route = respx.post("https://discord.com/api/webhooks/222/deftok").mock(
        return_value=httpx.Response(200, json=POSTED)
    )
    DiscordAdapter(channel(), environ=ENV).publish(message(audience=None), "k1")
    assert route.call_count == 1


@respx.mock
def test_same_key_is_not_posted_twice_by_one_adapter():
    route = respx.post(FR_URL).mock(return_value=httpx.Response(200, json=POSTED))
    adapter = DiscordAdapter(channel(), environ=ENV)
    assert adapter.publish(message(), "same") == adapter.publish(message(), "same")
    assert route.call_count == 1


@respx.mock
def test_429_uses_retry_after_from_the_json_body():
    respx.post(FR_URL).mock(
        return_value=httpx.Response(
            429,
            headers={"Retry-After": "3"},
            json={"message": "You are being rate limited.", "retry_after": 2.5, "global": False},
        )
    )
    with pytest.raises(TransientError) as caught:
        DiscordAdapter(channel(), environ=ENV).publish(message(), "k")
    assert caught.value.retry_after == 2.5


@respx.mock
def test_429_with_only_a_header_uses_the_header():
    respx.post(FR_URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "7"}))
    with pytest.raises(TransientError) as caught:
        DiscordAdapter(channel(), environ=ENV).publish(message(), "k")
    assert caught.value.retry_after == 7.0


@respx.mock
def test_5xx_and_timeouts_are_transient_without_the_token():
    respx.post(FR_URL).mock(return_value=httpx.Response(502, text="bad gateway"))
    with pytest.raises(TransientError) as caught:
        DiscordAdapter(channel(), environ=ENV).publish(message(), "k")
    assert "frtokenpart" not in str(caught.value)
    respx.post(FR_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransientError, match="timed out"):
        DiscordAdapter(channel(), environ=ENV).publish(message(), "k")


@respx.mock
def test_4xx_is_permanent_with_discords_code_and_message():
    respx.post(FR_URL).mock(
        return_value=httpx.Response(404, json={"message": "Unknown Webhook", "code": 10015})
    )
    with pytest.raises(PermanentError) as caught:
        DiscordAdapter(channel(), environ=ENV).publish(message(), "k")
    assert str(caught.value) == (
        "discord webhook DISCORD_FR: rejected with 404 (code 10015) Unknown Webhook"
    )


@respx.mock
def test_delete_sends_delete_to_the_message_of_the_receipts_webhook():
    route = respx.delete(f"{FR_URL}/messages/9001").mock(return_value=httpx.Response(204))
    receipt = Receipt(remote_id="9001", extra={"webhook": "DISCORD_FR", "channel_id": "555"})
    DiscordAdapter(channel(), environ=ENV).delete(receipt)
    assert route.call_count == 1
    assert route.calls.last.request.method == "DELETE"


@respx.mock
def test_deleting_an_already_deleted_message_is_done():
    respx.delete(f"{FR_URL}/messages/9001").mock(
        return_value=httpx.Response(404, json={"message": "Unknown Message", "code": 10008})
    )
    DiscordAdapter(channel(), environ=ENV).delete(
        Receipt(remote_id="9001", extra={"webhook": "DISCORD_FR"})
    )


def test_inline_url_audience_is_refused_without_echoing_it():
    problems = DiscordAdapter(channel(), environ=ENV).validate(message(audience=FR_URL))
    assert len(problems) == 1
    assert "frtokenpart" not in problems[0]


def test_bad_settings_are_refused_at_construction():
    with pytest.raises(PermanentError, match=r"settings\.format"):
        DiscordAdapter(channel(format="poll"), environ=ENV)
    with pytest.raises(PermanentError, match=r"settings\.embed_title"):
        DiscordAdapter(channel(format="embed", embed_title="t" * 257), environ=ENV)


@respx.mock
def test_webhook_token_never_reaches_the_logs(caplog):
    respx.post(FR_URL).mock(return_value=httpx.Response(200, json=POSTED))
    respx.delete(f"{FR_URL}/messages/9001").mock(return_value=httpx.Response(204))
    adapter = DiscordAdapter(channel(), environ=ENV)
    with caplog.at_level(logging.DEBUG):
        adapter.delete(adapter.publish(message(), "k1"))
    assert "HTTP Request: DELETE" in caplog.text
    assert "frtokenpart" not in caplog.text
    assert "[webhook DISCORD_FR]/messages/9001" in caplog.text
