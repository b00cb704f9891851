"""The Mastodon adapter against an HTTP fake (respx) that checks the exact requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from socialsched_mastodon import MastodonAdapter

from socialsched.adapters import Message, PermanentError, Receipt, TransientError
from socialsched.adapters.registry import adapter_class
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel

INSTANCE = "https://social.example"
TOKEN = "s3cr3t-mastodon-token"
ENV = {"SOCIALSCHED_SECRET_MASTO_TOKEN": TOKEN}
NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)


def make_channel(**settings: object) -> Channel:
    merged = {"instance": INSTANCE, "instance_limits": False, **settings}
    return Channel(
        name="fedi", adapter="mastodon", secrets={"token": "MASTO_TOKEN"}, settings=merged
    )


def make_adapter(**settings: object) -> MastodonAdapter:
    adapter = MastodonAdapter(make_channel(**settings), environ=ENV)
    adapter.clock = lambda: NOW
    return adapter


def make_message(text: str = "Bonne année !", **fields: object) -> Message:
    values: dict[str, object] = {
        "delivery_id": "d1",
        "post": "newyear",
        "segment": "fr",
        "channel": "fedi",
        "locale": "fr-DZ",
        "text": text,
        "utc": NOW,
        "local": NOW,
        "audience": "visibility:unlisted",
        **fields,
    }
    if isinstance(values["audience"], str):
        values["audience"] = Audience.parse(values["audience"])
    return Message(**values)  # type: ignore[arg-type]


def status_response(status_id: str = "1101") -> httpx.Response:
    return httpx.Response(
        200, json={"id": status_id, "url": f"{INSTANCE}/@brand/{status_id}", "content": "<p/>"}
    )


def test_registered_through_entry_point() -> None:
    assert adapter_class("mastodon") is MastodonAdapter


@respx.mock(assert_all_called=True)
def test_publish_sends_exact_request(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(return_value=status_response())
    receipt = make_adapter().publish(make_message(), "key-123")

    assert receipt == Receipt(remote_id="1101", url=f"{INSTANCE}/@brand/1101")
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.headers["Idempotency-Key"] == "key-123"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {
        "status": "Bonne année !",
        "visibility": "unlisted",
        "language": "fr",
    }


@respx.mock
def test_same_key_is_sent_again_so_mastodon_deduplicates(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(return_value=status_response())
    adapter = make_adapter()
    first = adapter.publish(make_message(), "key-1")
    second = adapter.publish(make_message(), "key-1")
    assert first == second
    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    assert keys == ["key-1", "key-1"]


@respx.mock
def test_content_warning_by_tag_and_direct_mention(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(return_value=status_response())
    adapter = make_adapter(content_warnings={"politics": "Politique"})
    message = make_message(
        "Vote !",
        tags=("politics",),
        audience="recipient:@ceo@corp.example",
        locale="de-AT",
    )
    adapter.publish(message, "k")
    assert json.loads(route.calls.last.request.content) == {
        "status": "@ceo@corp.example Vote !",
        "visibility": "direct",
        "language": "de",
        "spoiler_text": "Politique",
        "sensitive": True,
    }


def test_channel_wide_content_warning_and_default_visibility() -> None:
    adapter = make_adapter(content_warning="CW", visibility="private")
    message = make_message(audience=None)
    assert adapter.content_warning(message) == "CW"
    assert adapter.visibility(message).visibility == "private"


def test_unknown_visibility_is_a_validation_problem_naming_segment() -> None:
    problems = make_adapter().validate(make_message(audience="visibility:friends"))
    assert len(problems) == 1
    assert "'friends'" in problems[0] and "'fr'" in problems[0]


def test_direct_without_recipient_is_a_problem() -> None:
    problems = make_adapter().validate(make_message(audience="visibility:direct"))
    assert len(problems) == 1 and "recipient:@user@host" in problems[0]


def test_unsupported_audience_kind_is_one_problem_naming_it() -> None:
    problems = make_adapter().validate(make_message(audience="list:customers"))
    assert len(problems) == 1
    assert "'list'" in problems[0] and "visibility, recipient" in problems[0]


@respx.mock
def test_recipient_without_at_sign_is_mentioned_with_one(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(return_value=status_response())
    make_adapter().publish(make_message("Hi", audience="recipient:ana@host.example"), "k")
    body = json.loads(route.calls.last.request.content)
    assert body["status"] == "@ana@host.example Hi"
    assert body["visibility"] == "direct"


def test_limit_counts_the_recipient_mention() -> None:
    # "@ana@h.example " counts as "@ana " (5) on Mastodon: 5 + 6 > 10, while 5 + 5 fits.
    adapter = make_adapter(max_length=10)
    assert adapter.validate(make_message("123456", audience="recipient:@ana@h.example")) != []
    assert adapter.validate(make_message("12345", audience="recipient:@ana@h.example")) == []


def test_length_counts_graphemes_links_and_mentions_like_mastodon() -> None:
    adapter = make_adapter()
    link = "https://example.com/" + "a" * 80
    # A family emoji (7 code points) and e + combining acute are one grapheme each.
    text = f"👨‍👩‍👧 e\u0301 {link} @alice@very.long.domain.example"
    expected = 1 + 1 + 1 + 1 + 23 + 1 + len("@alice")
    assert adapter.text_length(text) == expected


def test_limit_includes_content_warning() -> None:
    adapter = make_adapter(max_length=10, content_warning="12345")
    assert adapter.validate(make_message("123456")) != []
    assert adapter.validate(make_message("12345")) == []


@respx.mock
def test_limit_read_from_instance_configuration(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{INSTANCE}/api/v2/instance").mock(
        return_value=httpx.Response(
            200,
            json={
                "configuration": {
                    "statuses": {"max_characters": 1000, "characters_reserved_per_url": 30}
                }
            },
        )
    )
    adapter = make_adapter(instance_limits=True)
    assert adapter.validate(make_message("x" * 1000)) == []
    assert adapter.validate(make_message("x" * 1001)) != []
    assert adapter.text_length("https://a.example/") == 30
    assert route.call_count == 1
    assert "Authorization" not in route.calls.last.request.headers


@respx.mock
def test_limit_falls_back_to_500_when_instance_unavailable(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{INSTANCE}/api/v2/instance").mock(return_value=httpx.Response(404))
    adapter = make_adapter(instance_limits=True)
    assert adapter.validate(make_message("x" * 500)) == []
    assert adapter.validate(make_message("x" * 501)) != []


@respx.mock
def test_429_is_transient_with_retry_after_from_reset(respx_mock: respx.MockRouter) -> None:
    reset = NOW + timedelta(seconds=90)
    respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(
        return_value=httpx.Response(
            429,
            json={"error": "Too many requests"},
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset.isoformat()},
        )
    )
    with pytest.raises(TransientError) as caught:
        make_adapter().publish(make_message(), "k")
    assert caught.value.retry_after == 90


@respx.mock
def test_exhausted_limit_blocks_next_call_until_reset(respx_mock: respx.MockRouter) -> None:
    reset = NOW + timedelta(minutes=5)
    route = respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(
        return_value=httpx.Response(
            200,
            json={"id": "7", "url": None},
            headers={
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            },
        )
    )
    adapter = make_adapter()
    adapter.publish(make_message(), "k1")
    with pytest.raises(TransientError) as caught:
        adapter.publish(make_message(), "k2")
    assert caught.value.retry_after == 300
    assert route.call_count == 1
    adapter.clock = lambda: reset + timedelta(seconds=1)
    adapter.publish(make_message(), "k2")
    assert route.call_count == 2


@respx.mock
def test_retry_after_header_wins(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(
        return_value=httpx.Response(503, headers={"Retry-After": "12"})
    )
    with pytest.raises(TransientError) as caught:
        make_adapter().publish(make_message(), "k")
    assert caught.value.retry_after == 12


@respx.mock
def test_timeout_is_transient(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransientError):
        make_adapter().publish(make_message(), "k")


@pytest.mark.parametrize("status", [401, 403, 422])
@respx.mock
def test_client_errors_are_permanent_without_secret(
    respx_mock: respx.MockRouter, status: int
) -> None:
    respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(
        return_value=httpx.Response(status, json={"error": "The access token is invalid"})
    )
    with pytest.raises(PermanentError) as caught:
        make_adapter().publish(make_message(), "k")
    assert str(status) in str(caught.value)
    assert "access token is invalid" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_too_long_text_is_rejected_before_sending() -> None:
    with respx.mock(assert_all_mocked=True) as mock, pytest.raises(PermanentError):
        make_adapter().publish(make_message("x" * 501), "k")
    assert mock.calls.call_count == 0


@respx.mock
def test_delete_sends_delete_and_treats_404_as_done(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.delete(f"{INSTANCE}/api/v1/statuses/1101").mock(
        side_effect=[httpx.Response(200, json={"id": "1101"}), httpx.Response(404)]
    )
    adapter = make_adapter()
    adapter.delete(Receipt(remote_id="1101"))
    adapter.delete(Receipt(remote_id="1101"))
    assert route.call_count == 2
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


@respx.mock
def test_delete_forbidden_is_permanent(respx_mock: respx.MockRouter) -> None:
    respx_mock.delete(f"{INSTANCE}/api/v1/statuses/9").mock(return_value=httpx.Response(403))
    with pytest.raises(PermanentError):
        make_adapter().delete(Receipt(remote_id="9"))


def test_missing_instance_is_a_clear_error() -> None:
    channel = Channel(name="fedi", adapter="mastodon", secrets={"token": "MASTO_TOKEN"})
    with pytest.raises(PermanentError, match=r"settings\.instance"):
        MastodonAdapter(channel, environ=ENV)


def test_missing_token_names_env_var_and_repr_hides_secret() -> None:
    adapter = MastodonAdapter(make_channel(), environ={})
    with pytest.raises(PermanentError, match="MASTO_TOKEN"):
        adapter.publish(make_message(), "k")
    assert TOKEN not in repr(MastodonAdapter(make_channel(), environ=ENV))
