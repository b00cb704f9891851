"""Loading plugins and asking them things: adapters, template helpers, content checks,
media hosts, lifecycle events (public as `socialsched.plugins`).

Plugins come from the `socialsched` entry-point group of installed packages and from
`register(obj)` in code. A plugin that fails to import or whose hook raises is recorded
as a `PluginFailure` naming it (see `failures()`), and the rest keep working: one
broken package never takes the CLI down. The built-in adapters (console, jsonl,
webhook) come first, as if registered by the plugin "socialsched.builtin".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from socialsched.errors import SocialschedError

from .base import Adapter
from .capabilities import Capabilities
from .console import ConsoleAdapter
from .jsonl import JsonlAdapter
from .plugin_manager import (
    BUILTIN_PLUGIN,
    ENTRY_POINT_GROUP,
    LIFECYCLE_EVENTS,
    FailureReporter,
    PluginFailure,
    _describe,
    _get,
    _impls,
    _record,
    check_message,
    failures_so_far,
    has_content_checks,
    hook,
    manager,
    media_host,
    media_hosts,
    notify,
    observed,
    register,
    reset,
    set_failure_reporter,
    template_filters,
    template_globals,
    unregister,
)
from .webhook import WebhookAdapter

BUILTIN_ADAPTERS: tuple[type[Adapter], ...] = (ConsoleAdapter, JsonlAdapter, WebhookAdapter)


class UnknownAdapterError(SocialschedError):
    """A channel names an adapter that is not installed."""


@attrs.frozen
class AdapterInfo:
    """An available adapter: its name, class, where it comes from and what it can do."""

    name: str
    adapter_class: type[Adapter]
    plugin: str
    package: str

    @property
    def capabilities(self) -> Capabilities:
        """The capabilities the adapter class declares."""
        return self.adapter_class.capabilities


def _register_builtin_adapters(register: Callable[[type[Any]], None]) -> None:
    for cls in BUILTIN_ADAPTERS:
        register(cls)


def failures() -> list[PluginFailure]:
    """Plugins that failed to load or to answer `register_adapters`."""
    adapters()  # hook failures are found while collecting adapters
    return list(_get().failures)


def adapters() -> dict[str, AdapterInfo]:
    """Every available adapter by name; the first plugin to claim a name keeps it."""
    state = _get()
    found: dict[str, AdapterInfo] = {}
    builtins = (BUILTIN_PLUGIN, _register_builtin_adapters)
    for plugin_name, function in [builtins, *_impls("register_adapters")]:
        package = state.packages.get(plugin_name, plugin_name)
        claimed: list[type[Any]] = []
        try:
            function(register=claimed.append)
        except Exception as error:
            _record(PluginFailure(plugin_name, package, f"register_adapters: {_describe(error)}"))
            continue
        for cls in claimed:
            problem = _adapter_class_problem(cls)
            if problem is None and cls.name in found and found[cls.name].adapter_class is not cls:
                other = found[cls.name]
                problem = f"adapter name {cls.name!r} is already taken by {other.package}"
            if problem is not None:
                _record(PluginFailure(plugin_name, package, problem))
                continue
            found.setdefault(cls.name, AdapterInfo(cls.name, cls, plugin_name, package))
    return found


def _adapter_class_problem(cls: object) -> str | None:
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        return f"registered {cls!r}, which is not a socialsched.adapters.Adapter subclass"
    if not cls.name or not isinstance(cls.name, str):
        return f"adapter class {cls.__qualname__} has no name"
    if not isinstance(cls.capabilities, Capabilities):
        return f"adapter {cls.name!r}: capabilities must be a socialsched.adapters.Capabilities"
    return None


def available_adapters() -> dict[str, type[Adapter]]:
    """Every adapter class that can be used, by name."""
    return {name: info.adapter_class for name, info in adapters().items()}


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class called `name`, or `UnknownAdapterError` listing installed ones."""
    found = adapters()
    if name not in found:
        note = "".join(f"; {failure}" for failure in _get().failures)
        raise UnknownAdapterError(
            f"unknown adapter {name!r} (installed: {', '.join(sorted(found))}){note}"
        )
    return found[name].adapter_class


def describe_capabilities(capabilities: Capabilities) -> Mapping[str, Any]:
    """Capabilities as a JSON-ready mapping."""
    return {
        "max_length": capabilities.max_length,
        "media": capabilities.media,
        "images": capabilities.images.max_count,
        "videos": capabilities.videos.max_count,
        "max_alt_length": capabilities.max_alt_length,
        "threads": capabilities.threads,
        "audiences": list(capabilities.audiences),
        "native_scheduling": capabilities.native_scheduling,
        "delete": capabilities.delete,
        "idempotent": capabilities.idempotent,
    }


__all__ = [
    "BUILTIN_ADAPTERS",
    "BUILTIN_PLUGIN",
    "ENTRY_POINT_GROUP",
    "LIFECYCLE_EVENTS",
    "AdapterInfo",
    "FailureReporter",
    "PluginFailure",
    "UnknownAdapterError",
    "adapter_class",
    "adapters",
    "available_adapters",
    "check_message",
    "describe_capabilities",
    "failures",
    "failures_so_far",
    "has_content_checks",
    "hook",
    "manager",
    "media_host",
    "media_hosts",
    "notify",
    "observed",
    "register",
    "reset",
    "set_failure_reporter",
    "template_filters",
    "template_globals",
    "unregister",
]
