"""The planner's side of finite series (`count`, `skip`, `[[post.occurrence]]`, see
`socialsched.calendar.occurrences`): which cron candidates are occurrences, the
variants of changed occurrences with their own renderers, and their routes merged back
into one per post, segment and channel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import attrs

from socialsched.calendar.occurrences import Occurrence, is_series, last_occurrence

from .text_variance import RouteTexts, TextCache

if TYPE_CHECKING:
    from socialsched.calendar.model import Channel, Post, Segment

    from .plans import Route, Slot
    from .render import Renderer


def _slot_day(key: str) -> date:
    return date.fromisoformat(key.partition("#")[0])


Candidate = tuple[str, datetime, str | None, bool]


def select(post: Post, found: list[Candidate]) -> list[Candidate]:
    """The planner's cron candidates (slot key, naive local time, ...) of `post` that
    are occurrences of its series, changed times applied; `found` as is for a post
    that is no series."""
    if not is_series(post):
        return found
    last = None
    if post.count is not None and post.cron is not None and post.start is not None:
        last = last_occurrence(post.cron, post.start, post.end, post.count)
    skipped = set(post.skip)
    moved = {change.date: change.at for change in post.occurrence if change.at is not None}
    kept = []
    for key, naive, trigger, applies in found:
        day = naive.date()
        if last is not None and (day, int(key.rpartition("#")[2])) > last:
            continue
        if day in skipped:
            continue
        at = moved.get(day)
        kept.append((key, naive if at is None else datetime.combine(day, at), trigger, applies))
    return kept


def variant(post: Post, change: Occurrence) -> Post:
    """The post as its changed occurrence `change` goes out: its text, media and
    channels in place of the post's; the same id (so the same delivery ids)."""
    changes: dict[str, Any] = {"count": None, "skip": (), "occurrence": ()}
    if change.text is not None:
        changes.update(text=change.text, template=None)
    if change.media is not None:
        changes["media"] = change.media
    if change.channels is not None:
        changes["channels"] = change.channels
    return attrs.evolve(post, **changes)


class Variants:
    """The planner's side of series: splits a post's slots between the post and the
    variants of its changed occurrences, gives each variant its own renderer and text
    cache (theirs are keyed by post id, which a variant shares), and merges the routes
    of one post, segment and channel back into one."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self._made: dict[tuple[str, date], Post] = {}
        self._forks: dict[int, tuple[Post, Renderer, TextCache]] = {}
        self._split = False

    def split(self, post: Post, slots: list[Slot]) -> list[tuple[Post, list[Slot]]]:
        """(post or variant, its slots): the post with the slots of its unchanged
        occurrences, then each changed occurrence's variant with its own."""
        changed = {change.date: change for change in post.occurrence if change.changes_content}
        if not changed:
            return [(post, slots)]
        base: list[Slot] = []
        extra: dict[date, list[Slot]] = {}
        for slot in slots:
            day = _slot_day(slot.key)
            if day in changed:
                extra.setdefault(day, []).append(slot)
            else:
                base.append(slot)
        self._split = True
        return [(post, base)] + [
            (self._variant(post, changed[day]), chosen) for day, chosen in extra.items()
        ]

    def _variant(self, post: Post, change: Occurrence) -> Post:
        key = (post.id, change.date)
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = variant(post, change)
            self._forks[id(made)] = (made, self.renderer.fork(), {})
        return made

    def texts(
        self, post: Post, segment: Segment, channel: Channel, shared: TextCache
    ) -> RouteTexts:
        """The route's `RouteTexts`, with the variant's own renderer and cache."""
        fork = self._forks.get(id(post))
        if fork is None:
            return RouteTexts(self.renderer, post, segment, channel, shared)
        return RouteTexts(fork[1], post, segment, channel, fork[2])

    def merge(self, routes: list[Route]) -> list[Route]:
        """`routes` with those of one (post, segment, channel) made one route."""
        if not self._split:
            return routes
        groups: dict[tuple[str, str, str], list[Route]] = {}
        for route in routes:
            groups.setdefault((route.post, route.segment, route.channel), []).append(route)
        return [group[0] if len(group) == 1 else _merged(group) for group in groups.values()]


def _merged(group: Sequence[Route]) -> Route:
    from .plans import Timing

    rows = [
        (
            slot,
            None if route.texts is None else route.texts[index],
            () if route.media is None else route.media[index],
            () if route.parts is None else route.parts[index],
        )
        for route in group
        for index, slot in enumerate(route.timing.slots)
    ]
    rows.sort(key=lambda row: row[0].utc)
    first = group[0]
    rendered = first.texts is not None
    has_media = any(route.media is not None for route in group)
    has_parts = any(route.parts is not None for route in group)
    return first._replace(
        timing=Timing.of([row[0] for row in rows]),
        texts=[row[1] or "" for row in rows] if rendered else None,
        media=[row[2] for row in rows] if has_media else None,
        parts=[row[3] for row in rows] if has_parts else None,
    )


def check_texts(post: Post, renderer: Renderer, locales: Sequence[str]) -> list[tuple[int, str]]:
    """(occurrence index, message) for each changed text that does not compile in
    one of `locales`."""
    from socialsched.errors import RenderError

    found = []
    fork = renderer.fork()
    for number, change in enumerate(post.occurrence):
        if change.text is None:
            continue
        for locale in locales:
            try:
                fork.check(variant(post, change), locale)
            except RenderError as error:
                label = f"post {post.id!r}"
                message = str(error).replace(label, f"{label} occurrence {change.date} text", 1)
                found.append((number, message))
                break
        fork = renderer.fork()  # the next variant has the same post id
    return found
