"""socialsched: plan and publish social-media content calendars for many audience
segments at once, each in its own language, time zone, holidays and customs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import CalendarError, PlanError, Problem, RenderError, SocialschedError
from .hookspecs import hookimpl
from .version import __version__ as __version__

if TYPE_CHECKING:
    from . import plugins as plugins
    from .calendar.model import (
        Calendar,
        Channel,
        Delivery,
        Observance,
        Post,
        QuietWindow,
        Segment,
    )
    from .planning.calendar_load import load
    from .planning.planner import Planner, plan
    from .planning.plans import Plan
    from .runner import Runner
    from .store import Hold, Store, StoreError

# Everything else is loaded when first used (`socialsched.Planner`, `from socialsched
# import Store`): the calendar model pulls in holidays and babel, the plugins the
# adapters and httpx, the store SQLAlchemy and Alembic, and `python -m socialsched`
# imports this package first, so `socialsched --version` would pay for all of them.
_CALENDAR_MODEL = {
    "Calendar",
    "Channel",
    "Delivery",
    "Observance",
    "Post",
    "QuietWindow",
    "Segment",
}
_STORE = {"Hold", "Store", "StoreError"}


def __getattr__(name: str) -> Any:
    value = _load(name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def _load(name: str) -> Any:
    if name in _CALENDAR_MODEL:
        from .calendar import model

        return getattr(model, name)
    if name == "load":
        from .planning.calendar_load import load

        return load
    if name in ("Planner", "plan"):
        from .planning import planner

        return getattr(planner, name)
    if name == "Plan":
        from .planning.plans import Plan

        return Plan
    if name in _STORE or name in ("Runner", "plugins"):
        # Not `from . import plugins`: that asks this module for the name again.
        import importlib

        where = ".store" if name in _STORE else ".runner" if name == "Runner" else ".plugins"
        module = importlib.import_module(where, __name__)
        return module if name == "plugins" else getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Calendar",
    "CalendarError",
    "Channel",
    "Delivery",
    "Hold",
    "Observance",
    "Plan",
    "PlanError",
    "Planner",
    "Post",
    "Problem",
    "QuietWindow",
    "RenderError",
    "Runner",
    "Segment",
    "SocialschedError",
    "Store",
    "StoreError",
    "__version__",
    "hookimpl",
    "load",
    "plan",
    "plugins",
]
