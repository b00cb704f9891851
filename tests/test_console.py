"""The console adapter prints each post, a line per attachment, and thread parts."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime

from PIL import Image

from socialsched.adapters import ConsoleAdapter, Message, Receipt
from socialsched.calendar.model import Channel
from socialsched.media.model import Media

WHEN = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def message(**fields) -> Message:
    return Message(
        delivery_id="d1",
        post="launch",
        segment="madrid",
        channel="screen",
        locale="es-ES",
        text="¡Ya está aquí!",
        utc=WHEN,
        local=WHEN,
        **fields,
    )


def test_each_attachment_gets_a_line_with_name_type_size_pixels_digest_and_alt():
    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), (1, 2, 3)).save(buffer, "PNG")
    data = buffer.getvalue()
    video = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00" + b"\x01" * 1500
    image = Media.from_bytes(data, alt='Banner "ES"', filename="banner-es.png")
    clip = Media.from_bytes(video, alt="", filename="clip.mp4")
    stream = io.StringIO()
    ConsoleAdapter(Channel(name="screen", adapter="console"), stream=stream).publish(
        message(attachments=(image, clip)), "k1"
    )
    assert stream.getvalue().splitlines() == [
        "[screen/madrid] 2027-03-01T09:00:00+00:00 ¡Ya está aquí!",
        f"  attachment 1/2: banner-es.png image/png {len(data):,} bytes 30x20 "
        f'sha256:{hashlib.sha256(data).hexdigest()} alt: "Banner \\"ES\\""',
        f"  attachment 2/2: clip.mp4 video/mp4 {len(video):,} bytes "
        f'sha256:{hashlib.sha256(video).hexdigest()} alt: ""',
    ]


def test_thread_parts_say_which_part_they_are_and_what_they_reply_to():
    stream = io.StringIO()
    adapter = ConsoleAdapter(Channel(name="screen", adapter="console"), stream=stream)
    first = adapter.publish(message(part=1, parts=2), "d1")
    adapter.publish(message(part=2, parts=2, reply_to=first, thread_root=first), "d1#2")
    assert first == Receipt(remote_id="d1")
    assert stream.getvalue().splitlines() == [
        "[screen/madrid] 2027-03-01T09:00:00+00:00 (1/2) ¡Ya está aquí!",
        "[screen/madrid] 2027-03-01T09:00:00+00:00 (2/2, replying to d1) ¡Ya está aquí!",
    ]
