"""Locale keys: the keys of per-locale tables (a post's `text`, `media`, a media
item's `alt`, and any later one).

A key is a BCP 47 language tag, compared case-insensitively with `_` accepted for
`-` (`fr-FR`, `fr-Fr`, `FR_fr` are one key), or `default`, the entry every locale
falls back to last. Every per-locale table is built through `locale_table` (so a
calendar built in Python is checked like a loaded one) and read through `lookup`,
and a key that no segment can reach is reported by `unused_key_problems`.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from socialsched.errors import Problem

T = TypeVar("T")

DEFAULT = "default"
"""The key every locale falls back to when none of its own tags is in a table."""

_TAG = re.compile(r"[A-Za-z0-9]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")


# Bounded: keys come from calendars, which a long-running process may load many of.
@functools.lru_cache(maxsize=4096)
def canonical(key: str) -> str:
    """The one spelling of a locale key: `default`, or a BCP 47 tag with `-` between
    subtags, the language in lower case, a script in title case and a region in
    upper case ('es_mx' -> 'es-MX', 'ZH-hant-tw' -> 'zh-Hant-TW').

    Raises `ValueError` when `key` is not a language tag.
    """
    text = str(key).strip()
    if text.lower() == DEFAULT:
        return DEFAULT
    if not _TAG.fullmatch(text):
        raise ValueError(
            f"{key!r} is not a locale (use a BCP 47 tag such as 'fr' or 'fr-DZ', or 'default')"
        )
    first, *rest = re.split(r"[-_]", text)
    subtags = [first.lower()]
    extension = False  # after a singleton ('u', 'x'), every subtag is lower case
    for subtag in rest:
        if len(subtag) == 1:
            extension = True
        if extension:
            subtags.append(subtag.lower())
        elif len(subtag) == 4 and subtag.isalpha():
            subtags.append(subtag.title())
        elif (len(subtag) == 2 and subtag.isalpha()) or (len(subtag) == 3 and subtag.isdigit()):
            subtags.append(subtag.upper())
        else:
            subtags.append(subtag.lower())
    return "-".join(subtags)


def locale_table(value: Mapping[Any, T], what: str) -> dict[str, T]:
    """`value` (a table keyed by locale) with its keys made `canonical`.

    Raises `ValueError` naming `what` (e.g. "text") when a key is not a locale or two
    keys are the same locale (`fr-FR` and `fr_fr`).
    """
    table: dict[str, T] = {}
    written: dict[str, str] = {}
    for key, item in value.items():
        try:
            tag = canonical(str(key))
        except ValueError as error:
            raise ValueError(f"{what}: {error}") from None
        if tag in table:
            raise ValueError(
                f"{what}: keys {written[tag]!r} and {str(key)!r} are the same locale "
                f"({tag}); keep one"
            )
        table[tag] = item
        written[tag] = str(key)
    return table


def locale_chain(tag: str) -> list[str]:
    """Fallback chain of a locale, canonical: 'fr_dz' -> ['fr-DZ', 'fr']."""
    # A tag that is not one (no segment has such a locale) is looked up as written.
    tag = _canonical_or_none(tag) or tag
    parts = tag.split("-")
    return ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]


def lookup(table: Mapping[str, T], locale: str) -> tuple[str, T] | None:
    """The entry of a table keyed by locale that `locale` falls back to ('fr-DZ', then
    'fr', then 'default'), with the table's key for it; None when there is none.
    Keys and `locale` are compared canonically, however either is written."""
    chain = [*locale_chain(locale), DEFAULT]
    for tag in chain:
        if tag in table:
            return tag, table[tag]
    # A table not built through `locale_table` (a plain mapping): compare canonically.
    keys: dict[str, str] = {}
    for key in table:
        with_canonical = _canonical_or_none(key)
        if with_canonical is not None:
            keys.setdefault(with_canonical, key)
    for tag in chain:
        if tag in keys:
            return keys[tag], table[keys[tag]]
    return None


def _canonical_or_none(key: str) -> str | None:
    try:
        return canonical(key)
    except ValueError:
        return None


def suggestion(key: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `key` (a likely typo), or None when none is close."""
    scored = []
    for candidate in candidates:
        ratio = difflib.SequenceMatcher(None, key.lower(), candidate.lower()).ratio()
        prefix = next(
            (
                n
                for n, pair in enumerate(zip(key.lower(), candidate.lower(), strict=False))
                if pair[0] != pair[1]
            ),
            min(len(key), len(candidate)),
        )
        scored.append((ratio, prefix, candidate))
    # Ties ('fe' is as close to 'fr' as to 'en') go to the shared first letters.
    scored.sort(key=lambda item: (-item[0], -item[1], item[2]))
    if scored and scored[0][0] >= 0.5:
        return scored[0][2]
    return None


def unused_key_problems(
    posts: Sequence[Any], segments_for: Callable[[Any], Sequence[Any]]
) -> list[Problem]:
    """Keys of posts' per-locale tables (`text`, `media`, a media item's `alt`, and
    the same in changed occurrences) that no segment the post selects can use (no tag
    of its locale's fallback chain is the key), each a problem with a suggestion.

    `segments_for(post)` gives the segments a post selects. A post that selects no
    segment is skipped (that is reported elsewhere). A media item's `alt` keys are
    checked against the segments that get the item's list. `where` reads
    `post[INDEX].TABLE[KEY]` (`post[INDEX].media>FILE[KEY]` for alt text,
    `post[INDEX].occurrence>DATE[KEY]` in an occurrence), for the loader to find the
    key's line (`key_line`).
    """
    problems: list[Problem] = []
    for index, post in enumerate(posts):
        segments = [s for s in segments_for(post) if isinstance(getattr(s, "locale", None), str)]
        if not segments:
            continue
        locales = [segment.locale for segment in segments]
        post_id = getattr(post, "id", None)
        label, where = f"post {post_id!r} ", f"post[{index}]."
        problems.extend(_tables(post, locales, label, where + "{}"))
        for change in getattr(post, "occurrence", ()):
            at = f"{where}occurrence>{change.date}"  # no table name: the date finds it
            problems.extend(_tables(change, locales, f"{label}occurrence {change.date} ", at))
    return problems


def _tables(holder: Any, locales: Sequence[str], label: str, where: str) -> list[Problem]:
    """The unused keys of `holder`'s (a post's or an occurrence's) `text`, `media`
    and alt tables; `where` has "{}" where the table's name goes, if anywhere."""
    problems: list[Problem] = []
    text = getattr(holder, "text", None)
    if isinstance(text, Mapping):
        problems.extend(_unused(text, locales, f"{label}text", where.format("text")))
    media = getattr(holder, "media", None) or ()
    if isinstance(media, Mapping):
        problems.extend(_unused(media, locales, f"{label}media", where.format("media")))
        lists = [
            (items, [locale for locale in locales if _picked(media, locale) == key])
            for key, items in media.items()
        ]
    else:
        lists = [(media, list(locales))]
    for items, users in lists:
        for item in items:
            alt = getattr(item, "alt", None)
            if not isinstance(alt, Mapping) or not users:
                continue
            name = _source_name(item)
            anchor = f"{where.format('media')}>{name}"
            problems.extend(_unused(alt, users, f"{label}media {name!r} alt", anchor))
    return problems


def _picked(table: Mapping[str, Any], locale: str) -> str | None:
    found = lookup(table, locale)
    return found[0] if found is not None else None


def _source_name(item: Any) -> str:
    if getattr(item, "url", None) is not None:
        return str(item.url)
    return os.path.basename(str(getattr(item, "path", "") or ""))


def _unused(
    table: Mapping[str, Any], locales: Sequence[str], what: str, where: str
) -> list[Problem]:
    usable = {tag for locale in locales for tag in locale_chain(locale)}
    problems = []
    for key in table:
        tag = _canonical_or_none(key) or key
        if tag == DEFAULT or tag in usable:
            continue
        fresh = sorted(usable - {_canonical_or_none(k) for k in table})
        close = suggestion(key, fresh) or suggestion(key, sorted(usable))
        hint = (
            f"did you mean {close}?"
            if close
            else f"its segments read {', '.join(sorted(usable))} or {DEFAULT}"
        )
        problems.append(
            Problem(
                f"{what}: {key}: no segment uses it; {hint}",
                where=f"{where}[{key}]",
            )
        )
    return problems


_TAIL = re.compile(r"^(?:>(?P<anchor>.+))?\[(?P<key>[^\[\]]+)\]$")


def key_line(text_lines: Sequence[str], tail: str, start: int | None) -> int | None:
    """The line of a locale key in a calendar's text, from line `start` (the line of
    the table holding it) on; `tail` is what `unused_key_problems` puts after the
    table in `where` (`[KEY]`, `>FILE[KEY]`, `>DATE[KEY]`, `>DATE>FILE[KEY]`); `start`
    when it is not found."""
    match = _TAIL.match(tail)
    if match is None or start is None:
        return start
    line = start
    for anchor in (match["anchor"] or "").split(">"):
        if anchor:  # a date, then a file name: each found after the one before
            line = line_in_post(text_lines, re.escape(anchor), line) or line
    # The key as written may differ in case and '-'/'_' from the canonical one.
    tag = "[-_]".join(re.escape(part) for part in match["key"].split("-"))
    pattern = rf"(?:^|[\s{{,.\[])[\"']?{tag}[\"']?\s*(?:=|\])"
    return line_in_post(text_lines, pattern, line) or line


_NEXT_POST = re.compile(r"^\s*\[\[\s*post\s*\]\]")


def line_in_post(text_lines: Sequence[str], pattern: str, start: int) -> int | None:
    """The first line of a calendar's text from line `start` on, up to the next
    `[[post]]`, that matches regular expression `pattern` (case-insensitive); None
    when none does."""
    compiled = re.compile(pattern, re.IGNORECASE)
    for number in range(start, len(text_lines) + 1):
        line = text_lines[number - 1]
        if number > start and _NEXT_POST.match(line):
            return None
        if compiled.search(line):
            return number
    return None


__all__ = [
    "DEFAULT",
    "canonical",
    "key_line",
    "line_in_post",
    "locale_chain",
    "locale_table",
    "lookup",
    "suggestion",
    "unused_key_problems",
]


def text_value(value: Any) -> str | Mapping[str, str] | None:
    """A post's (or an occurrence's) `text`: a string, or a table keyed by locale."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        # Keys are locales however written: 'fr-Fr' and 'es_MX' are 'fr-FR' and 'es-MX'.
        return locale_table({str(k): str(v) for k, v in value.items()}, "text")
    raise ValueError("text must be a string or a table keyed by locale")
