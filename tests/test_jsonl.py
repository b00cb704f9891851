"""The jsonl adapter writes each idempotency key once, whatever the text says."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from socialsched.adapters import JsonlAdapter, Message
from socialsched.calendar.model import Channel


def message(text):
    when = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    return Message("d", "p", "s", "audit", "en", text, when, when)


def test_a_text_mentioning_deleted_is_still_written_once_across_instances(tmp_path):
    path = tmp_path / "out.jsonl"
    channel = Channel(name="audit", adapter="jsonl", settings={"path": str(path)})
    JsonlAdapter(channel).publish(message("The deleted scenes are back"), "k1")
    JsonlAdapter(channel).publish(message("The deleted scenes are back"), "k1")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["idempotency_key"] for r in records] == ["k1"]
    assert records[0]["text"] == "The deleted scenes are back"


def test_a_line_torn_by_a_killed_writer_is_ended_not_glued_to_the_next(tmp_path):
    """A writer killed mid-line leaves a tail without a newline: that record was never
    published. The next append ends the torn line (it never cuts bytes it did not
    write) and readers skip it; the record is then written whole on its own line."""
    path = tmp_path / "out.jsonl"
    channel = Channel(name="audit", adapter="jsonl", settings={"path": str(path)})
    survivor = JsonlAdapter(channel)
    survivor.publish(message("first"), "k1")
    whole = path.read_bytes()
    torn = json.dumps({"idempotency_key": "k2", "text": "second"}).encode()[:20]
    path.write_bytes(whole + torn)
    assert survivor.find(message("second"), "k2") is None
    survivor.publish(message("second"), "k2")  # the torn k2 does not count as written
    JsonlAdapter(channel).publish(message("third"), "k3")
    content = path.read_bytes()
    assert content.startswith(whole + torn + b"\n") and content.endswith(b"\n")
    lines = content.splitlines()
    assert lines[1] == torn
    records = [json.loads(line) for line in lines if line != torn]
    assert [r["idempotency_key"] for r in records] == ["k1", "k2", "k3"]
    assert JsonlAdapter(channel).find(message("second"), "k2") is not None


def test_a_file_replaced_meanwhile_is_read_again(tmp_path):
    path = tmp_path / "out.jsonl"
    channel = Channel(name="audit", adapter="jsonl", settings={"path": str(path)})
    adapter = JsonlAdapter(channel)
    adapter.publish(message("a long first message " * 5), "k1")
    path.write_text(json.dumps({"idempotency_key": "k9"}) + "\n")  # rotated by hand
    adapter.publish(message("again"), "k9")  # already in the new file: not written twice
    adapter.publish(message("new"), "k1")  # only in the old file: written to the new one
    keys = [json.loads(line)["idempotency_key"] for line in path.read_text().splitlines()]
    assert keys == ["k9", "k1"]


def test_a_relative_path_gives_a_receipt_and_the_record_is_written_once(tmp_path, monkeypatch):
    """Calendars resolve their paths; a channel built in Python may still hold a
    relative one, which must not fail after the record is written."""
    monkeypatch.chdir(tmp_path)
    channel = Channel(name="audit", adapter="jsonl", settings={"path": "out.jsonl"})
    receipt = JsonlAdapter(channel).publish(message("hello"), "k1")
    assert receipt.url == f"{(tmp_path / 'out.jsonl').as_uri()}#k1"
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line)["idempotency_key"] for line in lines] == ["k1"]
