"""The README's shortest example is the file it names, and its output is what planning
it prints."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import holidays
from cli_commands import command as command_of
from cli_commands import command_names
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


def test_readme_commands_table_lists_every_command():
    table = README[README.index("## Commands") :].split("\n## ", 1)[0]
    listed = set()
    for cell in re.findall(r"^\| `socialsched ([^`]*)`", table, flags=re.M):
        words = cell.split()
        name = words[0]
        if name in ("adapters", "channels", "queue"):
            name = f"{name} {words[1]}"
        listed.update(name.split("\\|"))
    # Every top-level command, and each subcommand of a group (`adapters list`).
    expected = set()
    for name in command_names():
        command = command_of(name)
        if isinstance(command, click.Group):
            expected.update(f"{name} {sub}" for sub in command.commands)
        else:
            expected.add(name)
    assert listed == expected


def test_readme_links_point_at_existing_files():
    links = re.findall(r"\]\(((?:docs|plugins|examples)/[^)#]+)", README)
    assert "docs/operations.md" in links and "docs/performance.md" in links
    for link in links:
        assert (ROOT / link).exists(), link


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


# ---- getting started: schedule, run, pause, resume, log (the store and the runner) ----

# When each console block of the page's store sections ran: the page says so in prose,
# and the test runs every command of that block with the clock set to that moment.
STORE_SESSION_TIMES = [
    datetime(2027, 1, 4, 9, 0, tzinfo=UTC),  # schedule, schedule again, status
    datetime(2027, 1, 11, 15, 0, tzinfo=UTC),  # run: Madrid's post is due
    datetime(2027, 1, 11, 17, 0, tzinfo=UTC),  # pause new-york, status
    datetime(2027, 1, 11, 19, 30, tzinfo=UTC),  # run: New York's post is due but paused
    datetime(2027, 1, 11, 22, 0, tzinfo=UTC),  # resume, run
    datetime(2027, 1, 12, 8, 0, tzinfo=UTC),  # log, status
]


def _store_sections() -> str:
    start = GETTING_STARTED.index("## Schedule\n")
    return GETTING_STARTED[start : GETTING_STARTED.index("## Next\n")]


def _store_blocks() -> list[list[tuple[str, str]]]:
    """Each console block of the store sections as [(command, output shown)]."""
    blocks = []
    for block in re.findall(r"```console\n(.*?)```", _store_sections(), re.S):
        sessions = re.split(r"^\$ ", block, flags=re.M)[1:]
        blocks.append([tuple(s.split("\n", 1)) for s in sessions])
    return blocks


def _said(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y} at {moment:%H:%M} UTC"


def test_getting_started_store_sessions_are_what_the_commands_print(tmp_path, monkeypatch):
    import time_machine

    source = (ROOT / "examples" / "hello" / "calendar.toml").read_text(encoding="utf-8")
    (tmp_path / "calendar.toml").write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    blocks = _store_blocks()
    assert len(blocks) == len(STORE_SESSION_TIMES)
    text = " ".join(_store_sections().split())
    for moment, block in zip(STORE_SESSION_TIMES, blocks, strict=True):
        assert _said(moment) in text, f"the page does not say {_said(moment)!r}"
        for command, shown in block:
            # The default database, ./socialsched.db, in this test's own folder.
            runner = CliRunner(env={"COLUMNS": "160", "SOCIALSCHED_DB": None})
            with time_machine.travel(moment, tick=False):
                result = runner.invoke(main, shlex.split(command)[1:])
            assert result.exit_code == 0, (command, result.output)
            assert result.output == shown, command
    assert (tmp_path / "socialsched.db").is_file()


def test_getting_started_store_sessions_agree_with_time_zones_and_holidays():
    blocks = _store_blocks()
    madrid, new_york = ZoneInfo("Europe/Madrid"), ZoneInfo("America/New_York")
    # Madrid's Monday post: moved out of the 14:00-16:00 quiet hours to 16:00 local,
    # so the first thing due is that instant in UTC, and it is what the 15:00 run prints.
    madrid_post = datetime(2027, 1, 11, 16, tzinfo=madrid)
    first_due = madrid_post.astimezone(UTC)
    assert blocks[0][2][0] == "socialsched status"
    assert f"next due: {first_due:%Y-%m-%dT%H:%M:%SZ}\n" in blocks[0][2][1]
    first_run = blocks[1][0][1]
    assert first_due == STORE_SESSION_TIMES[1]
    assert f"[console/madrid] {madrid_post.isoformat()} ¡Hola desde madrid!\n" in first_run
    # New York's 14:30 falls at 19:30 UTC, the time of the run that publishes nothing.
    new_york_post = datetime(2027, 1, 11, 14, 30, tzinfo=new_york)
    assert new_york_post.astimezone(UTC) == STORE_SESSION_TIMES[3]
    assert blocks[3][0][1].startswith("published 0  retried 0")
    resumed_run = blocks[4][1][1]
    assert f"[console/new-york] {new_york_post.isoformat()} Hello from new-york!\n" in resumed_run
    # It went out 2.5 hours late, beyond the default 1-hour misfire grace: not missed,
    # because time spent paused does not count.
    assert STORE_SESSION_TIMES[4] - new_york_post > timedelta(hours=1)
    # Two New York deliveries in range (11 Jan, and 18 Jan moved to the 19th for
    # Martin Luther King Jr. Day) were paused.
    assert "Martin Luther King" in holidays.US(years=2027)[date(2027, 1, 18)]
    assert blocks[2][0][1] == "paused 2 deliveries (segment=new-york)\n"
