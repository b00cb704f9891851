"""The command line, through click's CliRunner and through the installed console script."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import babel.dates
import holidays
import pytest
from cli_commands import command_names
from click.testing import CliRunner

import socialsched
from socialsched.cli import main

KEYS = {
    *("id", "post", "segment", "channel", "utc", "local"),
    *("text", "holiday", "shifted_from", "reason"),
}

CALENDAR = """
[calendar]
name = "cli"

[[segment]]
name = "fr-FR"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"

[[segment]]
name = "en-US"
locale = "en-US"
timezone = "America/New_York"
country = "US"
quiet_hours = ["22:00-07:00"]

[[channel]]
name = "community"
adapter = "console"

[[channel]]
name = "archive"
adapter = "console"
[channel.audiences]
"fr-FR" = "list:archive"

[[post]]
id = "new-year"
text = "Bonne année, {{ segment.name }}"
segments = ["fr-FR"]
channels = ["community"]
dates = ["2027-01-01"]
at = "10:00"
on_holiday = "next_business_day"

[[post]]
id = "late-night"
text = "Hello at {{ when | time }}"
segments = ["en-US"]
channels = ["community"]
dates = ["2027-01-15"]
at = "23:00"

[[post]]
id = "friday"
text = "Vendredi {{ when | date('full') }}"
segments = ["fr-FR"]
dates = ["2027-01-15"]
at = "09:00"
"""

RANGE = ["--start", "2027-01-01", "--end", "2027-01-31"]


@pytest.fixture
def calendar_path(tmp_path) -> Path:
    path = tmp_path / "cal.toml"
    path.write_text(textwrap.dedent(CALENDAR).lstrip("\n"), encoding="utf-8")
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def plan_json(calendar_path: Path, *extra: str) -> list[dict]:
    result = invoke("plan", calendar_path, *RANGE, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def local(y, m, d, hh, mm, zone):
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(zone))


def next_business_day(day, country):
    table = holidays.country_holidays(country, years=day.year)
    while day in table or day.weekday() in table.weekend:
        day = day.fromordinal(day.toordinal() + 1)
    return day


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"socialsched, version {socialsched.__version__}"


@pytest.mark.parametrize("command", [[], *[[name] for name in command_names()]])
def test_help_on_every_command(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    assert "--help" in result.output


def test_every_documented_command_exists():
    assert {"plan", "lint", "export"} <= set(command_names())


def test_plan_json_is_one_array_with_the_documented_keys(calendar_path):
    rows = plan_json(calendar_path)
    assert isinstance(rows, list)
    assert len(rows) == 4  # new-year, late-night, friday on two channels
    for row in rows:
        assert set(row) >= KEYS
        assert row["utc"].endswith("Z")
        utc = datetime.fromisoformat(row["utc"])
        assert utc.utcoffset().total_seconds() == 0
        moment = datetime.fromisoformat(row["local"])
        assert moment.utcoffset() is not None
        assert moment == utc
    assert [r["utc"] for r in rows] == sorted(r["utc"] for r in rows)


def test_plan_json_values_match_independent_computation(calendar_path):
    rows = {(r["post"], r["channel"]): r for r in plan_json(calendar_path)}

    # Jan 1 is a French public holiday: moved to the next business day, same local time.
    new_year = rows[("new-year", "community")]
    day = next_business_day(datetime(2027, 1, 1).date(), "FR")
    expected = local(day.year, day.month, day.day, 10, 0, "Europe/Paris")
    assert new_year["local"] == expected.isoformat()
    assert new_year["utc"] == expected.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert new_year["shifted_from"] == local(2027, 1, 1, 10, 0, "Europe/Paris").isoformat()
    assert new_year["reason"] == "holiday"
    assert new_year["text"] == "Bonne année, fr-FR"
    french_holidays = holidays.country_holidays("FR", years=2027, language="fr")
    assert new_year["holiday"] == french_holidays[datetime(2027, 1, 1).date()]

    # 23:00 is inside 22:00-07:00 quiet hours: moved to 07:00 the next morning.
    late = rows[("late-night", "community")]
    expected = local(2027, 1, 16, 7, 0, "America/New_York")
    assert late["local"] == expected.isoformat()
    assert late["utc"] == expected.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert late["shifted_from"] == local(2027, 1, 15, 23, 0, "America/New_York").isoformat()
    assert late["reason"] == "quiet_hours"
    assert late["holiday"] is None
    assert late["text"] == "Hello at " + babel.dates.format_time(
        expected, "short", tzinfo=expected.tzinfo, locale="en_US"
    )

    friday = rows[("friday", "archive")]
    assert friday["local"] == local(2027, 1, 15, 9, 0, "Europe/Paris").isoformat()
    assert friday["utc"] == "2027-01-15T08:00:00Z"
    assert friday["shifted_from"] is None and friday["reason"] is None
    assert friday["text"] == "Vendredi vendredi 15 janvier 2027"


def test_plan_ids_are_stable_across_runs(calendar_path):
    first = [r["id"] for r in plan_json(calendar_path)]
    second = [r["id"] for r in plan_json(calendar_path)]
    assert first == second
    assert len(set(first)) == len(first)


def test_plan_jsonl_has_one_object_per_line(calendar_path):
    rows = plan_json(calendar_path)
    result = invoke("plan", calendar_path, *RANGE, "--format", "jsonl")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [json.loads(line) for line in lines] == rows


def test_plan_csv(calendar_path):
    rows = plan_json(calendar_path)
    result = invoke("plan", calendar_path, *RANGE, "--format", "csv")
    assert result.exit_code == 0
    parsed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert set(parsed[0]) >= KEYS
    assert [r["id"] for r in parsed] == [r["id"] for r in rows]
    assert [r["utc"] for r in parsed] == [r["utc"] for r in rows]
    assert [r["text"] for r in parsed] == [r["text"] for r in rows]


def test_plan_table(calendar_path):
    result = invoke("plan", calendar_path, *RANGE)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["UTC", "LOCAL", "SEGMENT", "CHANNEL", "POST", "NOTE", "TEXT"]
    assert lines[-1] == "4 deliveries"
    assert any("new-year" in line and "moved (holiday)" in line for line in lines)


def test_plan_table_empty_range(calendar_path):
    result = invoke("plan", calendar_path, "--start", "2027-03-01", "--end", "2027-03-02")
    assert result.exit_code == 0
    assert result.stdout == "no deliveries in this range\n"


def test_segment_and_channel_filters(calendar_path):
    only_us = plan_json(calendar_path, "--segment", "en-US")
    assert {r["segment"] for r in only_us} == {"en-US"}
    assert len(only_us) == 1
    archive = plan_json(calendar_path, "--channel", "archive")
    assert {(r["post"], r["channel"]) for r in archive} == {("friday", "archive")}
    both = plan_json(calendar_path, "--segment", "fr-FR", "--segment", "en-US")
    assert len(both) == 4


@pytest.mark.parametrize(("option", "value"), [("--segment", "de-DE"), ("--channel", "fediverse")])
def test_unknown_filter_name_is_a_usage_error(calendar_path, option, value):
    result = invoke("plan", calendar_path, *RANGE, option, value)
    assert result.exit_code == 2
    assert f"unknown {option[2:]} '{value}'" in result.stderr
    assert "known:" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "dates",
    [
        ["--start", "2027-13-01", "--end", "2027-01-31"],
        ["--start", "tomorrow"],
        ["--start", "2027-02-01", "--end", "2027-01-01"],
    ],
)
def test_bad_dates_are_usage_errors(calendar_path, dates):
    result = invoke("plan", calendar_path, *dates)
    assert result.exit_code == 2
    assert "Error" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_format_is_a_usage_error(calendar_path):
    result = invoke("plan", calendar_path, *RANGE, "--format", "xml")
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("Europe/Paris", "Europe/Pariss", "did you mean 'Europe/Paris'"),
        ('country = "US"', 'country = "XQ"', "'XQ'"),
        ("{{ segment.name }}", "{{ segment.nope }}", "nope"),
        ('text = "Bonne', 'text = "{{ segment.__class__.__mro__ }}', "sandbox"),
    ],
)
def test_errors_exit_one_with_message_and_no_traceback(calendar_path, old, new, expected):
    calendar_path.write_text(calendar_path.read_text().replace(old, new, 1))
    for command in (["plan"], ["export", "--ics", calendar_path.with_suffix(".ics")]):
        result = invoke(command[0], calendar_path, *RANGE, *command[1:])
        assert result.exit_code == 1, result.output
        assert "error: " in result.stderr
        assert expected in result.stderr
        assert str(calendar_path) in result.stderr or "post 'new-year'" in result.stderr
        assert "Traceback" not in result.output
        assert result.stdout == ""


def test_missing_calendar_file(tmp_path):
    result = invoke("plan", tmp_path / "missing.toml", *RANGE)
    assert result.exit_code == 1
    assert "error:" in result.stderr
    assert "missing.toml" in result.stderr
    assert "not found" in result.stderr


# ---- the real console script, in a subprocess ----


def console_script() -> str:
    beside = Path(sys.executable).parent / "socialsched"
    found = str(beside) if beside.exists() else shutil.which("socialsched")
    assert found, "the socialsched console script is not installed"
    return found


def run_script(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [console_script(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_console_script_version_and_plan(calendar_path):
    version = run_script("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"socialsched, version {socialsched.__version__}"

    planned = run_script("plan", calendar_path, *RANGE, "--format", "json")
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout) == plan_json(calendar_path)


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "socialsched", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"socialsched, version {socialsched.__version__}"


def test_console_script_errors(calendar_path):
    calendar_path.write_text(calendar_path.read_text().replace("Europe/Paris", "Europe/Pariss"))
    failed = run_script("plan", calendar_path, *RANGE)
    assert failed.returncode == 1
    assert "error: " in failed.stderr
    assert f"{calendar_path}:" in failed.stderr
    assert "Traceback" not in failed.stderr

    usage = run_script("plan", calendar_path, "--start", "2027-02-30")
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr


def test_text_too_long_for_the_network_names_post_segment_and_channel(calendar_path):
    text = calendar_path.read_text().replace(
        '[[channel]]\nname = "archive"\nadapter = "console"\n',
        '[[channel]]\nname = "archive"\nadapter = "console"\nsettings = { max_length = 12 }\n',
    )
    calendar_path.write_text(text)
    result = invoke("plan", calendar_path, *RANGE)
    assert result.exit_code == 1
    assert "error: " in result.stderr
    for part in ("post 'friday'", "segment 'fr-FR'", "channel 'archive'", "12"):
        assert part in result.stderr
    assert "Traceback" not in result.output


def test_lint_and_export_reject_reversed_range(calendar_path, tmp_path):
    reversed_range = ["--start", "2027-02-01", "--end", "2027-01-01"]
    for args in (["lint"], ["export", "--ics", str(tmp_path / "x.ics")]):
        result = invoke(args[0], calendar_path, *reversed_range, *args[1:])
        assert result.exit_code == 2
        assert "before --start" in result.stderr


BAD_INPUTS = {
    "malformed TOML": ('text = "Bonne année', 'text = "Bonne année\n'),
    "unknown time zone": ("America/New_York", "America/NewYork"),
    "unknown country": ('country = "FR"', 'country = "FX"'),
    "unknown subdivision": ('country = "US"', 'country = "US"\nsubdivision = "ZZ"'),
    "bad cron": ('dates = ["2027-01-15"]\nat = "09:00"', 'schedule = "61 * * * *"'),
    "unknown segment": ('segments = ["en-US"]', 'segments = ["en-GB"]'),
    "unknown circle": ('segments = ["en-US"]', 'segments = ["circle:nowhere"]'),
    "unknown channel": ('channels = ["community"]', 'channels = ["telegraph"]'),
    "unknown template": ('text = "Hello at {{ when | time }}"', 'template = "nothing"'),
    "duplicate post id": ('id = "friday"', 'id = "late-night"'),
    "duplicate segment": ('name = "en-US"', 'name = "fr-FR"'),
    "unknown key": ('at = "23:00"', 'at = "23:00"\ntopic = "x"'),
    "inline secret": (
        'adapter = "console"',
        'adapter = "console"\nsecrets = { token = "s3cr3t-v4lue" }',
    ),
    "unknown adapter": ('adapter = "console"', 'adapter = "carrier-pigeon"'),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_every_bad_input_exits_one_with_file_and_line(calendar_path, case):
    old, new = BAD_INPUTS[case]
    original = calendar_path.read_text()
    assert old in original
    calendar_path.write_text(original.replace(old, new, 1))
    for command in ("plan", "lint"):
        result = invoke(command, calendar_path, *RANGE)
        assert result.exit_code == 1, (case, command, result.output)
        assert "Traceback" not in result.output
        assert f"{calendar_path}:" in result.stderr
        assert "s3cr3t-v4lue" not in result.output
    assert result.stderr.count(": error:") >= 1


def test_plan_prints_every_problem_of_a_broken_file():
    path = Path(__file__).parent / "data" / "several_errors.toml"
    result = invoke("plan", path, *RANGE)
    assert result.exit_code == 1
    assert "error: " in result.stderr
    assert result.stderr.count(f"{path}:") == 8
    assert "Traceback" not in result.output


def test_plan_shows_a_progress_bar_only_on_a_terminal(example_calendar_path, monkeypatch):
    from socialsched.cli import progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(progress.sys, "stderr", terminal)
    calendar = socialsched.load(example_calendar_path)
    shown = progress.plan_with_progress(calendar, date(2027, 1, 1), date(2027, 1, 31))
    assert "planning" in terminal.getvalue()
    assert "100%" in terminal.getvalue()

    quiet = io.StringIO()  # not a terminal: nothing printed
    monkeypatch.setattr(progress.sys, "stderr", quiet)
    assert progress.plan_with_progress(calendar, date(2027, 1, 1), date(2027, 1, 31)) == shown
    assert quiet.getvalue() == ""
