"""Splitting a long text into the parts of a thread (a reply chain), each fitting a
network's length limit as the network counts it.

Parts break between sentences where possible, else between words, and only as a last
resort inside a word. Numbering (" 1/3") is counted within the limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# A sentence ends with . ! ? … (or their CJK forms), possibly followed by closing
# quotes or brackets; a blank line ends a paragraph. The whitespace after it is kept
# with the next piece so that a part keeps its own line breaks.
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’»)\]]*\s+|\n\s*\n")
_WORD_GAP = re.compile(r"\s+")


def split_thread(
    text: str,
    limit: int,
    length: Callable[[str], int] = len,
    numbered: bool = True,
) -> list[str]:
    """The parts of `text` as a thread, each at most `limit` long by `length` (the
    network's own count, e.g. `Adapter.text_length`).

    A text that fits is returned as one part, unnumbered. Otherwise parts end at
    sentence boundaries, then word boundaries, then anywhere; with `numbered` each
    part ends with " i/n", counted within the limit. Whitespace at part boundaries is
    dropped; inside a part it is kept as written.

    Raises `ValueError` when `limit` leaves no room for text.
    """
    text = text.strip()
    if length(text) <= limit:
        return [text]
    digits = 1
    while True:
        # The widest number of this many digits bounds every " i/n" of the thread.
        widest = 10**digits - 1
        room = limit - (length(f" {widest}/{widest}") if numbered else 0)
        if room < 1:
            raise ValueError(f"a limit of {limit} leaves no room for text in a numbered thread")
        parts = _pack(text, room, length)
        if not numbered:
            return parts
        if len(parts) <= widest:
            total = len(parts)
            return [f"{part} {index}/{total}" for index, part in enumerate(parts, 1)]
        digits += 1


def _pieces(text: str, boundary: re.Pattern[str]) -> list[str]:
    """`text` cut at `boundary`, each piece but the first starting with the whitespace
    that preceded it."""
    pieces: list[str] = []
    start = 0
    for match in boundary.finditer(text):
        # Keep closing quotes with their sentence, whitespace with the next piece.
        cut = match.start() + len(match[0]) - len(match[0].lstrip("\"'”’»)]"))
        if cut > start:
            pieces.append(text[start:cut])
            start = cut
    pieces.append(text[start:])
    return [piece for piece in pieces if piece.strip()]


# Finer and finer boundaries: sentences, then words; past the last, characters.
_BOUNDARIES = (_SENTENCE_END, _WORD_GAP)


def _pack(text: str, room: int, length: Callable[[str], int], level: int = 0) -> list[str]:
    """Greedy packing: as many whole sentences per part as fit in `room`, a sentence
    too long for a part by words, a word too long by characters."""
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, _BOUNDARIES[level]):
        candidate = current + piece
        if current and length(candidate.strip()) <= room:
            current = candidate
            continue
        if current:
            parts.append(current.strip())
        piece = piece.strip()
        if length(piece) <= room:
            current = piece
            continue
        if level + 1 < len(_BOUNDARIES):
            finer = _pack(piece, room, length, level + 1)
        else:
            finer = _cut(piece, room, length)
        # The last bit of a long piece may share its part with what follows.
        parts.extend(finer[:-1])
        current = finer[-1]
    if current.strip():
        parts.append(current.strip())
    return parts


def _cut(word: str, room: int, length: Callable[[str], int]) -> list[str]:
    """`word` cut into pieces that fit in `room`, the last one possibly shorter."""
    pieces = []
    while length(word) > room:
        cut = _longest_prefix(word, room, length)
        pieces.append(word[:cut])
        word = word[cut:]
    return [*pieces, word]


def _longest_prefix(word: str, room: int, length: Callable[[str], int]) -> int:
    """The length (in code points, at least 1) of the longest prefix of `word` that
    fits in `room`."""
    low, high = 1, len(word)
    while low < high:
        middle = (low + high + 1) // 2
        if length(word[:middle]) <= room:
            low = middle
        else:
            high = middle - 1
    return low


__all__ = ["split_thread"]
