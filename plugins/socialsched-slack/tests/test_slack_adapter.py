"""The slack adapter against an HTTP fake that checks the exact requests (respx)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import attrs
import httpx
import pytest
import respx
from fake_slack import FakeSlackApi
from socialsched_slack import SlackAdapter
from socialsched_slack.blocks import split_sections

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

FR_URL = "https://hooks.slack.com/services/T000/B000/frsecretpart"
DE_URL = "https://hooks.slack.com/services/T000/B111/desecretpart"
ENV = {"SOCIALSCHED_SECRET_SLACK_WEBHOOK_FR": FR_URL, "SOCIALSCHED_SECRET_SLACK_DE": DE_URL}


def channel(**settings: object) -> Channel:
    return Channel(
        name="team-slack",
        adapter="slack",
        audiences={"fr": "webhook:SLACK_WEBHOOK_FR", "de": "webhook:de_hook"},
        secrets={"de_hook": "SLACK_DE"},
        settings=settings,
    )


FR = Audience("webhook", "SLACK_WEBHOOK_FR")
DE = Audience("webhook", "de_hook")


def message(text: str = "Bonjour", audience: object = FR) -> Message:
    moment = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    return Message(
        delivery_id="abc123",
        post="launch",
        segment="fr",
        channel="team-slack",
        locale="fr-FR",
        text=text,
        utc=moment,
        local=moment,
        audience=audience,
    )


def test_registered_under_its_entry_point():
    assert available_adapters()["slack"] is SlackAdapter


@respx.mock
def test_publish_posts_blocks_and_escaped_text_to_the_segments_webhook():
    route = respx.post(FR_URL).mock(return_value=httpx.Response(200, text="ok"))
    adapter = SlackAdapter(channel(), environ=ENV)

    receipt = adapter.publish(message("Prix <50€> & plus\n\nÀ bientôt"), "key-1")

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "text": "Prix &lt;50€&gt; &amp; plus\n\nÀ bientôt",
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "Prix &lt;50€&gt; &amp; plus\n\nÀ bientôt"},
            }
        ],
    }
    assert receipt.remote_id == "key-1"
    assert receipt.extra == {"webhook": "SLACK_WEBHOOK_FR"}


@respx.mock
def test_audience_naming_a_channel_secret_uses_that_secrets_env_var():
    route = respx.post(DE_URL).mock(return_value=httpx.Response(200, text="ok"))
    adapter = SlackAdapter(channel(format="text", escape=False), environ=ENV)

    adapter.publish(message("<https://x.example|Hallo>", audience=DE), "key-de")

    assert json.loads(route.calls.last.request.content) == {"text": "<https://x.example|Hallo>"}


@respx.mock
def test_unfurl_links_setting_is_passed_on():
    route = respx.post(FR_URL).mock(return_value=httpx.Response(200, text="ok"))
    SlackAdapter(channel(format="text", unfurl_links=False), environ=ENV).publish(message(), "k")
    assert json.loads(route.calls.last.request.content) == {
        "text": "Bonjour",
        "unfurl_links": False,
    }


@respx.mock
def test_same_key_is_not_posted_twice_by_one_adapter():
    route = respx.post(FR_URL).mock(return_value=httpx.Response(200, text="ok"))
    adapter = SlackAdapter(channel(), environ=ENV)
    first = adapter.publish(message(), "same")
    second = adapter.publish(message(), "same")
    assert route.call_count == 1
    assert first == second


@respx.mock
def test_429_is_transient_with_retry_after():
    respx.post(FR_URL).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "30"}, text="rate_limited")
    )
    with pytest.raises(TransientError) as caught:
        SlackAdapter(channel(), environ=ENV).publish(message(), "k")
    assert caught.value.retry_after == 30.0


@respx.mock
def test_5xx_and_network_failures_are_transient_and_never_show_the_url():
    respx.post(FR_URL).mock(return_value=httpx.Response(503, text="unavailable"))
    with pytest.raises(TransientError) as caught:
        SlackAdapter(channel(), environ=ENV).publish(message(), "k")
    assert "frsecretpart" not in str(caught.value)

    respx.post(FR_URL).mock(side_effect=httpx.ConnectTimeout("timed out"))
    with pytest.raises(TransientError) as caught:
        SlackAdapter(channel(), environ=ENV).publish(message(), "k2")
    assert "frsecretpart" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body"), [(400, "invalid_payload"), (403, "action_prohibited"), (404, "no_team")]
)
@respx.mock
def test_4xx_is_permanent_and_names_slacks_reason(status, body):
    respx.post(FR_URL).mock(return_value=httpx.Response(status, text=body))
    with pytest.raises(PermanentError) as caught:
        SlackAdapter(channel(), environ=ENV).publish(message(), "k")
    assert body in str(caught.value)
    assert "frsecretpart" not in str(caught.value)


def test_ungranted_webhook_secret_is_permanent_and_named():
    with pytest.raises(PermanentError, match=r"set SOCIALSCHED_SECRET_SLACK_WEBHOOK_FR\b"):
        SlackAdapter(channel(), environ={}).publish(message(), "k")


@pytest.mark.parametrize(
    "audience", [Audience("webhook", FR_URL), Audience.parse(FR_URL)], ids=["as-id", "bare"]
)
def test_inline_url_audience_is_refused_without_echoing_it(audience):
    adapter = SlackAdapter(channel(), environ=ENV)
    problems = adapter.validate(message(audience=audience))
    assert len(problems) == 1
    assert "frsecretpart" not in problems[0]
    with pytest.raises(PermanentError) as caught:
        adapter.publish(message(audience=audience), "k")
    assert "frsecretpart" not in str(caught.value)


def test_other_audience_kinds_are_refused_at_plan_time_and_publish():
    adapter = SlackAdapter(channel(), environ=ENV)
    assert adapter.validate(message(audience=Audience("list", "team"))) == [
        "slack cannot target a 'list' audience (supports: webhook)"
    ]
    with pytest.raises(PermanentError, match="cannot target a 'list' audience"):
        adapter.publish(message(audience=Audience("list", "team")), "k")


@respx.mock
def test_no_audience_uses_the_channels_webhook_secret():
    default_url = "https://hooks.slack.com/services/T000/B222/defaultpart"
    route = respx.post(default_url).mock(return_value=httpx.Response(200, text="ok"))
    plain = Channel(name="team-slack", adapter="slack", secrets={"webhook": "SLACK_DEFAULT"})
    adapter = SlackAdapter(plain, environ={"SOCIALSCHED_SECRET_SLACK_DEFAULT": default_url})
    receipt = adapter.publish(message(audience=None), "k")
    assert route.call_count == 1
    assert receipt.extra == {"webhook": "webhook"}


def test_length_is_counted_after_escaping():
    adapter = SlackAdapter(channel(), environ=ENV)
    fits = "a" * 40_000
    assert adapter.validate(message(fits)) == []
    # 39,999 characters plus one "&" become 40,004 once escaped.
    too_long = "a" * 39_999 + "&"
    problems = adapter.validate(message(too_long))
    assert problems == ["text is 40004 characters; slack allows 40000"]


def test_long_text_splits_into_sections_within_3000_at_paragraphs():
    paragraphs = [("word " * 500).strip() for _ in range(3)]  # 2,499 characters each
    chunks = split_sections("\n\n".join(paragraphs))
    assert chunks == paragraphs
    one_long = ("word " * 1000).strip()  # 4,999 characters, no paragraph break
    chunks = split_sections(one_long)
    assert all(len(chunk) <= 3000 for chunk in chunks)
    assert " ".join(chunks) == one_long


def test_hard_cut_does_not_split_an_escape():
    text = "a" * 2998 + "&amp;" + "b" * 10
    chunks = split_sections(text)
    assert chunks == ["a" * 2998, "&amp;" + "b" * 10]


def test_text_at_the_length_limit_fits_in_50_blocks():
    # Greedy packing makes every two neighbouring chunks exceed 3,000 characters,
    # so 40,000 characters can never need more than 50 section blocks.
    text = "\n\n".join(["y" * 1499] * 26)  # 39,024 characters: pairs fit, triples do not
    chunks = split_sections(text)
    assert len(chunks) == 13
    assert all(len(chunk) <= 3000 for chunk in chunks)


def test_unknown_format_is_refused_at_construction():
    with pytest.raises(PermanentError, match=r"settings\.format"):
        SlackAdapter(channel(format="attachments"), environ=ENV)


def test_repr_shows_no_webhook():
    adapter = SlackAdapter(channel(), environ=ENV)
    assert "frsecretpart" not in repr(adapter)
    assert "frsecretpart" not in repr(adapter.channel)


@respx.mock
def test_webhook_url_never_reaches_the_logs(caplog):
    respx.post(FR_URL).mock(return_value=httpx.Response(200, text="ok"))
    respx.post(DE_URL).mock(return_value=httpx.Response(200, text="ok"))
    adapter = SlackAdapter(channel(), environ=ENV)
    # httpx's own logger: an in-process CLI run earlier may have quietened it.
    with caplog.at_level(logging.DEBUG, logger="httpx"):
        adapter.publish(message(), "k1")
        adapter.publish(message(audience=DE), "k2")
    assert "HTTP Request: POST" in caplog.text  # httpx did log both requests
    assert "frsecretpart" not in caplog.text
    assert "desecretpart" not in caplog.text
    assert "[webhook SLACK_WEBHOOK_FR]" in caplog.text


# ---- as a bot: media through the external upload flow, verify, find, delete ----

API = "https://slack.com/api"
BOT_TOKEN = "xoxb-1-bot-s3cr3t"
GENERAL = Audience("group", "C0GENERAL")


def bot_channel(**settings: object) -> Channel:
    return Channel(
        name="team-slack",
        adapter="slack",
        audiences={"fr": "webhook:SLACK_WEBHOOK_FR", "team": "group:C0GENERAL"},
        secrets={"bot_token": "SLACK_BOT", "webhook": "SLACK_DEFAULT"},
        settings={"format": "text", **settings},
    )


BOT_ENV = {
    **ENV,
    "SOCIALSCHED_SECRET_SLACK_BOT": BOT_TOKEN,
    "SOCIALSCHED_SECRET_SLACK_DEFAULT": DE_URL,
}


def bot(**settings: object) -> SlackAdapter:
    return SlackAdapter(bot_channel(**settings), environ=BOT_ENV)


def with_media(text: str, *media: Media, audience: object = GENERAL) -> Message:
    return attrs.evolve(message(text, audience=audience), attachments=media)


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with respx.mock(assert_all_called=False) as router:
        yield FakeSlackApi(router, API, BOT_TOKEN)


@respx.mock
def test_bot_text_goes_with_chat_post_message_and_the_key_as_metadata():
    route = respx.post(f"{API}/chat.postMessage").mock(
        return_value=httpx.Response(200, json={"ok": True, "channel": "C0GENERAL", "ts": "17.5"})
    )
    receipt = bot().publish(message("Prix <50€>", audience=GENERAL), "key-1")
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert json.loads(request.content) == {
        "channel": "C0GENERAL",
        "text": "Prix &lt;50€&gt;",
        "metadata": {
            "event_type": "socialsched_post",
            "event_payload": {"idempotency_key": "key-1"},
        },
    }
    assert receipt == Receipt(
        remote_id="C0GENERAL/17.5", extra={"channel": "C0GENERAL", "ts": "17.5"}
    )


def test_media_go_through_the_external_upload_flow_with_alt_text(slack: FakeSlackApi):
    image = sample_image(alt="Croissants on a tray")
    clip = sample_video(alt="not sent: Slack takes alt text for images only")
    receipt = bot().publish(with_media("Nouveautés & plus", image, clip), "key-m")

    router_calls = slack.router.calls
    steps = [(c.request.method, c.request.url.path) for c in router_calls]
    assert steps == [
        ("POST", "/api/files.getUploadURLExternal"),
        ("POST", "/upload/v1/F0001"),
        ("POST", "/api/files.getUploadURLExternal"),
        ("POST", "/upload/v1/F0002"),
        ("POST", "/api/files.completeUploadExternal"),
    ]
    first_ticket, first_bytes, second_ticket, second_bytes, complete = (
        c.request for c in router_calls
    )
    assert first_ticket.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(first_ticket.content.decode()) == {
        "filename": ["card.png"],
        "length": [str(image.size)],
        "alt_txt": ["Croissants on a tray"],
    }
    assert first_bytes.content == image.read()
    assert first_bytes.headers["content-type"] == "image/png"
    assert "authorization" not in first_bytes.headers  # the upload URL is pre-signed
    assert parse_qs(second_ticket.content.decode()) == {
        "filename": ["clip.mp4"],
        "length": [str(clip.size)],
    }
    assert second_bytes.content == clip.read()
    assert second_bytes.headers["content-type"] == "video/mp4"
    assert json.loads(complete.content) == {
        "files": [{"id": "F0001", "title": "card.png"}, {"id": "F0002", "title": "clip.mp4"}],
        "channel_id": "C0GENERAL",
        "initial_comment": "Nouveautés &amp; plus",
    }
    assert receipt.remote_id == "C0GENERAL/F0001,F0002"
    assert receipt.extra == {"channel": "C0GENERAL", "file_ids": ["F0001", "F0002"]}
    assert slack.published() == [""]  # one message, the share (its text has no kit key)


def test_webhooks_cannot_take_files_and_say_so():
    adapter = bot()
    image = sample_image()
    assert adapter.validate(with_media("x", image, audience=FR)) == [
        "slack incoming webhooks cannot upload files: give the channel a bot_token secret "
        "and the segment a group:<channel id> audience"
    ]
    with pytest.raises(PermanentError, match="cannot upload files"):
        adapter.publish(with_media("x", image, audience=FR), "k")
    webhook_only = SlackAdapter(channel(), environ=ENV)
    assert webhook_only.capabilities.media is False
    problems = webhook_only.validate(with_media("x", image, audience=FR))
    assert problems == [
        "slack cannot publish media attachments",
        "slack incoming webhooks cannot upload files: give the channel a bot_token secret "
        "and the segment a group:<channel id> audience",
    ]
    assert webhook_only.validate(message(audience=GENERAL)) == [
        "slack cannot target a 'group' audience (supports: webhook)",
        "a slack group:<channel id> audience needs the channel's bot_token secret",
    ]
    assert adapter.validate(message(audience=Audience("group", "general"))) == [
        "slack channel id 'general' must look like C0123ABCDEF (the channel's details show it)"
    ]
    assert adapter.validate(with_media("x", image, audience=GENERAL)) == []
    long_alt = attrs.evolve(image, alt="a" * 1001)
    assert adapter.validate(with_media("x", long_alt)) == [
        "card.png: alt text is 1001 characters; slack allows 1000"
    ]


def test_a_new_worker_finds_a_text_post_by_its_metadata_key(slack: FakeSlackApi):
    bot().publish(message("Bonjour", audience=GENERAL), "key-1")
    bot().publish(message("Bonjour", audience=GENERAL), "key-2")  # same text, other key
    found = bot().find(message("Bonjour", audience=GENERAL), "key-1")
    assert found is not None
    assert found.remote_id == f"C0GENERAL/{slack.messages['C0GENERAL'][0]['ts']}"
    assert bot().find(message("Bonjour", audience=GENERAL), "key-3") is None


def test_a_new_worker_finds_a_file_share_by_its_text_and_files(slack: FakeSlackApi):
    image = sample_image()
    posted = bot().publish(with_media("Soldes", image), "key-f")
    assert bot().find(with_media("Soldes", image), "key-f") == Receipt(
        remote_id=posted.remote_id,
        extra={
            "channel": "C0GENERAL",
            "ts": slack.messages["C0GENERAL"][0]["ts"],
            "file_ids": ["F0001"],
        },
    )
    assert bot().find(with_media("Autre texte", image), "key-g") is None


def test_find_reads_every_page_since_a_day_before_the_due_time(slack: FakeSlackApi):
    adapter = bot()
    adapter.publish(message("first", audience=GENERAL), "key-old")
    for number in range(3):
        adapter.publish(message(f"later {number}", audience=GENERAL), f"key-{number}")
    slack.page_size = 2
    due = datetime(2020, 1, 4, 9, 0, tzinfo=UTC)  # long past: the lookup starts a day before
    late = attrs.evolve(message("first", audience=GENERAL), utc=due)
    found = bot().find(late, "key-old")
    assert found is not None and found.extra["ts"] == slack.messages["C0GENERAL"][0]["ts"]
    history = [c.request for c in slack.router.calls if "history" in c.request.url.path]
    first, second = (dict(request.url.params) for request in history)
    assert first == {
        "channel": "C0GENERAL",
        "oldest": f"{(due - timedelta(days=1)).timestamp():.6f}",
        "limit": "200",
        "include_all_metadata": "true",
    }
    assert second == {**first, "cursor": "2"}
    # A post due in the future (published early by publish-now) is looked for since a
    # day before now instead.
    future = attrs.evolve(late, utc=datetime.now(UTC) + timedelta(days=30))
    assert bot().find(future, "key-old") == found


def test_webhook_audiences_cannot_be_looked_up():
    with pytest.raises(CannotCheck, match="webhooks cannot read"):
        bot().find(message(audience=FR), "k")
    with pytest.raises(CannotCheck):
        SlackAdapter(channel(), environ=ENV).find(message(audience=FR), "k")


def test_delete_removes_the_files_or_the_message(slack: FakeSlackApi):
    adapter = bot()
    adapter.delete(adapter.publish(with_media("Soldes", sample_image()), "key-f"))
    adapter.delete(adapter.publish(message("Bonjour", audience=GENERAL), "key-t"))
    assert slack.published() == []
    assert [c.request.url.path for c in slack.router.calls if "delete" in c.request.url.path] == [
        "/api/files.delete",
        "/api/chat.delete",
    ]
    with pytest.raises(PermanentError, match="incoming webhook"):
        adapter.delete(Receipt(remote_id="k", extra={"webhook": "SLACK_WEBHOOK_FR"}))


def test_verify_asks_auth_test_and_probes_each_webhook_without_posting(slack: FakeSlackApi):
    slack.router.post(DE_URL).mock(return_value=httpx.Response(400, text="no_text"))
    fr = slack.router.post(FR_URL).mock(return_value=httpx.Response(400, text="invalid_payload"))
    said = bot().verify()
    assert said == (
        "slack bot socialsched in workspace Brand; webhook webhook answers; "
        "webhook SLACK_WEBHOOK_FR answers"
    )
    assert json.loads(fr.calls.last.request.content) == {}  # no text: nothing is posted
    assert "frsecretpart" not in said and BOT_TOKEN not in said


@pytest.mark.parametrize(("status", "body"), [(404, "no_service"), (403, "invalid_token")])
@respx.mock
def test_a_revoked_webhook_is_credentials_rejected(status, body):
    respx.post(FR_URL).mock(return_value=httpx.Response(status, text=body))
    adapter = SlackAdapter(channel(), environ={**ENV, "SOCIALSCHED_SECRET_SLACK_DE": DE_URL})
    respx.post(DE_URL).mock(return_value=httpx.Response(400, text="no_text"))
    with pytest.raises(CredentialsRejected, match=body) as caught:
        adapter.verify()
    assert "frsecretpart" not in str(caught.value)
    with pytest.raises(CredentialsRejected):
        adapter.publish(message(), "k")


def test_a_rejected_bot_token_is_credentials_rejected(slack: FakeSlackApi):
    slack.token = "xoxb-another-token"
    with pytest.raises(CredentialsRejected, match="invalid_auth"):
        bot().verify()
    with pytest.raises(CredentialsRejected, match="invalid_auth") as caught:
        bot().publish(message(audience=GENERAL), "k")
    assert BOT_TOKEN not in str(caught.value)


@respx.mock
def test_verify_unreachable_or_missing_secret():
    respx.post(f"{API}/auth.test").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientError):
        bot().verify()
    with pytest.raises(MissingSecretError, match="SLACK_BOT"):
        SlackAdapter(bot_channel(), environ={}).verify()


@respx.mock
def test_an_unreadable_answer_after_posting_is_still_a_receipt():
    respx.post(f"{API}/chat.postMessage").mock(return_value=httpx.Response(200, text="<html>"))
    adapter = bot()
    receipt = adapter.publish(message(audience=GENERAL), "k")
    assert receipt.remote_id == "C0GENERAL/?"
    assert adapter.publish(message(audience=GENERAL), "k") is receipt


@respx.mock
def test_the_share_ts_is_kept_when_slack_reports_it_and_odd_answers_do_not_raise():
    respx.post(f"{API}/files.getUploadURLExternal").mock(
        return_value=httpx.Response(
            200, json={"ok": True, "upload_url": "https://files.example/u/F1", "file_id": "F1"}
        )
    )
    respx.post("https://files.example/u/F1").mock(return_value=httpx.Response(200, text="OK"))
    shares = {"public": {"C0GENERAL": [{"ts": "9.1"}]}}
    shared = {"ok": True, "files": [{"id": "F1", "shares": shares}]}
    odd = {"ok": True, "files": ["odd"]}
    respx.post(f"{API}/files.completeUploadExternal").mock(
        side_effect=[httpx.Response(200, json=shared), httpx.Response(200, json=odd)]
    )
    first = bot().publish(with_media("a", sample_image()), "k1")
    assert first.extra == {"channel": "C0GENERAL", "ts": "9.1", "file_ids": ["F1"]}
    second = bot().publish(with_media("b", sample_image()), "k2")  # shared all the same
    assert second.remote_id == "C0GENERAL/F1"


def test_webhook_names_lists_each_webhook_once_and_skips_malformed_audiences():
    channel_ = Channel(
        name="team-slack",
        adapter="slack",
        audiences={
            "fr": "webhook:SLACK_WEBHOOK_FR",
            "be": "webhook:SLACK_WEBHOOK_FR",  # the same webhook for two segments
            "de": "webhook:de_hook",
            "us": "webhook:https://hooks.slack.com/services/T/B/pasted",  # refused by lint
            "it": "group:C0ITALIA",
            "es": "not an audience",
        },
        secrets={"de_hook": "SLACK_DE", "webhook": "SLACK_DEFAULT"},
    )
    names = SlackAdapter(channel_, environ={}).webhook_names()
    assert names == ["webhook", "SLACK_WEBHOOK_FR", "de_hook"]
