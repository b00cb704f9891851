"""Finding adapter classes by name (kept for existing callers; see `socialsched.plugins`)."""

from __future__ import annotations

import pluggy

from . import plugins
from .base import Adapter
from .plugins import ENTRY_POINT_GROUP, UnknownAdapterError


def plugin_manager() -> pluggy.PluginManager:
    """The plugin manager with every installed plugin loaded."""
    return plugins.manager()


def available_adapters() -> dict[str, type[Adapter]]:
    """Every adapter that can be used, by name."""
    return plugins.available_adapters()


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class called `name`, or `UnknownAdapterError` listing installed ones."""
    return plugins.adapter_class(name)


__all__ = [
    "ENTRY_POINT_GROUP",
    "UnknownAdapterError",
    "adapter_class",
    "available_adapters",
    "plugin_manager",
]
