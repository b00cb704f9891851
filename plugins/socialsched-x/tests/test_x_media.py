"""The x adapter's media uploads, request by request (respx): initialize, the bytes in
segments, finalize, processing checks, alt text, then the post naming the media."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
import respx
import socialsched_x.media
from socialsched_x import XAdapter

from socialsched.adapters import Message, PermanentError, TransientError
from socialsched.calendar.model import Channel
from socialsched.testing import sample_image, sample_video

API = "https://api.x.com"
WHEN = datetime(2030, 1, 15, 9, 30, tzinfo=UTC)


def adapter(slept: list[float]) -> XAdapter:
    channel = Channel(name="x-main", adapter="x", secrets={"access_token": "X_TOKEN"})
    return XAdapter(channel, environ={"SOCIALSCHED_SECRET_X_TOKEN": "tok"}, sleep=slept.append)


def message(*attachments) -> Message:
    return Message(
        delivery_id="d1",
        post="p",
        segment="s",
        channel="x-main",
        locale="en-US",
        text="New season",
        utc=WHEN,
        local=WHEN,
        attachments=attachments,
    )


def multipart_field(request: httpx.Request, name: str) -> bytes:
    """The value of one field of a multipart body, found by its name."""
    boundary = request.headers["Content-Type"].split("boundary=")[1].encode()
    for part in request.content.split(b"--" + boundary):
        head, _, body = part.partition(b"\r\n\r\n")
        if f'name="{name}"'.encode() in head:
            return body.removesuffix(b"\r\n")
    raise KeyError(name)


@respx.mock
def test_a_video_goes_up_in_segments_waits_for_processing_and_gets_its_alt_text(monkeypatch):
    monkeypatch.setattr(socialsched_x.media, "SEGMENT_BYTES", 700)
    video = sample_video(alt="Harvest in ten seconds")
    data = video.read()
    segments = [data[i : i + 700] for i in range(0, len(data), 700)]
    assert len(segments) >= 2
    init = respx.post(f"{API}/2/media/upload/initialize").respond(json={"data": {"id": "55"}})
    append = respx.post(f"{API}/2/media/upload/55/append").respond(204)
    respx.post(f"{API}/2/media/upload/55/finalize").respond(
        json={"data": {"id": "55", "processing_info": {"state": "pending", "check_after_secs": 3}}}
    )
    status = respx.get(f"{API}/2/media/upload").mock(
        side_effect=[
            httpx.Response(
                200,
                json={"data": {"processing_info": {"state": "in_progress", "check_after_secs": 7}}},
            ),
            httpx.Response(200, json={"data": {"processing_info": {"state": "succeeded"}}}),
        ]
    )
    metadata = respx.post(f"{API}/2/media/metadata").respond(json={"data": {}})
    post = respx.post(f"{API}/2/tweets").respond(201, json={"data": {"id": "1"}})
    slept: list[float] = []
    adapter(slept).publish(message(video), "d1")
    assert json.loads(init.calls.last.request.content) == {
        "media_type": "video/mp4",
        "total_bytes": len(data),
        "media_category": "tweet_video",
    }
    assert [multipart_field(c.request, "media") for c in append.calls] == segments
    assert [multipart_field(c.request, "segment_index") for c in append.calls] == [
        str(i).encode() for i in range(len(segments))
    ]
    assert slept == [3.0, 7.0]  # X's check_after_secs, honoured
    assert dict(status.calls.last.request.url.params) == {"command": "STATUS", "media_id": "55"}
    assert json.loads(metadata.calls.last.request.content) == {
        "id": "55",
        "metadata": {"alt_text": {"text": "Harvest in ten seconds"}},
    }
    assert json.loads(post.calls.last.request.content) == {
        "text": "New season",
        "media": {"media_ids": ["55"]},
    }
    # Order matters: the post names media that are fully uploaded and described.
    paths = [call.request.url.path for call in respx.calls]
    assert paths[0].endswith("/initialize") and paths[-2:] == ["/2/media/metadata", "/2/tweets"]


@respx.mock
def test_images_are_uploaded_once_each_and_a_retry_names_them_again():
    first, second = sample_image(alt="Grove", color=1), sample_image(alt="", color=2)
    ids = iter(["61", "62"])
    init = respx.post(f"{API}/2/media/upload/initialize").mock(
        side_effect=lambda request: httpx.Response(200, json={"data": {"id": next(ids)}})
    )
    respx.post(url__regex=rf"{API}/2/media/upload/6\d/append").respond(204)
    respx.post(url__regex=rf"{API}/2/media/upload/6\d/finalize").respond(json={"data": {}})
    metadata = respx.post(f"{API}/2/media/metadata").respond(json={"data": {}})
    post = respx.post(f"{API}/2/tweets").mock(
        side_effect=[httpx.Response(503), httpx.Response(201, json={"data": {"id": "9"}})]
    )
    x = adapter([])
    with pytest.raises(TransientError):
        x.publish(message(first, second), "d1")
    x.publish(message(first, second), "d1")
    assert [json.loads(c.request.content)["media_category"] for c in init.calls] == [
        "tweet_image",
        "tweet_image",
    ]
    assert metadata.call_count == 1  # no alt text, no metadata request
    assert [json.loads(c.request.content)["media"] for c in post.calls] == [
        {"media_ids": ["61", "62"]}
    ] * 2


@respx.mock
def test_failed_processing_is_permanent_and_nothing_is_posted():
    respx.post(f"{API}/2/media/upload/initialize").respond(json={"data": {"id": "70"}})
    respx.post(f"{API}/2/media/upload/70/append").respond(204)
    failed = {"state": "failed", "error": {"name": "InvalidMedia", "message": "Unsupported codec"}}
    respx.post(f"{API}/2/media/upload/70/finalize").respond(
        json={"data": {"id": "70", "processing_info": failed}}
    )
    post = respx.post(f"{API}/2/tweets")
    with pytest.raises(PermanentError, match="Unsupported codec"):
        adapter([]).publish(message(sample_video()), "d1")
    assert not post.called


@respx.mock
def test_a_rate_limited_upload_is_transient_until_the_reset(monkeypatch):
    monkeypatch.setattr("time.time", lambda: 1_000.0)
    respx.post(f"{API}/2/media/upload/initialize").respond(
        429, json={"title": "Too Many Requests"}, headers={"x-rate-limit-reset": "1900"}
    )
    with pytest.raises(TransientError) as raised:
        adapter([]).publish(message(sample_image()), "d1")
    assert raised.value.retry_after == 900


def test_plan_time_checks_follow_xs_media_rules():
    x = adapter([])
    five = tuple(sample_image(color=n) for n in range(5))
    assert x.validate(message(*five))
    assert x.validate(message(sample_image(), sample_video()))  # images or a video
    assert x.validate(message(sample_image(alt="a" * 1001)))
    assert x.validate(message(sample_image(alt="a" * 1000), sample_image(color=3))) == []
