"""A planned route's media and thread parts: media read and fitted to the channel once,
alt text rendered once (or per slot when it reads the date), a text split once."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import attrs

from socialsched.adapters import Adapter
from socialsched.calendar.model import Channel, Post, Segment
from socialsched.calendar.post_problems import joined
from socialsched.errors import MediaError, PlanError
from socialsched.media.library import MediaLibrary, alt_source, items_for, keep_metadata
from socialsched.media.model import Media

from .plans import Slot, Timing
from .render import Renderer
from .threads import split_thread


class PlannedRoute(NamedTuple):
    """One post going to one segment on one channel, with the group's slots."""

    post: Post
    segment: Segment
    channel: Channel
    timing: Timing


def _thread_parts(adapter: Adapter, post: Post, text: str) -> tuple[tuple[str, ...], list[str]]:
    """(the thread parts of `text`, empty for a single post; problems with threading it)."""
    if not post.thread:
        return (), []
    capabilities = adapter.capabilities
    limit = capabilities.max_length
    if limit is None or adapter.text_length(text) <= limit:
        return (), []
    if not capabilities.threads:
        return (), [f"{adapter.name} cannot publish threads, so the text must fit in one post"]
    try:
        parts = split_thread(text, limit, adapter.text_length, post.number_parts)
    except ValueError as error:
        return (), [str(error)]
    return tuple(parts), []


class RouteExtras:
    """A route's media, fitted to its channel once, and thread parts. Alt text is
    rendered once, or per slot (memoised by local time and holiday) when an alt
    template reads the date; a text is split into parts once."""

    def __init__(
        self,
        renderer: Renderer,
        route: PlannedRoute,
        adapter: Adapter,
        fitted: tuple[Media, ...],
        alts: list[tuple[str, str]],
    ) -> None:
        self.renderer = renderer
        self.route = route
        self.adapter = adapter
        self.fitted = fitted
        self.alts = alts
        self.timed = any(renderer.uses_time(source, label) for source, label in alts)
        self._rendered: dict[tuple[datetime, str | None] | None, tuple[Media, ...]] = {}
        self._split: dict[str, tuple[tuple[str, ...], list[str]]] = {}
        #: What the kept slots carry, filled in by the planner.
        self.media_column: list[tuple[Media, ...]] = []
        self.parts_column: list[tuple[str, ...]] = []

    @classmethod
    def of(
        cls, renderer: Renderer, library: MediaLibrary, route: PlannedRoute, adapter: Adapter
    ) -> RouteExtras:
        """Read and fit the route's media; raises `MediaError` or `PlanError` for a file
        that cannot be used or media the channel's network refuses."""
        post, segment, channel, timing = route
        items = items_for(post.media, segment.locale)
        if not items or not timing.slots:
            return cls(renderer, route, adapter, (), [])
        capabilities = adapter.capabilities
        keep = keep_metadata(channel)
        fitted = []
        errors = []
        for item in items:
            source = library.source(item, post)
            try:
                limits = capabilities.limits(source.kind)
                fitted.append(library.fitted(source, limits, keep, post=post))
            except MediaError as error:
                errors.append(error)
        alts = [alt_source(item, post, segment.locale) for item in items]
        route_media = cls(renderer, route, adapter, tuple(fitted), alts)
        if errors:
            raise joined(errors)
        if not route_media.timed:
            # Alt text is the same for every slot: check the media once for the route.
            media = route_media.media_for(timing.slots[0])
            issues = adapter.media_problems(media)
            if issues:
                files = ", ".join(item.source for item in media)
                raise PlanError(f"{'; '.join(issues)} (media: {files})")
        return route_media

    def for_slot(
        self, slot: Slot, text: str
    ) -> tuple[tuple[Media, ...], tuple[str, ...], list[str]]:
        """(media, thread parts, problems threading `text`) for `slot`."""
        split = self._split.get(text)
        if split is None:
            split = self._split[text] = _thread_parts(self.adapter, self.route.post, text)
        return self.media_for(slot), *split

    def media_for(self, slot: Slot) -> tuple[Media, ...]:
        """The media with alt text rendered for `slot`."""
        if not self.fitted:
            return ()
        key = (slot.local, slot.holiday) if self.timed else None
        media = self._rendered.get(key)
        if media is None:
            post, segment, channel, _ = self.route
            render = self.renderer.render_alt
            media = tuple(
                attrs.evolve(
                    variant,
                    alt=render(post, source, label, segment, channel, slot.local, slot.holiday),
                )
                for variant, (source, label) in zip(self.fitted, self.alts, strict=True)
            )
            self._rendered[key] = media
        return media
