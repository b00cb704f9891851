"""socialsched-slack: publish to Slack channels through incoming webhooks."""

from socialsched import hookimpl

from .adapter import SlackAdapter

__all__ = ["SlackAdapter", "register_adapters"]


@hookimpl
def register_adapters(register):  # type: ignore[no-untyped-def]
    """Register the `slack` adapter with socialsched."""
    register(SlackAdapter)
