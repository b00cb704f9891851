"""socialsched-discord: publish to Discord channels through webhooks."""

from socialsched import hookimpl

from .adapter import DiscordAdapter

__all__ = ["DiscordAdapter", "register_adapters"]


@hookimpl
def register_adapters(register):  # type: ignore[no-untyped-def]
    """Register the `discord` adapter with socialsched."""
    register(DiscordAdapter)
