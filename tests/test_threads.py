"""Splitting long text into thread parts: every part fits the network's own count,
no word is lost or reordered, breaks fall between sentences, then words."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialsched.planning.threads import split_thread

NUMBER = re.compile(r" (\d+)/(\d+)$")


def strip_numbers(parts: list[str]) -> list[str]:
    stripped = []
    for part in parts:
        match = NUMBER.search(part)
        assert match, part
        stripped.append(part[: match.start()])
    return stripped


def graphemes(text: str) -> int:
    """A rough grapheme count (combining marks join the previous character), standing
    in for a network that counts graphemes, like Bluesky."""
    return sum(1 for char in text if not unicodedata.combining(char))


def links_as_23(text: str) -> int:
    """Length as Mastodon counts it: every link as 23 characters."""
    return len(re.sub(r"https?://\S+", "x" * 23, text))


words = st.text(
    alphabet=st.characters(
        codec="utf-8", categories=("L", "M", "N", "P"), exclude_characters="\u0085\u2028\u2029"
    ),
    min_size=1,
    max_size=30,
)
separators = st.sampled_from([" ", "  ", "\n", ". ", "! ", "? ", ".\n\n", ", "])


@st.composite
def texts(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.tuples(words, separators), min_size=1, max_size=60))
    return "".join(word + separator for word, separator in pieces)


@settings(max_examples=300, deadline=None)
@given(text=texts(), limit=st.integers(min_value=12, max_value=300), numbered=st.booleans())
def test_every_part_fits_and_the_words_come_back_in_order(text, limit, numbered):
    parts = split_thread(text, limit, numbered=numbered)
    assert all(len(part) <= limit for part in parts)
    assert all(part.strip() for part in parts)
    if len(parts) == 1:
        assert parts == [text.strip()]
        return
    bare = strip_numbers(parts) if numbered else parts
    if numbered:
        assert [NUMBER.search(p).groups() for p in parts] == [
            (str(i), str(len(parts))) for i in range(1, len(parts) + 1)
        ]
    # Words split only when a single word is longer than a part: joining the parts
    # gives back the text's characters, without whitespace, in order.
    assert "".join("".join(bare).split()) == "".join(text.split())
    if all(len(word) <= limit - 8 for word in text.split()):
        assert " ".join(bare).split() == text.split()


@settings(max_examples=150, deadline=None)
@given(text=texts(), limit=st.integers(min_value=12, max_value=200))
def test_parts_fit_a_network_that_counts_graphemes(text, limit):
    parts = split_thread(text, limit, length=graphemes)
    assert all(graphemes(part) <= limit for part in parts)
    bare = strip_numbers(parts) if len(parts) > 1 else parts
    assert "".join("".join(bare).split()) == "".join(text.split())


def test_a_text_that_fits_is_one_unnumbered_part():
    assert split_thread("  Short and sweet.  ", 280) == ["Short and sweet."]


def test_parts_break_between_sentences_before_words():
    text = "First sentence here. Second one is here too. Third and last one."
    parts = split_thread(text, 30)
    assert parts == [
        "First sentence here. 1/3",
        "Second one is here too. 2/3",
        "Third and last one. 3/3",
    ]


def test_a_sentence_longer_than_a_part_breaks_between_words():
    parts = split_thread("one two three four five six seven eight nine ten", 20, numbered=False)
    assert parts == ["one two three four", "five six seven eight", "nine ten"]


def test_a_word_longer_than_a_part_is_cut_as_a_last_resort():
    parts = split_thread("a " + "x" * 25, 10, numbered=False)
    assert parts == ["a", "x" * 10, "x" * 10, "x" * 5]


def test_numbering_is_counted_within_the_limit_and_widens_past_nine_parts():
    text = " ".join(f"Sentence number {n}." for n in range(1, 31))
    parts = split_thread(text, 30)
    assert len(parts) >= 10
    assert all(len(part) <= 30 for part in parts)
    assert parts[0].endswith(f" 1/{len(parts)}") and parts[-1].endswith(
        f" {len(parts)}/{len(parts)}"
    )


def test_links_count_as_the_network_counts_them():
    link = "https://example.org/" + "a" * 80
    text = f"Read the full story at {link} today. It is worth it, we promise you."
    parts = split_thread(text, 50, length=links_as_23)
    assert all(links_as_23(part) <= 50 for part in parts)
    # A 100-character link counts 23 here, so it is never cut.
    assert any(link in part for part in parts)


def test_paragraph_breaks_are_kept_inside_a_part():
    text = "Title line.\n\nBody of the post goes here.\n\n" + "More words follow. " * 10
    parts = split_thread(text, 80)
    assert parts[0].startswith("Title line.\n\nBody of the post goes here.")


def test_a_limit_with_no_room_for_text_is_an_error():
    with pytest.raises(ValueError, match="no room"):
        split_thread("a b c d e f g h", 4)
