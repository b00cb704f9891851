"""Issue 23, Done when (report half): posts published through the Mastodon adapter to a
local fake Mastodon with known favourites, boosts and replies are collected by
`socialsched collect`; then `socialsched report --by segment --format json` (the
console script, from another folder, a relative --db) gives the sums and medians
computed here, with `statistics.median`, from what the fake server was sent.

The fake server and the publishing steps are those of tests/test_collect_mastodon.py.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path

import pytest
from test_collect_mastodon import (
    TOKEN_VARIABLE,
    FakeMastodon,
    collect,
    console_script,
    publish,
)
from test_collect_mastodon import server as server  # the fixture

from socialsched.adapters.engagement import COUNTS

NAMES = {"likes": "favourites_count", "reposts": "reblogs_count", "replies": "replies_count"}


def report(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`socialsched report` from another folder than the store's, with a relative --db."""
    return subprocess.run(
        [console_script(), "report", "--db", "../salon/outbox.db", *options],
        cwd=tmp_path / "elsewhere",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


@pytest.mark.slow
def test_report_by_segment_gives_the_sums_and_medians_of_what_mastodon_counted(
    tmp_path: Path, server: FakeMastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"SOCIALSCHED_SECRET_{TOKEN_VARIABLE}", "token-e2e")
    _, _, records = publish(tmp_path, server)
    assert collect(tmp_path).returncode == 0

    # Each delivery's counts: its statuses' (a thread's parts summed), as the server
    # holds them, found by the Idempotency-Key the runner sent.
    statuses: dict[str, list[str]] = {}
    for status_id, key in server.statuses.items():
        statuses.setdefault(key.split("#")[0], []).append(status_id)
    counts = {
        delivery: {
            ours: sum(server.counts(s)[theirs] for s in ids) for ours, theirs in NAMES.items()
        }
        for delivery, ids in statuses.items()
    }
    expected = {}
    for segment in sorted({r.segment for r in records}):
        ids = [r.id for r in records if r.segment == segment]
        row: dict = {"segment": segment, "deliveries": len(ids)}
        for name in COUNTS:
            if name in NAMES:
                values = [counts[i][name] for i in ids]
                row[name] = {"sum": sum(values), "median": float(statistics.median(values))}
            else:
                row[name] = None  # Mastodon (before 4.5) gives no quotes, views or clicks
        expected[segment] = row

    result = report(tmp_path, "--by", "segment", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert {row["segment"]: row for row in json.loads(result.stdout)} == expected

    table = report(tmp_path, "--by", "segment")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "segment", "deliveries", "likes", "likes", "median", "reposts", "reposts", "median",
        "replies", "replies", "median",
    ]  # fmt: skip
    for line, segment in zip(lines[1:], sorted(expected), strict=True):
        row = expected[segment]
        assert line.split()[:3] == [segment, str(row["deliveries"]), str(row["likes"]["sum"])]
