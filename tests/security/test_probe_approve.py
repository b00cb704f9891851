"""`socialsched channels approve`, run as operators run it (from another folder, under
the probes' address-space limit): what it shows and stores, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy
from calendar_text import uk_segment

from .probe import assert_no_traceback, run_probe

HOOK_URL = "https://hooks.example.org:8443/services/T000/B000/xoxo-url-token-42"

CALENDAR = f"""
[calendar]
name = "approve"

{uk_segment()}

[[channel]]
name = "hooks"
adapter = "webhook"
secrets = {{ url = "HOOK_URL", signing_key = "HOOK_KEY" }}

[[channel]]
name = "masto"
adapter = "mastodon"
settings = {{ instance = "https://Mastodon.Example", max_length = 500 }}
secrets = {{ token = "MASTO_TOKEN" }}

[[channel]]
name = "screen"
adapter = "console"

[[post]]
id = "hello"
text = "Hello"
dates = ["2031-05-05"]
at = "09:00"
"""


@pytest.mark.slow
def test_approve_shows_and_stores_origins_only_and_explains_its_errors(tmp_path: Path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "calendar.toml").write_text(CALENDAR)
    env = {"SOCIALSCHED_DB": "../project/outbox.db", "SOCIALSCHED_SECRET_HOOK_URL": HOOK_URL}
    window = ("--start", "2031-05-05", "--end", "2031-05-05")
    scheduled = run_probe("schedule", "../project/calendar.toml", *window, cwd=elsewhere, env=env)
    assert scheduled.returncode == 0, scheduled.stderr

    neither = run_probe("channels", "approve", cwd=elsewhere, env=env)
    both = run_probe("channels", "approve", "masto", "--all", cwd=elsewhere, env=env)
    unknown = run_probe("channels", "approve", "nope", cwd=elsewhere, env=env)
    # The webhook's URL is a secret: its origin cannot be told where it is not granted.
    ungranted = run_probe(
        "channels", "approve", "hooks", cwd=elsewhere, env={"SOCIALSCHED_DB": env["SOCIALSCHED_DB"]}
    )
    for result in (neither, both, unknown, ungranted):
        assert_no_traceback(result)
    assert neither.returncode == both.returncode == 2
    assert "give CHANNEL... or --all" in neither.stderr + both.stderr
    assert unknown.returncode == 1 and "no channel 'nope' in the store" in unknown.stderr
    assert ungranted.returncode == 1 and "SOCIALSCHED_SECRET_HOOK_URL" in ungranted.stderr

    engine = sqlalchemy.create_engine(f"sqlite:///{project / 'outbox.db'}")
    with engine.connect() as connection:
        assert (
            connection.exec_driver_sql("SELECT count(*) FROM destination_approvals").scalar() == 0
        )

    text = run_probe("channels", "approve", "masto", "hooks", cwd=elsewhere, env=env)
    assert_no_traceback(text)
    assert text.returncode == 0, text.stderr
    rows = [line.split() for line in text.stdout.splitlines()]
    assert rows[0] == ["CHANNEL", "ADAPTER", "SECRET", "DESTINATION"]
    assert rows[1:4] == [
        ["hooks", "webhook", "HOOK_KEY", "https://hooks.example.org:8443"],
        ["hooks", "webhook", "HOOK_URL", "https://hooks.example.org:8443"],
        ["masto", "mastodon", "MASTO_TOKEN", "https://mastodon.example:443"],
    ]
    assert "approved 2 channels" in text.stdout

    shown = run_probe("channels", "approve", "--all", "--format", "json", cwd=elsewhere, env=env)
    assert shown.returncode == 0, shown.stderr
    approvals = json.loads(shown.stdout)
    assert [(a["channel"], a["adapter"], a["destinations"]) for a in approvals] == [
        (
            "hooks",
            "webhook",
            {
                "HOOK_KEY": "https://hooks.example.org:8443",
                "HOOK_URL": "https://hooks.example.org:8443",
            },
        ),
        ("masto", "mastodon", {"MASTO_TOKEN": "https://mastodon.example:443"}),
        ("screen", "console", {}),
    ]
    with engine.connect() as connection:
        stored = [
            row[0]
            for row in connection.exec_driver_sql("SELECT destinations FROM destination_approvals")
        ]
    engine.dispose()
    # Only origins: the webhook URL's path, where its token lives, is never kept or shown.
    for said in (text.stdout + text.stderr, shown.stdout, *stored):
        assert "xoxo-url-token-42" not in said and "/services/" not in said
