"""The discord adapter against an HTTP fake that checks the exact requests (respx)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import default

import attrs
import httpx
import pytest
import respx
from socialsched_discord import DiscordAdapter

from socialsched.adapters import (
    CannotCheck,
    CredentialsRejected,
    Message,
    MissingSecretError,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.adapters.registry import available_adapters
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.media import Media
from socialsched.testing import sample_image, sample_video

FR_URL = "https://discord.com/api/webhooks/111/frtokenpart"
ENV = {
    "SOCIALSCHED_SECRET_DISCORD_FR": FR_URL,
    "SOCIALSCHED_SECRET_DISCORD_DEFAULT": "https://discord.com/api/webhooks/222/deftok",
}
POSTED = {"id": "9001", "channel_id": "555", "guild_id": "777", "content": "x"}


def channel(**settings: object) -> Channel:
    return Channel(
        name="community",
        adapter="discord",
        audiences={"fr": "webhook:DISCORD_FR"},
        secrets={"webhook": "DISCORD_DEFAULT"},
        settings=settings,
    )


FR = Audience("webhook", "DISCORD_FR")


def message(
    text: str = "Salut @everyone", audience: object = FR, attachments: tuple[Media, ...] = ()
) -> Message:
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
        attachments=attachments,
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


@pytest.mark.parametrize(
    "audience", [Audience("webhook", FR_URL), Audience.parse(FR_URL)], ids=["as-id", "bare"]
)
def test_inline_url_audience_is_refused_without_echoing_it(audience):
    adapter = DiscordAdapter(channel(), environ=ENV)
    problems = adapter.validate(message(audience=audience))
    assert len(problems) == 1
    assert "frtokenpart" not in problems[0]
    with pytest.raises(PermanentError) as caught:
        adapter.publish(message(audience=audience), "k")
    assert "frtokenpart" not in str(caught.value)


def test_other_audience_kinds_are_refused():
    adapter = DiscordAdapter(channel(), environ=ENV)
    assert adapter.validate(message(audience=Audience("community", "123"))) == [
        "discord cannot target a 'community' audience (supports: webhook)"
    ]


def test_unset_webhook_env_var_is_permanent_and_named():
    with pytest.raises(PermanentError, match=r"set SOCIALSCHED_SECRET_DISCORD_FR\b"):
        DiscordAdapter(channel(), environ={}).publish(message(), "k")


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
    # httpx's own logger: an in-process CLI run earlier may have quietened it.
    with caplog.at_level(logging.DEBUG, logger="httpx"):
        adapter.delete(adapter.publish(message(), "k1"))
    assert "HTTP Request: DELETE" in caplog.text
    assert "frtokenpart" not in caplog.text
    assert "[webhook DISCORD_FR]/messages/9001" in caplog.text


# ---- media, verify, find, credentials ----

DEFAULT_URL = ENV["SOCIALSCHED_SECRET_DISCORD_DEFAULT"]


def form(request: httpx.Request) -> dict[str, tuple[str | None, str | None, bytes]]:
    """The multipart parts of `request`: name -> (filename, content type, bytes)."""
    head = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n"
    parsed = BytesParser(policy=default).parsebytes(head + request.content)
    return {
        str(part.get_param("name", header="content-disposition")): (
            part.get_filename(),
            part.get_content_type() if part.get_filename() else None,
            part.get_payload(decode=True),
        )
        for part in parsed.iter_parts()
    }


@respx.mock
def test_media_go_as_multipart_files_with_descriptions_as_alt_text():
    route = respx.post(FR_URL, params={"wait": "true"}).mock(
        return_value=httpx.Response(200, json=POSTED)
    )
    first = sample_image(alt="Croissants on a tray")
    second = sample_image(32, 32, alt="")
    clip = attrs.evolve(sample_video(alt="A short clip"), filename="")
    receipt = DiscordAdapter(channel(), environ=ENV).publish(
        message("Nouveautés", attachments=(first, second, clip)), "k1"
    )
    request = route.calls.last.request
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = form(request)
    assert set(parts) == {"payload_json", "files[0]", "files[1]", "files[2]"}
    assert json.loads(parts["payload_json"][2]) == {
        "content": "Nouveautés",
        "allowed_mentions": {"parse": []},
        "attachments": [
            {"id": 0, "filename": "card.png", "description": "Croissants on a tray"},
            {"id": 1, "filename": "1-card.png"},
            {"id": 2, "filename": "media2.mp4", "description": "A short clip"},
        ],
    }
    assert parts["files[0]"] == ("card.png", "image/png", first.read())
    assert parts["files[1]"] == ("1-card.png", "image/png", second.read())
    assert parts["files[2]"] == ("media2.mp4", "video/mp4", clip.read())
    assert receipt.remote_id == "9001"


def test_media_limits_count_bytes_total_and_alt_text():
    adapter = DiscordAdapter(channel(), environ=ENV)
    image = sample_image()
    assert adapter.validate(message("", attachments=(image,))) == []  # media alone is fine
    assert adapter.validate(message("x", attachments=(image,) * 11)) == [
        "11 images; discord takes at most 10 per post",
        "11 attachments; discord takes at most 10",
    ]
    big = attrs.evolve(image, size=9 * 1024 * 1024)
    assert adapter.validate(message("x", attachments=(big,) * 3)) == [
        f"attachments are {27 * 1024 * 1024} bytes together; discord takes at most "
        f"{25 * 1024 * 1024} bytes per message"
    ]
    too_big = attrs.evolve(image, size=10 * 1024 * 1024 + 1)
    assert adapter.validate(message("x", attachments=(too_big,))) == [
        "card.png: 10485761 bytes; discord takes at most 10485760 bytes per image"
    ]
    boosted = DiscordAdapter(channel(upload_limit_mb=50), environ=ENV)
    assert boosted.validate(message("x", attachments=(too_big,))) == []
    long_alt = attrs.evolve(image, alt="a" * 1025)
    assert adapter.validate(message("x", attachments=(long_alt,))) == [
        "card.png: alt text is 1025 characters; discord allows 1024"
    ]


@respx.mock
def test_a_reply_without_a_message_id_is_still_a_receipt():
    respx.post(FR_URL).mock(return_value=httpx.Response(200, text="not json"))
    adapter = DiscordAdapter(channel(), environ=ENV)
    receipt = adapter.publish(message(), "k1")
    assert receipt == Receipt(remote_id="?", extra={"webhook": "DISCORD_FR", "channel_id": None})
    with pytest.raises(PermanentError, match="by hand"):
        adapter.delete(receipt)


@respx.mock
def test_verify_fetches_every_webhook_the_channel_names():
    fr = respx.get(FR_URL).mock(
        return_value=httpx.Response(200, json={"id": "111", "name": "News FR", "channel_id": "5"})
    )
    default_hook = respx.get(DEFAULT_URL).mock(
        return_value=httpx.Response(200, json={"id": "222", "name": "News", "channel_id": "6"})
    )
    described = DiscordAdapter(channel(), environ=ENV).verify()
    assert described == (
        "discord webhooks webhook -> News (channel 6), DISCORD_FR -> News FR (channel 5)"
    )
    assert fr.call_count == 1 and default_hook.call_count == 1
    assert "frtokenpart" not in described


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"message": "Invalid Webhook Token", "code": 50027}),
        (404, {"message": "Unknown Webhook", "code": 10015}),
    ],
    ids=["bad-token", "deleted"],
)
@respx.mock
def test_a_rejected_webhook_is_credentials_rejected(status, body):
    respx.get(DEFAULT_URL).mock(return_value=httpx.Response(200, json={"name": "ok"}))
    respx.get(FR_URL).mock(return_value=httpx.Response(status, json=body))
    respx.post(FR_URL).mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(CredentialsRejected, match=str(body["code"])) as caught:
        DiscordAdapter(channel(), environ=ENV).verify()
    assert "frtokenpart" not in str(caught.value)
    with pytest.raises(CredentialsRejected):
        DiscordAdapter(channel(), environ=ENV).publish(message(), "k")


@respx.mock
def test_verify_unreachable_or_missing_webhook():
    respx.get(DEFAULT_URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientError):
        DiscordAdapter(channel(), environ=ENV).verify()
    with pytest.raises(MissingSecretError, match="DISCORD_DEFAULT"):
        DiscordAdapter(channel(), environ={}).verify()
    with pytest.raises(PermanentError, match="names no discord webhook"):
        DiscordAdapter(Channel(name="c", adapter="discord"), environ={}).verify()


@respx.mock
def test_find_cannot_list_webhook_messages():
    respx.post(FR_URL).mock(return_value=httpx.Response(200, json=POSTED))
    adapter = DiscordAdapter(channel(), environ=ENV)
    with pytest.raises(CannotCheck, match="cannot list"):
        adapter.find(message(), "k1")
    receipt = adapter.publish(message(), "k1")
    assert adapter.find(message(), "k1") == receipt
