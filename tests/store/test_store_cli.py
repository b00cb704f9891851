"""The store and runner commands, through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from socialsched.cli import main
from socialsched.store import Store

DAY = "2099-03-02"


@pytest.fixture
def setup(tmp_path):
    out = tmp_path / "feed.jsonl"
    calendar = tmp_path / "calendar.toml"
    calendar.write_text(
        f"""
[calendar]
name = "cli"

[[segment]]
name = "uk"
locale = "en-GB"
timezone = "Europe/London"
country = "GB"

[[segment]]
name = "tokyo"
locale = "ja-JP"
timezone = "Asia/Tokyo"
country = "JP"

[[channel]]
name = "feed"
adapter = "jsonl"
settings = {{ path = "{out}" }}

[[post]]
id = "news"
text = "news for {{{{ segment.name }}}}"
dates = ["{DAY}"]
at = "09:00"

[[post]]
id = "promo"
text = "sale"
dates = ["{DAY}"]
at = "11:00"
tags = ["promo"]
requires_approval = true
""",
        encoding="utf-8",
    )
    db = str(tmp_path / "cli.db")
    return calendar, db, out


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ids(db):
    with Store(db) as store:
        return {(r.post, r.segment): r.id for r in store.records()}


def test_schedule_is_idempotent_and_status_reports(setup):
    calendar, db, _ = setup
    first = invoke("schedule", calendar, "--db", db, "--start", DAY, "--end", DAY)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("4 added, 0 moved, 0 updated, 0 cancelled, 0 unchanged")
    second = invoke("schedule", calendar, "--db", db, "--start", DAY, "--end", DAY)
    assert "0 added, 0 moved, 0 updated, 0 cancelled, 4 unchanged" in second.output
    status = json.loads(invoke("status", "--db", db, "--format", "json").output)
    assert status["counts"]["scheduled"] == 4 and status["per_channel"]["feed"]["scheduled"] == 4
    earliest = datetime(2099, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo")).astimezone(UTC)
    assert status["next_due"] == earliest.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = invoke("status", "--db", db).output
    assert "scheduled 4" in text and "feed: scheduled 4" in text


def test_schedule_json_lists_the_ids_of_each_change(setup):
    calendar, db, _ = setup
    first = invoke(
        "schedule", calendar, "--db", db, "--start", DAY, "--end", DAY, "--format", "json"
    )
    assert first.exit_code == 0, first.output
    added = json.loads(first.output)
    assert sorted(added["added"]) == sorted(ids(db).values())
    assert (added["moved"], added["updated"], added["cancelled"], added["unchanged"]) == (
        [],
        [],
        [],
        0,
    )
    calendar.write_text(
        calendar.read_text("utf-8").replace('at = "11:00"', 'at = "12:00"'), encoding="utf-8"
    )
    edited = json.loads(
        invoke(
            "schedule", calendar, "--db", db, "--start", DAY, "--end", DAY, "--format", "json"
        ).output
    )
    promo = {key for (post, _), key in ids(db).items() if post == "promo"}
    assert set(edited["moved"]) == promo and edited["unchanged"] == 2 and not edited["added"]
    bad = invoke("schedule", calendar, "--db", db, "--format", "yaml")
    assert bad.exit_code == 2 and "yaml" in bad.output


def test_log_filters_and_json(setup):
    calendar, db, _ = setup
    invoke("schedule", calendar, "--db", db, "--start", DAY, "--end", DAY)
    entries = json.loads(invoke("log", "--db", db, "--segment", "tokyo", "--format", "json").output)
    assert {(e["post"], e["segment"], e["to_state"], e["actor"]) for e in entries} == {
        ("news", "tokyo", "scheduled", "schedule"),
        ("promo", "tokyo", "scheduled", "schedule"),
    }
    assert (
        json.loads(invoke("log", "--db", db, "--since", "2100-01-01", "--format", "json").output)
        == []
    )
    assert (
        len(json.loads(invoke("log", "--db", db, "--since", "1h", "--format", "json").output)) == 4
    )
    lines = invoke("log", "--db", db, "--post", "news").output.splitlines()
    assert len(lines) == 2 and all("-> scheduled" in line for line in lines)
    bad = invoke("log", "--db", db, "--since", "yesterday-ish")
    assert bad.exit_code == 2 and "'yesterday-ish' is not a time" in bad.output


def test_pause_and_resume_from_the_command_line(setup):
    calendar, db, _ = setup
    invoke("schedule", calendar, "--db", db, "--start", DAY, "--end", DAY)
    result = invoke("pause", "--db", db, "--segment", "uk", "--tag", "promo", "--reason", "outage")
    assert result.exit_code == 0 and "paused 1 deliveries (segment=uk tag=promo)" in result.output
    with Store(db) as store:
        paused = store.records("paused")
        assert [(r.post, r.segment) for r in paused] == [("promo", "uk")]
    assert "resumed 1" in invoke("resume", "--db", db, "--segment", "uk", "--tag", "promo").output
    assert "paused 4" in invoke("pause", "--db", db, "--all").output
    assert "resumed 4" in invoke("resume", "--db", db, "--all").output
    usage = invoke("pause", "--db", db)
    assert usage.exit_code == 2 and "--all alone" in usage.output
    both = invoke("pause", "--db", db, "--all", "--segment", "uk")
    assert both.exit_code == 2


def test_publish_now_retract_cancel_and_approve(setup):
    calendar, db, out = setup
    invoke("schedule", calendar, "--db", db, "--start", DAY, "--end", DAY)
    known = ids(db)
    result = invoke("publish-now", known["news", "uk"], "--db", db)
    assert result.exit_code == 0 and f"{known['news', 'uk']} published" in result.output
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [(line["delivery_id"], line["text"]) for line in lines] == [
        (known["news", "uk"], "news for uk")
    ]
    waiting = invoke("publish-now", known["promo", "uk"], "--db", db)
    assert waiting.exit_code == 1 and "waiting for approval" in waiting.output
    assert "approved 1" in invoke("approve", known["promo", "uk"], "--db", db).output
    assert invoke("publish-now", known["promo", "uk"], "--db", db).exit_code == 0
    assert "approved 1" in invoke("approve", "--post", "promo", "--db", db).output
    retracted = invoke("retract", known["news", "uk"], "--db", db)
    assert retracted.exit_code == 0, retracted.output
    assert json.loads(out.read_text("utf-8").splitlines()[-1]) == {"deleted": known["news", "uk"]}
    cancelled = invoke("cancel", known["news", "tokyo"], "--db", db, "--reason", "wrong market")
    assert cancelled.output.strip() == f"{known['news', 'tokyo']} cancelled"
    again = invoke("cancel", known["news", "tokyo"], "--db", db)
    assert again.exit_code == 1 and "is cancelled" in again.output
    assert "Traceback" not in again.output
    assert invoke("approve", "--db", db).exit_code == 2


def test_unknown_id_and_bad_database_are_clear_errors(setup, tmp_path):
    _, db, _ = setup
    missing = invoke("cancel", "zzz", "--db", db)
    assert missing.exit_code == 1 and "error: no delivery with id 'zzz'" in missing.output
    bad = invoke("status", "--db", "postgresql+psycopg://admin:hunter2@127.0.0.1:1/nowhere")
    assert bad.exit_code == 1 and "cannot open database" in bad.output
    assert "hunter2" not in bad.output and "Traceback" not in bad.output


def test_database_comes_from_the_environment(setup, tmp_path, monkeypatch):
    calendar, _, _ = setup
    target = tmp_path / "from-env.db"
    monkeypatch.setenv("SOCIALSCHED_DB", str(target))
    assert invoke("schedule", calendar, "--start", DAY, "--end", DAY).exit_code == 0
    assert len(ids(str(target))) == 4
