"""socialsched-slack: publish to Slack channels through incoming webhooks."""

from collections.abc import Callable

from socialsched import hookimpl
from socialsched.adapters import Adapter

from .adapter import SlackAdapter

__all__ = ["SlackAdapter", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the `slack` adapter with socialsched."""
    register(SlackAdapter)
