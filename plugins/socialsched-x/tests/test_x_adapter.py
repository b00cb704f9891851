"""The exact requests the x adapter sends to X API v2, and how it reads the answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
import respx
from socialsched_x import XAdapter

from socialsched.adapters import (
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.calendar.model import Channel

API = "https://api.x.com"
TOKEN = "x-user-token-0123456789"
WHEN = datetime(2030, 1, 15, 9, 30, tzinfo=UTC)


def make_adapter() -> XAdapter:
    channel = Channel(name="x-main", adapter="x", secrets={"access_token": "X_TOKEN"})
    return XAdapter(channel, environ={"SOCIALSCHED_SECRET_X_TOKEN": TOKEN})


def message(text: str = "Fresh bread at 9", **kwargs) -> Message:
    return Message(
        delivery_id="d1",
        post="p",
        segment="s",
        channel="x-main",
        locale="en-US",
        text=text,
        utc=WHEN,
        local=WHEN,
        audience=None,
        **kwargs,
    )


@respx.mock
def test_publish_posts_the_text_with_the_bearer_token():
    route = respx.post(f"{API}/2/tweets").mock(
        return_value=httpx.Response(201, json={"data": {"id": "1001", "text": "Fresh bread at 9"}})
    )
    receipt = make_adapter().publish(message(), "d1")
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {"text": "Fresh bread at 9"}
    assert receipt.remote_id == "1001"
    assert receipt.url == "https://x.com/i/web/status/1001"


@respx.mock
def test_a_thread_part_replies_to_the_previous_part():
    route = respx.post(f"{API}/2/tweets").mock(
        return_value=httpx.Response(201, json={"data": {"id": "1002"}})
    )
    first = Receipt(remote_id="1001")
    part = message("second part", part=2, parts=2, reply_to=first, thread_root=first)
    make_adapter().publish(part, "d1#2")
    assert json.loads(route.calls.last.request.content) == {
        "text": "second part",
        "reply": {"in_reply_to_tweet_id": "1001"},
    }


@respx.mock
def test_a_retry_refused_as_duplicate_finds_the_post_instead_of_failing():
    respx.post(f"{API}/2/tweets").mock(
        return_value=httpx.Response(
            403, json={"detail": "You are not allowed to create a Tweet with duplicate content."}
        )
    )
    respx.get(f"{API}/2/users/me").mock(
        return_value=httpx.Response(200, json={"data": {"id": "77", "username": "bakery"}})
    )
    timeline = respx.get(f"{API}/2/users/77/tweets").mock(
        return_value=httpx.Response(
            200,
            json={
                "data": [{"id": "900", "text": "other"}, {"id": "1001", "text": "Fresh bread at 9"}]
            },
        )
    )
    receipt = make_adapter().publish(message(), "d1")
    assert receipt.remote_id == "1001"
    assert timeline.calls.last.request.url.params["max_results"] == "100"


@respx.mock
def test_a_duplicate_refusal_without_the_post_stays_permanent():
    respx.post(f"{API}/2/tweets").mock(
        return_value=httpx.Response(403, json={"detail": "duplicate content"})
    )
    respx.get(f"{API}/2/users/me").mock(
        return_value=httpx.Response(200, json={"data": {"id": "77"}})
    )
    respx.get(f"{API}/2/users/77/tweets").mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(PermanentError, match="duplicate"):
        make_adapter().publish(message(), "d1")


@respx.mock
def test_a_rate_limit_is_transient_until_the_reset_time(monkeypatch):
    monkeypatch.setattr("socialsched_x.adapter.time.time", lambda: 1_900_000_000.0)
    respx.post(f"{API}/2/tweets").mock(
        return_value=httpx.Response(
            429, json={"title": "Too Many Requests"}, headers={"x-rate-limit-reset": "1900000090"}
        )
    )
    with pytest.raises(TransientError) as raised:
        make_adapter().publish(message(), "d1")
    assert raised.value.retry_after == 90


@respx.mock
def test_a_refused_token_is_credentials_rejected_without_the_token():
    respx.post(f"{API}/2/tweets").mock(
        return_value=httpx.Response(401, json={"title": f"Unauthorized {TOKEN}"})
    )
    with pytest.raises(CredentialsRejected) as raised:
        make_adapter().publish(message(), "d1")
    assert TOKEN not in str(raised.value)


@respx.mock
def test_a_published_key_is_not_posted_again():
    route = respx.post(f"{API}/2/tweets").mock(
        return_value=httpx.Response(201, json={"data": {"id": "1001"}})
    )
    adapter = make_adapter()
    adapter.publish(message(), "d1")
    assert adapter.publish(message(), "d1").remote_id == "1001"
    assert route.call_count == 1


@respx.mock
def test_verify_names_the_account_and_delete_removes_the_post():
    respx.get(f"{API}/2/users/me").mock(
        return_value=httpx.Response(200, json={"data": {"id": "77", "username": "bakery"}})
    )
    deleted = respx.delete(f"{API}/2/tweets/1001").mock(
        return_value=httpx.Response(200, json={"data": {"deleted": True}})
    )
    adapter = make_adapter()
    assert adapter.verify() == "@bakery (77)"
    adapter.delete(Receipt(remote_id="1001"))
    assert deleted.call_count == 1


@respx.mock
def test_a_refused_token_is_refreshed_once_and_the_new_pair_stored_privately(tmp_path):
    store = tmp_path / "x-tokens.json"
    channel = Channel(
        name="x-main",
        adapter="x",
        secrets={"access_token": "X_TOKEN", "refresh_token": "X_REFRESH"},
        settings={"client_id": "client-1", "token_store": str(store)},
    )
    adapter = XAdapter(
        channel,
        environ={
            "SOCIALSCHED_SECRET_X_TOKEN": TOKEN,
            "SOCIALSCHED_SECRET_X_REFRESH": "refresh-old",
        },
    )
    posts = respx.post(f"{API}/2/tweets").mock(
        side_effect=[
            httpx.Response(401, json={"title": "Unauthorized"}),
            httpx.Response(201, json={"data": {"id": "1001"}}),
        ]
    )
    refresh = respx.post(f"{API}/2/oauth2/token").mock(
        return_value=httpx.Response(
            200, json={"access_token": "access-new", "refresh_token": "refresh-new"}
        )
    )
    assert adapter.publish(message(), "d1").remote_id == "1001"
    form = dict(pair.split("=") for pair in refresh.calls.last.request.content.decode().split("&"))
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": "refresh-old",
        "client_id": "client-1",
    }
    assert posts.calls[1].request.headers["Authorization"] == "Bearer access-new"
    assert json.loads(store.read_text()) == {
        "access_token": "access-new",
        "refresh_token": "refresh-new",
    }
    assert store.stat().st_mode & 0o777 == 0o600
    # A new instance (the next run) starts from the stored pair.
    respx.get(f"{API}/2/users/me").mock(
        return_value=httpx.Response(200, json={"data": {"id": "77", "username": "bakery"}})
    )
    XAdapter(
        channel,
        environ={
            "SOCIALSCHED_SECRET_X_TOKEN": TOKEN,
            "SOCIALSCHED_SECRET_X_REFRESH": "refresh-old",
        },
    ).verify()
    assert respx.calls.last.request.headers["Authorization"] == "Bearer access-new"


@respx.mock
def test_a_refused_refresh_token_is_credentials_rejected(tmp_path):
    channel = Channel(
        name="x-main",
        adapter="x",
        secrets={"access_token": "X_TOKEN", "refresh_token": "X_REFRESH"},
        settings={"client_id": "client-1"},
    )
    adapter = XAdapter(
        channel,
        environ={
            "SOCIALSCHED_SECRET_X_TOKEN": TOKEN,
            "SOCIALSCHED_SECRET_X_REFRESH": "refresh-old",
        },
    )
    respx.post(f"{API}/2/tweets").mock(return_value=httpx.Response(401, json={}))
    respx.post(f"{API}/2/oauth2/token").mock(
        return_value=httpx.Response(400, json={"error": "invalid_request"})
    )
    with pytest.raises(CredentialsRejected, match="refresh token was refused"):
        adapter.publish(message(), "d1")
