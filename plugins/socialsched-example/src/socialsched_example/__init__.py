"""socialsched-example: a sample plugin (adapter, content policy, template filter).

socialsched loads this module through the `socialsched` entry point declared in
pyproject.toml and calls the `@hookimpl` functions below.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from socialsched import hookimpl

from .chat import ExampleChatAdapter

__all__ = ["ExampleChatAdapter", "check_message", "register_adapters", "template_filters"]


@hookimpl
def register_adapters(register: Callable[[type[Any]], None]) -> None:
    """Make `adapter = "example-chat"` usable in calendars."""
    register(ExampleChatAdapter)


@hookimpl
def check_message(message: Any, segment: Any, channel: Any) -> list[str]:
    """Words a market must not see, from the segment's `vars.banned_words`."""
    banned = segment.vars.get("banned_words", [])
    words = set(re.findall(r"\w+", message.text.lower()))
    return [f"contains {word!r}, banned in {segment.name}" for word in banned if word in words]


def hashtag(text: str) -> str:
    """'summer sale' -> '#SummerSale'."""
    return "#" + "".join(part[:1].upper() + part[1:] for part in str(text).split())


@hookimpl
def template_filters() -> dict[str, Callable[..., str]]:
    """Template filters this plugin adds."""
    return {"hashtag": hashtag}
