"""socialsched-facebook: publish and natively schedule Facebook Page posts."""

from socialsched import hookimpl

from .adapter import FacebookPageAdapter

__all__ = ["FacebookPageAdapter", "register_adapters"]


@hookimpl
def register_adapters(register):  # type: ignore[no-untyped-def]
    """Register the `facebook` adapter with socialsched."""
    register(FacebookPageAdapter)
