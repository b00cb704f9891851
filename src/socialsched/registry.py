"""Finding adapter classes by name."""

from __future__ import annotations

from .adapters import Adapter, ConsoleAdapter, JsonlAdapter
from .errors import SocialschedError


class UnknownAdapterError(SocialschedError):
    """A channel names an adapter that is not installed."""


def available_adapters() -> dict[str, type[Adapter]]:
    """Every adapter that can be used, by name."""
    return {cls.name: cls for cls in (ConsoleAdapter, JsonlAdapter)}


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class called `name`, or `UnknownAdapterError` listing installed ones."""
    adapters = available_adapters()
    if name not in adapters:
        raise UnknownAdapterError(
            f"unknown adapter {name!r} (installed: {', '.join(sorted(adapters))})"
        )
    return adapters[name]
