"""The jsonl adapter writes each idempotency key once, whatever the text says."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from socialsched.adapters import JsonlAdapter, Message
from socialsched.model import Channel


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
