"""`socialsched export --ics`: one VEVENT per delivery, stable UIDs, UTC start times."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from click.testing import CliRunner

from socialsched import load, plan
from socialsched.cli import main
from socialsched.planning.export import to_ics

CALENDAR = """
[calendar]
name = "launch"

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

[[post]]
id = "launch"
text = "Launch day, {{ segment.name }}; see: https://example.com, now!"
dates = ["2027-01-15", "2027-03-14"]
at = "10:00"

[[post]]
id = "late"
text = "Late"
segments = ["en-US"]
dates = ["2027-01-15"]
at = "23:30"
"""
RANGE = ["--start", "2027-01-01", "--end", "2027-03-31"]


@pytest.fixture
def calendar_path(tmp_path) -> Path:
    path = tmp_path / "cal.toml"
    path.write_text(textwrap.dedent(CALENDAR).lstrip("\n"), encoding="utf-8")
    return path


def export(calendar_path: Path, out: Path) -> icalendar.Calendar:
    result = CliRunner().invoke(main, ["export", str(calendar_path), *RANGE, "--ics", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {len(events_of(out))} events to {out}" in result.stderr
    return icalendar.Calendar.from_ical(out.read_bytes())


def events_of(path: Path) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT"))


def utc_of(y, m, d, hh, mm, zone) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def test_one_event_per_delivery_at_the_utc_instants(calendar_path, tmp_path):
    document = export(calendar_path, tmp_path / "out.ics")
    assert str(document["VERSION"]) == "2.0"
    assert "socialsched" in str(document["PRODID"])
    starts = sorted((str(e["SUMMARY"]), e.decoded("DTSTART")) for e in document.walk("VEVENT"))
    # 2027-03-14 is the US spring-forward day: 10:00 EDT is 14:00 UTC, while Paris is
    # still on CET. 23:30 in New York is in quiet hours until 07:00 the next morning.
    assert starts == sorted(
        [
            ("launch -> fr-FR (community)", utc_of(2027, 1, 15, 10, 0, "Europe/Paris")),
            ("launch -> fr-FR (community)", utc_of(2027, 3, 14, 10, 0, "Europe/Paris")),
            ("launch -> en-US (community)", utc_of(2027, 1, 15, 10, 0, "America/New_York")),
            ("launch -> en-US (community)", utc_of(2027, 3, 14, 10, 0, "America/New_York")),
            ("late -> en-US (community)", utc_of(2027, 1, 16, 7, 0, "America/New_York")),
        ]
    )
    assert utc_of(2027, 3, 14, 10, 0, "America/New_York").hour == 14
    for event in document.walk("VEVENT"):
        assert event.decoded("DTSTART").utcoffset().total_seconds() == 0
        assert event.decoded("DTEND") > event.decoded("DTSTART")


def test_dtstart_is_written_in_utc_form(calendar_path, tmp_path):
    out = tmp_path / "out.ics"
    export(calendar_path, out)
    raw = out.read_bytes().decode()
    assert "DTSTART:20270115T090000Z" in raw  # 10:00 CET


def test_uids_match_plan_ids_and_are_stable_across_runs(calendar_path, tmp_path):
    first = export(calendar_path, tmp_path / "a.ics")
    second = export(calendar_path, tmp_path / "b.ics")
    uids = [str(e["UID"]) for e in first.walk("VEVENT")]
    assert uids == [str(e["UID"]) for e in second.walk("VEVENT")]
    assert len(set(uids)) == len(uids) == 5
    planned = CliRunner().invoke(main, ["plan", str(calendar_path), *RANGE, "--format", "json"])
    ids = [row["id"] for row in json.loads(planned.stdout)]
    assert sorted(uids) == sorted(f"{i}@socialsched" for i in ids)


def test_description_round_trips_text_and_says_why_moved(calendar_path, tmp_path):
    document = export(calendar_path, tmp_path / "out.ics")
    by_summary = {str(e["SUMMARY"]): e for e in document.walk("VEVENT")}
    launch = by_summary["launch -> fr-FR (community)"]
    assert str(launch["DESCRIPTION"]) == "Launch day, fr-FR; see: https://example.com, now!"
    late = by_summary["late -> en-US (community)"]
    assert "Moved from 2027-01-15 23:30 (quiet_hours)" in str(late["DESCRIPTION"])


def test_to_ics_with_fixed_stamp_is_byte_identical(calendar_path):
    deliveries = plan(load(calendar_path), "2027-01-01", "2027-03-31")
    stamp = datetime(2027, 1, 1, tzinfo=UTC)
    assert to_ics(deliveries, "x", stamp) == to_ics(deliveries, "x", stamp)
    assert b"X-WR-CALNAME:x" in to_ics(deliveries, "x", stamp)


def test_empty_plan_is_a_valid_calendar():
    document = icalendar.Calendar.from_ical(to_ics([], "empty"))
    assert list(document.walk("VEVENT")) == []


def test_missing_ics_option_is_a_usage_error(calendar_path):
    result = CliRunner().invoke(main, ["export", str(calendar_path), *RANGE])
    assert result.exit_code == 2
    assert "--ics" in result.stderr


def test_unwritable_output_is_a_clear_error(calendar_path, tmp_path):
    out = tmp_path / "no-such-dir" / "out.ics"
    result = CliRunner().invoke(main, ["export", str(calendar_path), *RANGE, "--ics", str(out)])
    assert result.exit_code == 1
    assert str(out) in result.stderr
    assert "Traceback" not in result.output


def test_ics_lines_are_crlf_and_folded_for_calendar_apps(calendar_path, tmp_path):
    out = tmp_path / "out.ics"
    export(calendar_path, out)
    raw = out.read_bytes()
    assert raw.startswith(b"BEGIN:VCALENDAR\r\n")
    assert raw.endswith(b"END:VCALENDAR\r\n")
    lines = raw.split(b"\r\n")[:-1]
    assert all(b"\n" not in line for line in lines)
    assert all(len(line) <= 75 for line in lines)  # RFC 5545 3.1 line folding
