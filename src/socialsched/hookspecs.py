"""Hook specifications for socialsched plugins (pluggy project name "socialsched").

A plugin is a module, class or object with functions marked `@socialsched.hookimpl`
whose names match the specs below (a plugin implements only the hooks it needs).
Installed plugins are found through the `socialsched` entry-point group; code can also
register one with `socialsched.plugins.register(obj)`.

pluggy calls hooks with keyword arguments only. Callers outside this package (the
runner) fire the lifecycle events through `socialsched.plugins.notify(...)`, which
isolates a failing observer, or directly through `socialsched.plugins.hook()`:

    plugins.notify("delivery_scheduled", delivery=d, channel=ch)
    plugins.notify("delivery_published", delivery=d, channel=ch, receipt=r, attempt=1)
    plugins.notify("delivery_failed", delivery=d, channel=ch, error=e, attempt=3, final=True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from socialsched.adapters.engagement import Engagement

    from .adapters import AdapterError, Message, Receipt
    from .calendar.model import Channel, Delivery, Segment

PROJECT_NAME = "socialsched"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_adapters(register: Callable[[type[Any]], None]) -> None:
    """Register network adapter classes by calling `register(AdapterClass)` for each.

    Each class subclasses `socialsched.adapters.Adapter` and sets a unique `name`,
    which channels name in their `adapter` key.
    """


@hookspec
def register_media_hosts(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register media hosts by calling `register(kind, factory)` for each.

    Networks that fetch media from a public URL (Instagram, Threads) publish through a
    host that makes a stored image or video reachable while it is published. A channel
    picks one with `settings.media_host = { kind = "KIND", ... }`; `factory(options)`
    receives that table without `kind` and returns an object with `put(media) -> url`
    and `remove(url)` (see `socialsched.media.hosts.MediaHost`). The built-in kind
    "folder" writes into a folder the user's web server serves; a plugin can offer
    object storage instead.
    """


@hookspec
def template_filters() -> Mapping[str, Callable[..., Any]] | None:
    """Jinja filters to add to every template, as a mapping of name to function.

    Filters run inside Jinja's sandbox; a filter wanting the segment's locale can be
    decorated with `jinja2.pass_context` and read `context["segment"]`. The planner
    renders a template once per distinct value of what it reads; set the attribute
    `socialsched_nondeterministic = True` on a filter whose result may change between
    calls with the same arguments (random text, the current time) to render it every time.
    """


@hookspec
def template_globals() -> Mapping[str, Any] | None:
    """Jinja globals (values or functions) to add to every template, by name."""


@hookspec
def check_message(message: Message, segment: Segment, channel: Channel) -> Iterable[str] | None:
    """Problems with a rendered message, checked at plan time (`plan`, `lint`).

    Return one human-readable string per problem (e.g. "contains banned word 'free'"),
    or nothing when the message is fine. Problems are reported like length-limit
    violations: `plan` fails on them and `lint` lists them all. Per-market policies
    read their settings from `segment.vars` or `channel.settings`.
    """


@hookspec
def delivery_scheduled(delivery: Delivery, channel: Channel) -> None:
    """A delivery was stored as scheduled and will be published at `delivery.utc`."""


@hookspec
def delivery_published(
    delivery: Delivery, channel: Channel, receipt: Receipt, attempt: int
) -> None:
    """A delivery was published; `receipt` is what the network returned and
    `attempt` counts tries, starting at 1."""


@hookspec
def delivery_failed(
    delivery: Delivery, channel: Channel, error: AdapterError, attempt: int, final: bool
) -> None:
    """Publishing a delivery failed with `error` (a `TransientError` or `PermanentError`).

    `final` is true when no retry will follow (permanent error or attempts used up).
    The error message never contains secret values.
    """


@hookspec
def engagement_collected(
    delivery_id: str, post: str, segment: str, channel: str, engagement: Engagement
) -> None:
    """Engagement counts of a published delivery were fetched and stored (`socialsched
    collect`, or the runner collecting by age): one call per delivery and snapshot.

    `engagement` holds the counts the channel's network gives (None for the others)
    and `fetched_at`. For exporters to a warehouse or a dashboard; an observer that
    raises is logged and does not stop collection.
    """
