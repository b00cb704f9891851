"""Photos, videos, the page-token check and the in-doubt lookup, against respx: each
exact Graph API request (method, host, path, form or multipart fields, file bytes)."""

from __future__ import annotations

import calendar
import email
import email.policy
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from PIL import Image
from socialsched_facebook import FacebookPageAdapter

from socialsched.adapters import CannotCheck, CredentialsRejected, Message, Receipt, TransientError
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.media import Media

TOKEN = "EAAGpagetoken0123456789"
GRAPH = "https://graph.facebook.com/v23.0"
FEED = f"{GRAPH}/4242/feed"
PHOTOS = f"{GRAPH}/4242/photos"
VIDEOS = "https://graph-video.facebook.com/v23.0/4242/videos"
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
IN_TWO_DAYS = NOW + timedelta(days=2)
US = Audience("targeting", countries=("US",), locales=("en-US",))


def adapter(now: datetime = NOW, **settings: object) -> FacebookPageAdapter:
    channel = Channel(
        name="fb-page",
        adapter="facebook",
        secrets={"page_token": "FB_PAGE_TOKEN"},
        settings={"page_id": "4242", "locale_keys": {"en-US": 6}, **settings},
    )
    return FacebookPageAdapter(
        channel, environ={"SOCIALSCHED_SECRET_FB_PAGE_TOKEN": TOKEN}, clock=lambda: now
    )


def message(utc: datetime, *attachments: Media, text: str = "Spring menu") -> Message:
    return Message(
        delivery_id="d1",
        post="spring",
        segment="us",
        channel="fb-page",
        locale="en-US",
        text=text,
        utc=utc,
        local=utc,
        audience=US,
        attachments=attachments,
    )


def jpeg(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buffer, "JPEG")
    return buffer.getvalue()


CLIP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x05" * 400


def form(request: httpx.Request) -> dict[str, str]:
    from urllib.parse import parse_qs

    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


def multipart(request: httpx.Request) -> dict[str, tuple[bytes, str | None, str]]:
    """name -> (bytes, file name, content type) of a multipart/form-data request."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    parsed = email.message_from_bytes(head + request.content, policy=email.policy.default)
    return {
        part.get_param("name", header="content-disposition"): (
            part.get_payload(decode=True),
            part.get_filename(),
            part.get_content_type(),
        )
        for part in parsed.iter_parts()
    }


@respx.mock
def test_scheduled_post_uploads_unpublished_temporary_photos_with_alt_text_then_attaches_them():
    first, second = jpeg((250, 10, 10)), jpeg((10, 250, 10))
    photos = respx.post(PHOTOS).mock(
        side_effect=[
            httpx.Response(200, json={"id": "901"}),
            httpx.Response(200, json={"id": "902"}),
        ]
    )
    feed = respx.post(FEED).mock(return_value=httpx.Response(200, json={"id": "4242_77"}))
    images = (
        Media.from_bytes(first, alt="Lemon tart", filename="tart.jpg"),
        Media.from_bytes(second, alt="Mint tea", filename="tea.jpg"),
    )

    receipt = adapter().publish(message(IN_TWO_DAYS, *images), "k1")

    uploads = [multipart(call.request) for call in photos.calls]
    for upload, data, alt, name in zip(
        uploads, (first, second), ("Lemon tart", "Mint tea"), ("tart.jpg", "tea.jpg"), strict=True
    ):
        assert upload["source"] == (data, name, "image/jpeg")
        assert upload["published"][0] == b"false"
        assert upload["temporary"][0] == b"true"
        assert upload["alt_text_custom"][0] == alt.encode()
    for call in photos.calls:
        assert call.request.headers["authorization"] == f"Bearer {TOKEN}"
    assert form(feed.calls.last.request) == {
        "message": "Spring menu",
        "targeting": json.dumps({"geo_locations": {"countries": ["US"]}, "locales": [6]}),
        "published": "false",
        "scheduled_publish_time": str(calendar.timegm((2027, 3, 3, 12, 0, 0))),
        "attached_media[0]": '{"media_fbid": "901"}',
        "attached_media[1]": '{"media_fbid": "902"}',
    }
    assert receipt == Receipt(
        remote_id="4242_77",
        url="https://www.facebook.com/4242_77",
        extra={
            "scheduled": True,
            "scheduled_publish_time": str(calendar.timegm((2027, 3, 3, 12, 0, 0))),
        },
    )


@respx.mock
def test_a_due_post_uploads_photos_without_the_temporary_flag_and_no_alt_when_empty():
    photos = respx.post(PHOTOS).mock(return_value=httpx.Response(200, json={"id": "903"}))
    feed = respx.post(FEED).mock(return_value=httpx.Response(200, json={"id": "4242_78"}))
    adapter().publish(message(NOW, Media.from_bytes(jpeg((1, 2, 3)))), "k1")
    upload = multipart(photos.calls.last.request)
    assert set(upload) == {"published", "source"}
    fields = form(feed.calls.last.request)
    assert "published" not in fields
    assert fields["attached_media[0]"] == '{"media_fbid": "903"}'


@respx.mock
def test_a_retry_after_a_failed_feed_post_attaches_the_photos_already_uploaded():
    photos = respx.post(PHOTOS).mock(return_value=httpx.Response(200, json={"id": "904"}))
    feed = respx.post(FEED).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"id": "4242_79"})]
    )
    fb = adapter()
    with_image = message(NOW, Media.from_bytes(jpeg((9, 9, 9))))
    with pytest.raises(TransientError, match="503"):
        fb.publish(with_image, "k1")
    assert fb.publish(with_image, "k1").remote_id == "4242_79"
    assert photos.call_count == 1
    assert form(feed.calls.last.request)["attached_media[0]"] == '{"media_fbid": "904"}'


@respx.mock
def test_a_video_is_a_page_video_uploaded_to_graph_video_with_the_text_as_description():
    videos = respx.post(VIDEOS).mock(return_value=httpx.Response(200, json={"id": "555"}))
    clip = Media.from_bytes(CLIP, alt="Oven tour", filename="tour.mp4")
    receipt = adapter().publish(message(IN_TWO_DAYS, clip), "k1")
    request = videos.calls.last.request
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    parts = multipart(request)
    assert parts["source"] == (CLIP, "tour.mp4", "video/mp4")
    assert hashlib.sha256(parts["source"][0]).hexdigest() == clip.digest
    assert {name: value[0].decode() for name, value in parts.items() if name != "source"} == {
        "description": "Spring menu",
        "targeting": json.dumps({"geo_locations": {"countries": ["US"]}, "locales": [6]}),
        "published": "false",
        "scheduled_publish_time": str(calendar.timegm((2027, 3, 3, 12, 0, 0))),
    }
    assert receipt.remote_id == "555"
    assert receipt.url == "https://www.facebook.com/4242/videos/555"


def test_plan_time_checks_refuse_webp_animated_gifs_too_many_photos_and_photo_with_video():
    fb = adapter()
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "WEBP")
    webp = Media.from_bytes(buffer.getvalue(), filename="a.webp")
    assert fb.validate(message(IN_TWO_DAYS, webp)) == [
        "a.webp: facebook does not take image/webp (takes image/jpeg, image/png, image/gif)"
    ]
    frames = [Image.new("RGB", (8, 8), (n * 40, 0, 0)) for n in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    animated = Media.from_bytes(buffer.getvalue(), filename="loop.gif")
    assert fb.validate(message(IN_TWO_DAYS, animated)) == [
        "loop.gif: facebook cannot publish animated images"
    ]
    photo = Media.from_bytes(jpeg((5, 5, 5)), filename="p.jpg")
    assert fb.validate(message(IN_TWO_DAYS, *[photo] * 11)) == [
        "11 images; facebook takes at most 10 per post"
    ]
    clip = Media.from_bytes(CLIP, filename="c.mp4")
    assert fb.validate(message(IN_TWO_DAYS, photo, clip)) == [
        "facebook cannot mix images and a video in one post"
    ]


@respx.mock
def test_a_reply_without_a_post_id_still_counts_as_published():
    respx.post(FEED).mock(return_value=httpx.Response(200, text="not json"))
    receipt = adapter().publish(message(NOW), "k1")
    assert receipt.remote_id == "unknown:k1"


@respx.mock
def test_verify_reads_the_page_the_token_belongs_to():
    route = respx.get(f"{GRAPH}/me").mock(
        return_value=httpx.Response(200, json={"id": "4242", "name": "Bakery"})
    )
    assert adapter().verify() == "page Bakery (4242)"
    request = route.calls.last.request
    assert request.url.params["fields"] == "id,name"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)


@respx.mock
def test_verify_refuses_another_pages_token_and_an_expired_one():
    respx.get(f"{GRAPH}/me").mock(
        side_effect=[
            httpx.Response(200, json={"id": "1111", "name": "Someone"}),
            httpx.Response(
                400,
                json={
                    "error": {
                        "message": "Session has expired",
                        "code": 190,
                        "type": "OAuthException",
                    }
                },
            ),
        ]
    )
    with pytest.raises(CredentialsRejected, match="not this page's token"):
        adapter().verify()
    with pytest.raises(CredentialsRejected, match="code 190"):
        adapter().verify()


@respx.mock
def test_an_expired_token_at_publish_is_credentials_rejected():
    respx.post(FEED).mock(
        return_value=httpx.Response(400, json={"error": {"message": "expired", "code": 190}})
    )
    with pytest.raises(CredentialsRejected):
        adapter().publish(message(NOW), "k1")


def listing(*items: dict[str, object]) -> httpx.Response:
    return httpx.Response(200, json={"data": list(items)})


@respx.mock
def test_find_matches_a_scheduled_post_on_its_text_and_time():
    due = int(IN_TWO_DAYS.timestamp())
    scheduled = respx.get(f"{GRAPH}/4242/scheduled_posts").mock(
        return_value=listing(
            {"id": "4242_1", "message": "Spring menu", "scheduled_publish_time": due + 86_400},
            {"id": "4242_2", "message": "Spring menu", "scheduled_publish_time": due},
            {"id": "4242_3", "message": "Other", "scheduled_publish_time": due},
        )
    )
    posts = respx.get(f"{GRAPH}/4242/posts").mock(return_value=listing())
    found = adapter().find(message(IN_TWO_DAYS), "k1")
    assert found is not None and found.remote_id == "4242_2"
    assert scheduled.calls.last.request.url.params["fields"] == "id,message,scheduled_publish_time"
    assert posts.calls.last.request.url.params["fields"] == "id,message,created_time"


@respx.mock
def test_find_matches_a_published_post_from_an_hour_before_its_time_on():
    respx.get(f"{GRAPH}/4242/scheduled_posts").mock(return_value=listing())
    respx.get(f"{GRAPH}/4242/posts").mock(
        return_value=listing(
            {"id": "4242_8", "message": "Spring menu", "created_time": "2027-03-01T12:02:10+0000"},
            {"id": "4242_7", "message": "Spring menu", "created_time": "2027-02-22T12:00:05+0000"},
        )
    )
    found = adapter().find(message(NOW), "k1")
    assert found is not None and found.remote_id == "4242_8"


@respx.mock
def test_find_returns_none_when_only_last_weeks_post_has_the_text():
    respx.get(f"{GRAPH}/4242/scheduled_posts").mock(return_value=listing())
    respx.get(f"{GRAPH}/4242/posts").mock(
        return_value=listing(
            {"id": "4242_7", "message": "Spring menu", "created_time": "2027-02-22T12:00:05+0000"}
        )
    )
    assert adapter().find(message(NOW), "k1") is None


@respx.mock
def test_find_cannot_tell_two_posts_with_the_same_text_and_time_apart():
    respx.get(f"{GRAPH}/4242/scheduled_posts").mock(return_value=listing())
    respx.get(f"{GRAPH}/4242/posts").mock(
        return_value=listing(
            {"id": "4242_8", "message": "Spring menu", "created_time": "2027-03-01T12:00:10+0000"},
            {"id": "4242_9", "message": "Spring menu", "created_time": "2027-03-01T12:00:12+0000"},
        )
    )
    with pytest.raises(CannotCheck, match="2 posts"):
        adapter().find(message(NOW), "k1")


@respx.mock
def test_find_of_a_video_looks_at_the_page_videos_descriptions():
    clip = Media.from_bytes(CLIP, filename="c.mp4")
    videos = respx.get(f"{GRAPH}/4242/videos").mock(
        return_value=listing(
            {"id": "556", "description": "Spring menu", "created_time": "2027-03-01T12:00:03+0000"}
        )
    )
    found = adapter().find(message(NOW, clip), "k1")
    assert found is not None and found.remote_id == "556"
    fields = videos.calls.last.request.url.params["fields"]
    assert fields == "id,description,created_time,scheduled_publish_time"


def test_the_page_token_and_page_id_are_required():
    assert FacebookPageAdapter.required_secrets == ("page_token",)
    assert FacebookPageAdapter.required_settings == ("page_id",)
