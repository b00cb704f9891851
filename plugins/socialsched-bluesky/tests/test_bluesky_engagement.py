"""`BlueskyAdapter.engagement` against an AppView fake (respx) that checks the exact
requests: `app.bsky.feed.getPosts` of the channel's `appview` (by default Bluesky's
public one) with at most 25 URIs a call, no Authorization header and no login at all,
deleted posts left out, rate limits and failures transient. Every request is mocked
(respx fails on any other), so nothing reaches the PDS. `test_bluesky_engagement_pds.py`
collects real likes and reposts from a local PDS and AppView."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
import respx
from socialsched_bluesky import BlueskyAdapter
from test_bluesky_adapter import APP_PASSWORD, DID, NOW, make_adapter

from socialsched.adapters import PermanentError, Receipt, TransientError
from socialsched.adapters.engagement import Engagement

PUBLIC_APPVIEW = "https://public.api.bsky.app"
GET_POSTS = f"{PUBLIC_APPVIEW}/xrpc/app.bsky.feed.getPosts"


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


def asked_uris(request: httpx.Request, host: str = "public.api.bsky.app") -> list[str]:
    """The URIs a getPosts request asks for, after checking it carries no credentials."""
    assert request.method == "GET"
    assert request.url.host == host
    assert request.url.path == "/xrpc/app.bsky.feed.getPosts"
    assert {key for key, _ in request.url.params.multi_items()} == {"uris"}
    assert "authorization" not in {name.lower() for name in request.headers}
    assert "cookie" not in {name.lower() for name in request.headers}
    return request.url.params.get_list("uris")


def test_declares_likes_reposts_replies_and_quotes() -> None:
    assert BlueskyAdapter.capabilities.engagement == ("likes", "reposts", "replies", "quotes")


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_one_get_posts_call_to_the_public_appview_without_credentials(
    respx_mock: respx.MockRouter,
) -> None:
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

    assert respx_mock.calls.call_count == 1, "one request, and no createSession"
    request = route.calls.last.request
    assert asked_uris(request) == [uri(1), uri(2), uri(3)]
    assert found == {
        uri(1): Engagement(fetched_at=NOW, likes=12, reposts=3, replies=4, quotes=1),
        uri(2): Engagement(fetched_at=NOW, likes=0, reposts=0, replies=0, quotes=0),
        uri(3): Engagement(fetched_at=NOW, likes=7, reposts=1, replies=0, quotes=2),
    }
    assert all(e.views is None and e.clicks is None for e in found.values())


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_sixty_posts_take_three_calls_of_at_most_twenty_five_and_no_login(
    respx_mock: respx.MockRouter,
) -> None:
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
    assert respx_mock.calls.call_count == 3, "getPosts only: no createSession"
    for number, post_uri in enumerate(uris):
        assert found[post_uri] == Engagement(
            fetched_at=NOW, likes=number, reposts=number % 4, replies=number % 3, quotes=number % 2
        )


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_deleted_posts_are_left_out(respx_mock: respx.MockRouter) -> None:
    # The AppView leaves out the posts it no longer has.
    respx_mock.get(GET_POSTS).mock(
        return_value=httpx.Response(200, json={"posts": [post_view(uri(2), 1, 0, 0, 0)]})
    )
    found = make_adapter().engagement(receipts(uri(1), uri(2), uri(3)))
    assert set(found) == {uri(2)}


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_the_same_post_twice_is_asked_once(respx_mock: respx.MockRouter) -> None:
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


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_the_channel_appview_setting_is_asked_instead(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("https://appview.example:8443/xrpc/app.bsky.feed.getPosts").mock(
        return_value=httpx.Response(200, json={"posts": [post_view(uri(4), 3, 2, 1, 0)]})
    )
    adapter = make_adapter(appview="https://appview.example:8443/")
    assert adapter.engagement(receipts(uri(4))) == {
        uri(4): Engagement(fetched_at=NOW, likes=3, reposts=2, replies=1, quotes=0)
    }
    assert asked_uris(route.calls.last.request, host="appview.example") == [uri(4)]


@pytest.mark.parametrize(
    "appview", ["ftp://appview.example", "appview.example", "https://x.example/xrpc", ""]
)
def test_an_appview_that_is_not_an_https_url_is_refused_at_once(appview: str) -> None:
    with pytest.raises(PermanentError, match=r"settings\.appview must be an AppView's https://"):
        make_adapter(appview=appview)


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_the_fetcher_is_kept_until_close(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(GET_POSTS).mock(
        return_value=httpx.Response(200, json={"posts": [post_view(uri(1), 1, 0, 0, 0)]})
    )
    adapter = make_adapter()
    adapter.engagement(receipts(uri(1)))
    kept = adapter._fetcher
    adapter.engagement(receipts(uri(1)))
    assert kept is not None and adapter._fetcher is kept
    adapter.close()
    assert adapter._fetcher is None
    assert adapter.engagement(receipts(uri(1)))[uri(1)].likes == 1


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_rate_limited_is_transient_with_retry_after(respx_mock: respx.MockRouter) -> None:
    reset = int(NOW.timestamp()) + 300
    respx_mock.get(GET_POSTS).mock(
        return_value=httpx.Response(
            429,
            json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={"ratelimit-remaining": "0", "ratelimit-reset": str(reset)},
        )
    )
    with pytest.raises(TransientError, match=r"public\.api\.bsky\.app: rate limited") as caught:
        make_adapter().engagement(receipts(uri(1)))
    assert caught.value.retry_after == 300


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (502, {"error": "UpstreamFailure"}),
        (400, {"error": "InvalidRequest", "message": "uris must not have more than 25"}),
        (404, {"error": "MethodNotImplemented"}),
    ],
)
@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_an_appview_answer_other_than_2xx_is_transient_naming_the_host(
    respx_mock: respx.MockRouter, status: int, body: dict[str, str]
) -> None:
    respx_mock.get(GET_POSTS).mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(TransientError) as caught:
        make_adapter().engagement(receipts(uri(1)))
    assert str(caught.value) == (
        f"bluesky getPosts at the AppView public.api.bsky.app: HTTP {status}"
    )
    assert caught.value.retry_after is None


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_an_answer_without_a_posts_list_is_transient(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(GET_POSTS).mock(return_value=httpx.Response(200, text="<html>hi</html>"))
    with pytest.raises(TransientError, match="not a getPosts answer"):
        make_adapter().engagement(receipts(uri(1)))


def test_an_unreachable_appview_is_transient_and_never_shows_the_password() -> None:
    """Real connection attempt: port 9 of 127.0.0.1 (allowed here) refuses."""
    adapter = make_adapter(appview="http://127.0.0.1:9")
    with (
        pytest.MonkeyPatch.context() as patch,
        pytest.raises(TransientError, match=r"AppView 127\.0\.0\.1: ") as caught,
    ):
        patch.setenv("SOCIALSCHED_ALLOWED_NETWORKS", "127.0.0.1/32")
        adapter.engagement(receipts(uri(1)))
    assert APP_PASSWORD not in str(caught.value)


def test_an_internal_appview_is_refused_without_connecting() -> None:
    """Without SOCIALSCHED_ALLOWED_NETWORKS, an AppView on a loopback or private
    address is never connected to: the same rule as media URLs."""
    adapter = make_adapter(appview="http://127.0.0.1:9")
    with (
        pytest.MonkeyPatch.context() as patch,
        pytest.raises(TransientError, match=r"refused: 127\.0\.0\.1 is a loopback") as caught,
    ):
        patch.delenv("SOCIALSCHED_ALLOWED_NETWORKS", raising=False)
        adapter.engagement(receipts(uri(1)))
    assert "AppView 127.0.0.1" in str(caught.value)


def test_an_appview_that_never_answers_is_cut_at_the_timeout() -> None:
    """A listening socket nobody answers on: the read ends at the channel's `timeout`."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        adapter = make_adapter(appview=f"http://127.0.0.1:{port}", timeout=1)
        started = time.monotonic()
        with (
            pytest.MonkeyPatch.context() as patch,
            pytest.raises(TransientError) as caught,
        ):
            patch.setenv("SOCIALSCHED_ALLOWED_NETWORKS", "127.0.0.1/32")
            adapter.engagement(receipts(uri(1)))
        adapter.close()
    assert time.monotonic() - started < 10
    assert str(caught.value) == (
        "bluesky getPosts at the AppView 127.0.0.1: "
        "took longer than the 1 s an engagement fetch may take"
    )
