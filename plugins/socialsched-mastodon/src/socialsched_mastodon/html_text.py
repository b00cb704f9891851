"""The plain text of a status's HTML `content` (`MastodonAdapter.find` compares it)."""

from __future__ import annotations

import html.parser


class _TextOf(html.parser.HTMLParser):
    """The text of a status's HTML `content`, a space where a line or paragraph breaks."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p"):
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(content: str) -> str:
    """The text of a status's HTML `content`, as `find` compares it."""
    parser = _TextOf()
    parser.feed(content)
    parser.close()
    return "".join(parser.parts)
