"""The linkedin adapter's media uploads and targeting, request by request (respx)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
import respx
from socialsched_linkedin import LinkedInAdapter

from socialsched.adapters import Message, PermanentError, TransientError
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.testing import sample_image, sample_video

API = "https://api.linkedin.com"
UPLOADS = "https://www.linkedin.com/dms-uploads"
TOKEN = "li-token-0123456789"
ORG = "urn:li:organization:5515715"
PARIS = "urn:li:geo:105015875"
WHEN = datetime(2030, 1, 15, 9, 30, tzinfo=UTC)


def adapter(author: str = ORG, slept: list[float] | None = None) -> LinkedInAdapter:
    channel = Channel(
        name="li",
        adapter="linkedin",
        secrets={"access_token": "LI_TOKEN"},
        settings={"author": author, "geo_urns": {"fr": PARIS}},
    )
    sleep = slept.append if slept is not None else (lambda seconds: None)
    return LinkedInAdapter(channel, environ={"SOCIALSCHED_SECRET_LI_TOKEN": TOKEN}, sleep=sleep)


def message(*attachments, audience=None) -> Message:
    return Message(
        delivery_id="d1",
        post="p",
        segment="s",
        channel="li",
        locale="fr-FR",
        text="Nouvelle saison",
        utc=WHEN,
        local=WHEN,
        audience=audience,
        attachments=attachments,
    )


def images_api(*urns: str) -> respx.Route:
    replies = [
        httpx.Response(200, json={"value": {"uploadUrl": f"{UPLOADS}/{n}", "image": urn}})
        for n, urn in enumerate(urns)
    ]
    return respx.post(f"{API}/rest/images", params={"action": "initializeUpload"}).mock(
        side_effect=replies
    )


@respx.mock
def test_an_image_is_initialised_for_the_author_put_then_named_with_its_alt_text():
    image = sample_image(alt="Notre oliveraie")
    init = images_api("urn:li:image:C1")
    put = respx.put(f"{UPLOADS}/0").respond(201)
    post = respx.post(f"{API}/rest/posts").respond(201, headers={"x-restli-id": "urn:li:share:9"})
    adapter().publish(message(image), "d1")
    assert json.loads(init.calls.last.request.content) == {
        "initializeUploadRequest": {"owner": ORG}
    }
    assert put.calls.last.request.content == image.read()
    for call in respx.calls:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.request.headers["LinkedIn-Version"]
    body = json.loads(post.calls.last.request.content)
    assert body["content"] == {"media": {"id": "urn:li:image:C1", "altText": "Notre oliveraie"}}


@respx.mock
def test_several_images_are_a_multi_image_post():
    first, second = sample_image(alt="Un", color=1), sample_image(alt="Deux", color=2)
    images_api("urn:li:image:A", "urn:li:image:B")
    puts = [respx.put(f"{UPLOADS}/{n}").respond(201) for n in range(2)]
    post = respx.post(f"{API}/rest/posts").respond(201, headers={"x-restli-id": "urn:li:share:9"})
    adapter().publish(message(first, second), "d1")
    assert [route.calls.last.request.content for route in puts] == [first.read(), second.read()]
    assert json.loads(post.calls.last.request.content)["content"] == {
        "multiImage": {
            "images": [
                {"id": "urn:li:image:A", "altText": "Un"},
                {"id": "urn:li:image:B", "altText": "Deux"},
            ]
        }
    }


@respx.mock
def test_a_video_goes_up_in_the_parts_linkedin_asks_for_and_waits_until_available():
    video = sample_video()
    data = video.read()
    middle = len(data) // 3
    instructions = [
        {"uploadUrl": f"{UPLOADS}/v0", "firstByte": 0, "lastByte": middle - 1},
        {"uploadUrl": f"{UPLOADS}/v1", "firstByte": middle, "lastByte": len(data) - 1},
    ]
    init = respx.post(f"{API}/rest/videos", params={"action": "initializeUpload"}).respond(
        json={
            "value": {
                "video": "urn:li:video:V1",
                "uploadInstructions": instructions,
                "uploadToken": "tok-1",
            }
        }
    )
    parts = [respx.put(f"{UPLOADS}/v{n}").respond(200, headers={"etag": f"e{n}"}) for n in range(2)]
    finalize = respx.post(f"{API}/rest/videos", params={"action": "finalizeUpload"}).respond(200)
    status = respx.get(f"{API}/rest/videos/urn%3Ali%3Avideo%3AV1").mock(
        side_effect=[
            httpx.Response(200, json={"status": "PROCESSING"}),
            httpx.Response(200, json={"status": "AVAILABLE"}),
        ]
    )
    post = respx.post(f"{API}/rest/posts").respond(201, headers={"x-restli-id": "urn:li:share:9"})
    slept: list[float] = []
    adapter(slept=slept).publish(message(video), "d1")
    assert json.loads(init.calls.last.request.content) == {
        "initializeUploadRequest": {
            "owner": ORG,
            "fileSizeBytes": len(data),
            "uploadCaptions": False,
            "uploadThumbnail": False,
        }
    }
    assert [route.calls.last.request.content for route in parts] == [data[:middle], data[middle:]]
    assert json.loads(finalize.calls.last.request.content) == {
        "finalizeUploadRequest": {
            "video": "urn:li:video:V1",
            "uploadToken": "tok-1",
            "uploadedPartIds": ["e0", "e1"],
        }
    }
    assert status.call_count == 2 and len(slept) == 1
    assert json.loads(post.calls.last.request.content)["content"] == {
        "media": {"id": "urn:li:video:V1"}
    }


@respx.mock
def test_a_video_linkedin_cannot_process_is_permanent_and_nothing_is_posted():
    respx.post(f"{API}/rest/videos", params={"action": "initializeUpload"}).respond(
        json={
            "value": {
                "video": "urn:li:video:V2",
                "uploadInstructions": [
                    {"uploadUrl": f"{UPLOADS}/v", "firstByte": 0, "lastByte": 9}
                ],
            }
        }
    )
    respx.put(f"{UPLOADS}/v").respond(200)
    respx.post(f"{API}/rest/videos", params={"action": "finalizeUpload"}).respond(200)
    respx.get(f"{API}/rest/videos/urn%3Ali%3Avideo%3AV2").respond(
        json={"status": "PROCESSING_FAILED"}
    )
    post = respx.post(f"{API}/rest/posts")
    with pytest.raises(PermanentError, match="processing failed"):
        adapter().publish(message(sample_video()), "d1")
    assert not post.called


@respx.mock
def test_a_rate_limited_upload_is_transient():
    respx.post(f"{API}/rest/images", params={"action": "initializeUpload"}).respond(
        429, json={"message": "Too many"}, headers={"Retry-After": "30"}
    )
    with pytest.raises(TransientError) as raised:
        adapter().publish(message(sample_image()), "d1")
    assert raised.value.retry_after == 30


@respx.mock
def test_an_organization_post_targets_the_segments_locale_and_country():
    post = respx.post(f"{API}/rest/posts").respond(201, headers={"x-restli-id": "urn:li:share:9"})
    audience = Audience("targeting", countries=("FR",), locales=("fr-FR",))
    adapter().publish(message(audience=audience), "d1")
    distribution = json.loads(post.calls.last.request.content)["distribution"]
    assert distribution["targetEntities"] == [
        {"geoLocations": [PARIS], "interfaceLocales": [{"language": "fr", "country": "FR"}]}
    ]


def test_targeting_problems_are_reported_at_plan_time():
    unknown = Audience("targeting", countries=("DZ",))
    (problem,) = adapter().validate(message(audience=unknown))
    assert "audience country 'DZ' has no LinkedIn geo URN" in problem
    member = adapter("urn:li:person:abc")
    assert member.capabilities.audiences == ()
    problems = member.validate(message(audience=Audience("targeting", countries=("FR",))))
    assert any("only in organization posts" in problem for problem in problems)


@respx.mock
@pytest.mark.parametrize(
    "upload",
    [
        "https://uploads.attacker.example/put",
        "http://www.linkedin.com/dms-uploads/plain-http",
        "https://linkedin.com.attacker.example/put",
    ],
)
def test_an_upload_url_off_linkedin_gets_the_bytes_but_never_the_token(upload):
    image = sample_image(alt="Notre oliveraie")
    respx.post(f"{API}/rest/images", params={"action": "initializeUpload"}).respond(
        200, json={"value": {"uploadUrl": upload, "image": "urn:li:image:C1"}}
    )
    put = respx.put(upload).respond(201)
    respx.post(f"{API}/rest/posts").respond(201, headers={"x-restli-id": "urn:li:share:9"})
    adapter().publish(message(image), "d1")
    assert put.calls.last.request.content == image.read()
    assert "Authorization" not in put.calls.last.request.headers
    assert not any(TOKEN in value for value in put.calls.last.request.headers.values())
