"""Hook specifications for socialsched plugins (pluggy project name "socialsched").

A plugin is a module or object with functions marked `@socialsched.hookimpl` whose names
match the specs below. Installed plugins are found through the `socialsched`
entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("socialsched")
hookimpl = pluggy.HookimplMarker("socialsched")


@hookspec
def register_adapters(register: Callable[[type[Any]], None]) -> None:
    """Register network adapter classes by calling `register(AdapterClass)` for each.

    Each class subclasses `socialsched.adapters.Adapter` and sets a unique `name`,
    which channels name in their `adapter` key.
    """
