"""The Bluesky adapter: text rules, exact XRPC requests (respx), error mapping."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import httpx
import pytest
import respx
from socialsched_bluesky import BlueskyAdapter
from socialsched_bluesky.adapter import find_spans, record_key

from socialsched.adapters import Message, PermanentError, Receipt, TransientError
from socialsched.adapters.registry import adapter_class
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel

SERVICE = "https://pds.example"
XRPC = f"{SERVICE}/xrpc"
DID = "did:plc:brand0000000000000000000"
ALICE = "did:plc:alice0000000000000000000"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
ENV = {"SOCIALSCHED_SECRET_BSKY_APP_PASSWORD": APP_PASSWORD}
NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl: one grapheme


def make_adapter(**settings: object) -> BlueskyAdapter:
    channel = Channel(
        name="bsky",
        adapter="bluesky",
        secrets={"app_password": "BSKY_APP_PASSWORD"},
        settings={"handle": "brand.example", "service": SERVICE, **settings},
    )
    adapter = BlueskyAdapter(channel, environ=ENV)
    adapter.clock = lambda: NOW
    return adapter


def make_message(text: str = "Bonne année !", **fields: object) -> Message:
    values: dict[str, object] = {
        "delivery_id": "d1",
        "post": "newyear",
        "segment": "fr",
        "channel": "bsky",
        "locale": "fr-DZ",
        "text": text,
        "utc": NOW,
        "local": NOW,
        **fields,
    }
    return Message(**values)  # type: ignore[arg-type]


def fake_jwt() -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    payload = {"exp": int(time.time()) + 7200, "iat": int(time.time()), "sub": DID}
    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part(payload)}.c2ln"


def mock_login(mock: respx.MockRouter) -> respx.Route:
    return mock.post(f"{XRPC}/com.atproto.server.createSession").mock(
        return_value=httpx.Response(
            200,
            json={
                "accessJwt": fake_jwt(),
                "refreshJwt": fake_jwt(),
                "handle": "brand.example",
                "did": DID,
            },
        )
    )


def mock_no_existing_record(mock: respx.MockRouter) -> respx.Route:
    return mock.get(f"{XRPC}/com.atproto.repo.getRecord").mock(
        return_value=httpx.Response(
            400, json={"error": "RecordNotFound", "message": "Could not locate record"}
        )
    )


# -- text rules ------------------------------------------------------------------------


def test_registered_through_entry_point() -> None:
    assert adapter_class("bluesky") is BlueskyAdapter


def test_limit_counts_graphemes_not_code_points() -> None:
    adapter = make_adapter()
    assert len(FAMILY) == 5
    # 150 families + 150 letters: 300 graphemes, 900 code points, 2850 UTF-8 bytes.
    assert adapter.validate(make_message(FAMILY * 150 + "a" * 150)) == []
    assert adapter.validate(make_message(FAMILY * 151 + "a" * 150)) != []
    assert adapter.validate(make_message(FAMILY * 200)) != []  # 200 graphemes, 3600 bytes
    combining = "e\u0301"  # e + combining acute accent: two code points, one grapheme
    assert adapter.validate(make_message(combining * 300)) == []
    assert adapter.validate(make_message(combining * 300 + "!")) != []
    flag = "\U0001f1e9\U0001f1ff"  # regional indicators D Z: one grapheme
    assert adapter.text_length(flag * 3) == 3


def test_facets_have_utf8_byte_offsets() -> None:
    text = f"Salut {FAMILY} @alice.example voir https://ex.com/a?b=1. #Fête2027, #2027 (x)"
    encoded = text.encode()
    spans = {(s.kind, s.value): (s.start, s.end) for s in find_spans(text)}

    def where(fragment: str) -> tuple[int, int]:
        start = encoded.index(fragment.encode())
        return start, start + len(fragment.encode())

    assert spans == {
        ("mention", "alice.example"): where("@alice.example"),
        ("link", "https://ex.com/a?b=1"): where("https://ex.com/a?b=1"),
        ("tag", "Fête2027"): where("#Fête2027"),
    }


def test_hash_inside_link_and_email_are_not_facets() -> None:
    spans = find_spans("mail me@brand.example https://ex.com/#section")
    assert [(s.kind, s.value) for s in spans] == [("link", "https://ex.com/#section")]


def test_record_key_is_a_stable_tid() -> None:
    first = record_key(NOW, "key-1")
    assert first == record_key(NOW, "key-1")
    assert first != record_key(NOW, "key-2")
    assert len(first) == 13 and set(first) <= set("234567abcdefghijklmnopqrstuvwxyz")
    # The top bit of a TID is 0, so the first character sorts in the first half.
    assert first[0] in "234567abcdefghij"
    assert record_key(NOW.replace(year=2028), "key-1") > first


def test_langs_from_locale_or_channel_setting() -> None:
    adapter = make_adapter(langs={"dz": ["fr", "ar"], "vn": "vi"})
    assert adapter.langs(make_message(locale="pt-BR")) == ["pt"]
    assert adapter.langs(make_message(segment="dz")) == ["fr", "ar"]
    assert adapter.langs(make_message(segment="vn")) == ["vi"]
    too_many = make_adapter(langs={"fr": ["fr", "ar", "en", "de"]})
    assert any("language tags" in problem for problem in too_many.validate(make_message()))
    with pytest.raises(PermanentError, match=r"'bsky'.*settings\.langs must be a table"):
        make_adapter(langs=["fr", "ar"])


def test_any_audience_is_a_problem_because_bluesky_posts_are_public() -> None:
    problems = make_adapter().validate(make_message(audience=Audience.parse("list:fans")))
    assert len(problems) == 1 and "'list'" in problems[0] and "supports: none" in problems[0]
    assert make_adapter().validate(make_message()) == []


# -- requests --------------------------------------------------------------------------


@respx.mock
def test_publish_logs_in_with_app_password_and_creates_record(
    respx_mock: respx.MockRouter,
) -> None:
    login = mock_login(respx_mock)
    mock_no_existing_record(respx_mock)
    resolve = respx_mock.get(f"{XRPC}/com.atproto.identity.resolveHandle").mock(
        return_value=httpx.Response(200, json={"did": ALICE})
    )
    rkey = record_key(NOW, "key-1")
    create = respx_mock.post(f"{XRPC}/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(
            200, json={"uri": f"at://{DID}/app.bsky.feed.post/{rkey}", "cid": "bafyfake"}
        )
    )
    text = "Hi @alice.example! #Promo https://brand.example/x"
    receipt = make_adapter().publish(make_message(text), "key-1")

    assert receipt == Receipt(
        remote_id=f"at://{DID}/app.bsky.feed.post/{rkey}",
        url=f"https://bsky.app/profile/brand.example/post/{rkey}",
        extra={"cid": "bafyfake"},
    )
    assert json.loads(login.calls.last.request.content) == {
        "identifier": "brand.example",
        "password": APP_PASSWORD,
    }
    assert resolve.calls.last.request.url.params["handle"] == "alice.example"
    request = create.calls.last.request
    assert request.headers["Authorization"].startswith("Bearer ")
    encoded = text.encode()
    mention_start = encoded.index(b"@alice")
    tag_start = encoded.index(b"#Promo")
    link_start = encoded.index(b"https://")
    assert json.loads(request.content) == {
        "repo": DID,
        "collection": "app.bsky.feed.post",
        "rkey": rkey,
        "record": {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": "2027-01-05T09:00:00.000Z",
            "langs": ["fr"],
            "facets": [
                {
                    "$type": "app.bsky.richtext.facet",
                    "index": {
                        "$type": "app.bsky.richtext.facet#byteSlice",
                        "byteStart": mention_start,
                        "byteEnd": mention_start + len("@alice.example"),
                    },
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": ALICE}],
                },
                {
                    "$type": "app.bsky.richtext.facet",
                    "index": {
                        "$type": "app.bsky.richtext.facet#byteSlice",
                        "byteStart": tag_start,
                        "byteEnd": tag_start + len("#Promo"),
                    },
                    "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "Promo"}],
                },
                {
                    "$type": "app.bsky.richtext.facet",
                    "index": {
                        "$type": "app.bsky.richtext.facet#byteSlice",
                        "byteStart": link_start,
                        "byteEnd": len(encoded),
                    },
                    "features": [
                        {
                            "$type": "app.bsky.richtext.facet#link",
                            "uri": "https://brand.example/x",
                        }
                    ],
                },
            ],
        },
    }


@respx.mock
def test_unresolvable_mention_stays_plain_text(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    mock_no_existing_record(respx_mock)
    respx_mock.get(f"{XRPC}/com.atproto.identity.resolveHandle").mock(
        return_value=httpx.Response(
            400, json={"error": "InvalidRequest", "message": "Unable to resolve handle"}
        )
    )
    create = respx_mock.post(f"{XRPC}/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(
            200, json={"uri": f"at://{DID}/app.bsky.feed.post/x", "cid": "c"}
        )
    )
    make_adapter().publish(make_message("hello @ghost.example"), "k")
    assert "facets" not in json.loads(create.calls.last.request.content)["record"]


@respx.mock
def test_existing_record_under_the_key_is_returned_not_reposted(
    respx_mock: respx.MockRouter,
) -> None:
    mock_login(respx_mock)
    rkey = record_key(NOW, "key-1")
    uri = f"at://{DID}/app.bsky.feed.post/{rkey}"
    get = respx_mock.get(f"{XRPC}/com.atproto.repo.getRecord").mock(
        return_value=httpx.Response(
            200,
            json={
                "uri": uri,
                "cid": "bafyold",
                "value": {
                    "$type": "app.bsky.feed.post",
                    "text": "Bonne année !",
                    "createdAt": "2027-01-05T09:00:00.000Z",
                },
            },
        )
    )
    create = respx_mock.post(f"{XRPC}/com.atproto.repo.createRecord")
    receipt = make_adapter().publish(make_message(), "key-1")
    assert receipt.remote_id == uri and receipt.extra == {"cid": "bafyold"}
    assert get.calls.last.request.url.params["rkey"] == rkey
    assert create.call_count == 0


@respx.mock
def test_rate_limit_is_transient_with_retry_after(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    mock_no_existing_record(respx_mock)
    reset = int(NOW.timestamp()) + 120
    respx_mock.post(f"{XRPC}/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(
            429,
            json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={"ratelimit-remaining": "0", "ratelimit-reset": str(reset)},
        )
    )
    with pytest.raises(TransientError) as caught:
        make_adapter().publish(make_message(), "k")
    assert caught.value.retry_after == 120


@respx.mock
def test_bad_app_password_is_permanent_and_never_echoed(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{XRPC}/com.atproto.server.createSession").mock(
        return_value=httpx.Response(
            401,
            json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
        )
    )
    with pytest.raises(PermanentError) as caught:
        make_adapter().publish(make_message(), "k")
    assert "Invalid identifier or password" in str(caught.value)
    assert APP_PASSWORD not in str(caught.value)
    assert APP_PASSWORD not in repr(make_adapter())


@respx.mock
def test_server_error_and_timeout_are_transient(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    mock_no_existing_record(respx_mock)
    respx_mock.post(f"{XRPC}/com.atproto.repo.createRecord").mock(
        side_effect=[httpx.Response(503, json={"error": "Unavailable"}), httpx.ReadTimeout("x")]
    )
    adapter = make_adapter()
    with pytest.raises(TransientError):
        adapter.publish(make_message(), "k")
    with pytest.raises(TransientError):
        adapter.publish(make_message(), "k")


@respx.mock
def test_invalid_record_is_permanent(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    mock_no_existing_record(respx_mock)
    respx_mock.post(f"{XRPC}/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(
            400, json={"error": "InvalidRecord", "message": "Record/text must not be longer"}
        )
    )
    with pytest.raises(PermanentError, match="InvalidRecord"):
        make_adapter().publish(make_message(), "k")


def test_missing_handle_and_password_are_clear_errors() -> None:
    with pytest.raises(PermanentError, match=r"settings\.handle"):
        BlueskyAdapter(Channel(name="b", adapter="bluesky"), environ={})
    channel = Channel(
        name="b",
        adapter="bluesky",
        secrets={"app_password": "BSKY_APP_PASSWORD"},
        settings={"handle": "brand.example", "service": SERVICE},
    )
    with pytest.raises(PermanentError, match="BSKY_APP_PASSWORD"):
        BlueskyAdapter(channel, environ={}).publish(make_message(), "k")


@respx.mock
def test_delete_sends_delete_record(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    route = respx_mock.post(f"{XRPC}/com.atproto.repo.deleteRecord").mock(
        return_value=httpx.Response(200, json={})
    )
    make_adapter().delete(Receipt(remote_id=f"at://{DID}/app.bsky.feed.post/3abc"))
    assert json.loads(route.calls.last.request.content) == {
        "repo": DID,
        "collection": "app.bsky.feed.post",
        "rkey": "3abc",
    }
