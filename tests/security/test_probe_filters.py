"""Probes: `pause`, `resume` and `log` from the command line match tags and names
exactly (`pause --tag pr_mo` used to pause `promo`, and `--tag %` every tagged one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from calendar_text import uk_segment

from socialsched.store import Store

from .probe import assert_no_traceback, run_probe

DAY = "2099-03-02"
CALENDAR = f"""
[calendar]
name = "filters"

{uk_segment("Europe/London")}

[[channel]]
name = "feed"
adapter = "jsonl"
settings = {{ path = "feed.jsonl" }}

[[post]]
id = "promo"
text = "sale"
dates = ["{DAY}"]
at = "11:00"
tags = ["promo", "PROMO"]

[[post]]
id = "a_c"
text = "one"
dates = ["{DAY}"]
at = "12:00"
tags = ["x"]

[[post]]
id = "abc"
text = "two"
dates = ["{DAY}"]
at = "13:00"
tags = ['"x', "o'brien"]
"""


def setup(tmp_path: Path) -> tuple[Path, str, str]:
    """The calendar in its own folder; commands run from a sibling folder with
    relative paths."""
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "calendar.toml").write_text(CALENDAR, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    calendar, db = "../cal/calendar.toml", "outbox.db"
    scheduled = run_probe("schedule", calendar, "--db", db, "--start", DAY, "--end", DAY, cwd=work)
    assert scheduled.returncode == 0, scheduled.stderr
    return work, calendar, db


def cli(work: Path, *args: str) -> str:
    result = run_probe(*args, cwd=work)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    return result.stdout


def paused(work: Path, db: str) -> set[str]:
    """The posts paused in the store (read here, not through another CLI process: the
    commands probed are pause, resume and log)."""
    with Store(work / db) as store:
        return {record.post for record in store.records() if record.state == "paused"}


@pytest.mark.slow
def test_pause_and_resume_tags_exactly_from_the_command_line(tmp_path: Path) -> None:
    work, _, db = setup(tmp_path)
    assert "paused 0 deliveries" in cli(work, "pause", "--db", db, "--tag", "pr_mo")
    assert "paused 0 deliveries" in cli(work, "pause", "--db", db, "--tag", "%")
    assert "paused 0 deliveries" in cli(work, "pause", "--db", db, "--tag", "Promo")
    assert paused(work, db) == set()
    assert "paused 1 deliveries" in cli(work, "pause", "--db", db, "--tag", "x")
    assert paused(work, db) == {"a_c"}
    assert "paused 1 deliveries" in cli(work, "pause", "--db", db, "--tag", '"x')
    assert paused(work, db) == {"a_c", "abc"}
    assert "resumed 0 deliveries" in cli(work, "resume", "--db", db, "--tag", "%")
    assert "resumed 1 deliveries" in cli(work, "resume", "--db", db, "--tag", "x")
    assert paused(work, db) == {"abc"}


def test_pause_and_log_by_post_match_the_name_exactly(tmp_path: Path) -> None:
    work, _, db = setup(tmp_path)
    assert "paused 1 deliveries" in cli(work, "pause", "--db", db, "--post", "a_c")
    assert paused(work, db) == {"a_c"}
    entries = json.loads(cli(work, "log", "--db", db, "--post", "a_c", "--format", "json"))
    assert {entry["post"] for entry in entries} == {"a_c"}
    assert [entry["to_state"] for entry in entries] == ["scheduled", "paused"]
    assert json.loads(cli(work, "log", "--db", db, "--post", "a%", "--format", "json")) == []
