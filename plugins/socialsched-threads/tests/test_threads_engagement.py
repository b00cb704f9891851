"""The exact Threads API requests the threads adapter sends for engagement (one media
insights call a post) and how it reads the answers."""

from __future__ import annotations

import httpx
import pytest
import respx
from socialsched_threads import ThreadsAdapter

from socialsched.adapters import Receipt, TransientError
from socialsched.calendar.model import Channel

ROOT = "https://graph.threads.net/v1.0"
USER = "2784"
TOKEN = "THQWsecret-token-value"
METRICS = "views,likes,replies,reposts,quotes"


def make_adapter() -> ThreadsAdapter:
    channel = Channel(
        name="th", adapter="threads", secrets={"access_token": "T"}, settings={"user_id": USER}
    )
    return ThreadsAdapter(channel, environ={"SOCIALSCHED_SECRET_T": TOKEN})


def insights(values: dict[str, int]) -> dict:
    """A media insights answer as Threads gives it."""
    return {
        "data": [
            {
                "name": name,
                "period": "lifetime",
                "values": [{"value": value}],
                "title": name.title(),
                "id": f"1/insights/{name}/lifetime",
            }
            for name, value in values.items()
        ]
    }


def test_declares_the_counts_it_gives():
    assert ThreadsAdapter.capabilities.engagement == (
        "likes",
        "reposts",
        "replies",
        "quotes",
        "views",
    )


@respx.mock
def test_each_post_is_asked_for_its_insights_with_the_token():
    routes = {
        post: respx.get(f"{ROOT}/{post}/insights").mock(
            return_value=httpx.Response(
                200,
                json=insights(
                    {
                        "views": n * 10,
                        "likes": n,
                        "replies": n + 1,
                        "reposts": n + 2,
                        "quotes": n + 3,
                    }
                ),
            )
        )
        for n, post in enumerate(["101", "102", "103"], start=1)
    }
    found = make_adapter().engagement([Receipt(remote_id=post) for post in routes])
    for route in routes.values():
        assert route.call_count == 1
        request = route.calls.last.request
        assert request.url.params["metric"] == METRICS
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert found["102"].counts() == {
        "likes": 2,
        "reposts": 4,
        "replies": 3,
        "quotes": 5,
        "views": 20,
        "clicks": None,
    }
    assert set(found) == {"101", "102", "103"}


@respx.mock
def test_a_metric_threads_leaves_out_is_unknown_not_zero():
    respx.get(f"{ROOT}/7/insights").mock(
        return_value=httpx.Response(200, json=insights({"likes": 4, "replies": 0}))
    )
    engagement = make_adapter().engagement([Receipt(remote_id="7")])["7"]
    assert (engagement.likes, engagement.replies) == (4, 0)
    assert (engagement.views, engagement.reposts, engagement.quotes) == (None, None, None)


@respx.mock
def test_a_deleted_post_is_left_out():
    missing = {"error": {"message": "Object does not exist", "code": 100, "error_subcode": 33}}
    respx.get(f"{ROOT}/1/insights").mock(
        return_value=httpx.Response(200, json=insights({"likes": 1}))
    )
    respx.get(f"{ROOT}/2/insights").mock(return_value=httpx.Response(400, json=missing))
    found = make_adapter().engagement([Receipt(remote_id="1"), Receipt(remote_id="2")])
    assert set(found) == {"1"}


@respx.mock
def test_a_rate_limit_is_transient_without_the_token():
    error = {"message": f"Application request limit reached {TOKEN}", "code": 4}
    respx.get(f"{ROOT}/1/insights").mock(
        return_value=httpx.Response(429, json={"error": error}, headers={"Retry-After": "30"})
    )
    with pytest.raises(TransientError) as raised:
        make_adapter().engagement([Receipt(remote_id="1")])
    assert raised.value.retry_after == 30
    assert TOKEN not in str(raised.value)


def test_receipts_without_an_id_ask_nothing():
    with respx.mock(assert_all_called=False) as mock:
        assert make_adapter().engagement([Receipt(remote_id="unknown:k")]) == {}
        assert not mock.calls
