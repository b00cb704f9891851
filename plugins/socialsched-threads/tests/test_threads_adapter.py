"""The threads adapter's exact requests (respx): text, media and carousel containers,
processing polls, reply chains, the publishing quota, errors, delete, and a lost answer
not posting twice."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import attrs
import httpx
import pytest
import respx
from socialsched_threads import ThreadsAdapter

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

USER = "2784"
ROOT = "https://graph.threads.net/v1.0"
API = f"{ROOT}/{USER}"
TOKEN = "THQWsecret-token-value"
BASE_URL = "https://media.example.test/th"
DUE = datetime(2027, 3, 2, 9, tzinfo=UTC)
QUOTA = {"data": [{"quota_usage": 3, "config": {"quota_total": 250, "quota_duration": 86400}}]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "served"


@pytest.fixture
def adapter(folder: Path) -> ThreadsAdapter:
    channel = Channel(
        name="th",
        adapter="threads",
        secrets={"access_token": "TH_TOKEN"},
        settings={"user_id": USER, "media_host": {"folder": str(folder), "base_url": BASE_URL}},
    )
    return ThreadsAdapter(
        channel, environ={"SOCIALSCHED_SECRET_TH_TOKEN": TOKEN}, sleep=lambda seconds: None
    )


def message(*attachments, text: str = "Olivar 3.0 is out", **fields) -> Message:
    return Message(
        delivery_id="d1",
        post="launch",
        segment="paris",
        channel="th",
        locale="fr-FR",
        text=text,
        utc=DUE,
        local=DUE,
        attachments=attachments,
        **fields,
    )


def form(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


def query(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.url.query.decode()).items()}


def url_of(media) -> str:
    extension = {"image/png": ".png", "image/jpeg": ".jpg", "video/mp4": ".mp4"}[media.mime_type]
    return f"{BASE_URL}/{media.digest}{extension}"


def numbered(prefix: str):
    counter = iter(range(1, 100))
    return lambda request: httpx.Response(200, json={"id": f"{prefix}{next(counter)}"})


@respx.mock
def test_text_is_a_text_container_then_published_with_the_token(adapter):
    quota = respx.get(f"{API}/threads_publishing_limit").respond(json=QUOTA)
    create = respx.post(f"{API}/threads").respond(json={"id": "c1"})
    publish = respx.post(f"{API}/threads_publish").respond(json={"id": "t1"})
    receipt = adapter.publish(message(), "k1")
    assert receipt.remote_id == "t1"
    assert query(quota.calls.last.request) == {"fields": "quota_usage,config"}
    assert form(create.calls.last.request) == {"media_type": "TEXT", "text": "Olivar 3.0 is out"}
    assert form(publish.calls.last.request) == {"creation_id": "c1"}
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in respx.calls)


@respx.mock
def test_a_later_part_replies_to_the_part_before(adapter):
    respx.get(f"{API}/threads_publishing_limit").respond(json=QUOTA)
    create = respx.post(f"{API}/threads").respond(json={"id": "c2"})
    respx.post(f"{API}/threads_publish").respond(json={"id": "t2"})
    first = Receipt(remote_id="t1")
    part = message(text="second part 2/2", part=2, parts=2, reply_to=first, thread_root=first)
    adapter.publish(part, "k1#2")
    assert form(create.calls.last.request) == {
        "media_type": "TEXT",
        "text": "second part 2/2",
        "reply_to_id": "t1",
    }


@respx.mock
def test_an_image_is_fetched_from_the_media_host_and_polled_until_finished(adapter, folder):
    image = sample_image(alt="The new dashboard")
    served: list[bytes] = []

    def create(request: httpx.Request) -> httpx.Response:
        served.append((folder / form(request)["image_url"].rsplit("/", 1)[1]).read_bytes())
        return httpx.Response(200, json={"id": "c1"})

    respx.get(f"{API}/threads_publishing_limit").respond(json=QUOTA)
    route = respx.post(f"{API}/threads").mock(side_effect=create)
    status = respx.get(f"{ROOT}/c1").mock(
        side_effect=[
            httpx.Response(200, json={"status": "IN_PROGRESS"}),
            httpx.Response(200, json={"status": "FINISHED"}),
        ]
    )
    respx.post(f"{API}/threads_publish").respond(json={"id": "t1"})
    adapter.publish(message(image), "k2")
    assert form(route.calls.last.request) == {
        "media_type": "IMAGE",
        "image_url": url_of(image),
        "alt_text": "The new dashboard",
        "text": "Olivar 3.0 is out",
    }
    assert served == [image.read()]
    assert status.call_count == 2
    assert query(status.calls.last.request) == {"fields": "status,error_message"}
    assert list(folder.iterdir()) == []


@respx.mock
def test_several_items_are_a_carousel_of_processed_children(adapter):
    image, clip = sample_image(alt="Grove"), sample_video()
    respx.get(f"{API}/threads_publishing_limit").respond(json=QUOTA)
    create = respx.post(f"{API}/threads").mock(side_effect=numbered("c"))
    respx.get(url__regex=rf"{ROOT}/c\d+").respond(json={"status": "FINISHED"})
    publish = respx.post(f"{API}/threads_publish").respond(json={"id": "t1"})
    adapter.publish(message(image, clip), "k3")
    assert [form(call.request) for call in create.calls] == [
        {
            "media_type": "IMAGE",
            "image_url": url_of(image),
            "alt_text": "Grove",
            "is_carousel_item": "true",
        },
        {
            "media_type": "VIDEO",
            "video_url": url_of(clip),
            "alt_text": "A test clip",
            "is_carousel_item": "true",
        },
        {"media_type": "CAROUSEL", "children": "c1,c2", "text": "Olivar 3.0 is out"},
    ]
    assert form(publish.calls.last.request) == {"creation_id": "c3"}


@respx.mock
def test_a_video_that_fails_processing_is_a_permanent_error(adapter):
    respx.get(f"{API}/threads_publishing_limit").respond(json=QUOTA)
    respx.post(f"{API}/threads").respond(json={"id": "c1"})
    respx.get(f"{ROOT}/c1").respond(json={"status": "ERROR", "error_message": "FAILED_DOWNLOADING"})
    publish = respx.post(f"{API}/threads_publish")
    with pytest.raises(PermanentError, match="FAILED_DOWNLOADING"):
        adapter.publish(message(sample_video()), "k4")
    assert not publish.called


@respx.mock
def test_a_used_up_quota_defers_before_creating_anything(adapter):
    used = {"data": [{"quota_usage": 250, "config": {"quota_total": 250, "quota_duration": 86400}}]}
    respx.get(f"{API}/threads_publishing_limit").respond(json=used)
    create = respx.post(f"{API}/threads")
    with pytest.raises(QuotaReached) as raised:
        adapter.publish(message(), "k5")
    assert raised.value.retry_after == 86400 / 250 and not create.called


@respx.mock
def test_429_honours_retry_after_and_a_refusal_is_permanent(adapter):
    respx.get(f"{API}/threads_publishing_limit").respond(json=QUOTA)
    error = {"message": "Application request limit reached", "code": 4}
    respx.post(f"{API}/threads").mock(
        side_effect=[
            httpx.Response(429, json={"error": error}, headers={"Retry-After": "90"}),
            httpx.Response(400, json={"error": {"message": "Param text is too long", "code": 100}}),
        ]
    )
    with pytest.raises(TransientError) as raised:
        adapter.publish(message(), "k6")
    assert raised.value.retry_after == 90
    with pytest.raises(PermanentError, match="too long") as refused:
        adapter.publish(message(), "k6")
    assert not isinstance(refused.value, CredentialsRejected)


@respx.mock
def test_a_rejected_token_is_credentials_rejected_without_the_token(adapter):
    error = {"message": f"Error validating access token {TOKEN}", "code": 190}
    respx.get(f"{API}/threads_publishing_limit").respond(401, json={"error": error})
    with pytest.raises(CredentialsRejected) as raised:
        adapter.publish(message(), "k7")
    assert TOKEN not in str(raised.value)


@respx.mock
def test_a_publish_whose_answer_was_lost_is_looked_up_not_posted_again(adapter):
    respx.get(f"{API}/threads_publishing_limit").respond(json=QUOTA)
    respx.post(f"{API}/threads").respond(json={"id": "c1"})
    publish = respx.post(f"{API}/threads_publish").mock(side_effect=httpx.ReadTimeout("lost"))
    with pytest.raises(TransientError):
        adapter.publish(message(), "k8")
    listing = respx.get(f"{API}/threads").respond(
        json={
            "data": [
                {"id": "t5", "text": "Olivar 3.0 is out", "timestamp": "2027-03-02T09:00:02+0000"}
            ]
        }
    )
    assert adapter.publish(message(), "k8").remote_id == "t5"
    assert publish.call_count == 1
    assert query(listing.calls.last.request) == {
        "fields": "id,text,timestamp,permalink",
        "limit": "50",
    }


@respx.mock
def test_delete_and_verify(adapter):
    deleted = respx.delete(f"{ROOT}/t1").respond(json={"success": True})
    respx.delete(f"{ROOT}/t2").respond(404, json={"error": {"message": "gone", "code": 100}})
    adapter.delete(Receipt(remote_id="t1"))
    adapter.delete(Receipt(remote_id="t2"))  # already gone: retracted all the same
    assert deleted.called
    me = respx.get(f"{ROOT}/me").mock(
        side_effect=[
            httpx.Response(200, json={"id": USER, "username": "olivar"}),
            httpx.Response(200, json={"id": "999", "username": "someone"}),
        ]
    )
    assert adapter.verify() == f"threads profile @olivar ({USER})"
    assert query(me.calls.last.request) == {"fields": "id,username"}
    with pytest.raises(CredentialsRejected, match="not this profile's"):
        adapter.verify()


def test_plan_time_checks(adapter):
    assert adapter.validate(message()) == []
    assert adapter.validate(message(text="a" * 501)) == [
        "text is 501 characters; threads allows 500"
    ]
    many = tuple(sample_image(color=n) for n in range(21))
    assert any("at most 20" in problem for problem in adapter.validate(message(*many)))
    long_alt = attrs.evolve(sample_image(), alt="a" * 1001)
    assert adapter.validate(message(long_alt))
