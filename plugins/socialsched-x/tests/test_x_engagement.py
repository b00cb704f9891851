"""The exact requests the x adapter sends for engagement (`GET /2/tweets`, 100 ids a
call) and how it reads `public_metrics`."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
import respx
from socialsched_x import XAdapter

from socialsched.adapters import Receipt, TransientError
from socialsched.calendar.model import Channel

API = "https://api.x.com"
TOKEN = "x-user-token-0123456789"


def make_adapter() -> XAdapter:
    channel = Channel(name="x-main", adapter="x", secrets={"access_token": "X_TOKEN"})
    return XAdapter(channel, environ={"SOCIALSCHED_SECRET_X_TOKEN": TOKEN})


def metrics(number: int) -> dict[str, int]:
    return {
        "retweet_count": number + 1,
        "reply_count": number + 2,
        "like_count": number + 3,
        "quote_count": number + 4,
        "bookmark_count": number + 5,
        "impression_count": number + 6,
    }


def lookup(request: httpx.Request) -> httpx.Response:
    """X's posts lookup: every asked id found, with metrics from its number."""
    ids = request.url.params["ids"].split(",")
    data = [{"id": i, "text": "t", "public_metrics": metrics(int(i))} for i in ids]
    return httpx.Response(200, json={"data": data})


def test_declares_the_public_metrics_counts():
    assert XAdapter.capabilities.engagement == ("likes", "reposts", "replies", "quotes", "views")


@respx.mock
def test_150_posts_are_asked_in_two_calls_of_100_and_50_with_the_bearer_token():
    route = respx.get(f"{API}/2/tweets").mock(side_effect=lookup)
    ids = [str(1_000 + n) for n in range(150)]
    found = make_adapter().engagement([Receipt(remote_id=i) for i in ids])
    assert route.call_count == 2
    asked = [call.request for call in route.calls]
    assert [r.url.params["ids"] for r in asked] == [",".join(ids[:100]), ",".join(ids[100:])]
    assert {r.url.params["tweet.fields"] for r in asked} == {"public_metrics"}
    assert {r.headers["Authorization"] for r in asked} == {f"Bearer {TOKEN}"}
    assert set(found) == set(ids)


@respx.mock
def test_counts_map_from_public_metrics_and_clicks_are_none():
    respx.get(f"{API}/2/tweets").mock(side_effect=lookup)
    found = make_adapter().engagement([Receipt(remote_id="2000")])
    engagement = found["2000"]
    assert engagement.counts() == {
        "likes": 2003,
        "reposts": 2001,
        "replies": 2002,
        "quotes": 2004,
        "views": 2006,
        "clicks": None,
    }
    assert isinstance(engagement.fetched_at, datetime)
    assert engagement.fetched_at.utcoffset() is not None


@respx.mock
def test_a_deleted_post_is_left_out():
    body = {
        "data": [{"id": "11", "text": "t", "public_metrics": metrics(0)}],
        "errors": [
            {
                "value": "12",
                "detail": "Could not find tweet with ids: [12].",
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "ids",
                "resource_id": "12",
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
        ],
    }
    respx.get(f"{API}/2/tweets").mock(return_value=httpx.Response(200, json=body))
    found = make_adapter().engagement([Receipt(remote_id="11"), Receipt(remote_id="12")])
    assert set(found) == {"11"}


@respx.mock
def test_a_missing_metric_counts_as_zero():
    data = [{"id": "11", "text": "t", "public_metrics": {"like_count": 4}}]
    respx.get(f"{API}/2/tweets").mock(return_value=httpx.Response(200, json={"data": data}))
    engagement = make_adapter().engagement([Receipt(remote_id="11")])["11"]
    assert (engagement.likes, engagement.reposts, engagement.views) == (4, 0, 0)


@respx.mock
def test_receipts_without_a_real_id_and_repeats_are_not_asked():
    route = respx.get(f"{API}/2/tweets").mock(side_effect=lookup)
    receipts = [Receipt(remote_id="unknown:k1"), Receipt(remote_id="7"), Receipt(remote_id="7")]
    found = make_adapter().engagement(receipts)
    assert route.call_count == 1
    assert route.calls.last.request.url.params["ids"] == "7"
    assert set(found) == {"7"}
    assert make_adapter().engagement([Receipt(remote_id="unknown:k2")]) == {}
    assert route.call_count == 1


@respx.mock
def test_a_rate_limit_is_transient_until_the_reset_time_without_the_token(monkeypatch):
    monkeypatch.setattr("socialsched_x.adapter.time.time", lambda: 1_900_000_000.0)
    respx.get(f"{API}/2/tweets").mock(
        return_value=httpx.Response(
            429,
            json={"title": f"Too Many Requests for {TOKEN}"},
            headers={"x-rate-limit-reset": "1900000300"},
        )
    )
    with pytest.raises(TransientError) as raised:
        make_adapter().engagement([Receipt(remote_id="11")])
    assert raised.value.retry_after == 300
    assert TOKEN not in str(raised.value)
