"""The README's shortest example is the file it names, and its output is what planning
it prints."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
from click.testing import CliRunner

from socialsched.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## The shortest complete example") :].split("\n## ", 1)[0]


def _block(language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", SECTION, re.S)
    assert match, language
    return match[1]


def test_readme_calendar_is_the_example_file_and_short():
    calendar = (ROOT / "examples" / "hello" / "calendar.toml").read_text(encoding="utf-8")
    assert _block("toml") == calendar
    assert len([line for line in calendar.splitlines() if line.strip()]) <= 20


def test_readme_plan_output_is_what_the_command_prints(monkeypatch):
    monkeypatch.chdir(ROOT)
    command = shlex.split(_block("console").strip().removeprefix("$ "))
    assert command[:2] == ["socialsched", "plan"]
    result = CliRunner(env={"COLUMNS": "160"}).invoke(main, command[1:])
    assert result.exit_code == 0, result.output
    assert result.output == _block("text")


def test_readme_explanation_matches_holidays_and_time_zones():
    # The README says Madrid's 14:30 moves to 16:00 and the US Monday 18 Jan 2027 is a
    # holiday; check both claims against zoneinfo and the holidays package.
    assert "Martin Luther King" in holidays.US(years=2027)[date(2027, 1, 18)]
    madrid = datetime.combine(date(2027, 1, 11), time(16), ZoneInfo("Europe/Madrid"))
    assert f"{madrid.astimezone(UTC):%Y-%m-%d %H:%M}  {madrid:%Y-%m-%d %H:%M %z}" in _block("text")


GETTING_STARTED = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")


def _console_session(command: str) -> str:
    """The output shown under `$ command` in a console block of the getting-started page."""
    for block in re.findall(r"```console\n(.*?)```", GETTING_STARTED, re.S):
        first, _, output = block.partition("\n")
        if first == f"$ {command}":
            return output
    raise AssertionError(f"no console block for {command!r}")


def _run_in(folder: Path, command: str, monkeypatch) -> str:
    monkeypatch.chdir(folder)
    result = CliRunner(env={"COLUMNS": "160"}).invoke(main, shlex.split(command)[1:])
    return result.output


def test_getting_started_plan_output_is_what_the_command_prints(tmp_path, monkeypatch):
    command = "socialsched plan calendar.toml --start 2027-01-11 --end 2027-01-19"
    source = (ROOT / "examples" / "hello" / "calendar.toml").read_text(encoding="utf-8")
    (tmp_path / "calendar.toml").write_text(source, encoding="utf-8")
    assert _run_in(tmp_path, command, monkeypatch) == _console_session(command)


def test_getting_started_lint_error_is_what_lint_prints(tmp_path, monkeypatch):
    command = "socialsched lint calendar.toml --start 2027-01-01 --end 2027-03-31"
    source = (ROOT / "examples" / "hello" / "calendar.toml").read_text(encoding="utf-8")
    typo = source.replace('"Europe/Madrid"', '"Europe/Madird"')
    assert typo != source
    (tmp_path / "calendar.toml").write_text(typo, encoding="utf-8")
    shown = [s for s in re.findall(r"```console\n(.*?)```", GETTING_STARTED, re.S)]
    sessions = [s.partition("\n")[2] for s in shown if s.startswith(f"$ {command}\n")]
    assert _run_in(tmp_path, command, monkeypatch) in sessions
