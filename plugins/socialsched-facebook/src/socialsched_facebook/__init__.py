"""socialsched-facebook: publish and natively schedule Facebook Page posts."""

from collections.abc import Callable

from socialsched import hookimpl
from socialsched.adapters import Adapter

from .adapter import FacebookPageAdapter

__all__ = ["FacebookPageAdapter", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the `facebook` adapter with socialsched."""
    register(FacebookPageAdapter)
