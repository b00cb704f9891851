"""socialsched plugin: the `matrix` network adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socialsched import hookimpl

from .adapter import MatrixAdapter

__all__ = ["MatrixAdapter", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Any]], None]) -> None:
    """Register the Matrix adapter with socialsched."""
    register(MatrixAdapter)
