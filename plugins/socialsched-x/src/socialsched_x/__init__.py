"""socialsched-x: publish posts and threads to X through API v2."""

from collections.abc import Callable

from socialsched import hookimpl
from socialsched.adapters import Adapter

from .adapter import XAdapter
from .length import weighted_length

__all__ = ["XAdapter", "register_adapters", "weighted_length"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the `x` adapter with socialsched."""
    register(XAdapter)
