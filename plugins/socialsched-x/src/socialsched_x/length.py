"""X's weighted post length (twitter-text configuration v3).

Each code point weighs 200 units except those in the light ranges below (100 units);
a post may hold 28,000 units, reported as 280 "characters". Every URL counts as 23
characters whatever its length, since X shortens it to a t.co link.
"""

from __future__ import annotations

import re

SCALE = 100
DEFAULT_WEIGHT = 200
LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
"""Code point ranges weighing 100 (Latin, Greek, Cyrillic, ... and some punctuation)."""
LIGHT_WEIGHT = 100
URL_LENGTH = 23
MAX_LENGTH = 280

_URL = re.compile(r"https?://[^\s]+", re.IGNORECASE)


def _weight(char: str) -> int:
    code = ord(char)
    for start, end in LIGHT_RANGES:
        if start <= code <= end:
            return LIGHT_WEIGHT
    return DEFAULT_WEIGHT


def weighted_length(text: str) -> int:
    """The length of `text` as X counts it against its 280 limit."""
    units = 0
    position = 0
    for match in _URL.finditer(text):
        units += sum(_weight(char) for char in text[position : match.start()])
        units += URL_LENGTH * SCALE
        position = match.end()
    units += sum(_weight(char) for char in text[position:])
    return -(-units // SCALE)
