"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "exporter" / "calendar.toml"


@pytest.fixture
def example_calendar_path() -> Path:
    """The multi-market example calendar used by the README."""
    return EXAMPLE


pytest_plugins = ["pytester"]
