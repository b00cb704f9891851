"""The slack adapter against an HTTP fake that checks the exact requests (respx)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx
import pytest
import respx
from socialsched_slack import SlackAdapter
from socialsched_slack.blocks import split_sections

from socialsched.adapters import Message, PermanentError, TransientError
from socialsched.model import Channel
from socialsched.registry import available_adapters

FR_URL = "https://hooks.slack.com/services/T000/B000/frsecretpart"
DE_URL = "https://hooks.slack.com/services/T000/B111/desecretpart"
ENV = {"SLACK_WEBHOOK_FR": FR_URL, "SLACK_DE": DE_URL}


def channel(**settings: object) -> Channel:
    return Channel(
        name="team-slack",
        adapter="slack",
        audiences={"fr": "SLACK_WEBHOOK_FR", "de": "de_hook"},
        secrets={"de_hook": "SLACK_DE"},
        settings=settings,
    )


def message(text: str = "Bonjour", audience: object = "SLACK_WEBHOOK_FR") -> Message:
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

    adapter.publish(message("<https://x.example|Hallo>", audience="de_hook"), "key-de")

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


def test_unset_webhook_env_var_is_permanent_and_named():
    with pytest.raises(PermanentError, match="SLACK_WEBHOOK_FR"):
        SlackAdapter(channel(), environ={}).publish(message(), "k")


def test_inline_url_audience_is_refused_without_echoing_it():
    adapter = SlackAdapter(channel(), environ=ENV)
    problems = adapter.validate(message(audience=FR_URL))
    assert len(problems) == 1
    assert "frsecretpart" not in problems[0]
    with pytest.raises(PermanentError) as caught:
        adapter.publish(message(audience=FR_URL), "k")
    assert "frsecretpart" not in str(caught.value)


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
    with caplog.at_level(logging.DEBUG):
        adapter.publish(message(), "k1")
        adapter.publish(message(audience="de_hook"), "k2")
    assert "HTTP Request: POST" in caplog.text  # httpx did log both requests
    assert "frsecretpart" not in caplog.text
    assert "desecretpart" not in caplog.text
    assert "[webhook SLACK_WEBHOOK_FR]" in caplog.text
