"""A finite series through the command line, run from another folder than the
calendar's with relative paths: lint names file and line of each series mistake, and
`schedule` after editing one occurrence reports that one delivery changed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import babel.dates
import pytest
from click.testing import CliRunner
from PIL import Image

from socialsched.cli import main
from socialsched.store import Store

HEAD = """
[calendar]
name = "series-cli"

[[segment]]
name = "uk"
locale = "en-GB"
timezone = "Europe/London"
country = "GB"

[[channel]]
name = "feed"
adapter = "console"
"""

SERIES = """
[[post]]
id = "class"
text = "Class on {{ when|date }}"
schedule = "0 9 * * mon"
start = 2027-01-04
count = 6
skip = [2027-01-18]

[[post.occurrence]]
date = 2027-01-25
at = "10:30"
text = "Class moved to 10:30"
"""

MISTAKES = """
[[post]]
id = "wrong-date"
text = "a"
schedule = "0 9 * * mon"
start = 2027-01-04
count = 3

[[post.occurrence]]
at = "10:00"
date = 2027-01-26

[[post]]
id = "typo"
text = "b"
schedule = "0 9 * * mon"

[[post.occurrence]]
date = 2027-01-04
txet = "c"

[[post]]
id = "no-cron"
text = "d"
dates = [2027-01-05]
at = "09:00"
count = 2

[[post]]
id = "bad-skip"
text = "e"
schedule = "0 9 * * mon"
skip = [2027-01-05]
"""

RANGE = ("--start", "2027-01-01", "--end", "2027-03-31")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "project").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path / "project"


def line_of(text: str, needle: str, after: str | None = None) -> int:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and needle in line) + 1


def test_lint_names_file_and_line_of_each_series_mistake(elsewhere: Path):
    text = HEAD + MISTAKES
    (elsewhere / "calendar.toml").write_text(text, encoding="utf-8")
    result = invoke("lint", "../project/calendar.toml", *RANGE)
    assert result.exit_code == 1, result.output
    where = "../project/calendar.toml"
    expected = [
        (
            line_of(text, "date = 2027-01-26"),
            "post 'wrong-date': occurrence date 2027-01-26 (Tuesday) is not an occurrence",
        ),
        (
            line_of(text, 'txet = "c"'),
            "post 'typo': unknown key 'txet' in [[post.occurrence]] (did you mean 'text'?)",
        ),
        (
            line_of(text, "count = 2", after='id = "no-cron"'),
            "post 'no-cron': count goes only with schedule",
        ),
        (
            line_of(text, "skip = [2027-01-05]"),
            "post 'bad-skip': skip date 2027-01-05 (Tuesday) is not an occurrence",
        ),
    ]
    for line, message in expected:
        assert f"{where}:{line}: error: {message}" in result.output, result.output
    assert "Traceback" not in result.output


def test_an_occurrence_date_mistake_blocks_plan_and_schedule(elsewhere: Path):
    text = HEAD + MISTAKES
    (elsewhere / "calendar.toml").write_text(text, encoding="utf-8")
    for command in (["plan"], ["schedule", "--db", "out.db"]):
        result = invoke(command[0], "../project/calendar.toml", *RANGE, *command[1:])
        assert result.exit_code != 0
        assert f"calendar.toml:{line_of(text, 'date = 2027-01-26')}:" in result.output
    if Path("out.db").exists():
        with Store("out.db") as store:
            assert store.records() == []


def mondays(weeks: int) -> list[date]:
    return [date(2027, 1, 4) + timedelta(weeks=n) for n in range(weeks)]


def test_schedule_after_editing_one_occurrence_updates_only_it(elsewhere: Path):
    calendar = elsewhere / "calendar.toml"
    calendar.write_text(HEAD + SERIES, encoding="utf-8")
    args = ("../project/calendar.toml", "--db", "../project/out.db", *RANGE, "--format", "json")
    first = invoke("schedule", *args)
    assert first.exit_code == 0, first.output
    expected_days = [day for day in mondays(6) if day != date(2027, 1, 18)]
    with Store(elsewhere / "out.db") as store:
        rows = {r.local.date(): r for r in store.records()}
    assert sorted(rows) == expected_days
    assert sorted(json.loads(first.output)["added"]) == sorted(r.id for r in rows.values())
    moved = rows[date(2027, 1, 25)]
    london = ZoneInfo("Europe/London")
    assert moved.utc == datetime.combine(date(2027, 1, 25), time(10, 30), london).astimezone(UTC)
    assert moved.text == "Class moved to 10:30"

    calendar.write_text(
        (HEAD + SERIES).replace("Class moved to 10:30", "Class moved to 10:30, room 4"),
        encoding="utf-8",
    )
    second = json.loads(invoke("schedule", *args).output)
    assert second["updated"] == [moved.id] and second["unchanged"] == len(expected_days) - 1
    assert second["added"] == second["moved"] == second["cancelled"] == []

    calendar.write_text((HEAD + SERIES).replace('at = "10:30"', 'at = "11:00"'), encoding="utf-8")
    third = invoke("schedule", *args[:-2])
    assert third.exit_code == 0, third.output
    summary = f"0 added, 1 moved, 0 updated, 0 cancelled, {len(expected_days) - 1} unchanged"
    assert third.output.startswith(summary), third.output


def test_plan_shows_a_skipped_date_and_a_changed_occurrence(elsewhere: Path):
    (elsewhere / "calendar.toml").write_text(HEAD + SERIES, encoding="utf-8")
    result = invoke("plan", "../project/calendar.toml", *RANGE, "--format", "json")
    assert result.exit_code == 0, result.output
    got = [(item["local"][:16], item["text"]) for item in json.loads(result.output)]
    changed = date(2027, 1, 25)
    expected = [
        (f"{day}T10:30", "Class moved to 10:30")
        if day == changed
        else (f"{day}T09:00", f"Class on {babel.dates.format_date(day, 'medium', locale='en_GB')}")
        for day in mondays(6)
        if day != date(2027, 1, 18)
    ]
    assert got == expected


def test_lint_names_the_line_of_a_broken_occurrence_text(elsewhere: Path):
    text = HEAD + SERIES.replace('text = "Class moved to 10:30"', 'text = "Moved {{ when|date "')
    (elsewhere / "calendar.toml").write_text(text, encoding="utf-8")
    result = invoke("lint", "../project/calendar.toml", *RANGE)
    assert result.exit_code == 1, result.output
    line = line_of(text, 'text = "Moved {{')
    prefix = f"../project/calendar.toml:{line}: error: post 'class' occurrence 2027-01-25 text"
    assert prefix in result.output and "template syntax error" in result.output


def test_lint_names_the_line_of_an_unknown_occurrence_channel(elsewhere: Path):
    text = HEAD + SERIES + '\n[[post.occurrence]]\ndate = 2027-02-08\nchannels = ["feeed"]\n'
    (elsewhere / "calendar.toml").write_text(text, encoding="utf-8")
    result = invoke("lint", "../project/calendar.toml", *RANGE)
    assert result.exit_code == 1, result.output
    line = line_of(text, 'channels = ["feeed"]')
    assert (
        f"../project/calendar.toml:{line}: error: post 'class': occurrence 2027-02-08 names "
        "unknown channel 'feeed' (known: feed)"
    ) in result.output


@pytest.mark.parametrize(
    ("occurrence", "needle", "message"),
    [
        (
            'date = "2027-13-01"',
            "2027-13-01",
            "[[post.occurrence]] date: '2027-13-01' is not a date",
        ),
        (
            'date = 2027-02-08\nat = "25:00"',
            "25:00",
            "[[post.occurrence]] at: '25:00' is not a time",
        ),
        ('text = "no date"', "no date", "[[post.occurrence]] needs date = YYYY-MM-DD"),
    ],
)
def test_lint_names_the_line_of_a_bad_occurrence_value(elsewhere, occurrence, needle, message):
    text = HEAD + SERIES + f"\n[[post.occurrence]]\n{occurrence}\n"
    (elsewhere / "calendar.toml").write_text(text, encoding="utf-8")
    result = invoke("lint", "../project/calendar.toml", *RANGE)
    assert result.exit_code == 1, result.output
    line = line_of(text, needle) if "needs date" not in message else len(text.splitlines()) - 1
    assert f"calendar.toml:{line}: error: post 'class': {message}" in result.output, result.output


def test_lint_checks_an_occurrences_media_on_its_line(elsewhere: Path):
    media = '\n[[post.occurrence]]\ndate = 2027-02-08\nmedia = [{ path = "img/final.png" }]\n'
    text = HEAD + SERIES + media
    (elsewhere / "calendar.toml").write_text(text, encoding="utf-8")
    line = line_of(text, "img/final.png")
    missing = invoke("lint", "../project/calendar.toml", *RANGE)
    assert missing.exit_code == 1
    assert f"calendar.toml:{line}: error: post 'class': media file 'img/final.png' not found" in (
        missing.output
    )
    (elsewhere / "img").mkdir()
    Image.new("RGB", (40, 20), (10, 20, 30)).save(elsewhere / "img" / "final.png")
    no_alt = invoke("lint", "../project/calendar.toml", *RANGE)
    assert no_alt.exit_code == 0, no_alt.output
    assert (
        f"calendar.toml:{line}: warning: post 'class' occurrence 2027-02-08: "
        f"{(elsewhere / 'img' / 'final.png').resolve()} has no alt text"
    ) in no_alt.output
