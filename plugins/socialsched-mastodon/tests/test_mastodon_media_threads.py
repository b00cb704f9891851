"""The Mastodon adapter's media uploads, thread replies, credential check (`verify`) and
in-doubt lookup (`find`), against an HTTP fake (respx) that checks the exact requests."""

from __future__ import annotations

import json
from datetime import timedelta
from email.parser import BytesParser
from email.policy import HTTP

import attrs
import httpx
import pytest
import respx
from socialsched_mastodon import MastodonAdapter
from socialsched_mastodon.adapter import FIND_PAGE, FIND_PAGES
from test_mastodon_adapter import (
    INSTANCE,
    NOW,
    TOKEN,
    make_adapter,
    make_channel,
    make_message,
    status_response,
)

from socialsched.adapters import (
    CannotCheck,
    CredentialsRejected,
    Message,
    MissingSecretError,
    Receipt,
    TransientError,
)
from socialsched.media import Media
from socialsched.testing import sample_image

ACCOUNT = {"id": "77", "username": "brand", "acct": "brand", "url": f"{INSTANCE}/@brand"}


def form_fields(request: httpx.Request) -> dict[str, tuple[str | None, str, bytes]]:
    """The parts of a multipart/form-data body: name -> (filename, type, bytes)."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    parsed = BytesParser(policy=HTTP).parsebytes(head + request.content)
    fields = {}
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)] = (part.get_filename(), part.get_content_type(), payload)
    return fields


def media_json(media_id: str, url: str | None) -> dict[str, object]:
    return {"id": media_id, "type": "image", "url": url, "description": None}


def with_media(message: Message, *media: Media) -> Message:
    return attrs.evolve(message, attachments=media)


# -- media ---------------------------------------------------------------------------


@respx.mock(assert_all_called=True)
def test_images_are_uploaded_with_alt_text_then_attached_by_id(
    respx_mock: respx.MockRouter,
) -> None:
    first = sample_image(64, 48, alt="Affiche du salon, stand B12")
    second = sample_image(30, 20, alt="Plan d'accès")
    # The first upload is processed at once (200, url set); the second is accepted for
    # background processing (202, url null), then still processing (206), then done.
    upload = respx_mock.post(f"{INSTANCE}/api/v2/media").mock(
        side_effect=[
            httpx.Response(200, json=media_json("501", f"{INSTANCE}/m/501.png")),
            httpx.Response(202, json=media_json("502", None)),
        ]
    )
    poll = respx_mock.get(f"{INSTANCE}/api/v1/media/502").mock(
        side_effect=[
            httpx.Response(206, json=media_json("502", None)),
            httpx.Response(200, json=media_json("502", f"{INSTANCE}/m/502.png")),
        ]
    )
    status = respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(return_value=status_response())
    adapter = make_adapter()
    slept: list[float] = []
    adapter.sleep = slept.append

    receipt = adapter.publish(with_media(make_message(), first, second), "key-m")

    assert receipt == Receipt(remote_id="1101", url=f"{INSTANCE}/@brand/1101")
    uploads = [form_fields(call.request) for call in upload.calls]
    assert uploads[0]["file"] == ("card.png", "image/png", first.read())
    assert uploads[0]["description"][2].decode() == "Affiche du salon, stand B12"
    assert uploads[1]["file"] == ("card.png", "image/png", second.read())
    assert uploads[1]["description"][2].decode() == "Plan d'accès"
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in upload.calls)
    assert poll.call_count == 2 and len(slept) == 2
    # The status is sent only once every upload is processed, with the ids in order.
    assert status.calls.last.request.headers["Idempotency-Key"] == "key-m"
    assert json.loads(status.calls.last.request.content) == {
        "status": "Bonne année !",
        "visibility": "unlisted",
        "language": "fr",
        "media_ids": ["501", "502"],
    }


@respx.mock
def test_upload_still_processing_after_media_wait_is_transient(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{INSTANCE}/api/v2/media").mock(
        return_value=httpx.Response(202, json=media_json("9", None))
    )
    respx_mock.get(f"{INSTANCE}/api/v1/media/9").mock(
        return_value=httpx.Response(206, json=media_json("9", None))
    )
    status = respx_mock.post(f"{INSTANCE}/api/v1/statuses")
    adapter = make_adapter(media_wait=5)
    slept: list[float] = []
    adapter.sleep = slept.append
    with pytest.raises(TransientError, match="still processing"):
        adapter.publish(with_media(make_message(), sample_image()), "k")
    assert sum(slept) >= 5
    assert status.call_count == 0


@respx.mock
def test_refused_upload_is_permanent_and_nothing_is_posted(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{INSTANCE}/api/v2/media").mock(
        return_value=httpx.Response(422, json={"error": "File type not supported"})
    )
    status = respx_mock.post(f"{INSTANCE}/api/v1/statuses")
    with pytest.raises(Exception, match="File type not supported") as caught:
        make_adapter().publish(with_media(make_message(), sample_image()), "k")
    assert not isinstance(caught.value, (TransientError, CredentialsRejected))
    assert status.call_count == 0


def test_media_limits_are_mastodons() -> None:
    adapter = make_adapter()
    images = [sample_image(alt=f"image {n}") for n in range(5)]
    assert adapter.validate(with_media(make_message(), *images[:4])) == []
    assert any("at most 4" in p for p in adapter.validate(with_media(make_message(), *images)))
    too_big = attrs.evolve(images[0], size=16 * 1024 * 1024 + 1)
    assert any("16777216 bytes" in p for p in adapter.validate(with_media(make_message(), too_big)))
    too_wide = attrs.evolve(images[0], width=3841, height=2160)
    assert any(
        "8294400 pixels" in p for p in adapter.validate(with_media(make_message(), too_wide))
    )
    long_alt = sample_image(alt="a" * 1501)
    assert any("1500" in p for p in adapter.validate(with_media(make_message(), long_alt)))
    assert adapter.validate(with_media(make_message(), sample_image(alt="a" * 1500))) == []
    video = Media(kind="video", mime_type="video/mp4", size=1000, digest="d" * 64)
    assert any("mix" in p for p in adapter.validate(with_media(make_message(), video, images[0])))


@respx.mock
def test_media_limits_read_from_instance_configuration(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{INSTANCE}/api/v2/instance").mock(
        return_value=httpx.Response(
            200,
            json={
                "configuration": {
                    "statuses": {"max_characters": 5000, "max_media_attachments": 6},
                    "media_attachments": {
                        "supported_mime_types": ["image/jpeg", "image/png", "video/mp4"],
                        "image_size_limit": 10_485_760,
                        "image_matrix_limit": 33_177_600,
                        "video_size_limit": 41_943_040,
                        "description_limit": 3000,
                    },
                }
            },
        )
    )
    adapter = make_adapter(instance_limits=True)
    assert route.call_count == 0  # not asked until the limits are wanted
    # The planner reads the limits (to fit media, to split threads) before validating.
    capabilities = adapter.capabilities
    assert capabilities.max_length == 5000
    assert capabilities.images.max_count == 6
    assert capabilities.images.max_bytes == 10_485_760
    assert capabilities.images.max_pixels == 33_177_600
    assert capabilities.images.types == ("image/jpeg", "image/png")
    assert capabilities.videos.max_bytes == 41_943_040
    assert capabilities.videos.max_count == 1
    assert capabilities.max_alt_length == 3000
    assert adapter.validate(make_message("x" * 5000)) == []
    assert route.call_count == 1
    # The class keeps Mastodon's defaults, for listings and generated docs.
    assert MastodonAdapter.capabilities.max_length == 500
    assert MastodonAdapter.capabilities.images.max_bytes == 16 * 1024 * 1024


# -- threads ---------------------------------------------------------------------------


@respx.mock
def test_thread_part_replies_to_the_previous_part(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(
        return_value=status_response("1102")
    )
    first = Receipt(remote_id="1101", url=f"{INSTANCE}/@brand/1101")
    second = Receipt(remote_id="1102")
    part_2 = make_message("Deuxième partie", reply_to=first, thread_root=first, part=2, parts=3)
    part_3 = make_message("Fin", reply_to=second, thread_root=first, part=3, parts=3)
    adapter = make_adapter()
    assert adapter.publish(part_2, "d1#2").remote_id == "1102"
    adapter.publish(part_3, "d1#3")
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert [body["in_reply_to_id"] for body in bodies] == ["1101", "1102"]
    assert [call.request.headers["Idempotency-Key"] for call in route.calls] == ["d1#2", "d1#3"]
    assert all("media_ids" not in body for body in bodies)


def test_declares_threads() -> None:
    assert make_adapter().capabilities.threads is True


# -- verify ----------------------------------------------------------------------------


@respx.mock
def test_verify_asks_verify_credentials_and_names_the_account(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.get(f"{INSTANCE}/api/v1/accounts/verify_credentials").mock(
        return_value=httpx.Response(200, json=ACCOUNT)
    )
    assert make_adapter().verify() == "@brand@social.example"
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("status", [401, 403])
@respx.mock
def test_verify_with_a_refused_token_is_credentials_rejected(
    respx_mock: respx.MockRouter, status: int
) -> None:
    respx_mock.get(f"{INSTANCE}/api/v1/accounts/verify_credentials").mock(
        return_value=httpx.Response(status, json={"error": "The access token is invalid"})
    )
    with pytest.raises(CredentialsRejected, match="access token is invalid") as caught:
        make_adapter().verify()
    assert TOKEN not in str(caught.value)


@respx.mock
def test_verify_unreachable_is_transient(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{INSTANCE}/api/v1/accounts/verify_credentials").mock(
        side_effect=httpx.ConnectError("refused")
    )
    with pytest.raises(TransientError, match="unreachable"):
        make_adapter().verify()


def test_verify_without_the_token_names_the_variable() -> None:
    with respx.mock(assert_all_mocked=True) as mock, pytest.raises(MissingSecretError) as caught:
        MastodonAdapter(make_channel(), environ={}).verify()
    assert "MASTO_TOKEN" in str(caught.value)
    assert mock.calls.call_count == 0


@pytest.mark.parametrize("status", [401, 403])
@respx.mock
def test_publish_with_a_refused_token_is_credentials_rejected(
    respx_mock: respx.MockRouter, status: int
) -> None:
    respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(
        return_value=httpx.Response(status, json={"error": "The access token was revoked"})
    )
    with pytest.raises(CredentialsRejected, match="revoked"):
        make_adapter().publish(make_message(), "k")


# -- find ------------------------------------------------------------------------------


def status_json(
    status_id: str,
    content: str,
    *,
    minutes: int = 0,
    in_reply_to_id: str | None = None,
    spoiler_text: str = "",
) -> dict[str, object]:
    created = (NOW + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "id": status_id,
        "url": f"{INSTANCE}/@brand/{status_id}",
        "created_at": created,
        "content": content,
        "spoiler_text": spoiler_text,
        "in_reply_to_id": in_reply_to_id,
    }


# How Mastodon renders "Salut @ana@other.example !\nVoir https://brand.example/offre/2027 #Promo"
RENDERED = (
    '<p>Salut <span class="h-card" translate="no"><a href="https://other.example/@ana" '
    'class="u-url mention">@<span>ana</span></a></span> !<br />Voir '
    '<a href="https://brand.example/offre/2027" target="_blank" rel="nofollow noopener">'
    '<span class="invisible">https://</span><span class="">brand.example/offre/2027</span>'
    '<span class="invisible"></span></a> <a href="https://social.example/tags/Promo" '
    'class="mention hashtag" rel="tag">#<span>Promo</span></a></p>'
)
TEXT = "Salut @ana@other.example !\nVoir https://brand.example/offre/2027 #Promo"


def mock_account(mock: respx.MockRouter) -> respx.Route:
    return mock.get(f"{INSTANCE}/api/v1/accounts/verify_credentials").mock(
        return_value=httpx.Response(200, json=ACCOUNT)
    )


@respx.mock
def test_find_matches_the_rendered_status_text(respx_mock: respx.MockRouter) -> None:
    mock_account(respx_mock)
    listing = respx_mock.get(f"{INSTANCE}/api/v1/accounts/77/statuses").mock(
        return_value=httpx.Response(
            200,
            json=[
                status_json("3003", "<p>Autre chose</p>", minutes=30),
                status_json("3002", RENDERED, minutes=2),
                status_json("3001", "<p>Hier</p>", minutes=-24 * 60),
            ],
        )
    )
    found = make_adapter().find(make_message(TEXT), "d1")
    assert found == Receipt(remote_id="3002", url=f"{INSTANCE}/@brand/3002")
    params = listing.calls.last.request.url.params
    assert params["limit"] == "40" and params["exclude_reblogs"] == "true"
    assert listing.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


@respx.mock
def test_find_a_thread_part_needs_the_same_reply_target(respx_mock: respx.MockRouter) -> None:
    mock_account(respx_mock)
    respx_mock.get(f"{INSTANCE}/api/v1/accounts/77/statuses").mock(
        return_value=httpx.Response(
            200,
            json=[
                status_json("3005", "<p>Suite</p>", minutes=3, in_reply_to_id="2999"),
                status_json("3004", "<p>Suite</p>", minutes=2, in_reply_to_id="3002"),
                status_json("3002", "<p>Début</p>", minutes=1),
                status_json("2999", "<p>Suite</p>", minutes=-3 * 60),  # before it was due
            ],
        )
    )
    first = Receipt(remote_id="3002")
    part = make_message("Suite", reply_to=first, thread_root=first, part=2, parts=2)
    adapter = make_adapter()
    found = adapter.find(part, "d1#2")
    assert found is not None and found.remote_id == "3004"
    # Without the previous part's receipt, the newest status with the part's text.
    unknown_parent = make_message("Suite", part=2, parts=2)
    found = adapter.find(unknown_parent, "d1#2")
    assert found is not None and found.remote_id == "3005"
    # A first part never matches a reply.
    assert adapter.find(make_message("Suite"), "d1") is None


@respx.mock
def test_find_returns_none_once_past_the_due_time(respx_mock: respx.MockRouter) -> None:
    mock_account(respx_mock)
    listing = respx_mock.get(f"{INSTANCE}/api/v1/accounts/77/statuses").mock(
        return_value=httpx.Response(
            200,
            json=[
                status_json("3010", "<p>Bonne année</p>", minutes=5),  # not the same text
                status_json("3000", "<p>Bonne année !</p>", minutes=-2 * 60),  # too old
            ],
        )
    )
    assert make_adapter().find(make_message("Bonne année !"), "d1") is None
    assert listing.call_count == 1


@respx.mock
def test_find_pages_back_with_max_id_then_gives_up(respx_mock: respx.MockRouter) -> None:
    mock_account(respx_mock)
    pages = [
        [status_json(str(9000 - page * 100 - n), "<p>x</p>", minutes=60) for n in range(FIND_PAGE)]
        for page in range(FIND_PAGES)
    ]
    listing = respx_mock.get(f"{INSTANCE}/api/v1/accounts/77/statuses").mock(
        side_effect=[httpx.Response(200, json=page) for page in pages]
    )
    with pytest.raises(CannotCheck, match="cannot tell"):
        make_adapter().find(make_message("Bonne année !"), "d1")
    max_ids = [call.request.url.params.get("max_id") for call in listing.calls]
    assert max_ids == [None] + [page[-1]["id"] for page in pages[:-1]]


@respx.mock
def test_find_with_an_unreadable_listing_is_transient(respx_mock: respx.MockRouter) -> None:
    mock_account(respx_mock)
    respx_mock.get(f"{INSTANCE}/api/v1/accounts/77/statuses").mock(
        return_value=httpx.Response(200, content=b"<html>maintenance</html>")
    )
    with pytest.raises(TransientError, match="unreadably"):
        make_adapter().find(make_message(), "d1")


@respx.mock
def test_find_with_a_refused_token_is_credentials_rejected(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{INSTANCE}/api/v1/accounts/verify_credentials").mock(
        return_value=httpx.Response(401, json={"error": "The access token is invalid"})
    )
    with pytest.raises(CredentialsRejected):
        make_adapter().find(make_message(), "d1")


# -- after the post went out, never an error -------------------------------------------


@respx.mock
def test_unreadable_answer_after_posting_returns_the_status_found(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(
        return_value=httpx.Response(200, content=b"<html>proxy page</html>")
    )
    mock_account(respx_mock)
    respx_mock.get(f"{INSTANCE}/api/v1/accounts/77/statuses").mock(
        return_value=httpx.Response(200, json=[status_json("4001", "<p>Bonne année !</p>")])
    )
    receipt = make_adapter().publish(make_message(), "key-u")
    assert receipt == Receipt(remote_id="4001", url=f"{INSTANCE}/@brand/4001")


@respx.mock
def test_unreadable_answer_and_nothing_found_is_an_unconfirmed_receipt_not_an_error(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{INSTANCE}/api/v1/statuses").mock(
        return_value=httpx.Response(200, json={"unexpected": True})
    )
    respx_mock.get(f"{INSTANCE}/api/v1/accounts/verify_credentials").mock(
        return_value=httpx.Response(503)
    )
    adapter = make_adapter()
    receipt = adapter.publish(make_message(), "key-u")
    assert receipt.remote_id == "unconfirmed:key-u"
    assert "without a status id" in receipt.extra["unconfirmed"]
    with pytest.raises(Exception, match="no known id"):
        adapter.delete(receipt)
