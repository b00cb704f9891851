"""socialsched plugin: the `bluesky` network adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socialsched import hookimpl

from .adapter import BlueskyAdapter

__all__ = ["BlueskyAdapter", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Any]], None]) -> None:
    """Register the Bluesky adapter with socialsched."""
    register(BlueskyAdapter)
