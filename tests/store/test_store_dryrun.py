"""`schedule --dry-run` / `scheduling.schedule(..., dry_run=True)`: every change a schedule
would make, described, and nothing changed."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest

from conftest import calendar, post
from socialsched.calendar.model import Post
from socialsched.scheduling import schedule
from socialsched.store import Store

DAY = "2027-01-04"
ZONES = {"uk": "Europe/London", "lisbon": "Europe/Lisbon"}


def version_1():
    return calendar([post("a", "09:00"), post("b", "10:00"), post("c", "11:00")])


def version_2():
    """a moves to 12:00, b gets new text, c is removed, d is new."""
    b = Post(id="b", text="b text, corrected\nsecond line", dates=(DAY,), at="10:00")
    return calendar([post("a", "12:00"), b, post("d", "13:00")])


def local(clock: str, segment: str) -> str:
    moment = datetime.fromisoformat(f"{DAY}T{clock}").replace(tzinfo=ZoneInfo(ZONES[segment]))
    return f"{moment:%Y-%m-%d %H:%M %z}"


def snapshot(store: Store):
    return store.records(), [attrs.evolve(e, id=0) for e in store.log()], store.holds()


def test_dry_run_describes_every_change_and_changes_nothing(store):
    schedule(store, version_1(), DAY, DAY)
    store.pause(post="a", reason="to see the pause kept")
    before = snapshot(store)
    ids = {(r.post, r.segment): r.id for r in store.records()}

    preview = schedule(store, version_2(), DAY, DAY, dry_run=True)

    assert snapshot(store) == before
    assert preview.dry_run
    kinds = {(c.kind, c.post, c.segment) for c in preview.changes}
    assert kinds == {
        (kind, name, segment)
        for kind, name in (("moved", "a"), ("updated", "b"), ("cancelled", "c"), ("added", "d"))
        for segment in ZONES
    }
    for change in preview.changes:
        assert change.channel == "feed"
        if change.kind != "added":
            assert change.id == ids[change.post, change.segment]
        if change.kind == "moved":
            assert change.old_local == local("09:00", change.segment)
            assert change.local == local("12:00", change.segment)
            assert "utc" in change.fields and change.diff is None
        elif change.kind == "updated":
            assert change.local == local("10:00", change.segment)
            assert change.fields == ("text",)
            assert change.diff.splitlines() == [
                "--- before",
                "+++ after",
                "@@ -1 +1,2 @@",
                "-b text",
                "+b text, corrected",
                "+second line",
            ]
        elif change.kind == "cancelled":
            assert change.local == local("11:00", change.segment) and change.text == "c text"
        else:
            assert change.local == local("13:00", change.segment) and change.text == "d text"

    # The real schedule then does exactly what the dry run said.
    done = schedule(store, version_2(), DAY, DAY)
    for kind in ("added", "moved", "updated", "cancelled"):
        assert sorted(getattr(done, kind)) == sorted(getattr(preview, kind)), kind
    assert done.unchanged == preview.unchanged and not done.dry_run and done.changes == ()
    # The paused delivery stayed paused through both.
    assert {r.state for r in store.records() if r.post == "a"} == {"paused"}


def test_dry_run_of_an_unchanged_calendar_lists_nothing(store):
    schedule(store, version_1(), DAY, DAY)
    preview = schedule(store, version_1(), DAY, DAY, dry_run=True)
    assert (preview.changes, preview.unchanged, preview.changed) == ((), 6, False)


def socialsched(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socialsched", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def write(folder: Path, at: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "calendar.toml").write_text(
        f"""[calendar]
name = "dry"

[[segment]]
name = "uk"
locale = "en-GB"
timezone = "Europe/London"
country = "GB"

[[channel]]
name = "console"
adapter = "console"

[[post]]
id = "news"
text = "{text}"
dates = ["{DAY}"]
at = "{at}"
""",
        encoding="utf-8",
    )


@pytest.mark.slow
def test_cli_dry_run_from_another_folder_as_text_and_json(tmp_path):
    write(tmp_path / "calendar", "09:00", "Hello")
    ops = tmp_path / "ops"
    ops.mkdir()
    args = ["../calendar/calendar.toml", "--db", "outbox.db", "--start", DAY, "--end", DAY]

    first = socialsched("schedule", *args, "--dry-run", cwd=ops)
    assert first.returncode == 0, first.stderr
    assert not (ops / "outbox.db").exists()  # a dry run creates no database either
    assert first.stdout.splitlines()[-1] == (
        "dry run: 1 added, 0 moved, 0 updated, 0 cancelled, 0 unchanged; nothing was changed"
    )
    assert socialsched("schedule", *args, cwd=ops).returncode == 0
    with Store(ops / "outbox.db") as store:
        (record,) = store.records()

    write(tmp_path / "calendar", "09:30", "Hello, world")
    shown = socialsched("schedule", *args, "--dry-run", cwd=ops)
    assert shown.returncode == 0, shown.stderr
    # January: London is on GMT (+0000).
    assert shown.stdout.splitlines() == [
        f"move    {record.id}  news/uk/console  {DAY} 09:00 +0000 -> {DAY} 09:30 +0000",
        "    --- before",
        "    +++ after",
        "    @@ -1 +1 @@",
        "    -Hello",
        "    +Hello, world",
        "dry run: 0 added, 1 moved, 0 updated, 0 cancelled, 0 unchanged; nothing was changed",
    ]
    as_json = json.loads(
        socialsched("schedule", *args, "--dry-run", "--format", "json", cwd=ops).stdout
    )
    assert as_json["moved"] == [record.id] and as_json["dry_run"] is True
    (change,) = as_json["changes"]
    assert (change["kind"], change["old_local"], change["local"], change["text"]) == (
        "moved",
        f"{DAY} 09:00 +0000",
        f"{DAY} 09:30 +0000",
        "Hello, world",
    )
    with Store(ops / "outbox.db") as store:
        assert store.records() == [record]
        assert len(store.log()) == 1  # only the first schedule's entry
