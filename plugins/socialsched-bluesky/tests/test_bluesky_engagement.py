"""`BlueskyAdapter.engagement` against an XRPC fake (respx) that checks the exact
requests: `app.bsky.feed.getPosts` with at most 25 URIs a call, the session's token,
deleted posts left out, rate limits. `test_bluesky_engagement_pds.py` collects real
likes and reposts from a local PDS and AppView."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from socialsched_bluesky import BlueskyAdapter
from test_bluesky_adapter import DID, NOW, XRPC, make_adapter, mock_login

from socialsched.adapters import PermanentError, Receipt, TransientError
from socialsched.engagement import Engagement

GET_POSTS = f"{XRPC}/app.bsky.feed.getPosts"


def uri(number: int) -> str:
    return f"at://{DID}/app.bsky.feed.post/3kpost{number:07d}"


def receipts(*uris: str) -> list[Receipt]:
    return [Receipt(remote_id=u, extra={"cid": "bafy"}) for u in uris]


def post_view(post_uri: str, likes: int, reposts: int, replies: int, quotes: int) -> dict:
    return {
        "uri": post_uri,
        "cid": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a",
        "author": {"did": DID, "handle": "brand.example"},
        "record": {
            "$type": "app.bsky.feed.post",
            "text": "hello",
            "createdAt": "2027-01-05T09:00:00.000Z",
        },
        "indexedAt": "2027-01-05T09:00:01.000Z",
        "likeCount": likes,
        "repostCount": reposts,
        "replyCount": replies,
        "quoteCount": quotes,
    }


def asked_uris(request: httpx.Request) -> list[str]:
    assert request.method == "GET"
    assert request.url.path == "/xrpc/app.bsky.feed.getPosts"
    assert {key for key, _ in request.url.params.multi_items()} == {"uris"}
    return request.url.params.get_list("uris")


def test_declares_likes_reposts_replies_and_quotes() -> None:
    assert BlueskyAdapter.capabilities.engagement == ("likes", "reposts", "replies", "quotes")


@respx.mock(assert_all_called=True)
def test_one_get_posts_call_for_a_few_posts_with_the_session_token(
    respx_mock: respx.MockRouter,
) -> None:
    login = mock_login(respx_mock)
    route = respx_mock.get(GET_POSTS).mock(
        return_value=httpx.Response(
            200,
            json={
                "posts": [
                    post_view(uri(1), 12, 3, 4, 1),
                    post_view(uri(2), 0, 0, 0, 0),
                    post_view(uri(3), 7, 1, 0, 2),
                ]
            },
        )
    )
    found = make_adapter().engagement(receipts(uri(1), uri(2), uri(3)))

    assert route.call_count == 1
    request = route.calls.last.request
    assert asked_uris(request) == [uri(1), uri(2), uri(3)]
    access_jwt = json.loads(login.calls.last.response.content)["accessJwt"]
    assert request.headers["Authorization"] == f"Bearer {access_jwt}"
    assert found == {
        uri(1): Engagement(fetched_at=NOW, likes=12, reposts=3, replies=4, quotes=1),
        uri(2): Engagement(fetched_at=NOW, likes=0, reposts=0, replies=0, quotes=0),
        uri(3): Engagement(fetched_at=NOW, likes=7, reposts=1, replies=0, quotes=2),
    }
    assert all(e.views is None and e.clicks is None for e in found.values())


@respx.mock(assert_all_called=True)
def test_sixty_posts_take_three_calls_of_at_most_twenty_five_and_one_login(
    respx_mock: respx.MockRouter,
) -> None:
    login = mock_login(respx_mock)
    uris = [uri(number) for number in range(60)]

    def answer(request: httpx.Request) -> httpx.Response:
        views = []
        for asked in asked_uris(request):
            number = uris.index(asked)
            views.append(post_view(asked, number, number % 4, number % 3, number % 2))
        return httpx.Response(200, json={"posts": views})

    route = respx_mock.get(GET_POSTS).mock(side_effect=answer)
    found = make_adapter().engagement(receipts(*uris))

    assert [asked_uris(call.request) for call in route.calls] == [uris[:25], uris[25:50], uris[50:]]
    assert login.call_count == 1
    for number, post_uri in enumerate(uris):
        assert found[post_uri] == Engagement(
            fetched_at=NOW, likes=number, reposts=number % 4, replies=number % 3, quotes=number % 2
        )


@respx.mock(assert_all_called=True)
def test_deleted_posts_are_left_out(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    # The AppView leaves out the posts it no longer has.
    respx_mock.get(GET_POSTS).mock(
        return_value=httpx.Response(200, json={"posts": [post_view(uri(2), 1, 0, 0, 0)]})
    )
    found = make_adapter().engagement(receipts(uri(1), uri(2), uri(3)))
    assert set(found) == {uri(2)}


@respx.mock(assert_all_called=True)
def test_the_same_post_twice_is_asked_once(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    route = respx_mock.get(GET_POSTS).mock(
        return_value=httpx.Response(200, json={"posts": [post_view(uri(5), 2, 0, 0, 0)]})
    )
    assert make_adapter().engagement(receipts(uri(5), uri(5)))[uri(5)].likes == 2
    assert asked_uris(route.calls.last.request) == [uri(5)]


def test_no_post_uri_asks_nothing_not_even_a_login() -> None:
    with respx.mock(assert_all_mocked=True) as router:
        adapter = make_adapter()
        assert adapter.engagement([]) == {}
        assert adapter.engagement([Receipt(remote_id="not-a-uri")]) == {}
        assert adapter.engagement([Receipt(remote_id=f"at://{DID}/app.bsky.feed.like/x")]) == {}
        assert router.calls.call_count == 0


@respx.mock(assert_all_called=True)
def test_rate_limited_is_transient_with_retry_after(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    reset = int(NOW.timestamp()) + 300
    respx_mock.get(GET_POSTS).mock(
        return_value=httpx.Response(
            429,
            json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={"ratelimit-remaining": "0", "ratelimit-reset": str(reset)},
        )
    )
    with pytest.raises(TransientError) as caught:
        make_adapter().engagement(receipts(uri(1)))
    assert caught.value.retry_after == 300


@respx.mock(assert_all_called=True)
def test_an_appview_failure_is_transient(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    respx_mock.get(GET_POSTS).mock(
        return_value=httpx.Response(502, json={"error": "UpstreamFailure"})
    )
    with pytest.raises(TransientError):
        make_adapter().engagement(receipts(uri(1)))


@respx.mock(assert_all_called=True)
def test_a_refused_request_is_permanent(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    respx_mock.get(GET_POSTS).mock(
        return_value=httpx.Response(
            400, json={"error": "InvalidRequest", "message": "uris must not have more than 25"}
        )
    )
    with pytest.raises(PermanentError, match="getPosts"):
        make_adapter().engagement(receipts(uri(1)))
