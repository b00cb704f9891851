"""socialsched-linkedin: publish organization and member posts through LinkedIn's Posts API."""

from collections.abc import Callable

from socialsched import hookimpl
from socialsched.adapters import Adapter

from .adapter import LinkedInAdapter, escape_commentary

__all__ = ["LinkedInAdapter", "escape_commentary", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the `linkedin` adapter with socialsched."""
    register(LinkedInAdapter)
