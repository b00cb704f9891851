"""socialsched plugin: the `mastodon` network adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socialsched import hookimpl

from .adapter import MastodonAdapter

__all__ = ["MastodonAdapter", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Any]], None]) -> None:
    """Register the Mastodon adapter with socialsched."""
    register(MastodonAdapter)
