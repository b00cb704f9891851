"""Loading plugins and asking them things: template helpers, content checks, media
hosts, lifecycle events (adapters: `socialsched.adapters.plugins`).

Plugins come from the `socialsched` entry-point group of installed packages and from
`register(obj)` in code. A plugin that fails to import or whose hook raises is recorded
as a `PluginFailure` naming it (see `socialsched.plugins.failures()`), and the rest keep
working: one broken package never takes the CLI down.

This module knows no adapter class, so the adapter base can ask it for media hosts;
the built-in adapters are added by `socialsched.adapters.plugins`.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from socialsched import hookspecs
from socialsched.media.hosts import FolderMediaHost, MediaHost
from socialsched.media.hosts import media_host as _media_host_from

if TYPE_CHECKING:
    from socialsched.calendar.model import Channel, Segment

    from .messages import Message

ENTRY_POINT_GROUP = "socialsched"
BUILTIN_PLUGIN = "socialsched.builtin"

# The documented logger of plugin failures (see `set_failure_reporter`).
log = logging.getLogger("socialsched.plugins")


@attrs.frozen
class PluginFailure:
    """A plugin that could not be loaded or whose hook raised, with the reason."""

    plugin: str
    package: str | None
    message: str

    def __str__(self) -> str:
        source = f" (package {self.package})" if self.package else ""
        return f"plugin {self.plugin!r}{source}: {self.message}"


class _Builtins:
    """What ships with socialsched and plugs in like a plugin: the "folder" media host
    (the built-in adapters are listed by `socialsched.adapters.plugins.adapters`)."""

    @hookspecs.hookimpl
    def register_media_hosts(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        register("folder", FolderMediaHost.from_settings)


class _State:
    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.packages: dict[str, str] = {}
        self.failures: list[PluginFailure] = []
        self.manager.register(_Builtins(), name=BUILTIN_PLUGIN)
        self.packages[BUILTIN_PLUGIN] = _own_package()
        self._load_entry_points()

    def _load_entry_points(self) -> None:
        seen: set[str] = set()
        for dist in importlib.metadata.distributions():
            for entry_point in dist.entry_points:
                if entry_point.group != ENTRY_POINT_GROUP or entry_point.name in seen:
                    continue
                seen.add(entry_point.name)
                package = f"{dist.metadata['Name']} {dist.version}"
                if self.manager.is_blocked(entry_point.name):
                    continue
                try:
                    plugin = entry_point.load()
                    self.manager.register(plugin, name=entry_point.name)
                except Exception as error:
                    failure = PluginFailure(entry_point.name, package, _describe(error))
                    self.failures.append(failure)
                    _report(failure)
                    continue
                self.packages[entry_point.name] = package


def _own_package() -> str:
    try:
        return f"socialsched {importlib.metadata.version('socialsched')} (built-in)"
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "socialsched (built-in)"


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


_lock = threading.Lock()
_state: _State | None = None


def _get() -> _State:
    global _state
    with _lock:
        if _state is None:
            _state = _State()
        return _state


def manager() -> pluggy.PluginManager:
    """The pluggy plugin manager with built-ins, installed and registered plugins."""
    return _get().manager


def hook() -> Any:
    """The pluggy hook relay: `hook().delivery_published(delivery=..., ...)`.

    Calls raise whatever a plugin raises; prefer `notify` for lifecycle events.
    """
    return manager().hook


def register(plugin: object, name: str | None = None) -> str:
    """Register a plugin object (module, class or instance with `@hookimpl` functions).

    Returns the name it is registered under: `name`, or one derived from the module
    or class (problems and warnings name the plugin by it).
    """
    state = _get()
    if name is None:
        name = _readable_name(plugin, state.manager)
    registered = state.manager.register(plugin, name=name)
    assert registered is not None
    module = getattr(plugin, "__module__", None) or getattr(plugin, "__name__", "?")
    state.packages[registered] = f"registered in code ({module})"
    return registered


def _readable_name(plugin: object, manager: pluggy.PluginManager) -> str:
    if isinstance(plugin, type) or hasattr(plugin, "__file__"):
        base = str(getattr(plugin, "__name__", "plugin"))
    else:
        base = f"{type(plugin).__module__}.{type(plugin).__qualname__}"
    name, number = base, 1
    while manager.has_plugin(name):
        number += 1
        name = f"{base}#{number}"
    return name


def unregister(plugin: object | None = None, name: str | None = None) -> None:
    """Remove a plugin registered with `register` (by object or by name)."""
    state = _get()
    if name is None and plugin is not None:
        name = state.manager.get_name(plugin)
    if name is not None and state.manager.has_plugin(name):
        state.manager.unregister(name=name)
        state.packages.pop(name, None)


def reset() -> None:
    """Forget every plugin and load them again from scratch (after installing one)."""
    global _state
    with _lock:
        _state = None
    importlib.invalidate_caches()


def failures_so_far() -> list[PluginFailure]:
    """Failures recorded so far, without loading plugins if nothing needed them yet."""
    return list(_state.failures) if _state is not None else []


def _impls(hook_name: str) -> list[tuple[str, Callable[..., Any]]]:
    """(plugin name, caller) per implementation, in registration order: built-ins first,
    then installed plugins, then code-registered ones. Each caller takes the hook's
    keyword arguments and passes an implementation only those it declares, as pluggy does.
    """
    state = _get()
    caller = getattr(state.manager.hook, hook_name)
    return [(impl.plugin_name, _bound(impl)) for impl in caller.get_hookimpls()]


def _bound(impl: Any) -> Callable[..., Any]:
    function, argnames = impl.function, impl.argnames

    def call(**kwargs: Any) -> Any:
        return function(**{name: kwargs[name] for name in argnames if name in kwargs})

    return call


def _record(failure: PluginFailure) -> None:
    state = _get()
    if failure not in state.failures:
        state.failures.append(failure)
        _report(failure)


FailureReporter = Callable[[PluginFailure], None]
_reporter: FailureReporter | None = None


def set_failure_reporter(reporter: FailureReporter | None) -> FailureReporter | None:
    """Have `reporter` told of each plugin failure once, when it is found, instead of
    the default warning on the `socialsched.plugins` logger (the CLI prints
    "warning: ..." this way). Returns the reporter it replaces; None restores logging.
    """
    global _reporter
    previous, _reporter = _reporter, reporter
    return previous


def _report(failure: PluginFailure) -> None:
    if _reporter is not None:
        _reporter(failure)
    else:
        log.warning("%s", failure)


def media_hosts() -> dict[str, Callable[..., Any]]:
    """Every media host factory by kind; the first plugin to claim a kind keeps it."""
    state = _get()
    found: dict[str, Callable[..., Any]] = {}
    for plugin_name, function in _impls("register_media_hosts"):
        claimed: dict[str, Callable[..., Any]] = {}
        try:
            function(register=claimed.setdefault)
        except Exception as error:
            package = state.packages.get(plugin_name, plugin_name)
            _record(
                PluginFailure(plugin_name, package, f"register_media_hosts: {_describe(error)}")
            )
            continue
        for kind, factory in claimed.items():
            found.setdefault(str(kind), factory)
    return found


def media_host(settings: Mapping[str, Any] | None) -> MediaHost:
    """The host a channel's `media_host` table describes, of a kind socialsched or a
    plugin provides (`socialsched.media.hosts.MediaHostError` when it names none, an
    unknown kind or is incomplete)."""
    return _media_host_from(settings, media_hosts())


def _collect_mapping(hook_name: str) -> dict[str, Any]:
    state = _get()
    merged: dict[str, Any] = {}
    for plugin_name, function in _impls(hook_name):
        try:
            result = function()
            if result is not None:
                merged.update(dict(result))
        except Exception as error:
            package = state.packages.get(plugin_name, plugin_name)
            _record(PluginFailure(plugin_name, package, f"{hook_name}: {_describe(error)}"))
    return merged


def template_filters() -> dict[str, Callable[..., Any]]:
    """Jinja filters contributed by plugins, by name."""
    return _collect_mapping("template_filters")


def template_globals() -> dict[str, Any]:
    """Jinja globals contributed by plugins, by name."""
    return _collect_mapping("template_globals")


def check_message(message: Message, segment: Segment, channel: Channel) -> list[str]:
    """Every content problem plugins find in a rendered message.

    A plugin whose check raises is reported as a problem naming it, so a broken
    policy never lets a message through unchecked.
    """
    problems: list[str] = []
    for plugin_name, function in _impls("check_message"):
        try:
            found = function(message=message, segment=segment, channel=channel)
        except Exception as error:
            problems.append(f"content check of plugin {plugin_name!r} failed: {_describe(error)}")
            continue
        if found is None:
            continue
        if isinstance(found, str):
            found = [found]
        problems.extend(f"{problem} (plugin {plugin_name})" for problem in found)
    return problems


def has_content_checks() -> bool:
    """Whether any plugin implements `check_message`."""
    return bool(_get().manager.hook.check_message.get_hookimpls())


LIFECYCLE_EVENTS = (
    "delivery_scheduled",
    "delivery_published",
    "delivery_failed",
    "engagement_collected",
)


def observed(event: str) -> bool:
    """Whether any plugin implements the hook of lifecycle `event` (callers announcing
    many events can skip building them when nobody listens)."""
    if event not in LIFECYCLE_EVENTS:
        raise ValueError(
            f"unknown lifecycle event {event!r} (known: {', '.join(LIFECYCLE_EVENTS)})"
        )
    return bool(getattr(_get().manager.hook, event).get_hookimpls())


def notify(event: str, **kwargs: Any) -> None:
    """Tell every plugin about a lifecycle event; an observer that raises is logged
    (by plugin name) and skipped, so metrics never break publishing.

    `event` is one of `LIFECYCLE_EVENTS`; keyword arguments follow its hookspec.
    """
    if event not in LIFECYCLE_EVENTS:
        raise ValueError(
            f"unknown lifecycle event {event!r} (known: {', '.join(LIFECYCLE_EVENTS)})"
        )
    for plugin_name, function in _impls(event):
        try:
            function(**kwargs)
        except Exception as error:
            log.warning("plugin %r failed handling %s: %s", plugin_name, event, _describe(error))
