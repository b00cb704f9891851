"""Mastodon end to end, against the fake Mastodon of the contract tests, which keeps
what it received: a calendar's post with a banner per language and alt text per locale,
planned (fitted to Mastodon's pixel limit, split into a thread by Mastodon's own length
rule) and published part by part as the runner does; and a five-part thread resumed
after a worker died with a part in doubt."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import respx
from PIL import Image
from socialsched_mastodon import MastodonAdapter
from test_mastodon_contract import INSTANCE, TOKEN, FakeMastodon

import socialsched
from socialsched.adapters import Message
from socialsched.calendar.model import Channel
from socialsched.media import digest_of
from socialsched.testing import TEXT_PREFIX

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
name = "fedi"
adapter = "mastodon"
secrets = {{ token = "MASTODON_E2E_TOKEN" }}
settings = {{ instance = "{instance}", instance_limits = false }}

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
) * 4
SPANISH = (
    "La feria abre sus puertas el martes a las diez, pabellón 4, stand B12, con nuestras "
    "novedades de primavera y una demostración cada hora. "
) * 4


def banner(colour: tuple[int, int, int]) -> bytes:
    """A 3900x2200 PNG: 8.6 megapixels, over Mastodon's 8,294,400-pixel limit."""
    buffer = io.BytesIO()
    Image.new("RGB", (3900, 2200), colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_calendar_with_per_locale_banners_goes_out_as_threads(tmp_path: Path) -> None:
    files = {"img/banniere.png": banner((0, 60, 160)), "img/cartel.png": banner((160, 40, 0))}
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    path = tmp_path / "calendar.toml"
    text = CALENDAR.format(instance=INSTANCE, fr=FRENCH.strip(), es=SPANISH.strip())
    path.write_text(text, encoding="utf-8")
    calendar = socialsched.load(path)
    deliveries = socialsched.plan(calendar, "2027-03-01", "2027-03-03")
    assert sorted(d.segment for d in deliveries) == ["madrid", "paris"]
    segments = {segment.name: segment for segment in calendar.segments}
    (channel,) = calendar.channels
    expected = {
        "paris": ("Bannière du salon, paris", files["img/banniere.png"]),
        "madrid": ("Cartel de la feria, madrid", files["img/cartel.png"]),
    }

    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        fake = FakeMastodon(router)
        adapter = MastodonAdapter(channel, environ={"SOCIALSCHED_SECRET_MASTODON_E2E_TOKEN": TOKEN})
        for delivery in deliveries:
            assert len(delivery.parts) >= 2  # over 500 characters: a thread
            base = Message.for_delivery(delivery, segments[delivery.segment], channel)
            receipts: list[Any] = []
            for number, part in enumerate(delivery.parts, start=1):
                message = attrs.evolve(
                    base,
                    text=part,
                    attachments=delivery.media if number == 1 else (),
                    part=number,
                    parts=len(delivery.parts),
                    reply_to=receipts[-1] if receipts else None,
                    thread_root=receipts[0] if receipts else None,
                )
                key = delivery.id if number == 1 else f"{delivery.id}#{number}"
                receipts.append(adapter.publish(message, key))

            keys = [delivery.id] + [f"{delivery.id}#{n}" for n in range(2, len(receipts) + 1)]
            assert fake.reply_chain(delivery.id) == keys
            (arrived,) = fake.attachments(delivery.id)
            alt, original = expected[delivery.segment]
            (fitted,) = delivery.media
            assert arrived.alt == alt
            assert arrived.digest == fitted.digest != digest_of(original)
            with Image.open(io.BytesIO(fitted.read())) as image:
                assert image.width * image.height <= 8_294_400
                assert abs(image.width / image.height - 3900 / 2200) < 0.01
            for key in keys[1:]:
                assert fake.attachments(key) == []


def test_a_five_part_thread_resumed_after_a_crash_has_five_parts_once_each() -> None:
    """A worker sends part 3 and dies before recording it; hours later (Mastodon has
    forgotten the Idempotency-Key) the next worker asks `find` for the part in doubt,
    records what it finds and goes on with part 4: five statuses, in order, each once."""
    channel = Channel(
        name="fedi",
        adapter="mastodon",
        secrets={"token": "MASTODON_E2E_TOKEN"},
        settings={"instance": INSTANCE, "instance_limits": False},
    )
    due = datetime(2030, 1, 15, 9, 30, tzinfo=UTC)  # the fake posts at 09:31

    def part(number: int, receipts: list[Any]) -> Message:
        return Message(
            delivery_id="d5",
            post="five",
            segment="paris",
            channel="fedi",
            locale="fr-FR",
            text=f"{TEXT_PREFIX}{key(number)} partie {number}/5",
            utc=due,
            local=due,
            part=number,
            parts=5,
            reply_to=receipts[-1] if receipts else None,
            thread_root=receipts[0] if receipts else None,
        )

    def key(number: int) -> str:
        return "d5" if number == 1 else f"d5#{number}"

    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        fake = FakeMastodon(router)
        first_worker = MastodonAdapter(
            channel, environ={"SOCIALSCHED_SECRET_MASTODON_E2E_TOKEN": TOKEN}
        )
        recorded: list[Any] = []
        for number in (1, 2):
            recorded.append(first_worker.publish(part(number, recorded), key(number)))
        lost = first_worker.publish(part(3, recorded), key(3))  # sent, never recorded
        fake.forget_keys()

        second_worker = MastodonAdapter(
            channel, environ={"SOCIALSCHED_SECRET_MASTODON_E2E_TOKEN": TOKEN}
        )
        found = second_worker.find(part(3, recorded), key(3))
        assert found == lost
        recorded.append(found)
        for number in (4, 5):
            recorded.append(second_worker.publish(part(number, recorded), key(number)))

        assert sorted(fake.published()) == sorted(key(n) for n in range(1, 6))
        assert fake.reply_chain("d5") == [key(n) for n in range(1, 6)]
