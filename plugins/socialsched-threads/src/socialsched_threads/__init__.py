"""socialsched-threads: publish text, images, videos, carousels and reply chains on
Threads (Meta)."""

from collections.abc import Callable

from socialsched import hookimpl
from socialsched.adapters import Adapter

from .adapter import ThreadsAdapter

__all__ = ["ThreadsAdapter", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the `threads` adapter with socialsched."""
    register(ThreadsAdapter)
