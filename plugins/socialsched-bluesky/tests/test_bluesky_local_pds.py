"""The Bluesky adapter against a real local PDS (with a PLC directory) from @atproto/dev-env,
including socialsched's conformance kit (`TestBlueskyContractOnLocalPds`). The PDS is the
`pds` fixture of conftest.py.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from atproto import Client, models
from atproto.exceptions import BadRequestError
from socialsched_bluesky import BlueskyAdapter
from socialsched_bluesky.adapter import IMAGES

from socialsched.adapters import CredentialsRejected, Message, PermanentError
from socialsched.calendar.model import Channel
from socialsched.media import Media
from socialsched.testing import AdapterContract, Arrived, key_in_text, sample_image

NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)


def make_adapter(pds: dict[str, Any], password: str | None = None) -> BlueskyAdapter:
    channel = Channel(
        name="bsky",
        adapter="bluesky",
        secrets={"app_password": "BSKY_APP_PASSWORD"},
        settings={"handle": pds["handle"], "service": pds["url"]},
    )
    return BlueskyAdapter(
        channel, environ={"SOCIALSCHED_SECRET_BSKY_APP_PASSWORD": password or pds["app_password"]}
    )


def make_message(text: str, **fields: Any) -> Message:
    return Message(
        delivery_id="d1",
        post="newyear",
        segment="dz",
        channel="bsky",
        locale="fr-DZ",
        text=text,
        utc=NOW,
        local=NOW,
        **fields,
    )


def stored_post(adapter: BlueskyAdapter, uri: str) -> Any:
    did, collection, rkey = uri.removeprefix("at://").split("/")
    assert adapter._client is not None
    return adapter._client.com.atproto.repo.get_record(
        params=models.ComAtprotoRepoGetRecord.Params(repo=did, collection=collection, rkey=rkey)
    )


def test_publish_is_stored_with_facets_and_langs(pds: dict[str, Any]) -> None:
    adapter = make_adapter(pds)
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    text = f"Salut @alice.test {family} voir https://example.com/a. #Promo2027"
    receipt = adapter.publish(make_message(text), "pds-key-1")

    assert receipt.remote_id.startswith(f"at://{pds['did']}/app.bsky.feed.post/")
    record = stored_post(adapter, receipt.remote_id).value
    assert record.text == text
    assert record.langs == ["fr"]
    encoded = text.encode()
    features = {
        (type(facet.features[0]).__name__, facet.index.byte_start, facet.index.byte_end)
        for facet in record.facets
    }
    assert features == {
        ("Mention", encoded.index(b"@alice"), encoded.index(b"@alice") + len(b"@alice.test")),
        ("Link", encoded.index(b"https"), encoded.index(b"https") + len(b"https://example.com/a")),
        ("Tag", encoded.index(b"#Promo"), len(encoded)),
    }
    mention = next(f.features[0] for f in record.facets if hasattr(f.features[0], "did"))
    assert mention.did == pds["alice_did"]


def test_same_key_twice_posts_once_and_delete_removes(pds: dict[str, Any]) -> None:
    adapter = make_adapter(pds)
    first = adapter.publish(make_message("once only"), "pds-key-2")
    # A fresh adapter (as after a restart) with the same key finds the stored post.
    second = make_adapter(pds).publish(make_message("once only"), "pds-key-2")
    assert first == second
    assert adapter._client is not None
    listed = adapter._client.com.atproto.repo.list_records(
        params=models.ComAtprotoRepoListRecords.Params(
            repo=pds["did"], collection="app.bsky.feed.post", limit=100
        )
    )
    assert [r.uri for r in listed.records].count(first.remote_id) == 1
    assert sum(r.value.text == "once only" for r in listed.records) == 1

    adapter.delete(first)
    with pytest.raises(BadRequestError, match=r"RecordNotFound|Could not locate"):
        stored_post(adapter, first.remote_id)


def test_wrong_app_password_is_permanent(pds: dict[str, Any]) -> None:
    with pytest.raises(PermanentError) as caught:
        make_adapter(pds, password="wrong-pass-word-xxxx").publish(make_message("x"), "k")
    assert "wrong-pass-word-xxxx" not in str(caught.value)


def blob_bytes(adapter: BlueskyAdapter, did: str, cid: Any) -> bytes:
    """A blob as the PDS serves it back (`com.atproto.sync.getBlob`)."""
    assert adapter._client is not None
    return bytes(
        adapter._client.com.atproto.sync.get_blob(
            params=models.ComAtprotoSyncGetBlob.Params(did=did, cid=str(cid))
        )
    )


def test_images_are_stored_as_blobs_with_alt_text_and_aspect_ratio(pds: dict[str, Any]) -> None:
    adapter = make_adapter(pds)
    first = sample_image(64, 48, alt="Affiche du salon, stand B12")
    second = sample_image(30, 40, alt="Plan d'accès au stand")
    message = attrs.evolve(make_message("Venez nous voir"), attachments=(first, second))
    receipt = adapter.publish(message, "pds-media-1")

    embed = stored_post(adapter, receipt.remote_id).value.embed
    assert embed.py_type == "app.bsky.embed.images"
    assert [image.alt for image in embed.images] == [first.alt, second.alt]
    assert [(i.aspect_ratio.width, i.aspect_ratio.height) for i in embed.images] == [
        (64, 48),
        (30, 40),
    ]
    for image, media in zip(embed.images, (first, second), strict=True):
        assert image.image.mime_type == "image/png"
        assert image.image.size == media.size
        assert blob_bytes(adapter, pds["did"], image.image.cid) == media.read()


def test_thread_parts_reply_to_root_and_previous_part(pds: dict[str, Any]) -> None:
    adapter = make_adapter(pds)
    first = adapter.publish(make_message("Fil 1/3", parts=3), "pds-thread")
    second = adapter.publish(
        make_message("Fil 2/3", part=2, parts=3, reply_to=first, thread_root=first),
        "pds-thread#2",
    )
    # A new adapter (as after a restart) continues from the recorded receipts.
    third = make_adapter(pds).publish(
        make_message("Fil 3/3", part=3, parts=3, reply_to=second, thread_root=first),
        "pds-thread#3",
    )
    assert stored_post(adapter, first.remote_id).value.reply is None
    for receipt, parent in ((second, first), (third, second)):
        stored = stored_post(adapter, receipt.remote_id)
        assert receipt.extra["cid"] == stored.cid
        reply = stored.value.reply
        assert (reply.root.uri, reply.root.cid) == (first.remote_id, first.extra["cid"])
        assert (reply.parent.uri, reply.parent.cid) == (parent.remote_id, parent.extra["cid"])


def test_find_reads_back_what_was_published_under_the_key(pds: dict[str, Any]) -> None:
    adapter = make_adapter(pds)
    message = make_message("trouvé ?")
    assert adapter.find(message, "pds-find") is None
    published = adapter.publish(message, "pds-find")
    assert make_adapter(pds).find(message, "pds-find") == published
    assert adapter.find(message, "pds-find-other") is None


def test_verify_names_the_account_and_refuses_a_wrong_password(pds: dict[str, Any]) -> None:
    assert make_adapter(pds).verify() == f"@{pds['handle']} ({pds['did']})"
    with pytest.raises(CredentialsRejected) as caught:
        make_adapter(pds, password="wrong-pass-word-xxxx").verify()
    assert "wrong-pass-word-xxxx" not in str(caught.value)


def test_a_five_part_thread_resumed_after_a_crash_has_five_parts_once_each(
    pds: dict[str, Any],
) -> None:
    """A worker sends part 3 and dies before recording it; the next worker asks `find`
    for the part in doubt, records what it finds and goes on with part 4: five posts,
    in order, each once."""
    texts = [f"Fil en cinq, partie {n}/5" for n in range(1, 6)]

    def part(number: int, receipts: list[Any]) -> Message:
        return make_message(
            texts[number - 1],
            part=number,
            parts=5,
            reply_to=receipts[-1] if receipts else None,
            thread_root=receipts[0] if receipts else None,
        )

    def key(number: int) -> str:
        return "pds-crash" if number == 1 else f"pds-crash#{number}"

    first_worker = make_adapter(pds)
    recorded: list[Any] = []
    for number in (1, 2):
        recorded.append(first_worker.publish(part(number, recorded), key(number)))
    lost = first_worker.publish(part(3, recorded), key(3))  # sent, never recorded

    second_worker = make_adapter(pds)
    found = second_worker.find(part(3, recorded), key(3))
    assert found == lost
    recorded.append(found)
    for number in (4, 5):
        recorded.append(second_worker.publish(part(number, recorded), key(number)))

    assert second_worker._client is not None
    listed = second_worker._client.com.atproto.repo.list_records(
        params=models.ComAtprotoRepoListRecords.Params(
            repo=pds["did"], collection="app.bsky.feed.post", limit=100
        )
    )
    thread = [r for r in listed.records if r.value.text.startswith("Fil en cinq")]
    assert sorted(r.value.text for r in thread) == texts  # each part once
    by_uri = {r.uri: r for r in thread}
    assert [r.remote_id for r in recorded] == [r.uri for r in sorted(thread, key=_part)]
    for previous, receipt in itertools.pairwise(recorded):
        reply = by_uri[receipt.remote_id].value.reply
        assert reply.parent.uri == previous.remote_id
        assert reply.root.uri == recorded[0].remote_id


def _part(record: Any) -> int:
    return int(record.value.text.rsplit(" ", 1)[1].split("/")[0])


RED = (220, 20, 20)
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def phone_photo() -> bytes:
    """A 12-megapixel JPEG as a phone takes it: 4000x3000 pixels stored sideways with
    EXIF orientation 6 (shown rotated a quarter turn clockwise, 3000x4000), a GPS
    position in its EXIF, and noisy content so that it weighs several megabytes. The
    stored top-left corner is red, so it must show at the top right."""
    from PIL import Image

    image = Image.merge("RGB", [Image.effect_noise((4000, 3000), 60)] * 3)
    image.paste(RED, (0, 0, 1000, 1000))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def test_oversized_phone_photo_goes_out_fitted_upright_and_without_gps(
    pds: dict[str, Any],
) -> None:
    """Issue 12's "done when": an oversized 12-megapixel JPEG with GPS EXIF reaches the
    PDS under Bluesky's byte limit, oriented right, with no GPS data left."""
    from PIL import Image

    fitting = pytest.importorskip("socialsched.media.fitting")
    original = phone_photo()
    with Image.open(io.BytesIO(original)) as check:  # the photo is what it claims
        assert check.size == (4000, 3000) and check.getexif()[ORIENTATION] == 6
        assert check.getexif().get_ifd(GPS_IFD)[2] == (48.0, 51.0, 24.0)
    assert len(original) > 2 * IMAGES.max_bytes
    photo = Media.from_bytes(original, alt="Le stand au salon", filename="IMG_0001.jpg")
    adapter = make_adapter(pds)
    fitted = fitting.fit(photo, adapter.capabilities.images)
    message = attrs.evolve(make_message("Photo du salon"), attachments=(fitted,))
    receipt = adapter.publish(message, "pds-phone-photo")

    image = stored_post(adapter, receipt.remote_id).value.embed.images[0]
    assert image.alt == "Le stand au salon"
    published = blob_bytes(adapter, pds["did"], image.image.cid)
    assert len(published) <= 1_000_000
    with Image.open(io.BytesIO(published)) as shown:
        width, height = shown.size
        exif = shown.getexif()
        assert exif.get(ORIENTATION, 1) == 1  # the pixels are upright, nothing to rotate
        assert not exif.get_ifd(GPS_IFD) and GPS_IFD not in exif
        assert b"GPS" not in published
        assert height > width and max(width, height) <= 2000
        assert abs(width / height - 3 / 4) < 0.01
        assert (image.aspect_ratio.width, image.aspect_ratio.height) == (width, height)
        pixels = shown.convert("RGB")
        top_right = pixels.getpixel((int(width * 0.85), int(height * 0.1)))
        top_left = pixels.getpixel((int(width * 0.15), int(height * 0.1)))
        bottom_right = pixels.getpixel((int(width * 0.85), int(height * 0.9)))
    assert _near(top_right, RED)
    assert not _near(top_left, RED) and not _near(bottom_right, RED)


def _near(color: tuple[int, ...], wanted: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(color, wanted, strict=True))


CALENDAR = """
[[segment]]
name = "paris"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"

[[segment]]
name = "madrid"
locale = "es-ES"
timezone = "Europe/Madrid"
country = "ES"

[[channel]]
name = "bsky"
adapter = "bluesky"
secrets = {{ app_password = "BSKY_E2E_PASSWORD" }}
settings = {{ handle = "{handle}", service = "{url}" }}

[[post]]
id = "salon"
dates = ["2027-03-02"]
at = "10:00"
thread = "auto"
text = {{ default = "{fr}", es = "{es}" }}

[post.media]
default = [{{ path = "img/banniere.png", alt = "Bannière du salon, {{{{ segment.name }}}}" }}]
es = [{{ path = "img/cartel.png", alt = "Cartel de la feria, {{{{ segment.name }}}}" }}]
"""
FRENCH = (
    "Le salon ouvre ses portes mardi à dix heures, hall 4, stand B12, avec nos nouveautés "
    "de printemps et une démonstration toutes les heures. "
) * 3
SPANISH = (
    "La feria abre sus puertas el martes a las diez, pabellón 4, stand B12, con nuestras "
    "novedades de primavera y una demostración cada hora. "
) * 3


def banner(colour: tuple[int, int, int]) -> bytes:
    """A 3000x1500 noisy PNG: over Bluesky's 2000-pixel side and its byte limit."""
    from PIL import Image

    noise = Image.effect_noise((3000, 1500), 40)
    image = Image.merge("RGB", [noise.point(lambda v, c=c: (v + c) % 256) for c in colour])
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_a_calendar_with_per_locale_banners_goes_out_as_threads_with_their_alt_text(
    pds: dict[str, Any], tmp_path: Path
) -> None:
    """Calendar to network: per-locale images and alt text, planned (fitted, split into
    parts by Bluesky's own length rule), then published part by part as the runner does,
    and read back from the PDS."""
    import socialsched

    files = {"img/banniere.png": banner((0, 60, 160)), "img/cartel.png": banner((160, 40, 0))}
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    path = tmp_path / "calendar.toml"
    path.write_text(
        CALENDAR.format(
            handle=pds["handle"], url=pds["url"], fr=FRENCH.strip(), es=SPANISH.strip()
        ),
        encoding="utf-8",
    )
    calendar = socialsched.load(path)
    deliveries = socialsched.plan(calendar, "2027-03-01", "2027-03-03")
    assert sorted(d.segment for d in deliveries) == ["madrid", "paris"]
    segments = {segment.name: segment for segment in calendar.segments}
    (channel,) = calendar.channels
    adapter = BlueskyAdapter(
        channel, environ={"SOCIALSCHED_SECRET_BSKY_E2E_PASSWORD": pds["app_password"]}
    )
    expected_alt = {
        "paris": "Bannière du salon, paris",
        "madrid": "Cartel de la feria, madrid",
    }
    for delivery in deliveries:
        assert len(delivery.parts) >= 2  # over 300 graphemes: a thread
        assert all(adapter.text_length(part) <= 300 for part in delivery.parts)
        (fitted,) = delivery.media
        base = Message.for_delivery(delivery, segments[delivery.segment], channel)
        receipts: list[Any] = []
        for number, text in enumerate(delivery.parts, start=1):
            message = attrs.evolve(
                base,
                text=text,
                attachments=delivery.media if number == 1 else (),
                part=number,
                parts=len(delivery.parts),
                reply_to=receipts[-1] if receipts else None,
                thread_root=receipts[0] if receipts else None,
            )
            key = delivery.id if number == 1 else f"{delivery.id}#{number}"
            receipts.append(adapter.publish(message, key))

        first = stored_post(adapter, receipts[0].remote_id).value
        assert first.text == delivery.parts[0] and first.reply is None
        (image,) = first.embed.images
        assert image.alt == expected_alt[delivery.segment]
        published = blob_bytes(adapter, pds["did"], image.image.cid)
        assert published == fitted.read() and len(published) <= 1_000_000
        assert published != files["img/banniere.png"] and published != files["img/cartel.png"]
        assert max(image.aspect_ratio.width, image.aspect_ratio.height) <= 2000
        for receipt, parent, text in zip(
            receipts[1:], receipts[:-1], delivery.parts[1:], strict=True
        ):
            record = stored_post(adapter, receipt.remote_id).value
            assert record.text == text and record.embed is None
            assert record.reply.parent.uri == parent.remote_id
            assert record.reply.root.uri == receipts[0].remote_id


class LocalPds:
    """The conformance kit's view of the local PDS: the kit's posts in the account."""

    def __init__(self, pds: dict[str, Any]) -> None:
        self.did = pds["did"]
        self.client = Client(base_url=pds["url"])
        self.client.login(pds["handle"], pds["app_password"], fetch_bsky_profile=False)

    def _kit_records(self) -> list[Any]:
        listed = self.client.com.atproto.repo.list_records(
            params=models.ComAtprotoRepoListRecords.Params(
                repo=self.did, collection="app.bsky.feed.post", limit=100
            )
        )
        return [r for r in listed.records if key_in_text(r.value.text)]

    def published(self) -> list[str]:
        return [str(key_in_text(record.value.text)) for record in self._kit_records()]

    def _record(self, key: str) -> Any:
        return next(r for r in self._kit_records() if key_in_text(r.value.text) == key)

    def attachments(self, key: str) -> list[Arrived]:
        """The blobs the PDS serves back for the post, with the alt text it stored."""
        embed = self._record(key).value.embed
        if embed is None:
            return []
        items = embed.images if hasattr(embed, "images") else [embed]
        arrived = []
        for item in items:
            blob = item.image if hasattr(item, "image") else item.video
            data = self.client.com.atproto.sync.get_blob(
                params=models.ComAtprotoSyncGetBlob.Params(did=self.did, cid=str(blob.cid))
            )
            arrived.append(Arrived.of(bytes(data), item.alt))
        return arrived

    def reply_chain(self, key: str) -> list[str]:
        records = self._kit_records()
        record = self._record(key)
        chain = [key]
        while child := next(
            (r for r in records if r.value.reply and r.value.reply.parent.uri == record.uri), None
        ):
            record = child
            chain.append(str(key_in_text(record.value.text)))
        return chain

    def fail_next(self, kind: str) -> bool:
        return False  # a real PDS cannot be told to fail; the respx contract covers that

    def set_engagement(self, key: str, counts: Mapping[str, int]) -> bool:
        # Counts live in an AppView, which this PDS has none of: the engagement tests
        # with one are in test_bluesky_engagement_pds.py.
        return False

    def clear(self) -> None:
        for record in self._kit_records():
            rkey = record.uri.rsplit("/", 1)[1]
            self.client.com.atproto.repo.delete_record(
                models.ComAtprotoRepoDeleteRecord.Data(
                    repo=self.did, collection="app.bsky.feed.post", rkey=rkey
                )
            )


class TestBlueskyContractOnLocalPds(AdapterContract):
    """socialsched's conformance kit against the real PDS (each test starts with no
    kit posts in the account)."""

    adapter_class = BlueskyAdapter

    @pytest.fixture
    def remote(self, pds: dict[str, Any]) -> LocalPds:
        remote = LocalPds(pds)
        remote.clear()
        return remote

    @pytest.fixture
    def channel(self, remote: LocalPds, pds: dict[str, Any]) -> Channel:
        return Channel(
            name="bsky",
            adapter="bluesky",
            secrets={"app_password": "BSKY_APP_PASSWORD"},
            settings={"handle": pds["handle"], "service": pds["url"]},
        )

    @pytest.fixture
    def environ(self, pds: dict[str, Any]) -> Mapping[str, str]:
        return {"SOCIALSCHED_SECRET_BSKY_APP_PASSWORD": pds["app_password"]}
