"""socialsched: plan and publish social-media content calendars for many audience
segments at once, each in its own language, time zone, holidays and customs."""

from . import plugins
from .errors import CalendarError, PlanError, Problem, RenderError, SocialschedError
from .hookspecs import hookimpl
from .loader import load
from .model import Calendar, Channel, Delivery, Observance, Post, QuietWindow, Segment
from .planner import Planner, plan

__version__ = "0.1.0"

__all__ = [
    "Calendar",
    "CalendarError",
    "Channel",
    "Delivery",
    "Observance",
    "PlanError",
    "Planner",
    "Post",
    "Problem",
    "QuietWindow",
    "RenderError",
    "Segment",
    "SocialschedError",
    "__version__",
    "hookimpl",
    "load",
    "plan",
    "plugins",
]
