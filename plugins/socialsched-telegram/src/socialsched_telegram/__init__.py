"""socialsched plugin: the `telegram` network adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socialsched import hookimpl

from .adapter import TelegramAdapter

__all__ = ["TelegramAdapter", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Any]], None]) -> None:
    """Register the Telegram adapter with socialsched."""
    register(TelegramAdapter)
