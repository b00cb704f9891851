"""Errors and problems reported to users.

Every error names what went wrong and where (file, line when known, the
offending value), so the CLI can print it without a traceback.
"""

from __future__ import annotations

from pathlib import Path

import attrs


@attrs.frozen
class Problem:
    """One problem found in a calendar: an error or a warning, with its location."""

    message: str
    severity: str = "error"
    file: Path | None = None
    line: int | None = None
    where: str | None = None

    def __str__(self) -> str:
        location = ""
        if self.file is not None:
            location = str(self.file)
            if self.line is not None:
                location += f":{self.line}"
            location += ": "
        where = f"{self.where}: " if self.where else ""
        return f"{location}{self.severity}: {where}{self.message}"


class SocialschedError(Exception):
    """Base class of every error socialsched raises on purpose."""


class CalendarError(SocialschedError):
    """A calendar (file or Python objects) is invalid; carries every problem found."""

    def __init__(self, problems: list[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class RenderError(SocialschedError):
    """A template failed to render (undefined variable, syntax error, sandbox violation)."""


class PlanError(SocialschedError):
    """Planning failed, for example a message too long for its network."""


class MediaError(SocialschedError):
    """A post's media cannot be used: a missing or unreadable file, a type socialsched
    or the network does not take, a video over the network's limits, a failed fetch."""
