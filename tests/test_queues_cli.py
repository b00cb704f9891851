"""Queues from the command line, run as users run it: from another working folder with
a relative path; bad queue settings as `lint` errors naming file and line."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from click.testing import CliRunner

from socialsched.cli import main
from socialsched.store import Store

CALENDAR = """
[calendar]
name = "queues-cli"

[[segment]]
name = "madrid"
locale = "es-ES"
timezone = "Europe/Madrid"
country = "ES"

[[segment]]
name = "new-york"
locale = "en-US"
timezone = "America/New_York"
country = "US"

[[channel]]
name = "feed"
adapter = "console"

[[queue]]
name = "mornings"
times = ["09:15", "12:30"]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "2027-01-18"

{posts}
"""


def post(post_id: str, extra: str = "") -> str:
    return f'[[post]]\nid = "{post_id}"\nqueue = "mornings"\ntext = "{post_id} text"\n{extra}'


def write(folder: Path, *posts: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "cal.toml"
    path.write_text(textwrap.dedent(CALENDAR).format(posts="\n".join(posts)), encoding="utf-8")
    return path


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """A working folder that is not the calendar's: paths given are relative."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def new_york_slots(first: date, last: date) -> list[datetime]:
    us = holidays.US(years=first.year)
    zone = ZoneInfo("America/New_York")
    found = []
    day = first
    while day <= last:
        if day.weekday() < 5 and day not in us:
            for hour, minute in ((9, 15), (12, 30)):
                found.append(datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone))
        day += timedelta(days=1)
    return found


def test_queue_show_lists_each_segments_local_slots_and_what_fills_them(tmp_path, elsewhere):
    write(tmp_path / "cal", post("tip-1"), post("tip-2"), post("tip-3"))
    args = ["--start", "2027-01-18", "--end", "2027-01-22", "--segment", "new-york"]
    result = invoke("queue", "show", "../cal/cal.toml", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    slots = new_york_slots(date(2027, 1, 18), date(2027, 1, 22))
    assert [row["local"] for row in shown] == [slot.isoformat() for slot in slots]
    assert [row["utc"] for row in shown] == [
        slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for slot in slots
    ]
    filled = [[p["post"] for p in row["posts"]] for row in shown]
    assert filled == [["tip-1"], ["tip-2"], ["tip-3"]] + [[]] * (len(slots) - 3)
    assert {row["segment"] for row in shown} == {"new-york"}
    text = invoke("queue", "show", "../cal/cal.toml", *args)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0] == "queue mornings: segment new-york, channel feed"
    assert lines[1].split() == ["2027-01-19", "Tue", "09:15", "-0500", "tip-1"]
    assert lines[-1].endswith("free")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--segment", "paris"], "unknown segment 'paris' (known: madrid, new-york)"),
        (["--queue", "evenings"], "unknown queue 'evenings' (known: mornings)"),
        (["--format", "xml"], "xml"),
    ],
)
def test_queue_show_usage_errors_exit_2(tmp_path, elsewhere, args, message):
    write(tmp_path / "cal", post("tip-1"))
    result = invoke("queue", "show", "../cal/cal.toml", *args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_queue_show_with_a_store_reads_its_pins(tmp_path, elsewhere):
    write(tmp_path / "cal", post("tip-1"), post("tip-2"))
    db = tmp_path / "outbox.db"
    scheduled = invoke(
        "schedule", "../cal/cal.toml", "--start", "2027-01-18", "--end", "2027-01-24", "--db", db
    )
    assert scheduled.exit_code == 0, scheduled.output
    args = ["queue", "show", "../cal/cal.toml", "--start", "2027-01-18", "--end", "2027-01-20"]
    with_store = invoke(*args, "--db", db)
    assert with_store.exit_code == 0, with_store.output
    # Nothing went out yet: the store pins nothing and the queue shows as planned.
    assert with_store.stdout == invoke(*args).stdout


def test_queue_help():
    result = invoke("queue", "show", "--help")
    assert result.exit_code == 0 and "--segment" in result.output


QUEUE_LINE = 'times = ["09:15", "12:30"]'


@pytest.mark.parametrize(
    ("change", "post_extra", "message", "line_of"),
    [
        ((QUEUE_LINE, 'times = ["09:15", "25:00"]'), "", "'25:00' is not a time of day", "times"),
        (('days = ["mon",', 'days = ["mon", "funday",'), "", "unknown day 'funday'", "days"),
        (('start = "2027-01-18"', 'start = "2027-01-18"\nper_slot = 0'), "", "per_slot = 0",
         "per_slot"),
        (None, "", "unknown queue 'evenings' (known: mornings)", 'queue = "evenings"'),
        (None, 'evergreen = { min_gap = "14d" }', "evergreen needs queue", "evergreen"),
    ],
)  # fmt: skip
def test_bad_queue_input_is_a_lint_error_with_file_and_line(
    tmp_path, elsewhere, change, post_extra, message, line_of
):
    if post_extra:  # a post with a schedule and evergreen settings
        extra = f'[[post]]\nid = "b"\nschedule = "0 9 * * *"\ntext = "b"\n{post_extra}\n'
        path = write(tmp_path / "cal", post("a"), extra)
    elif change is None:
        path = write(tmp_path / "cal", post("a").replace('"mornings"', '"evenings"'))
    else:
        path = write(tmp_path / "cal", post("a"))
        path.write_text(path.read_text().replace(*change))
    result = invoke("lint", "../cal/cal.toml", "--start", "2027-01-18", "--end", "2027-01-24")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = path.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.startswith(line_of))
    found = [text for text in result.output.splitlines() if message in text]
    assert found, result.output
    assert found[0].startswith(f"../cal/cal.toml:{line}: error")


def counts(output: str) -> dict[str, int]:
    found = re.search(
        r"(\d+) added, (\d+) moved, (\d+) updated, (\d+) cancelled, (\d+) unchanged", output
    )
    assert found, output
    return dict(zip(["added", "moved", "updated", "cancelled", "unchanged"],
                    map(int, found.groups()), strict=True))  # fmt: skip


def test_schedule_then_editing_the_queue_reports_moves_as_the_store_recorded(tmp_path, elsewhere):
    path = write(tmp_path / "cal", post("a"), post("b"), post("c"), post("d"))
    db = tmp_path / "outbox.db"
    schedule = ["schedule", "../cal/cal.toml", "--start", "2027-01-18", "--end", "2027-01-31",
                "--db", db]  # fmt: skip
    first = invoke(*schedule)
    assert first.exit_code == 0, first.output
    with Store(db) as store:
        before = {r.id: (r.post, r.utc, r.state) for r in store.records()}
    assert counts(first.stdout)["added"] == len(before) == 8
    write(tmp_path / "cal", post("d"), post("c"), post("b"))  # a removed, the rest reversed
    second = invoke(*schedule)
    assert second.exit_code == 0, second.output
    with Store(db) as store:
        after = {r.id: (r.post, r.utc, r.state) for r in store.records()}
    moved = [key for key, row in after.items() if row[2] == "scheduled" and before[key] != row]
    cancelled = [key for key, row in after.items() if row[2] == "cancelled"]
    assert set(after) == set(before)  # no delivery added: the ids stayed
    assert counts(second.stdout) == {
        "added": 0, "moved": len(moved), "updated": 0, "cancelled": len(cancelled),
        "unchanged": len(after) - len(moved) - len(cancelled),
    }  # fmt: skip
    assert len(moved) == 6 and {before[key][0] for key in cancelled} == {"a"}
    assert path.exists()


def test_lint_warns_about_a_queue_with_no_slot_for_a_segment(tmp_path, elsewhere):
    path = write(tmp_path / "cal", post("a"))
    text = path.read_text().replace(
        'country = "US"\n', 'country = "US"\nquiet_hours = ["20:00-13:00"]\n'
    )
    path.write_text(text)
    result = invoke("lint", "../cal/cal.toml", "--start", "2027-01-18", "--end", "2027-01-24")
    assert result.exit_code == 0, result.output  # a warning
    line = text.splitlines().index('times = ["09:15", "12:30"]') + 1
    (warning,) = [row for row in result.output.splitlines() if "no slot" in row]
    assert warning.startswith(f"../cal/cal.toml:{line}: warning: queue 'mornings' has no slot")
    assert "segment 'new-york'" in warning and "20:00-13:00" in warning
