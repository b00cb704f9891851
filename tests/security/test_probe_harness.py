"""The probe harness itself: its child really runs under the address-space limit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .probe import ADDRESS_SPACE, _limit_address_space, run_probe


def test_probe_child_cannot_allocate_past_the_limit(tmp_path: Path) -> None:
    script = "b = bytearray(3 * 1024**3)"
    result = subprocess.run(
        [sys.executable, "-c", script],
        preexec_fn=_limit_address_space,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "MemoryError" in result.stderr
    assert ADDRESS_SPACE == 2 * 1024**3


def test_probe_runs_the_cli_from_another_folder(tmp_path: Path) -> None:
    result = run_probe("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert "socialsched" in result.stdout
