"""The instagram adapter's exact requests (respx): containers per kind, carousels,
video processing polls, the publishing quota, errors, and a lost answer not posting twice."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import attrs
import httpx
import pytest
import respx
from socialsched_instagram import InstagramAdapter

from socialsched.adapters import (
    CredentialsRejected,
    Message,
    PermanentError,
    QuotaReached,
    Receipt,
    TransientError,
)
from socialsched.calendar.model import Channel
from socialsched.testing import sample_image, sample_video

USER = "1784"
API = f"https://graph.facebook.com/v23.0/{USER}"
TOKEN = "IGQWRsecret-token-value"
BASE_URL = "https://media.example.test/ig"
DUE = datetime(2027, 3, 2, 9, tzinfo=UTC)
QUOTA = {"data": [{"quota_usage": 3, "config": {"quota_total": 25, "quota_duration": 86400}}]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "served"


@pytest.fixture
def adapter(folder: Path) -> InstagramAdapter:
    channel = Channel(
        name="ig",
        adapter="instagram",
        secrets={"access_token": "IG_TOKEN"},
        settings={"user_id": USER, "media_host": {"folder": str(folder), "base_url": BASE_URL}},
    )
    return InstagramAdapter(
        channel, environ={"SOCIALSCHED_SECRET_IG_TOKEN": TOKEN}, sleep=lambda seconds: None
    )


def message(*attachments, text: str = "Spring is here #olive") -> Message:
    return Message(
        delivery_id="d1",
        post="spring",
        segment="paris",
        channel="ig",
        locale="fr-FR",
        text=text,
        utc=DUE,
        local=DUE,
        attachments=attachments,
    )


def form(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


def url_of(media) -> str:
    extension = {"image/jpeg": ".jpg", "video/mp4": ".mp4"}[media.mime_type]
    return f"{BASE_URL}/{media.digest}{extension}"


def served_while_created(folder: Path, seen: list[bytes]):
    """A container route that records the bytes the media folder holds at that moment
    (what Instagram would fetch) and answers container ids c1, c2, ..."""
    created = iter(range(1, 100))

    def create(request: httpx.Request) -> httpx.Response:
        fields = form(request)
        url = fields.get("image_url") or fields.get("video_url")
        if url:
            seen.append((folder / url.rsplit("/", 1)[1]).read_bytes())
        return httpx.Response(200, json={"id": f"c{next(created)}"})

    return create


@respx.mock
def test_one_image_is_a_container_with_caption_and_alt_then_published(adapter, folder):
    image = sample_image(format="JPEG", alt="Olive grove at dawn")
    seen: list[bytes] = []
    quota = respx.get(f"{API}/content_publishing_limit").respond(json=QUOTA)
    create = respx.post(f"{API}/media").mock(side_effect=served_while_created(folder, seen))
    publish = respx.post(f"{API}/media_publish").respond(json={"id": "m9"})
    receipt = adapter.publish(message(image), "k1")
    assert receipt.remote_id == "m9"
    assert dict(parse_qs(quota.calls.last.request.url.query.decode())) == {
        "fields": ["quota_usage,config"]
    }
    assert form(create.calls.last.request) == {
        "image_url": url_of(image),
        "caption": "Spring is here #olive",
        "alt_text": "Olive grove at dawn",
    }
    assert seen == [image.read()]
    assert form(publish.calls.last.request) == {"creation_id": "c1"}
    for call in respx.calls:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert list(folder.iterdir()) == []  # the file is served only while publishing


@respx.mock
def test_several_items_are_a_carousel_and_a_video_child_is_polled_until_finished(adapter, folder):
    first = sample_image(format="JPEG", alt="Grove", color=1)
    second = sample_image(format="JPEG", alt="Press", color=2)
    clip = sample_video()
    seen: list[bytes] = []
    respx.get(f"{API}/content_publishing_limit").respond(json=QUOTA)
    create = respx.post(f"{API}/media").mock(side_effect=served_while_created(folder, seen))
    status = respx.get("https://graph.facebook.com/v23.0/c3").mock(
        side_effect=[
            httpx.Response(200, json={"status_code": "IN_PROGRESS"}),
            httpx.Response(200, json={"status_code": "IN_PROGRESS"}),
            httpx.Response(200, json={"status_code": "FINISHED"}),
        ]
    )
    publish = respx.post(f"{API}/media_publish").respond(json={"id": "m1"})
    adapter.publish(message(first, second, clip), "k2")
    children = [form(call.request) for call in create.calls]
    assert children == [
        {"image_url": url_of(first), "alt_text": "Grove", "is_carousel_item": "true"},
        {"image_url": url_of(second), "alt_text": "Press", "is_carousel_item": "true"},
        {"media_type": "VIDEO", "video_url": url_of(clip), "is_carousel_item": "true"},
        {"media_type": "CAROUSEL", "children": "c1,c2,c3", "caption": "Spring is here #olive"},
    ]
    assert seen == [first.read(), second.read(), clip.read()]
    assert status.call_count == 3
    assert form(publish.calls.last.request) == {"creation_id": "c4"}


@respx.mock
def test_a_reel_that_fails_processing_is_a_permanent_error_and_its_file_is_removed(adapter, folder):
    respx.get(f"{API}/content_publishing_limit").respond(json=QUOTA)
    create = respx.post(f"{API}/media").respond(json={"id": "c1"})
    respx.get("https://graph.facebook.com/v23.0/c1").respond(
        json={"status_code": "ERROR", "status": "Error: unsupported codec"}
    )
    publish = respx.post(f"{API}/media_publish")
    clip = sample_video()
    with pytest.raises(PermanentError, match=r"ERROR.*unsupported codec"):
        adapter.publish(message(clip), "k3")
    assert form(create.calls.last.request) == {
        "media_type": "REELS",
        "video_url": url_of(clip),
        "caption": "Spring is here #olive",
    }
    assert not publish.called and list(folder.iterdir()) == []


@respx.mock
def test_a_used_up_quota_defers_before_creating_anything(adapter):
    used = {"data": [{"quota_usage": 25, "config": {"quota_total": 25, "quota_duration": 86400}}]}
    respx.get(f"{API}/content_publishing_limit").respond(json=used)
    create = respx.post(f"{API}/media")
    with pytest.raises(QuotaReached) as raised:
        adapter.publish(message(sample_image(format="JPEG")), "k4")
    assert raised.value.retry_after == 86400 / 25
    assert not create.called


@respx.mock
def test_the_daily_limit_answer_is_a_quota_too(adapter):
    respx.get(f"{API}/content_publishing_limit").respond(json=QUOTA)
    respx.post(f"{API}/media").respond(json={"id": "c1"})
    error = {"message": "Max posts reached", "code": 9, "error_subcode": 2207042}
    respx.post(f"{API}/media_publish").respond(400, json={"error": error})
    with pytest.raises(QuotaReached, match="2207042"):
        adapter.publish(message(sample_image(format="JPEG")), "k5")


@respx.mock
def test_429_honours_retry_after(adapter):
    respx.get(f"{API}/content_publishing_limit").respond(json=QUOTA)
    error = {"message": "Application request limit reached", "code": 4}
    respx.post(f"{API}/media").respond(429, json={"error": error}, headers={"Retry-After": "60"})
    with pytest.raises(TransientError) as raised:
        adapter.publish(message(sample_image(format="JPEG")), "k6")
    assert raised.value.retry_after == 60


@respx.mock
def test_a_rejected_token_is_credentials_rejected_without_the_token(adapter):
    error = {"message": f"Invalid OAuth access token {TOKEN}", "code": 190}
    respx.get(f"{API}/content_publishing_limit").respond(400, json={"error": error})
    with pytest.raises(CredentialsRejected) as raised:
        adapter.publish(message(sample_image(format="JPEG")), "k7")
    assert TOKEN not in str(raised.value) and "190" in str(raised.value)


@respx.mock
def test_a_refused_post_is_a_permanent_error(adapter):
    respx.get(f"{API}/content_publishing_limit").respond(json=QUOTA)
    error = {"message": "The image format is not supported", "code": 100, "error_subcode": 36001}
    respx.post(f"{API}/media").respond(400, json={"error": error})
    with pytest.raises(PermanentError, match="100/36001"):
        adapter.publish(message(sample_image(format="JPEG")), "k8")


@respx.mock
def test_a_publish_whose_answer_was_lost_is_looked_up_not_posted_again(adapter):
    respx.get(f"{API}/content_publishing_limit").respond(json=QUOTA)
    create = respx.post(f"{API}/media").respond(json={"id": "c1"})
    publish = respx.post(f"{API}/media_publish").mock(side_effect=httpx.ReadTimeout("lost"))
    image = sample_image(format="JPEG")
    with pytest.raises(TransientError):
        adapter.publish(message(image), "k9")
    listing = respx.get(f"{API}/media").respond(
        json={
            "data": [
                {"id": "m7", "caption": "Another post", "timestamp": "2027-03-02T09:00:04+0000"},
                {
                    "id": "m6",
                    "caption": "Spring is here #olive",
                    "timestamp": "2027-03-02T09:00:03+0000",
                    "permalink": "https://www.instagram.com/p/m6/",
                },
            ]
        }
    )
    receipt = adapter.publish(message(image), "k9")
    assert (receipt.remote_id, receipt.url) == ("m6", "https://www.instagram.com/p/m6/")
    assert publish.call_count == 1 and create.call_count == 1 and listing.called
    assert dict(parse_qs(listing.calls.last.request.url.query.decode())) == {
        "fields": ["id,caption,timestamp,permalink"],
        "limit": ["50"],
    }


def test_plan_time_checks_name_what_instagram_refuses(adapter):
    jpeg = sample_image(format="JPEG")
    assert adapter.validate(message(jpeg)) == []
    (problem,) = adapter.validate(message())
    assert "text-only" in problem
    tags = " ".join(f"#tag{n}" for n in range(31))
    assert adapter.validate(message(jpeg, text=tags)) == [
        "caption has 31 hashtags; instagram allows 30"
    ]
    mentions = " ".join(f"@friend.{n}" for n in range(21))
    assert adapter.validate(message(jpeg, text=mentions)) == [
        "caption has 21 mentions; instagram allows 20"
    ]
    # A colour code or an e-mail address is neither a hashtag nor a mention.
    assert adapter.validate(message(jpeg, text="&#35; a@b.example " * 40)) == []
    tall = attrs.evolve(sample_image(40, 60, format="JPEG"), filename="tall.jpg")
    (problem,) = adapter.validate(message(tall))
    assert problem.startswith("tall.jpg: 40x60 is outside the 4:5 to 1.91:1")
    eleven = tuple(sample_image(format="JPEG", color=n) for n in range(11))
    assert any("at most 10" in problem for problem in adapter.validate(message(*eleven)))


@respx.mock
def test_verify_names_the_account_and_delete_is_refused(adapter):
    route = respx.get(API).respond(json={"id": USER, "username": "olivar"})
    assert adapter.verify() == f"instagram account @olivar ({USER})"
    assert dict(parse_qs(route.calls.last.request.url.query.decode())) == {
        "fields": ["id,username"]
    }
    with pytest.raises(PermanentError, match="delete it in the Instagram app"):
        adapter.delete(Receipt(remote_id="m1"))
