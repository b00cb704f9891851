"""socialsched: plan and publish social-media content calendars for many audience
segments at once, each in its own language, time zone, holidays and customs."""

from .errors import CalendarError, PlanError, Problem, RenderError, SocialschedError
from .hookspecs import hookimpl
from .loader import load
from .model import Calendar, Channel, Delivery, Observance, Post, QuietWindow, Segment
from .planner import Planner, plan
from .runner import Runner
from .store import Hold, Store, StoreError

__version__ = "0.1.0"

__all__ = [
    "Calendar",
    "CalendarError",
    "Channel",
    "Delivery",
    "Hold",
    "Observance",
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
]
