"""socialsched-discord: publish to Discord channels through webhooks."""

from collections.abc import Callable

from socialsched import hookimpl
from socialsched.adapters import Adapter

from .adapter import DiscordAdapter

__all__ = ["DiscordAdapter", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the `discord` adapter with socialsched."""
    register(DiscordAdapter)
