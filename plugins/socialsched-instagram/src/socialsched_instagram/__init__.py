"""socialsched-instagram: publish images, carousels and reels to an Instagram
professional account."""

from collections.abc import Callable

from socialsched import hookimpl
from socialsched.adapters import Adapter

from .adapter import InstagramAdapter

__all__ = ["InstagramAdapter", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the `instagram` adapter with socialsched."""
    register(InstagramAdapter)
