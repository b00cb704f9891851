"""Finding adapter classes by name, from the built-ins and installed plugins."""

from __future__ import annotations

import functools

import pluggy

from . import hookspecs
from .adapters import Adapter, ConsoleAdapter, JsonlAdapter
from .errors import SocialschedError

ENTRY_POINT_GROUP = "socialsched"


class UnknownAdapterError(SocialschedError):
    """A channel names an adapter that is not installed."""


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The plugin manager with every installed plugin loaded."""
    manager = pluggy.PluginManager("socialsched")
    manager.add_hookspecs(hookspecs)
    manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    return manager


def available_adapters() -> dict[str, type[Adapter]]:
    """Every adapter that can be used, by name."""
    found: dict[str, type[Adapter]] = {cls.name: cls for cls in (ConsoleAdapter, JsonlAdapter)}

    def register(cls: type[Adapter]) -> None:
        found[cls.name] = cls

    plugin_manager().hook.register_adapters(register=register)
    return found


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class called `name`, or `UnknownAdapterError` listing installed ones."""
    adapters = available_adapters()
    if name not in adapters:
        raise UnknownAdapterError(
            f"unknown adapter {name!r} (installed: {', '.join(sorted(adapters))})"
        )
    return adapters[name]
