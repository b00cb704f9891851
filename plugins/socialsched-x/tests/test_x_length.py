"""X's weighted length, checked against twitter-text's published conformance cases."""

from socialsched_x import weighted_length


def test_latin_text_counts_one_per_character():
    assert weighted_length("Hello, world") == 12


def test_cjk_characters_weigh_two():
    # twitter-text conformance: "Count a mix of single byte single word, and double word
    # unicode characters" -> "H 你" ... each CJK ideograph weighs 2.
    assert weighted_length("你好") == 4
    assert weighted_length("a你") == 3


def test_emoji_weighs_two():
    assert weighted_length("\U0001f600") == 2


def test_url_counts_twenty_three_whatever_its_length():
    url = "https://example.com/" + "a" * 60
    assert weighted_length(f"see {url}") == 4 + 23


def test_280_latin_characters_fit_and_140_cjk_fill_the_post():
    assert weighted_length("a" * 280) == 280
    assert weighted_length("你" * 140) == 280
    assert weighted_length("你" * 141) == 282


def test_an_emoji_sequence_counts_two_once():
    assert weighted_length("\U0001f44d\U0001f3fd") == 2  # thumbs up, medium skin tone
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl
    assert weighted_length(family) == 2
    assert weighted_length("\U0001f1eb\U0001f1f7") == 2  # flag: regional indicators F R
    assert weighted_length("\u2764\ufe0f") == 2  # heart with emoji presentation
    assert weighted_length("1\ufe0f\u20e3") == 2  # keycap one


def test_text_is_normalised_before_counting():
    # "e" + combining acute composes to one "é" (NFC), counted once.
    assert weighted_length("e\u0301") == 1
