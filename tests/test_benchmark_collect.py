"""benchmarks/collect.py runs end to end at a small size: every snapshot stored with the
server's counts, all requests at most size / 25 (getPosts of the AppView, no login, no
token), nothing asked again (no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "collect.py"


def test_collect_benchmark_batches_and_a_second_run_asks_nothing() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--size", "260"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout
    assert re.search(r"baseline \(one request per delivery\):\s+260 requests", lines)
    # 260 posts: 3 adapter calls (100, 100, 60), 4 + 4 + 3 getPosts of at most 25 URIs.
    assert re.search(r"\b11 getPosts of at most 25 URIs\b", lines)
    assert re.search(r"\b3 adapter calls\b", lines)
    # Nothing but getPosts: the AppView's getPosts needs no login and no token.
    assert re.search(r"socialsched collect:\s+11 requests ", lines)
    assert re.search(r"\(0 login, 11 getPosts\b.*\b0 with a token;", lines)
    assert re.search(r"second run at once:\s+0 requests", lines)
