"""`socialsched lint`: every problem at once, plus warnings for avoided topics and gaps."""

from __future__ import annotations

import json
import textwrap
from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner

from socialsched.cli import main
from socialsched.planning.lint import lint

DATA = Path(__file__).parent / "data"

GAPS = """
[calendar]
name = "gaps"
max_gap_days = 7

[[segment]]
name = "sparse"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"
avoid_topics = ["football"]

[[segment]]
name = "busy"
locale = "en-US"
timezone = "America/New_York"
country = "US"

[[channel]]
name = "community"
adapter = "console"

[[post]]
id = "rare"
text = "Bonjour"
segments = ["sparse"]
dates = ["2027-01-01", "2027-01-20"]
at = "10:00"

[[post]]
id = "daily"
text = "Hello"
segments = ["busy"]
schedule = "0 10 * * *"

[[post]]
id = "derby"
text = "Derby night!"
segments = ["*"]
dates = ["2027-01-16"]
at = "18:00"
topics = ["football"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cal.toml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def run_lint(path: Path, *extra: str):
    return CliRunner().invoke(
        main, ["lint", str(path), "--start", "2027-01-01", "--end", "2027-01-31", *extra]
    )


def line_of(path: Path, needle: str) -> int:
    return next(
        number
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if needle in line
    )


def test_gap_warnings_match_hand_computed_silences(tmp_path):
    path = write(tmp_path, GAPS)
    problems = lint(path, date(2027, 1, 1), date(2027, 1, 31))
    assert all(p.severity == "warning" for p in problems)
    gaps = sorted(p.message for p in problems if "has no post" in p.message)
    # 'sparse' posts on Jan 1 and Jan 20 only: silent Jan 2-19 (18 days) and Jan 21-31
    # (11 days), both longer than 7. 'busy' posts every day: no gap.
    assert gaps == [
        "segment 'sparse' has no post from 2027-01-02 to 2027-01-19 (18 days; max_gap_days = 7)",
        "segment 'sparse' has no post from 2027-01-21 to 2027-01-31 (11 days; max_gap_days = 7)",
    ]


def test_gap_of_exactly_max_gap_days_is_not_a_warning(tmp_path):
    # Posts on Jan 1, 9, 17, 25 leave 7 silent days in between; Jan 26-31 is 6 days.
    days = [date(2027, 1, 1) + timedelta(days=8 * n) for n in range(4)]
    listed = ", ".join(f'"{d.isoformat()}"' for d in days)
    path = write(tmp_path, GAPS.replace('"2027-01-01", "2027-01-20"', listed))
    problems = lint(path, date(2027, 1, 1), date(2027, 1, 31))
    assert not [p for p in problems if "has no post" in p.message]


def test_silent_start_of_range_counts_as_a_gap(tmp_path):
    path = write(tmp_path, GAPS.replace('"2027-01-01", "2027-01-20"', '"2027-01-20"'))
    problems = lint(path, date(2027, 1, 1), date(2027, 1, 31))
    gaps = sorted(p.message for p in problems if "has no post" in p.message)
    assert gaps[0].startswith("segment 'sparse' has no post from 2027-01-01 to 2027-01-19 (19 days")


def test_avoided_topic_is_a_warning_naming_post_segment_and_topic(tmp_path):
    path = write(tmp_path, GAPS)
    problems = lint(path, date(2027, 1, 1), date(2027, 1, 31))
    excluded = [p for p in problems if "avoid_topics" in p.message]
    assert len(excluded) == 1
    assert "post 'derby'" in excluded[0].message
    assert "segment 'sparse'" in excluded[0].message
    assert "football" in excluded[0].message
    assert excluded[0].file == path


def test_cli_lint_with_only_warnings_exits_zero(tmp_path):
    result = run_lint(write(tmp_path, GAPS))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("warning:") == 3
    assert "0 error(s), 3 warning(s)" in result.stderr
    assert "Traceback" not in result.output


def test_cli_lint_clean_calendar_prints_nothing(tmp_path):
    clean = GAPS.replace("max_gap_days = 7", "").replace('\ntopics = ["football"]', "")
    result = run_lint(write(tmp_path, clean))
    assert result.exit_code == 0
    assert result.output == ""


def test_cli_lint_reports_every_error_at_once():
    path = DATA / "several_errors.toml"
    result = run_lint(path)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    for needle, value in [
        ("Europe/Pariss", "'Europe/Pariss'"),
        ('"XQ"', "'XQ'"),
        ("0 61 * * *", "'0 61 * * *'"),
        ("adapter =", "'myspace'"),
        ("colour =", "'colour'"),
        ('"de-DE"]', "unknown segment 'de-DE'"),
        ('["fediverse"]', "unknown channel 'fediverse'"),
        ("the second post", "duplicate post id 'bye'"),
    ]:
        expected = f"{path}:{line_of(path, needle)}: error:"
        matching = [line for line in result.stderr.splitlines() if line.startswith(expected)]
        assert matching, (expected, result.stderr)
        assert value in matching[0]
    # Tables that failed to build ('fr-FR', 'xx') are not reported as unknown references.
    assert "unknown segment 'fr-FR'" not in result.stderr
    assert "unknown segment 'xx'" not in result.stderr
    assert "8 error(s), 0 warning(s)" in result.stderr


def test_cli_lint_json_lists_problems_with_lines():
    path = DATA / "several_errors.toml"
    result = run_lint(path, "--format", "json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)
    assert len(problems) == 8
    assert {p["severity"] for p in problems} == {"error"}
    assert {p["file"] for p in problems} == {str(path)}
    assert line_of(path, "timezone =") in {p["line"] for p in problems}


def test_lint_reports_render_errors_with_template_file_and_line(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "greet.j2").write_text("Hello {{ vars.brand }}\nSee {{ vars.url }}\n")
    calendar = GAPS.replace('text = "Bonjour"', 'template = "greet"')
    calendar = calendar.replace('name = "gaps"', 'name = "gaps"\n\n[calendar.vars]\nbrand = "x"')
    # [calendar.vars] must come after the header keys, so rebuild the header.
    calendar = calendar.replace(
        'name = "gaps"\n\n[calendar.vars]\nbrand = "x"\nmax_gap_days = 7',
        'name = "gaps"\nmax_gap_days = 7\n\n[calendar.vars]\nbrand = "x"',
    )
    path = write(tmp_path, calendar)
    result = run_lint(path)
    assert result.exit_code == 1, result.output
    assert f"{templates / 'greet.j2'}:2" in result.stderr
    assert "url" in result.stderr
    assert "Traceback" not in result.output
    # Warnings are still reported next to the error.
    assert "avoid_topics" in result.stdout


def test_lint_of_malformed_toml(tmp_path):
    path = write(tmp_path, "[calendar\nname = 1\n")
    result = run_lint(path)
    assert result.exit_code == 1
    assert f"{path}:1: error: invalid TOML" in result.stderr
    assert "Traceback" not in result.output


def test_lint_with_wrongly_typed_max_gap_days_is_an_error_not_a_traceback(tmp_path):
    path = write(tmp_path, GAPS.replace("max_gap_days = 7", 'max_gap_days = "seven"'))
    result = run_lint(path)
    assert result.exit_code == 1
    assert f"{path}:{line_of(path, 'max_gap_days')}: error:" in result.stderr
    assert "Traceback" not in result.output


def test_holiday_name_matching_nothing_is_an_error(tmp_path):
    calendar = GAPS + textwrap.dedent(
        """
        [[post]]
        id = "thanks"
        text = "Thanks!"
        segments = ["busy"]
        on_holidays = ["Thanksgivin"]
        at = "09:00"

        [[post]]
        id = "noel"
        text = "Joyeux Noël"
        segments = ["sparse"]
        on_holidays = ["Noël"]
        at = "09:00"
        """
    )
    path = write(tmp_path, calendar)
    result = run_lint(path)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if ": error:" in line]
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}:{line_of(path, 'Thanksgivin')}: error:")
    assert "post 'thanks'" in errors[0]
    assert "'Thanksgivin'" in errors[0]
    assert "US" in errors[0]


def test_holiday_name_of_an_observance_is_known(tmp_path):
    calendar = GAPS + textwrap.dedent(
        """
        [[observance]]
        name = "Brand Day"
        date = "03-02"

        [[post]]
        id = "brand"
        text = "Happy Brand Day"
        on_holidays = ["Brand Day"]
        at = "09:00"
        """
    )
    result = run_lint(write(tmp_path, calendar))
    assert result.exit_code == 0, result.output
