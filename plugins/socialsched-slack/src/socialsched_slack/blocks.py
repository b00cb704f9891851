"""Slack message formatting: escaping and splitting text into section blocks."""

from __future__ import annotations

import re

TEXT_LIMIT = 40_000
"""Slack truncates a message's top-level `text` beyond this many characters."""
SECTION_LIMIT = 3_000
"""Most characters a section block's text may hold."""
BLOCKS_LIMIT = 50
"""Most blocks one message may carry."""


def escape(text: str) -> str:
    """Escape the three characters Slack treats as markup control (`&`, `<`, `>`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(piece: str, limit: int) -> list[str]:
    """Cut one over-long piece at whitespace, or hard at `limit` when a word is longer."""
    out: list[str] = []
    while len(piece) > limit:
        window = piece[: limit + 1]
        at = max(window.rfind(" "), window.rfind("\n"))
        if at <= 0:
            at = limit
            # A hard cut must not split an escape such as "&amp;" in half.
            amp = piece.rfind("&", at - 4, at)
            if amp > 0 and ";" not in piece[amp:at]:
                at = amp
        out.append(piece[:at].rstrip())
        piece = piece[at:].lstrip()
    if piece:
        out.append(piece)
    return out


def split_sections(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split `text` into chunks of at most `limit` characters, preferring paragraph breaks.

    Paragraphs (blank-line separated) are packed greedily into chunks; a paragraph longer
    than `limit` is cut at the last whitespace before the limit.
    """
    chunks: list[str] = []
    current = ""
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        for piece in _cut(paragraph, limit):
            joined = f"{current}\n\n{piece}" if current else piece
            if len(joined) <= limit:
                current = joined
            else:
                chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def section_blocks(text: str) -> list[dict[str, object]]:
    """Slack `section` blocks with mrkdwn text, each within the section limit."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in split_sections(text)
    ]
