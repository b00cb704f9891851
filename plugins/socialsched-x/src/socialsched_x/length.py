"""X's weighted post length (twitter-text configuration v3).

Each code point weighs 200 units except those in the light ranges below (100 units);
a post may hold 28,000 units, reported as 280 "characters". Every URL counts as 23
characters whatever its length, since X shortens it to a t.co link. An emoji counts
200 units once, whatever code points make it up (skin tone, variation selector, keycap,
zero-width-joined family, flag pair, tag sequence), as X parses emoji whole. Text is
NFC-normalised first, as X does.
"""

from __future__ import annotations

import re
import unicodedata

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


ZWJ = "\u200d"
_EMOJI_TAIL = re.compile("[\ufe0e\ufe0f\u20e3\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]")
"""Code points that continue an emoji: variation selectors, keycap, skin tones, tags."""
_REGIONAL = re.compile("[\U0001f1e6-\U0001f1ff]")


def _text_units(text: str) -> int:
    units = 0
    index = 0
    while index < len(text):
        char = text[index]
        end = index + 1
        heavy = ord(char) >= 0x2000 and _weight(char) == DEFAULT_WEIGHT
        if heavy or char in "#*" or char.isdigit():  # an emoji, or a keycap's base
            if _REGIONAL.match(char) and end < len(text) and _REGIONAL.match(text[end]):
                end += 1
            while end < len(text) and (
                _EMOJI_TAIL.match(text[end]) or (text[end] == ZWJ and end + 1 < len(text))
            ):
                end += 2 if text[end] == ZWJ else 1
                while end < len(text) and _EMOJI_TAIL.match(text[end]):
                    end += 1
        if end > index + 1:
            units += DEFAULT_WEIGHT  # one emoji, however many code points
        else:
            units += _weight(char)
        index = end
    return units


def weighted_length(text: str) -> int:
    """The length of `text` as X counts it against its 280 limit."""
    text = unicodedata.normalize("NFC", text)
    units = 0
    position = 0
    for match in _URL.finditer(text):
        units += _text_units(text[position : match.start()])
        units += URL_LENGTH * SCALE
        position = match.end()
    units += _text_units(text[position:])
    return -(-units // SCALE)
