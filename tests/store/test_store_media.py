"""Media in the store: bytes kept once by digest in the database, read back by runners;
media changes reconciled like text changes; the store's `MediaCache`; threads published
part by part as a reply chain, resumed after a failure, retracted whole."""

from __future__ import annotations

import hashlib
import io
import random

import attrs
import pytest
import sqlalchemy
from PIL import Image

from conftest import Recorder, calendar, post
from socialsched.adapters import Receipt, TransientError
from socialsched.media.model import Media
from socialsched.planning.planner import Planner
from socialsched.runner import Runner
from socialsched.scheduling import schedule
from socialsched.store import Store

DAY = "2027-01-04"


def png(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def unreadable(media: Media) -> Media:
    """`media` whose bytes cannot be read: proves the store does not read them."""

    def refuse() -> bytes:
        raise AssertionError(f"{media.filename} was read again")

    return attrs.evolve(media, reader=refuse)


def planned_with(cal, media: tuple[Media, ...] = (), parts: tuple[str, ...] = ()):
    """The plan of `cal` on DAY with `media` and `parts` on every delivery (one tuple
    shared by all, as the planner shares one per route)."""
    return [
        attrs.evolve(delivery, media=media, parts=parts) for delivery in Planner(cal).plan(DAY, DAY)
    ]


def count(store: Store, table: str) -> int:
    with store.engine.connect() as connection:
        return connection.execute(sqlalchemy.text(f"SELECT count(*) FROM {table}")).scalar_one()


def runner(store, recorder, clock):
    return Runner(store, adapters=lambda channel: recorder, sleep=clock.sleep, rng=random.Random(3))


def test_media_bytes_round_trip_through_the_store_and_are_kept_once(store):
    banner, card = png((200, 30, 30)), png((20, 30, 200), (64, 48))
    media = (
        Media.from_bytes(banner, alt="A red banner", filename="banner.png", source="/c/banner.png"),
        Media.from_bytes(card, alt="A blue card", filename="card.png", source="/c/card.png"),
    )
    cal = calendar([post("a"), post("b")])
    result = store.schedule(cal, DAY, DAY, planned=planned_with(cal, media))
    assert len(result.added) == 4
    assert count(store, "media") == 2  # four deliveries, two files: each blob once
    for record in store.records():
        assert [m.read() for m in record.media] == [banner, card]
        assert [m.digest for m in record.media] == [
            hashlib.sha256(banner).hexdigest(),
            hashlib.sha256(card).hexdigest(),
        ]
        assert [(m.alt, m.filename, m.source) for m in record.media] == [
            ("A red banner", "banner.png", "/c/banner.png"),
            ("A blue card", "card.png", "/c/card.png"),
        ]
        assert [(m.kind, m.mime_type, m.size, m.width, m.height) for m in record.media] == [
            ("image", "image/png", len(banner), 40, 30),
            ("image", "image/png", len(card), 64, 48),
        ]


def test_scheduling_again_reads_no_bytes_and_changes_nothing(store):
    media = (Media.from_bytes(png((1, 2, 3)), alt="dots", filename="dots.png"),)
    cal = calendar([post("a")])
    store.schedule(cal, DAY, DAY, planned=planned_with(cal, media))
    again = store.schedule(cal, DAY, DAY, planned=planned_with(cal, (unreadable(media[0]),)))
    assert not again.changed and again.unchanged == 2
    assert count(store, "media") == 1


def test_a_replaced_file_updates_the_deliveries_and_the_log_says_so(store):
    cal = calendar([post("a")])
    old = Media.from_bytes(png((9, 9, 9)), alt="grey", filename="banner.png")
    store.schedule(cal, DAY, DAY, planned=planned_with(cal, (old,)))
    new_bytes = png((250, 250, 0))
    new = Media.from_bytes(new_bytes, alt="grey", filename="banner.png")
    result = store.schedule(cal, DAY, DAY, planned=planned_with(cal, (new,)))
    ids = {r.id for r in store.records()}
    assert set(result.updated) == ids and not result.added and not result.cancelled
    for key in ids:
        record = store.get(key)
        assert record.state == "scheduled"
        assert [m.digest for m in record.media] == [hashlib.sha256(new_bytes).hexdigest()]
        assert record.media[0].read() == new_bytes
        assert store.log(delivery=key)[-1].reason == "media changed"


def test_changed_alt_text_alone_updates_the_deliveries(store):
    cal = calendar([post("a")])
    image = Media.from_bytes(png((9, 9, 9)), alt="old words", filename="banner.png")
    store.schedule(cal, DAY, DAY, planned=planned_with(cal, (image,)))
    result = store.schedule(
        cal, DAY, DAY, planned=planned_with(cal, (attrs.evolve(image, alt="new words"),))
    )
    assert len(result.updated) == 2
    assert {r.media[0].alt for r in store.records()} == {"new words"}


def test_removed_media_are_reconciled(store):
    cal = calendar([post("a")])
    image = Media.from_bytes(png((9, 9, 9)), filename="banner.png")
    store.schedule(cal, DAY, DAY, planned=planned_with(cal, (image,)))
    result = store.schedule(cal, DAY, DAY, planned=planned_with(cal, ()))
    assert len(result.updated) == 2
    assert all(r.media == () for r in store.records())
    with store.engine.connect() as connection:
        stored = connection.execute(sqlalchemy.text("SELECT media FROM deliveries")).scalars()
        assert set(stored) == {None}


def test_the_media_cache_remembers_files_and_variants_across_stores(make_store):
    original = png((10, 200, 10), (80, 60))
    fitted = png((10, 200, 10), (40, 30))
    first = make_store()
    cache = first.media_cache()
    assert cache.known_source("/cal/banner.png", len(original), 111) is None
    kept = cache.remember_source(
        "/cal/banner.png", len(original), 111, Media.from_bytes(original, filename="banner.png")
    )
    assert kept.read() == original
    assert cache.known_variant(kept.digest, "1000:::") is None
    made = cache.remember_variant(
        kept.digest, "1000:::", Media.from_bytes(fitted, filename="banner-fitted.png")
    )
    assert made.read() == fitted
    first.close()

    other = make_store().media_cache()  # a later schedule: a new cache, same database
    seen = other.known_source("/cal/banner.png", len(original), 111)
    assert seen is not None
    assert (seen.digest, seen.filename, seen.source) == (
        hashlib.sha256(original).hexdigest(),
        "banner.png",
        "/cal/banner.png",
    )
    assert (seen.width, seen.height, seen.size) == (80, 60, len(original))
    assert seen.read() == original
    # The file changed since (another size or modification time): not known.
    assert other.known_source("/cal/banner.png", len(original), 112) is None
    assert other.known_source("/cal/banner.png", len(original) + 1, 111) is None
    variant = other.known_variant(seen.digest, "1000:::")
    assert variant is not None and variant.read() == fitted
    assert (variant.width, variant.height, variant.filename) == (40, 30, "banner-fitted.png")
    assert variant == made  # the same answer as when it was made: deliveries stay unchanged
    assert other.known_variant(seen.digest, "2000:::") is None


def test_a_file_replaced_in_place_is_remembered_under_its_new_digest(store):
    cache = store.media_cache()
    before, after = png((1, 1, 1)), png((2, 2, 2), (50, 50))
    cache.remember_source("/cal/a.png", len(before), 1, Media.from_bytes(before))
    cache.remember_source("/cal/a.png", len(after), 2, Media.from_bytes(after))
    fresh = store.media_cache()
    assert fresh.known_source("/cal/a.png", len(before), 1) is None
    known = fresh.known_source("/cal/a.png", len(after), 2)
    assert known is not None and known.read() == after
    assert count(store, "media_sources") == 1


def test_runner_attaches_the_stored_bytes_and_the_log_records_what_went_out(store, clock, recorder):
    banner = png((200, 30, 30))
    media = (Media.from_bytes(banner, alt="Un banner rojo", filename="banner.png"),)
    cal = calendar([post("a", "05:30")])
    store.schedule(cal, DAY, DAY, planned=planned_with(cal, media))
    assert runner(store, recorder, clock).run_until_idle() == 2
    digest = hashlib.sha256(banner).hexdigest()
    for message, key in recorder.published:
        (attachment,) = message.attachments
        assert attachment.read() == banner
        assert (attachment.digest, attachment.alt, attachment.filename) == (
            digest,
            "Un banner rojo",
            "banner.png",
        )
        entry = store.log(delivery=key)[-1]
        assert entry.to_state == "published"
        assert entry.media == (
            {"digest": digest, "filename": "banner.png", "alt": "Un banner rojo"},
        )
        assert entry.to_dict()["media"] == [
            {"digest": digest, "filename": "banner.png", "alt": "Un banner rojo"}
        ]
    # Earlier entries (planned, claimed) sent nothing.
    assert all(e.media == () for e in store.log() if e.to_state != "published")


class ThreadRecorder(Recorder):
    """Records parts; fails the publishing of the parts listed in `fail_parts` once."""

    def __init__(self, channel, environ=None) -> None:
        super().__init__(channel, environ)
        self.fail_parts: set[int] = set()

    def publish(self, message, idempotency_key):
        if message.part in self.fail_parts:
            self.fail_parts.discard(message.part)
            raise TransientError("the network hiccuped")
        return super().publish(message, idempotency_key)


@pytest.fixture
def threads(recorder) -> ThreadRecorder:
    return ThreadRecorder(recorder.channel)


PARTS = ("One. 1/4", "Two. 2/4", "Three. 3/4", "Four. 4/4")


def test_a_thread_goes_out_as_a_reply_chain_with_media_on_the_first_part(store, clock, threads):
    banner = png((5, 100, 5))
    image = Media.from_bytes(banner, alt="green", filename="g.png")
    cal = calendar([post("a", "05:30")])
    store.schedule(cal, DAY, DAY, planned=planned_with(cal, (image,), PARTS)[:1])
    (record,) = store.records()
    assert record.parts == PARTS
    runner(store, threads, clock).run_until_idle()
    keys = [key for _, key in threads.published]
    assert keys == [record.id, f"{record.id}#2", f"{record.id}#3", f"{record.id}#4"]
    messages = [message for message, _ in threads.published]
    assert [m.text for m in messages] == list(PARTS)
    assert [(m.part, m.parts) for m in messages] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [len(m.attachments) for m in messages] == [1, 0, 0, 0]
    assert messages[0].attachments[0].read() == banner
    remote = [f"r-{key}" for key in keys]
    assert [m.reply_to and m.reply_to.remote_id for m in messages] == [None, *remote[:3]]
    assert [m.thread_root and m.thread_root.remote_id for m in messages] == [None, *[remote[0]] * 3]
    published = store.get(record.id)
    assert published.state == "published"
    assert published.receipt["remote_id"] == remote[0]
    assert [p["remote_id"] for p in published.receipt["extra"]["parts"]] == remote
    assert [r["remote_id"] for r in store.thread_receipts(record.id)] == remote


def test_a_thread_that_failed_midway_resumes_with_the_next_part(store, clock, threads):
    cal = calendar([post("a", "05:30")])
    store.schedule(cal, DAY, DAY, planned=planned_with(cal, (), PARTS)[:1])
    (record,) = store.records()
    threads.fail_parts = {3}
    worker = runner(store, threads, clock)
    worker.run_until_idle()
    assert store.get(record.id).state == "scheduled"  # to be retried later
    assert [r["remote_id"] for r in store.thread_receipts(record.id)] == [
        f"r-{record.id}",
        f"r-{record.id}#2",
    ]
    clock.advance(hours=1)
    worker.run_until_idle()
    keys = [key for _, key in threads.published]
    # Parts 1 and 2 went out once; part 3 failed, was retried and went out, then 4.
    assert keys == [record.id, f"{record.id}#2", f"{record.id}#3", f"{record.id}#4"]
    resumed = threads.published[2][0]
    assert resumed.reply_to.remote_id == f"r-{record.id}#2"
    assert resumed.thread_root.remote_id == f"r-{record.id}"
    final = store.get(record.id)
    assert final.state == "published" and final.attempts == 2


def test_retract_deletes_every_part_of_a_thread_last_first(store, clock, threads):
    cal = calendar([post("a", "05:30")])
    store.schedule(cal, DAY, DAY, planned=planned_with(cal, (), PARTS)[:1])
    (record,) = store.records()
    worker = runner(store, threads, clock)
    worker.run_until_idle()
    retracted = worker.retract(record.id)
    assert retracted.state == "cancelled"
    assert [r.remote_id for r in threads.deleted] == [
        f"r-{record.id}#4",
        f"r-{record.id}#3",
        f"r-{record.id}#2",
        f"r-{record.id}",
    ]


def test_retract_of_a_single_post_deletes_it(store, clock, recorder):
    cal = calendar([post("a", "05:30")])
    schedule(store, cal, DAY, DAY)
    worker = runner(store, recorder, clock)
    worker.run_until_idle()
    key = store.records()[0].id
    worker.retract(key)
    assert recorder.deleted == [
        Receipt(remote_id=f"r-{key}", url=f"https://example.test/{key}", extra={})
    ]


def test_changed_thread_parts_update_the_deliveries(store):
    cal = calendar([post("a")])
    store.schedule(cal, DAY, DAY, planned=planned_with(cal, (), PARTS[:2]))
    result = store.schedule(cal, DAY, DAY, planned=planned_with(cal, (), PARTS[:3]))
    assert len(result.updated) == 2
    assert {r.parts for r in store.records()} == {PARTS[:3]}
    assert {store.log(delivery=k)[-1].reason for k in result.updated} == {"thread parts changed"}


def test_a_thread_partly_out_keeps_its_planned_parts_when_the_calendar_changes(
    store, clock, threads
):
    cal = calendar([post("a", "05:30")])
    store.schedule(cal, DAY, DAY, planned=planned_with(cal, (), PARTS)[:1])
    (record,) = store.records()
    threads.fail_parts = {3}
    worker = runner(store, threads, clock)
    worker.run_until_idle()  # parts 1 and 2 out, part 3 to be retried
    edited = ("Other one. 1/3", "Other two. 2/3", "Other three. 3/3")
    result = store.schedule(cal, DAY, DAY, planned=planned_with(cal, (), edited)[:1])
    assert not result.changed and result.unchanged == 1
    assert store.get(record.id).parts == PARTS
    clock.advance(hours=1)
    worker.run_until_idle()
    assert [m.text for m, _ in threads.published] == list(PARTS)
