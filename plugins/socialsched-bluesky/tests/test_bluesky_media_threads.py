"""The Bluesky adapter's blob uploads and embeds, thread reply refs, credential check
(`verify`) and in-doubt lookup (`find`): the exact XRPC requests, with an HTTP fake
(respx). `test_bluesky_local_pds.py` checks the same against a real PDS."""

from __future__ import annotations

import json

import attrs
import httpx
import pytest
import respx
from socialsched_bluesky.adapter import record_key
from test_bluesky_adapter import (
    APP_PASSWORD,
    DID,
    NOW,
    XRPC,
    make_adapter,
    make_message,
    mock_login,
    mock_no_existing_record,
)

from socialsched.adapters import (
    CredentialsRejected,
    Message,
    MissingSecretError,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.calendar.model import Channel
from socialsched.media import Media
from socialsched.testing import sample_image

POSTS = f"at://{DID}/app.bsky.feed.post"


def blob_json(link: str, mime_type: str, size: int) -> dict[str, object]:
    return {"$type": "blob", "ref": {"$link": link}, "mimeType": mime_type, "size": size}


def mock_create(mock: respx.MockRouter, rkey: str = "3kx", cid: str = "bafynew") -> respx.Route:
    return mock.post(f"{XRPC}/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(200, json={"uri": f"{POSTS}/{rkey}", "cid": cid})
    )


def with_media(message: Message, *media: Media) -> Message:
    return attrs.evolve(message, attachments=media)


LINK_1 = "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"
LINK_2 = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


@respx.mock(assert_all_called=True)
def test_images_are_uploaded_as_blobs_and_embedded_with_alt_and_aspect_ratio(
    respx_mock: respx.MockRouter,
) -> None:
    mock_login(respx_mock)
    mock_no_existing_record(respx_mock)
    first = sample_image(64, 48, alt="Affiche du salon, stand B12")
    second = sample_image(30, 20, alt="Plan d'accès")
    upload = respx_mock.post(f"{XRPC}/com.atproto.repo.uploadBlob").mock(
        side_effect=[
            httpx.Response(200, json={"blob": blob_json(LINK_1, "image/png", first.size)}),
            httpx.Response(200, json={"blob": blob_json(LINK_2, "image/png", second.size)}),
        ]
    )
    create = mock_create(respx_mock)

    make_adapter().publish(with_media(make_message(), first, second), "key-m")

    assert [call.request.content for call in upload.calls] == [first.read(), second.read()]
    assert {call.request.headers["Content-Type"] for call in upload.calls} == {"image/png"}
    assert all(call.request.headers["Authorization"].startswith("Bearer ") for call in upload.calls)
    record = json.loads(create.calls.last.request.content)["record"]
    assert record["embed"] == {
        "$type": "app.bsky.embed.images",
        "images": [
            {
                "$type": "app.bsky.embed.images#image",
                "alt": "Affiche du salon, stand B12",
                "image": blob_json(LINK_1, "image/png", first.size),
                "aspectRatio": {
                    "$type": "app.bsky.embed.defs#aspectRatio",
                    "width": 64,
                    "height": 48,
                },
            },
            {
                "$type": "app.bsky.embed.images#image",
                "alt": "Plan d'accès",
                "image": blob_json(LINK_2, "image/png", second.size),
                "aspectRatio": {
                    "$type": "app.bsky.embed.defs#aspectRatio",
                    "width": 30,
                    "height": 20,
                },
            },
        ],
    }


@respx.mock
def test_a_video_is_embedded_with_its_alt_text(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    mock_no_existing_record(respx_mock)
    data = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100
    video = Media.from_bytes(data, alt="Démonstration en 30 secondes", filename="demo.mp4")
    upload = respx_mock.post(f"{XRPC}/com.atproto.repo.uploadBlob").mock(
        return_value=httpx.Response(200, json={"blob": blob_json(LINK_1, "video/mp4", len(data))})
    )
    create = mock_create(respx_mock)
    make_adapter().publish(with_media(make_message(), video), "key-v")
    assert upload.calls.last.request.content == data
    assert upload.calls.last.request.headers["Content-Type"] == "video/mp4"
    assert json.loads(create.calls.last.request.content)["record"]["embed"] == {
        "$type": "app.bsky.embed.video",
        "video": blob_json(LINK_1, "video/mp4", len(data)),
        "alt": "Démonstration en 30 secondes",
    }


def test_media_limits_are_blueskys() -> None:
    adapter = make_adapter()
    images = [sample_image(alt=f"image {n}") for n in range(5)]
    assert adapter.validate(with_media(make_message(), *images[:4])) == []
    assert any("at most 4" in p for p in adapter.validate(with_media(make_message(), *images)))
    heavy = attrs.evolve(images[0], size=1_000_001)
    assert any("1000000 bytes" in p for p in adapter.validate(with_media(make_message(), heavy)))
    wide = attrs.evolve(images[0], width=2001, height=100)
    assert any(
        "2000 pixels a side" in p for p in adapter.validate(with_media(make_message(), wide))
    )
    animated = attrs.evolve(images[0], mime_type="image/gif", animated=True)
    assert any("animated" in p for p in adapter.validate(with_media(make_message(), animated)))
    video = Media(kind="video", mime_type="video/mp4", size=1000, digest="d" * 64, alt="v" * 1001)
    problems = adapter.validate(with_media(make_message(), video))
    assert len(problems) == 1 and "1001 graphemes" in problems[0]
    assert adapter.validate(with_media(make_message(), attrs.evolve(video, alt="v" * 1000))) == []
    assert any("mix" in p for p in adapter.validate(with_media(make_message(), video, images[0])))
    assert adapter.capabilities.threads is True


def test_alt_text_is_measured_in_graphemes() -> None:
    adapter = make_adapter()
    # Beh with shadda and fatha: one grapheme of three code points (combining marks).
    arabic = "\u0628\u0651\u064e"
    assert len(arabic * 2000) == 6000
    fits = sample_image(alt=arabic * 2000)
    assert adapter.validate(with_media(make_message(), fits)) == []
    too_long = sample_image(alt=arabic * 2000 + "x")
    problems = adapter.validate(with_media(make_message(), too_long))
    assert len(problems) == 1 and "alt text is 2001" in problems[0]


@respx.mock
def test_thread_part_carries_root_and_parent_reply_refs(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    mock_no_existing_record(respx_mock)
    create = mock_create(respx_mock, rkey="3part3", cid="bafypart3")
    root = Receipt(remote_id=f"{POSTS}/3part1", extra={"cid": "bafypart1"})
    parent = Receipt(remote_id=f"{POSTS}/3part2", extra={"cid": "bafypart2"})
    message = make_message("Fin du fil", reply_to=parent, thread_root=root, part=3, parts=3)

    receipt = make_adapter().publish(message, "d1#3")

    assert receipt.remote_id == f"{POSTS}/3part3" and receipt.extra == {"cid": "bafypart3"}
    body = json.loads(create.calls.last.request.content)
    assert body["rkey"] == record_key(NOW, "d1#3")
    assert body["record"]["reply"] == {
        "$type": "app.bsky.feed.post#replyRef",
        "root": {"$type": "com.atproto.repo.strongRef", "uri": root.remote_id, "cid": "bafypart1"},
        "parent": {
            "$type": "com.atproto.repo.strongRef",
            "uri": parent.remote_id,
            "cid": "bafypart2",
        },
    }


@respx.mock
def test_reply_to_a_receipt_without_cid_reads_the_cid_back(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)

    def get_record(request: httpx.Request) -> httpx.Response:
        rkey = request.url.params["rkey"]
        if rkey == "3part1":
            return httpx.Response(
                200, json={"uri": f"{POSTS}/3part1", "cid": "bafyread", "value": {}}
            )
        return httpx.Response(400, json={"error": "RecordNotFound", "message": "Could not locate"})

    respx_mock.get(f"{XRPC}/com.atproto.repo.getRecord").mock(side_effect=get_record)
    create = mock_create(respx_mock)
    first = Receipt(remote_id=f"{POSTS}/3part1")
    make_adapter().publish(make_message("Suite", reply_to=first, part=2, parts=2), "d1#2")
    reply = json.loads(create.calls.last.request.content)["record"]["reply"]
    assert reply["root"]["cid"] == reply["parent"]["cid"] == "bafyread"
    assert reply["root"]["uri"] == first.remote_id


@respx.mock
def test_verify_creates_a_session_and_names_the_account(respx_mock: respx.MockRouter) -> None:
    login = mock_login(respx_mock)
    assert make_adapter().verify() == f"@brand.example ({DID})"
    assert json.loads(login.calls.last.request.content) == {
        "identifier": "brand.example",
        "password": APP_PASSWORD,
    }


@respx.mock
def test_verify_with_a_wrong_password_is_credentials_rejected(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{XRPC}/com.atproto.server.createSession").mock(
        return_value=httpx.Response(
            401,
            json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
        )
    )
    with pytest.raises(CredentialsRejected, match="Invalid identifier or password") as caught:
        make_adapter().verify()
    assert APP_PASSWORD not in str(caught.value)


@respx.mock
def test_verify_unreachable_is_transient(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{XRPC}/com.atproto.server.createSession").mock(
        side_effect=httpx.ConnectError("refused")
    )
    with pytest.raises(TransientError):
        make_adapter().verify()


def test_verify_without_the_password_names_the_variable() -> None:
    from socialsched_bluesky import BlueskyAdapter

    channel = Channel(
        name="b",
        adapter="bluesky",
        secrets={"app_password": "BSKY_APP_PASSWORD"},
        settings={"handle": "brand.example", "service": "https://pds.example"},
    )
    with respx.mock(assert_all_mocked=True) as mock, pytest.raises(MissingSecretError) as caught:
        BlueskyAdapter(channel, environ={}).verify()
    assert "BSKY_APP_PASSWORD" in str(caught.value)
    assert mock.calls.call_count == 0


@respx.mock
def test_expired_token_while_publishing_is_credentials_rejected(
    respx_mock: respx.MockRouter,
) -> None:
    mock_login(respx_mock)
    respx_mock.get(f"{XRPC}/com.atproto.repo.getRecord").mock(
        return_value=httpx.Response(
            400, json={"error": "AccountTakedown", "message": "Account has been taken down"}
        )
    )
    with pytest.raises(CredentialsRejected):
        make_adapter().publish(make_message(), "k")


@respx.mock
def test_find_reads_the_record_under_the_derived_key(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    rkey = record_key(NOW, "d1#2")
    get = respx_mock.get(f"{XRPC}/com.atproto.repo.getRecord").mock(
        side_effect=[
            httpx.Response(200, json={"uri": f"{POSTS}/{rkey}", "cid": "bafyfound", "value": {}}),
            httpx.Response(400, json={"error": "RecordNotFound", "message": "Could not locate"}),
            httpx.Response(502, json={"error": "UpstreamFailure"}),
        ]
    )
    adapter = make_adapter()
    found = adapter.find(make_message(), "d1#2")
    assert found == Receipt(
        remote_id=f"{POSTS}/{rkey}",
        url=f"https://bsky.app/profile/brand.example/post/{rkey}",
        extra={"cid": "bafyfound"},
    )
    params = get.calls.last.request.url.params
    assert (params["repo"], params["collection"], params["rkey"]) == (
        DID,
        "app.bsky.feed.post",
        rkey,
    )
    assert adapter.find(make_message(), "d1#2") is None
    with pytest.raises(TransientError):
        adapter.find(make_message(), "d1#2")  # "cannot tell" is never "not there"


@respx.mock
def test_unreadable_create_answer_returns_the_stored_record(
    respx_mock: respx.MockRouter,
) -> None:
    mock_login(respx_mock)
    rkey = record_key(NOW, "key-u")
    respx_mock.get(f"{XRPC}/com.atproto.repo.getRecord").mock(
        side_effect=[
            httpx.Response(400, json={"error": "RecordNotFound", "message": "Could not locate"}),
            httpx.Response(200, json={"uri": f"{POSTS}/{rkey}", "cid": "bafystored", "value": {}}),
        ]
    )
    respx_mock.post(f"{XRPC}/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(200, json={"unexpected": "shape"})
    )
    receipt = make_adapter().publish(make_message(), "key-u")
    assert receipt.remote_id == f"{POSTS}/{rkey}" and receipt.extra == {"cid": "bafystored"}


@respx.mock
def test_failed_create_that_cannot_be_checked_is_transient(
    respx_mock: respx.MockRouter,
) -> None:
    mock_login(respx_mock)
    respx_mock.get(f"{XRPC}/com.atproto.repo.getRecord").mock(
        side_effect=[
            httpx.Response(400, json={"error": "RecordNotFound", "message": "Could not locate"}),
            httpx.ConnectError("gone"),
        ]
    )
    respx_mock.post(f"{XRPC}/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(400, json={"error": "InvalidRequest", "message": "odd"})
    )
    with pytest.raises(TransientError, match="cannot be checked"):
        make_adapter().publish(make_message(), "key-c")


@respx.mock
def test_failed_create_with_no_record_stays_permanent(respx_mock: respx.MockRouter) -> None:
    mock_login(respx_mock)
    mock_no_existing_record(respx_mock)
    respx_mock.post(f"{XRPC}/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(400, json={"error": "InvalidRecord", "message": "bad"})
    )
    with pytest.raises(PermanentError, match="InvalidRecord"):
        make_adapter().publish(make_message(), "key-p")


@respx.mock
def test_refused_create_is_credentials_rejected_without_a_second_look(
    respx_mock: respx.MockRouter,
) -> None:
    mock_login(respx_mock)
    lookup = mock_no_existing_record(respx_mock)
    respx_mock.post(f"{XRPC}/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(
            400, json={"error": "ExpiredToken", "message": "Token has expired"}
        )
    )
    with pytest.raises(CredentialsRejected, match="Token has expired"):
        make_adapter().publish(make_message(), "key-e")
    assert lookup.call_count == 1  # the look before creating only
