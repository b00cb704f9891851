"""`plan --format json|jsonl|csv` reads a plan's columns (`Plan.dicts()`) and writes as
it reads: the output must be byte for byte what writing each `Delivery.to_dict()` of the
whole plan at once gives, as the command did before plans became columnar."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import time_machine
from click.testing import CliRunner
from hypothesis import given
from test_planner_properties import PROPERTY_SETTINGS, _calendar, scenarios

import socialsched
from socialsched import Planner
from socialsched.cli import main

ROOT = Path(__file__).resolve().parent.parent
CALENDARS = sorted(
    [*ROOT.glob("examples/*/calendar.toml"), *ROOT.glob("docs/recipes/*/calendar.toml")]
)
START, END = "2027-01-01", "2027-12-31"
# Within Facebook's native scheduling window (180 days) of the day the CLI test runs on.
CLI_DAY, CLI_END = datetime(2026, 12, 1, 9, 0, tzinfo=UTC), "2027-05-25"
CSV_COLUMNS = ["id", "post", "segment", "channel", "utc", "local"]
CSV_COLUMNS += ["holiday", "shifted_from", "reason", "text"]


def expected_output(deliveries: list[socialsched.Delivery], output_format: str) -> str:
    """The output written all at once, from `Delivery` objects."""
    rows = [delivery.to_dict() for delivery in deliveries]
    if output_format == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    if output_format == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    columns = list(CSV_COLUMNS)
    if any(delivery.media for delivery in deliveries):
        columns.append("media")
        for row, delivery in zip(rows, deliveries, strict=True):
            row["media"] = "; ".join(media.source for media in delivery.media)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def planned(path: Path, end: str = END) -> list[socialsched.Delivery]:
    calendar = socialsched.load(path)
    return list(Planner(calendar).plan(date.fromisoformat(START), date.fromisoformat(end)))


@pytest.mark.parametrize("path", CALENDARS, ids=lambda path: path.parent.name)
def test_plan_dicts_equal_each_delivery_as_a_dict(path):
    calendar = socialsched.load(path)
    plan = Planner(calendar).plan(date(2027, 1, 1), date(2027, 12, 31), problems=[])
    assert len(plan) > 0, f"{path} plans nothing in the range: nothing was compared"
    assert list(plan.dicts()) == [delivery.to_dict() for delivery in plan]


@PROPERTY_SETTINGS
@given(scenarios())
def test_plan_dicts_equal_each_delivery_as_a_dict_on_random_calendars(scenario):
    calendar = _calendar(scenario)
    for render in (False, True):
        plan = Planner(calendar).plan(scenario["start"], scenario["end"], render=render)
        assert list(plan.dicts()) == [delivery.to_dict() for delivery in plan]


@pytest.mark.parametrize("output_format", ["json", "jsonl", "csv"])
@pytest.mark.parametrize("path", CALENDARS, ids=lambda path: path.parent.name)
def test_plan_output_is_what_writing_it_at_once_gives(path, output_format, tmp_path, monkeypatch):
    # From another working folder than the calendar's, with a relative path; on a fixed
    # day, as Facebook's native scheduling window is checked against the clock.
    monkeypatch.chdir(tmp_path)
    relative = os.path.relpath(path, tmp_path)
    with time_machine.travel(CLI_DAY):
        result = CliRunner().invoke(
            main, ["plan", relative, "--start", START, "--end", CLI_END, "--format", output_format]
        )
        deliveries = planned(path, CLI_END)
        expected = expected_output(deliveries, output_format)
    assert deliveries, f"{path} plans nothing in the range: nothing was compared"
    assert result.exit_code == 0, result.output
    # The bytes: `result.stdout` turns CSV's CRLF line ends into LF.
    assert result.stdout_bytes.decode() == expected


def test_an_empty_plan_is_an_empty_json_array_and_a_csv_header(tmp_path):
    calendar = tmp_path / "calendar.toml"
    calendar.write_text(
        '[calendar]\nname = "empty"\n\n'
        '[[segment]]\nname = "uk"\nlocale = "en-GB"\ntimezone = "Europe/London"\n'
        'country = "GB"\n\n'
        '[[channel]]\nname = "console"\nadapter = "console"\n\n'
        '[[post]]\nid = "yearly"\ntext = "Hello"\nschedule = "0 9 1 1 *"\n'
    )
    command = ["plan", str(calendar), "--start", "2027-03-01", "--end", "2027-03-02"]
    for output_format, expected in (("json", "[]\n"), ("jsonl", ""), ("csv", None)):
        result = CliRunner().invoke(main, [*command, "--format", output_format])
        assert result.exit_code == 0, result.output
        if expected is None:
            assert result.stdout_bytes.decode() == ",".join(CSV_COLUMNS) + "\r\n"
        else:
            assert result.stdout_bytes.decode() == expected


def test_the_console_script_streams_a_large_plan_as_json_lines(tmp_path):
    # The command as users run it, from another folder, on a year of the social example.
    path = ROOT / "examples" / "social" / "calendar.toml"
    command = [sys.executable, "-m", "socialsched.cli", "plan", os.path.relpath(path, tmp_path)]
    command += ["--start", START, "--end", END, "--format", "jsonl"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected_output(planned(path), "jsonl")
