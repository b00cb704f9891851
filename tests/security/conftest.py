"""Fixtures shared by the security probes."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """A calendar's folder (`project`) and another folder (`elsewhere`) to run the CLI
    from, both created."""
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere").mkdir()
    return tmp_path / "project", tmp_path / "elsewhere"
