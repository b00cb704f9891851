"""`MastodonAdapter.engagement` against an HTTP fake (respx) that checks the exact
requests: ids batched 20 a request, the token, one-by-one reads on servers before 4.3,
deleted statuses left out, rate limits."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import respx
from socialsched_mastodon import MastodonAdapter
from test_mastodon_adapter import INSTANCE, NOW, TOKEN, make_adapter

from socialsched.adapters import CredentialsRejected, Receipt, TransientError
from socialsched.adapters.engagement import Engagement

STATUSES = f"{INSTANCE}/api/v1/statuses"


def receipts(*ids: str) -> list[Receipt]:
    return [Receipt(remote_id=status_id, url=f"{INSTANCE}/@brand/{status_id}") for status_id in ids]


def status(status_id: str, likes: int, boosts: int, replies: int, **more: object) -> dict:
    return {
        "id": status_id,
        "url": f"{INSTANCE}/@brand/{status_id}",
        "favourites_count": likes,
        "reblogs_count": boosts,
        "replies_count": replies,
        **more,
    }


def asked_ids(request: httpx.Request) -> list[str]:
    assert request.url.path == "/api/v1/statuses"
    assert [key for key, _ in request.url.params.multi_items()] == ["id[]"] * len(
        request.url.params.get_list("id[]")
    )
    return request.url.params.get_list("id[]")


def test_declares_likes_reposts_replies_and_quotes() -> None:
    assert MastodonAdapter.capabilities.engagement == ("likes", "reposts", "replies", "quotes")
    assert make_adapter().capabilities.engagement == ("likes", "reposts", "replies", "quotes")


@respx.mock(assert_all_called=True)
def test_one_request_for_a_few_statuses_with_the_token(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(STATUSES).mock(
        return_value=httpx.Response(
            200,
            json=[
                status("11", 5, 2, 1, quotes_count=3),
                status("12", 0, 0, 0, quotes_count=0),
                status("13", 40, 7, 9, quotes_count=1),
            ],
        )
    )
    found = make_adapter().engagement(receipts("11", "12", "13"))

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert asked_ids(request) == ["11", "12", "13"]
    assert found == {
        "11": Engagement(fetched_at=NOW, likes=5, reposts=2, replies=1, quotes=3),
        "12": Engagement(fetched_at=NOW, likes=0, reposts=0, replies=0, quotes=0),
        "13": Engagement(fetched_at=NOW, likes=40, reposts=7, replies=9, quotes=1),
    }
    assert all(e.views is None and e.clicks is None for e in found.values())


@respx.mock(assert_all_called=True)
def test_forty_five_statuses_take_three_requests_of_at_most_twenty(
    respx_mock: respx.MockRouter,
) -> None:
    ids = [str(1000 + number) for number in range(45)]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=[status(i, int(i) % 7, int(i) % 3, int(i) % 5) for i in asked_ids(request)]
        )

    route = respx_mock.get(STATUSES).mock(side_effect=answer)
    found = make_adapter().engagement(receipts(*ids))

    assert [asked_ids(call.request) for call in route.calls] == [ids[:20], ids[20:40], ids[40:]]
    assert set(found) == set(ids)
    for status_id in ids:
        number = int(status_id)
        assert found[status_id].counts() == {
            "likes": number % 7,
            "reposts": number % 3,
            "replies": number % 5,
            "quotes": None,  # the server sends no quotes_count (before Mastodon 4.5)
            "views": None,
            "clicks": None,
        }


@respx.mock(assert_all_called=True)
def test_deleted_statuses_are_left_out(respx_mock: respx.MockRouter) -> None:
    # Mastodon leaves out the statuses that no longer exist.
    respx_mock.get(STATUSES).mock(
        return_value=httpx.Response(200, json=[status("21", 1, 1, 1), status("23", 2, 2, 2)])
    )
    found = make_adapter().engagement(receipts("21", "22", "23"))
    assert set(found) == {"21", "23"}


@respx.mock(assert_all_called=True)
def test_a_status_the_adapter_did_not_ask_for_is_not_reported(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(STATUSES).mock(
        return_value=httpx.Response(200, json=[status("31", 1, 1, 1), status("99", 9, 9, 9)])
    )
    assert set(make_adapter().engagement(receipts("31"))) == {"31"}


@respx.mock(assert_all_called=True)
def test_the_same_status_twice_is_asked_once(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(STATUSES).mock(
        return_value=httpx.Response(200, json=[status("41", 3, 0, 0)])
    )
    found = make_adapter().engagement(receipts("41", "41"))
    assert asked_ids(route.calls.last.request) == ["41"]
    assert found["41"].likes == 3


def test_no_receipt_and_unconfirmed_receipts_ask_nothing() -> None:
    with respx.mock(assert_all_mocked=True) as router:
        adapter = make_adapter()
        assert adapter.engagement([]) == {}
        assert adapter.engagement([Receipt(remote_id="unconfirmed:key-1")]) == {}
        assert router.calls.call_count == 0


@respx.mock(assert_all_called=True)
def test_a_server_before_4_3_is_read_one_status_at_a_time(
    respx_mock: respx.MockRouter,
) -> None:
    batch = respx_mock.get(STATUSES).mock(
        return_value=httpx.Response(404, json={"error": "Not Found"})
    )
    one = respx_mock.get(f"{STATUSES}/51").mock(
        return_value=httpx.Response(200, json=status("51", 4, 3, 2))
    )
    gone = respx_mock.get(f"{STATUSES}/52").mock(
        return_value=httpx.Response(404, json={"error": "Record not found"})
    )
    other = respx_mock.get(f"{STATUSES}/53").mock(
        return_value=httpx.Response(200, json=status("53", 0, 1, 0))
    )
    adapter = make_adapter()
    found = adapter.engagement(receipts("51", "52", "53"))

    assert found == {
        "51": Engagement(fetched_at=NOW, likes=4, reposts=3, replies=2),
        "53": Engagement(fetched_at=NOW, likes=0, reposts=1, replies=0),
    }
    for route in (one, gone, other):
        assert route.call_count == 1
        assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    # Asked once: the next collection goes one by one straight away.
    adapter.engagement(receipts("51"))
    assert batch.call_count == 1
    assert one.call_count == 2


@respx.mock(assert_all_called=True)
def test_rate_limited_is_transient_with_retry_after(respx_mock: respx.MockRouter) -> None:
    reset = NOW + timedelta(minutes=4)
    respx_mock.get(STATUSES).mock(
        return_value=httpx.Response(
            429,
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset.isoformat()},
            json={"error": "Too many requests"},
        )
    )
    with pytest.raises(TransientError) as caught:
        make_adapter().engagement(receipts("61"))
    assert caught.value.retry_after == 240


@respx.mock(assert_all_called=True)
def test_an_exhausted_limit_stops_the_next_batch_before_it_is_sent(
    respx_mock: respx.MockRouter,
) -> None:
    reset = NOW + timedelta(seconds=90)
    ids = [str(2000 + number) for number in range(25)]
    route = respx_mock.get(STATUSES).mock(
        return_value=httpx.Response(
            200,
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset.isoformat()},
            json=[status(i, 1, 1, 1) for i in ids[:20]],
        )
    )
    with pytest.raises(TransientError) as caught:
        make_adapter().engagement(receipts(*ids))
    assert route.call_count == 1
    assert caught.value.retry_after == 90


@respx.mock(assert_all_called=True)
def test_server_error_is_transient_with_retry_after(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(STATUSES).mock(return_value=httpx.Response(503, headers={"Retry-After": "30"}))
    with pytest.raises(TransientError) as caught:
        make_adapter().engagement(receipts("71"))
    assert caught.value.retry_after == 30


@respx.mock(assert_all_called=True)
def test_an_unreadable_answer_is_transient(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(STATUSES).mock(return_value=httpx.Response(200, content=b"<html>oops"))
    with pytest.raises(TransientError, match="unreadably"):
        make_adapter().engagement(receipts("81"))


@respx.mock(assert_all_called=True)
def test_a_refused_token_is_credentials_rejected_without_the_token(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(STATUSES).mock(
        return_value=httpx.Response(401, json={"error": "The access token is invalid"})
    )
    with pytest.raises(CredentialsRejected) as caught:
        make_adapter().engagement(receipts("91"))
    assert "401" in str(caught.value) and TOKEN not in str(caught.value)
