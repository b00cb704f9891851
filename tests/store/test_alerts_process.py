"""Alerts as an operator receives them from a runner process: its database goes away
(an alert at once), comes back ("recovered", saying how long it lasted), and the
runner stops without sending anything that says the database is still unreachable."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calendar_text import uk_segment
from runner_process import RunnerProcess, socialsched

from conftest import PG_URL
from socialsched.store import Store


def alerts(folder: Path) -> list[dict]:
    path = folder / "ops.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_database_that_comes_back_is_recovered_and_nothing_stale_follows(tmp_path, pg_schema):
    engine, schema = pg_schema
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    db = f"{PG_URL}?options=-csearch_path%3D{schema}"
    due = datetime.now(UTC) - timedelta(minutes=1)
    folder = tmp_path / "calendar"
    folder.mkdir()
    (folder / "calendar.toml").write_text(
        f"""[calendar]
name = "alerting"

[runner]
alert_channels = ["ops"]

{uk_segment()}

[[channel]]
name = "feed"
adapter = "jsonl"
settings = {{ path = "feed.jsonl" }}

[[channel]]
name = "ops"
adapter = "jsonl"
settings = {{ path = "ops.jsonl" }}

[[post]]
id = "now"
text = "now"
channels = ["feed"]
dates = ["{due:%Y-%m-%d}"]
at = "{due:%H:%M}"
late = "publish"
""",
        encoding="utf-8",
    )
    ops = tmp_path / "ops"
    ops.mkdir()
    socialsched(
        "schedule", "../calendar/calendar.toml", "--db", db,
        "--start", f"{due:%Y-%m-%d}", "--end", f"{due:%Y-%m-%d}", cwd=ops,
    )  # fmt: skip
    with RunnerProcess(
        ["--db", db, "--poll", "0.2"], cwd=ops, global_options=["--log-format", "json"]
    ) as runner:
        # Published and recorded: a pass has run, and the runner knows its alert channels.
        with Store(db) as store:
            runner.wait_for(lambda: store.status().counts.get("published") == 1, "the first record")
        with engine.begin() as connection:
            connection.exec_driver_sql(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_away"')

        def lost() -> list[dict]:
            return [e for e in runner.json_lines() if e["event"] == "database_unreachable"]

        runner.wait_for(lambda: len(lost()) >= 2, "two failed attempts")
        runner.wait_for(lambda: alerts(folder), "the database alert")
        with engine.begin() as connection:
            connection.exec_driver_sql(f'ALTER SCHEMA "{schema}_away" RENAME TO "{schema}"')
        # The next try may wait out a backoff of several seconds on a busy machine.
        runner.wait_for(lambda: len(alerts(folder)) == 2, "the recovered alert", timeout=180)
        runner.signal(signal.SIGTERM)
        assert runner.wait() == 0, runner.output
    sent = alerts(folder)
    # Nothing after "recovered": the attempts that failed after the first alert were
    # held back for the window, and are not sent at exit as if it were still down.
    assert [a["tags"] for a in sent] == [["alert", "database"], ["alert", "recovered"]]
    assert "cannot reach its database (1 failed attempt(s)" in sent[0]["text"]
    failures = len(lost())
    assert failures >= 2
    assert sent[1]["text"].startswith("socialsched alert: recovered: runner ")
    assert "reaches its database again (unreachable from " in sent[1]["text"]
    assert sent[1]["text"].endswith(f"UTC, {failures} failed attempt(s)).")
    assert all(json.loads(line) for line in runner.lines)
