"""Best times: the local posting hours with the highest median engagement, per segment.

A delivery's score is the sum of the reactions its network gives among `SCORE_COUNTS`
(likes + reposts + replies + quotes; views and clicks are left out: networks that give
them count them in other units). A delivery whose network gives none of the four has
no score and is left out. Deliveries are grouped by the hour they went out in their
segment's own time zone (an hour slot "09:00" holds 09:00-09:59); a slot is proposed
only when at least `min_samples` scored deliveries are behind it, best median first
(ties: more samples, then the earlier hour). Where no slot has enough samples, nothing
is proposed, and the suggestion says why.

Pure functions over `socialsched.analytics.reports.Observation`s.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from .reports import Observation

#: The counts a delivery's score adds up.
SCORE_COUNTS: tuple[str, ...] = ("likes", "reposts", "replies", "quotes")
#: Fewest scored deliveries behind a proposed hour, unless told otherwise.
DEFAULT_MIN_SAMPLES = 5
#: Most hours proposed per segment, unless told otherwise.
DEFAULT_TOP = 3


def score(observation: Observation) -> int | None:
    """likes + reposts + replies + quotes, over those the network gives; None when it
    gives none of them."""
    given = [getattr(observation, name) for name in SCORE_COUNTS]
    present = [value for value in given if value is not None]
    return sum(present) if present else None


@attrs.frozen
class Slot:
    """A proposed local hour: its median score and the deliveries behind it."""

    hour: int
    median: float
    samples: int

    @property
    def time(self) -> str:
        """The hour as a queue time, "HH:00"."""
        return f"{self.hour:02d}:00"

    def to_dict(self) -> dict[str, Any]:
        """As JSON shows it."""
        return {"time": self.time, "median": self.median, "samples": self.samples}


@attrs.frozen
class Suggestion:
    """What one segment's data proposes (on one channel, or on all when None):
    `slots` best first, `scored` deliveries in all; `note` says why nothing is
    proposed when `slots` is empty."""

    segment: str
    channel: str | None
    scored: int
    slots: tuple[Slot, ...]
    note: str | None = None

    @property
    def queue_name(self) -> str:
        """The name of the `[[queue]]` its TOML proposes."""
        return "best-" + self.segment + (f"-{self.channel}" if self.channel else "")

    def to_dict(self) -> dict[str, Any]:
        """As JSON shows it."""
        return {
            "segment": self.segment,
            "channel": self.channel,
            "deliveries": self.scored,
            "times": [slot.to_dict() for slot in self.slots],
            "note": self.note,
        }


def suggest(
    observations: Iterable[Observation],
    segments: Sequence[str],
    *,
    channel: str | None = None,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    top: int = DEFAULT_TOP,
) -> list[Suggestion]:
    """For each of `segments` (in that order), up to `top` local hours with the highest
    median score among those with at least `min_samples` scored deliveries (only on
    `channel` when given)."""
    if min_samples < 1:
        raise ValueError("min_samples must be at least 1")
    if top < 1:
        raise ValueError("top must be at least 1")
    hours: dict[str, dict[int, list[int]]] = {segment: {} for segment in segments}
    for observation in observations:
        if observation.segment not in hours or (channel and observation.channel != channel):
            continue
        value = score(observation)
        if value is not None:
            hours[observation.segment].setdefault(observation.local.hour, []).append(value)
    found = []
    for segment in segments:
        by_hour = hours[segment]
        scored = sum(map(len, by_hour.values()))
        slots = sorted(
            (
                Slot(hour=hour, median=float(statistics.median(values)), samples=len(values))
                for hour, values in by_hour.items()
                if len(values) >= min_samples
            ),
            key=lambda slot: (-slot.median, -slot.samples, slot.hour),
        )[:top]
        note = None
        where = f" on channel {channel}" if channel else ""
        if not scored:
            note = f"no engagement recorded for segment {segment}{where}"
        elif not slots:
            most = max(map(len, by_hour.values()))
            note = (
                f"too little data: {scored} scored deliveries{where}, at most {most} in one "
                f"local hour (need {min_samples}; see --min-samples)"
            )
        found.append(
            Suggestion(
                segment=segment, channel=channel, scored=scored, slots=tuple(slots), note=note
            )
        )
    return found


# ---- output ----


def to_text(suggestions: Sequence[Suggestion]) -> str:
    """One block per segment: its hours, best first, with median and sample size."""
    lines: list[str] = []
    for suggestion in suggestions:
        where = f" on {suggestion.channel}" if suggestion.channel else ""
        if not suggestion.slots:
            lines.append(f"{suggestion.segment}{where}: nothing proposed: {suggestion.note}")
            continue
        lines.append(
            f"{suggestion.segment}{where}: best local hours "
            f"(median of {'+'.join(SCORE_COUNTS)}, from {_deliveries(suggestion.scored)})"
        )
        for slot in suggestion.slots:
            lines.append(f"  {slot.time}  median {slot.median:g}  ({_deliveries(slot.samples)})")
    return "\n".join(lines)


def to_json(suggestions: Sequence[Suggestion]) -> str:
    """A JSON list, one object per segment."""
    return json.dumps([s.to_dict() for s in suggestions], ensure_ascii=False, indent=2)


def _deliveries(n: int) -> str:
    return f"{n} deliver{'y' if n == 1 else 'ies'}"


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def to_toml(suggestions: Sequence[Suggestion]) -> str:
    """A `[[queue]]` table per segment with proposed hours (times in the order of the
    day), with the evidence in comments; a comment only where nothing is proposed.
    A queue's times are each segment's local times: give posts on `best-<segment>`
    `segments = ["<segment>"]`."""
    blocks: list[str] = []
    for suggestion in suggestions:
        if not suggestion.slots:
            blocks.append(f"# {suggestion.segment}: nothing proposed: {suggestion.note}")
            continue
        lines = [
            f"# {suggestion.segment}"
            + (f" on {suggestion.channel}" if suggestion.channel else "")
            + f": median {'+'.join(SCORE_COUNTS)} per local hour, "
            f"from {_deliveries(suggestion.scored)}"
        ]
        ordered = sorted(suggestion.slots, key=lambda slot: slot.hour)
        lines += [
            f"#   {slot.time}  median {slot.median:g}  ({_deliveries(slot.samples)})"
            for slot in ordered
        ]
        lines += [
            "[[queue]]",
            f"name = {_toml_string(suggestion.queue_name)}",
            "times = [" + ", ".join(_toml_string(slot.time) for slot in ordered) + "]",
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


__all__ = [
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_TOP",
    "SCORE_COUNTS",
    "Slot",
    "Suggestion",
    "score",
    "suggest",
    "to_json",
    "to_text",
    "to_toml",
]
