"""socialsched-email: publish to mailing lists over SMTP."""

from collections.abc import Callable

from socialsched import hookimpl
from socialsched.adapters import Adapter

from .adapter import EmailAdapter

__all__ = ["EmailAdapter", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the `email` adapter with socialsched."""
    register(EmailAdapter)
