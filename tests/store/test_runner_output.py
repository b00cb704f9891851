"""What an operator sees on a runner's standard error: nothing per poll while idle (in
text; libraries' lines only with -v), and with `--log-format json` nothing but JSON
lines: the run's log lines, its closing summary, and the errors that stop it at start-up
(click's usage errors included). Runners start from the operator's folder, as a
service would, with the calendar and its files in another."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from runner_process import RunnerProcess, socialsched


def write_calendar(folder: Path, due: datetime) -> None:
    """One UTC segment; a post due at `due` on three jsonl channels: `ok` writes its
    file, `stuck` cannot create its folder (a file is in the way: retried), `broken`
    writes to a FIFO (refused for good: failed)."""
    folder.mkdir()
    (folder / "in-the-way").write_text("a file, not a folder\n", encoding="utf-8")
    os.mkfifo(folder / "pipe.jsonl")
    channels = {"ok": "ok.jsonl", "stuck": "in-the-way/stuck.jsonl", "broken": "pipe.jsonl"}
    lines = [
        '[calendar]\nname = "output"\n',
        '[[segment]]\nname = "uk"\nlocale = "en-GB"\ntimezone = "UTC"\ncountry = "GB"\n',
        *(
            f'[[channel]]\nname = "{name}"\nadapter = "jsonl"\nsettings = {{ path = "{path}" }}\n'
            for name, path in channels.items()
        ),
        f'[[post]]\nid = "p"\ntext = "hello"\ndates = ["{due:%Y-%m-%d}"]\n'
        f'at = "{due:%H:%M}"\nlate = "publish"\n',
    ]
    (folder / "calendar.toml").write_text("\n".join(lines), encoding="utf-8")


def scheduled(tmp_path: Path, due: datetime) -> Path:
    """The operator's folder, with `../outbox.db` holding the calendar's deliveries."""
    write_calendar(tmp_path / "calendar", due)
    ops = tmp_path / "ops"
    ops.mkdir()
    socialsched(
        "schedule", "../calendar/calendar.toml", "--db", "../outbox.db",
        "--start", f"{due:%Y-%m-%d}", "--end", f"{due:%Y-%m-%d}", cwd=ops,
    )  # fmt: skip
    return ops


def idle_lines(
    options: list[str], ops: Path, seconds: float, log_format: str = "text"
) -> tuple[list[str], list[str]]:
    """A runner left idle for `seconds` (many polls), then stopped: (the lines it wrote
    while idle, all its lines)."""
    with RunnerProcess(
        ["--db", "../outbox.db", "--poll", "0.1", "--log-format", log_format, *options], cwd=ops
    ) as runner:
        runner.wait_for_line(r"runner \S+ started")
        start = len(runner.lines)
        time.sleep(seconds)  # idle: not a timing assertion, only a long enough wait
        idle = runner.lines[start:]
        runner.signal(signal.SIGTERM)
        assert runner.wait() == 0, runner.output
    return idle, runner.lines


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_an_idle_runner_prints_nothing_per_poll(tmp_path, log_format):
    # Due in ten days: the runner waits, waking at every safety poll (0.1 s).
    ops = scheduled(tmp_path, datetime.now(UTC) + timedelta(days=10))
    idle, lines = idle_lines([], ops, 3.0, log_format)
    assert idle == []
    assert "Traceback" not in "\n".join(lines)
    if log_format == "json":
        assert all(json.loads(line) for line in lines)
    # With -v the libraries speak: APScheduler names each poll. The quiet run above
    # polled as often; it only said nothing.
    verbose_idle, _ = idle_lines(["-v"], ops, 1.5, log_format)
    polls = [line for line in verbose_idle if "apscheduler" in line and "Runner._wake" in line]
    assert len(polls) >= 5, verbose_idle


def test_every_stderr_line_of_a_json_run_is_json(tmp_path):
    ops = scheduled(tmp_path, datetime.now(UTC) - timedelta(minutes=1))
    with RunnerProcess(
        ["--db", "../outbox.db", "--poll", "0.2", "--worker", "json-1"],
        cwd=ops,
        global_options=["--log-format", "json"],
    ) as runner:

        def events() -> set[str]:
            return {entry["event"] for entry in runner.json_lines()}

        runner.wait_for(lambda: {"published", "retry", "failed"} <= events(), "three outcomes")
        runner.signal(signal.SIGTERM)
        assert runner.wait() == 0, runner.output
    assert runner.lines
    entries = [json.loads(line) for line in runner.lines]  # every line, or this fails
    assert all(isinstance(entry, dict) for entry in entries)
    by_event = {entry["event"]: entry for entry in entries}
    assert {"started", "published", "retry", "failed", "stopping", "stopped", "summary"} <= set(
        by_event
    )
    assert (by_event["published"]["channel"], by_event["retry"]["channel"]) == ("ok", "stuck")
    assert by_event["failed"]["channel"] == "broken"
    assert "not a regular file" in by_event["failed"]["error"]
    summary = entries[-1]
    assert summary["event"] == "summary" and summary["worker"] == "json-1"
    per_channel = summary["outcomes"]["per_channel"]
    assert (per_channel["ok"]["published"], per_channel["stuck"]["retried"]) == (1, 1)
    assert per_channel["broken"]["failed"] == 1
    assert summary["message"].startswith("published 1  retried 1  failed 1")
    assert all(entry["worker"] == "json-1" for entry in entries)
    # Libraries (SQLAlchemy, Alembic, APScheduler) said nothing at INFO without -v.
    assert {entry["logger"].split(".")[0] for entry in entries} == {"socialsched"}
    assert (ops.parent / "calendar" / "ok.jsonl").exists()


@pytest.mark.parametrize(
    ("args", "code", "event", "says"),
    [
        (
            ["--log-format", "json", "run", "--until-idle", "--db", "../missing/outbox.db"],
            1,
            "error",
            "cannot open database",
        ),
        (["run", "--log-format", "json", "--batch", "0"], 2, "usage_error", "'--batch'"),
        (["--log-format", "json", "run", "--metrics", "9464"], 2, "usage_error", "HOST:PORT"),
        (["--log-format=json", "run", "--no-such-option"], 2, "usage_error", "--no-such-option"),
        (["--log-format", "json", "--no-such-option", "run"], 2, "usage_error", "no-such"),
    ],
    ids=["store", "run-option", "metrics-address", "unknown-run-option", "unknown-global"],
)
def test_start_up_errors_are_json_lines_too(tmp_path, args, code, event, says):
    result = socialsched(*args, cwd=tmp_path, check=False)
    assert result.returncode == code
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    entry = json.loads(line)
    assert (entry["level"], entry["event"]) == ("error", event)
    assert says in entry["message"] and says in entry["error"]


def test_in_text_start_up_errors_stay_plain(tmp_path):
    result = socialsched("run", "--batch", "0", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "Error: Invalid value for '--batch'" in result.stderr
    assert not result.stderr.startswith("{")
    result = socialsched("run", "--until-idle", "--db", "../no/x.db", cwd=tmp_path, check=False)
    assert result.returncode == 1 and result.stderr.startswith("error: cannot open database")


def test_a_failed_metrics_request_is_a_json_line_not_a_bare_traceback(capsys):
    import io
    import logging

    from socialsched.runner import logs
    from socialsched.runner.metrics import MetricsServer

    stream = io.StringIO()
    handler = logs.configure("json", stream=stream)
    server = MetricsServer(lambda environ, start_response: [], ("127.0.0.1", 0))
    try:
        try:
            raise ConnectionResetError("the scraper hung up")
        except ConnectionResetError:
            server._server.handle_error(None, ("127.0.0.1", 50000))
    finally:
        server._server.server_close()
        logging.getLogger().removeHandler(handler)
        logs.prefer("text")
    assert capsys.readouterr().err == ""
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "warning" and "127.0.0.1" in entry["message"]
    assert entry["error"] == "ConnectionResetError: the scraper hung up"


@pytest.mark.parametrize("verbose", [False, True])
def test_libraries_loggers_stay_at_warning_unless_verbose(verbose):
    import io
    import logging

    from socialsched.runner import logs

    root = logging.getLogger()
    before = root.level, {name: logging.getLogger(name).level for name in logs.THIRD_PARTY}
    handler = logs.configure("text", level=logging.INFO, stream=io.StringIO(), verbose=verbose)
    try:
        levels = {name: logging.getLogger(name).getEffectiveLevel() for name in logs.THIRD_PARTY}
        own = logging.getLogger("socialsched.runner").getEffectiveLevel()
    finally:  # as it was, for the tests that follow in this process
        root.removeHandler(handler)
        root.setLevel(before[0])
        for name, level in before[1].items():
            logging.getLogger(name).setLevel(level)
    assert set(logs.THIRD_PARTY) == {"apscheduler", "httpx", "httpcore", "sqlalchemy", "alembic"}
    expected = logging.INFO if verbose else logging.WARNING
    assert levels == dict.fromkeys(logs.THIRD_PARTY, expected)
    assert own == logging.INFO
