"""socialsched: plan and publish social-media content calendars for many audience
segments at once, each in its own language, time zone, holidays and customs."""

from . import plugins
from .calendar.model import Calendar, Channel, Delivery, Observance, Post, QuietWindow, Segment
from .errors import CalendarError, PlanError, Problem, RenderError, SocialschedError
from .hookspecs import hookimpl
from .planning.calendar_load import load
from .planning.planner import Planner, plan
from .planning.plans import Plan
from .version import __version__ as __version__

# The store and runner pull in SQLAlchemy and Alembic; load them only when used so
# planning commands start fast.
_LAZY = {"Hold": "store", "Store": "store", "StoreError": "store", "Runner": "runner"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
