"""Posts from spreadsheets: `posts_from = ["posts.csv", "more.json"]` under `[calendar]`.

Each row of a CSV (or TSV) file, or each object of a JSON list, is one post, built into
the same `Post` a `[[post]]` table gives, so planning, lint and scheduling cannot tell
them apart. Columns are the post's keys; per-locale values take a suffix (`text.fr`,
`alt.es-MX`), variables a `vars.` prefix; list cells are separated by `|`.

A data file is as untrusted as the calendar that names it: it must be inside the
calendar's folder (or a folder of `SOCIALSCHED_ALLOWED_PATHS`), a regular file of at
most `MAX_SHEET_BYTES`, with at most `MAX_ROWS` rows; the media it names are relative
to the data file and confined the same way. Every problem names the file, the line,
the row and the column.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from socialsched.errors import Problem
from socialsched.media.library import file_problem
from socialsched.media.model import MediaItem
from socialsched.trust.paths import (
    PathMissing,
    PathRefused,
    confined,
    not_found,
    read_regular,
    regular_size,
)

from .model import Post
from .post_problems import guess_key

MAX_SHEET_BYTES = 4 * 1024**2
"""The largest data file read (4 MiB), checked by `stat` before a byte is read."""

MAX_ROWS = 5000
"""The most rows (posts) one data file may hold."""

MAX_COLUMNS = 300
"""The most columns a data file may have."""

SEPARATOR = "|"
"""What separates the items of a list cell (segments, channels, tags, media, dates...)."""

_FORMATS = {".csv": ",", ".tsv": "\t", ".json": None}
# Keys given per locale (`text.fr`) or per name (`vars.brand`).
_PREFIXED = ("text", "alt", "vars")
# Cells holding a list; every other cell is one value.
_LISTS = {"segments", "channels", "tags", "topics", "dates", "on_holidays", "skip", "media"}
_BOOLS = {"respect_quiet_hours", "requires_approval", "number_parts"}
_INTS = {"offset_days", "count", "per_slot"}
# Keys that need a table and have no cell form: write such a post as a [[post]] table.
_TABLES_ONLY = {"occurrence", "evergreen"}


@attrs.frozen
class SheetPost:
    """A post read from a data file, with where it was written."""

    post: Post
    file: Path
    line: int
    row: int
    #: Post key -> the column it came from (e.g. "segments" -> "segments", "text" -> "text.fr").
    columns: Mapping[str, str]

    def problem(self, message: str, key: str | None = None) -> Problem:
        """`message` located at this row (and at the column of `key`, when known)."""
        return _problem(message, self.file, self.line, self.row, self.columns.get(key or ""))


@attrs.frozen
class Sheets:
    """Every post read from a calendar's `posts_from` files, in file then row order."""

    rows: tuple[SheetPost, ...] = ()

    @property
    def posts(self) -> list[Post]:
        """The posts, in order."""
        return [row.post for row in self.rows]

    @property
    def origins(self) -> dict[str, tuple[Path, int | None]]:
        """Post id -> (data file, line of its row), for `Calendar.post_origins`."""
        return {row.post.id: (row.file, row.line) for row in self.rows}

    def locate(self, problem: Problem, offset: int) -> Problem | None:
        """`problem` (from `Calendar.reference_problems`, located `post[i].key`) at the
        row it is about, when post `i` is a row (`offset`: how many `[[post]]` tables
        come first); None for any other problem."""
        where = problem.where or ""
        if not where.startswith("post["):
            return None
        index_text, _, key = where[5:].partition("]")
        if not index_text.isdigit() or not offset <= int(index_text) < offset + len(self.rows):
            return None
        row = self.rows[int(index_text) - offset]
        key = key.lstrip(".")
        # A per-locale key (`text[fe]`, `media>banner.png[fe]` for alt text) is a column.
        keyed = re.fullmatch(r"(text|media>[^\[]*)\[(.+)\]", key)
        if keyed is None:
            return row.problem(problem.message, key or None)
        prefix = "text" if keyed[1] == "text" else "alt"
        column = prefix if keyed[2] == "default" else f"{prefix}.{keyed[2]}"
        return _problem(problem.message, row.file, row.line, row.row, column)

    def problem(self, post: Post, key: str, message: str) -> Problem | None:
        """`message` located at the row and column (of `key`) `post` came from, or
        None when `post` is not a row."""
        for row in self.rows:
            if row.post.id == post.id:
                return row.problem(message, key)
        return None


def sheets_for(
    header: Mapping[str, Any],
    raw_posts: Any,
    calendar_file: Path,
    lines: Any,
    problems: list[Problem],
) -> Sheets:
    """The posts of the `posts_from` files the `[calendar]` table `header` names;
    `raw_posts` are the calendar's `[[post]]` tables (ids taken), `lines` its
    `LineIndex`."""
    taken = {
        raw["id"]: lines.line("post", index)
        for index, raw in enumerate(raw_posts if isinstance(raw_posts, list) else [])
        if isinstance(raw, dict) and isinstance(raw.get("id"), str)
    }
    line = lines.line("calendar", 0, "posts_from")
    return read_sheets(header.get("posts_from"), calendar_file, line, taken, problems)


def read_sheets(
    value: Any,
    calendar_file: Path,
    calendar_line: int | None,
    taken: Mapping[str, int | None],
    problems: list[Problem],
) -> Sheets:
    """The posts of every file `value` (the `posts_from` setting) names.

    `taken` maps the ids of the calendar's `[[post]]` tables to their lines: a row
    reusing one is an error naming both. Problems are appended to `problems`; rows
    with problems are left out.
    """
    if value is None:
        return Sheets()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        problems.append(
            Problem(
                f"[calendar] posts_from = {value!r}: must be a list of data file paths "
                '(.csv, .tsv or .json), e.g. posts_from = ["posts.csv"]',
                file=calendar_file,
                line=calendar_line,
            )
        )
        return Sheets()
    seen: dict[str, str] = {
        post_id: f"[[post]] at {calendar_file.name}:{line}" if line else "a [[post]] table"
        for post_id, line in taken.items()
    }
    rows: list[SheetPost] = []
    for name in names:
        path = _data_file(name, calendar_file, calendar_line, problems)
        if path is None:
            continue
        for row in _read(path, name, calendar_file, problems):
            other = seen.get(row.post.id)
            if other is not None:
                problems.append(
                    row.problem(f"post id {row.post.id!r} is already used by {other}", "id")
                )
                continue
            seen[row.post.id] = f"row {row.row} of {path.name} (line {row.line})"
            rows.append(row)
    return Sheets(tuple(rows))


def _data_file(
    name: str, calendar_file: Path, calendar_line: int | None, problems: list[Problem]
) -> Path | None:
    """The data file `name` names, confined and checked, or None (a problem added)."""
    label = f"posts_from file {name!r}"
    suffix = Path(name).suffix.lower()
    if suffix not in _FORMATS:
        problems.append(
            Problem(
                f"{label}: unsupported type {suffix or '(none)'}; use .csv, .tsv or .json "
                "(save a spreadsheet as 'CSV UTF-8')",
                file=calendar_file,
                line=calendar_line,
            )
        )
        return None
    try:
        path = confined(name, calendar_file, "posts_from file")
        # Only the kind here (a FIFO or device is refused unopened); the size just below.
        size = regular_size(path, label, limit=2**63).st_size
    except PathMissing:
        message = not_found(name, "posts_from file", calendar_file)
    except PathRefused as error:
        message = str(error)
    else:
        if size <= MAX_SHEET_BYTES:
            return path
        message = (
            f"{label} is {size} bytes, over the {MAX_SHEET_BYTES} bytes socialsched reads of "
            "one data file: split the posts into several files"
        )
    problems.append(Problem(message, file=calendar_file, line=calendar_line))
    return None


def _read(path: Path, name: str, calendar_file: Path, problems: list[Problem]) -> list[SheetPost]:
    label = f"posts_from file {name!r}"
    try:
        data = read_regular(path, label, MAX_SHEET_BYTES)
    except PathRefused as error:
        problems.append(Problem(str(error), file=calendar_file))
        return []
    # Messages name the file as the calendar does (relative to where it was named from).
    path = Path(name) if Path(name).is_absolute() else calendar_file.parent / name
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problems.append(
            Problem(
                f"not UTF-8 text (byte {error.start}); save the sheet as 'CSV UTF-8'",
                file=path,
                line=line,
            )
        )
        return []
    delimiter = _FORMATS[path.suffix.lower()]
    records = (
        _json_records(text, path, problems)
        if delimiter is None
        else _csv_records(text, delimiter, path, problems)
    )
    if records is None:
        return []
    rows = []
    for line, row, cells in records:
        built = _row_post(cells, path, line, row, calendar_file, problems)
        if built is not None:
            rows.append(built)
    return rows


Record = tuple[int, int, dict[str, Any]]  # (line, row number, column -> cell)


def _csv_records(
    text: str, delimiter: str, path: Path, problems: list[Problem]
) -> list[Record] | None:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    header_line = 1
    records: list[Record] = []
    row = 0
    start = 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if header is None:
                if not any(cell.strip() for cell in cells):
                    continue
                header, header_line = [cell.strip() for cell in cells], line
                if not _header_ok(header, path, header_line, problems):
                    return None
                continue
            row += 1
            if row > MAX_ROWS:
                problems.append(Problem(_too_many(), file=path, line=line))
                return None
            if not any(cell.strip() for cell in cells):
                continue  # an empty row
            if len(cells) > len(header):
                extra = len(cells) - len(header)
                problems.append(
                    _problem(f"{extra} cell(s) more than the header's columns", path, line, row)
                )
                continue
            records.append((line, row, dict(zip(header, cells, strict=False))))
    except csv.Error as error:
        problems.append(Problem(f"unreadable CSV: {error}", file=path, line=reader.line_num))
        return None
    if header is None:
        problems.append(Problem("no header row (the first row names the columns)", file=path))
        return None
    return records


def _header_ok(header: list[str], path: Path, line: int, problems: list[Problem]) -> bool:
    count = len(problems)
    if len(header) > MAX_COLUMNS:
        problems.append(
            Problem(f"{len(header)} columns, over the {MAX_COLUMNS} allowed", file=path, line=line)
        )
        return False
    seen: set[str] = set()
    for column in header:
        if column in seen:
            problems.append(
                Problem(f"column {column!r} appears twice in the header", file=path, line=line)
            )
        seen.add(column)
        problem = _column_problem(column)
        if problem is not None:
            problems.append(Problem(problem, file=path, line=line, where=f"column {column!r}"))
    if "id" not in seen:
        problems.append(Problem("no 'id' column: every post needs an id", file=path, line=line))
    return len(problems) == count


def _json_records(text: str, path: Path, problems: list[Problem]) -> list[Record] | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        problems.append(Problem(f"invalid JSON: {error.msg}", file=path, line=error.lineno))
        return None
    except (RecursionError, ValueError) as error:  # nested too deeply, a number too long
        what = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        problems.append(Problem(f"unreadable JSON: {what}", file=path))
        return None
    if not isinstance(data, list):
        problems.append(Problem("must be a JSON list of objects, one per post", file=path, line=1))
        return None
    if len(data) > MAX_ROWS:
        problems.append(Problem(_too_many(), file=path, line=1))
        return None
    lines = _json_lines(text, len(data))
    records: list[Record] = []
    for index, item in enumerate(data):
        line, row = lines[index], index + 1
        if not isinstance(item, dict):
            problems.append(_problem(f"must be an object, not {item!r:.40}", path, line, row))
            continue
        if not item:
            continue  # an empty row
        cells = _flatten(item, path, line, row, problems)
        if cells is not None:
            records.append((line, row, cells))
    return records


def _json_lines(text: str, count: int) -> list[int]:
    """The line each element of the top-level JSON list starts on."""
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    lines = []
    for _ in range(count):
        while text[position] in " \t\r\n,":
            position += 1
        lines.append(text.count("\n", 0, position) + 1)
        _, position = decoder.raw_decode(text, position)
    return lines


def _flatten(
    item: dict[str, Any], path: Path, line: int, row: int, problems: list[Problem]
) -> dict[str, Any] | None:
    """A JSON object's keys as columns: `{"text": {"fr": ...}}` becomes `text.fr`."""
    cells: dict[str, Any] = {}
    bad = False
    for key, value in item.items():
        if key in _PREFIXED and isinstance(value, dict):
            for sub, sub_value in value.items():
                cells[f"{key}.{sub}"] = sub_value
            continue
        cells[key] = value
    for column in cells:
        problem = _column_problem(column)
        if problem is not None:
            problems.append(_problem(problem, path, line, row, column))
            bad = True
    if "id" not in cells:
        problems.append(_problem("no 'id': every post needs an id", path, line, row))
        bad = True
    return None if bad else cells


def _columns() -> list[str]:
    """The columns a row may have without a suffix: the post's keys that fit a cell,
    plus `date` (one or more one-off dates) and `alt` (alt text for every locale)."""
    keys = {f.name for f in attrs.fields(Post) if f.init} - _TABLES_ONLY - {"vars"}
    return sorted(keys | {"date", "alt"})


def _column_problem(column: str) -> str | None:
    """What is wrong with a column name, or None."""
    root, dot, sub = column.partition(".")
    allowed = _columns()
    if (dot and root in _PREFIXED and sub.strip()) or (not dot and column in allowed):
        return None
    if root in _TABLES_ONLY:
        return f"{root} needs a table: write this post as a [[post]] table in the calendar"
    close = difflib.get_close_matches(column, allowed, n=1, cutoff=0.6)
    if dot and not close:
        prefix = difflib.get_close_matches(root, list(_PREFIXED), n=1, cutoff=0.6)
        close = [f"{prefix[0]}.{sub}"] if prefix else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"unknown column{hint}; columns are {', '.join(allowed)}, "
        "text.<locale>, alt.<locale> and vars.<name>"
    )


def _row_post(
    cells: dict[str, Any],
    path: Path,
    line: int,
    row: int,
    calendar_file: Path,
    problems: list[Problem],
) -> SheetPost | None:
    """The post of one row, or None with its problems added."""
    given = {column: value for column, value in cells.items() if not _empty(value)}
    if not given:
        return None
    if not isinstance(given.get("id"), str):
        what = "no id" if "id" not in given else f"id {given['id']!r} is not a string"
        problems.append(_problem(f"{what}: every post needs one", path, line, row, "id"))
        return None
    kwargs: dict[str, Any] = {}
    columns: dict[str, str] = {}
    count = len(problems)

    def fail(message: str, column: str | None) -> None:
        problems.append(_problem(message, path, line, row, column))

    texts = {k: v for k, v in given.items() if k == "text" or k.startswith("text.")}
    alts = {k: v for k, v in given.items() if k == "alt" or k.startswith("alt.")}
    variables = {k[5:]: v for k, v in given.items() if k.startswith("vars.")}
    for column, value in given.items():
        root = column.partition(".")[0]
        if root in _PREFIXED:
            continue
        key = "dates" if column == "date" else column
        if key in kwargs:
            fail(f"{key} is given twice (date and dates)", column)
            continue
        try:
            kwargs[key] = _cell(key, value)
        except ValueError as error:
            fail(str(error), column)
        columns[key] = column
    if texts:
        if set(texts) == {"text"}:
            kwargs["text"] = _string(texts["text"])
        else:
            kwargs["text"] = {
                ("default" if k == "text" else k[5:]): _string(v) for k, v in texts.items()
            }
        columns["text"] = next(iter(texts))
    if variables:
        kwargs["vars"] = variables
        columns["vars"] = f"vars.{next(iter(variables))}"
    if "media" in kwargs or alts:
        try:
            kwargs["media"] = _media(kwargs.get("media", ()), alts, path, calendar_file, fail)
        except ValueError as error:
            fail(str(error), next(iter(alts), "media"))
    if len(problems) > count:
        return None
    try:
        post = Post(**kwargs)
    except (TypeError, ValueError, KeyError) as error:
        message = str(error.args[0]) if error.args else str(error)
        post_id = kwargs.get("id")
        message = message.removeprefix(f"post {post_id!r}: ").removeprefix(f"post {post_id!r} ")
        guessed = guess_key(message, kwargs, Post)
        fail(message, columns.get(guessed) if guessed else None)
        return None
    return SheetPost(post=post, file=path, line=line, row=row, columns=columns)


def _cell(key: str, value: Any) -> Any:
    """A cell's value as the post key wants it (JSON values pass as they are)."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    if key in _LISTS:
        return [piece.strip() for piece in value.split(SEPARATOR) if piece.strip()]
    if key in _BOOLS or (key == "thread" and value.lower() in ("true", "false")):
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{value!r} is not true or false")
        return value.lower() == "true"
    if key in _INTS:
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
    return value


def _media(
    items: Any, alts: dict[str, Any], path: Path, calendar_file: Path, fail: Any
) -> tuple[MediaItem, ...]:
    """The row's media items: paths relative to the data file, confined and checked;
    `alt.<locale>` cells give one alt text per item, in order."""
    items = [items] if isinstance(items, str) else list(items)
    if alts and not items:
        raise ValueError("alt text without media: add a media column")
    per_item: list[dict[str, str]] = [{} for _ in items]
    for column, value in alts.items():
        pieces = value if isinstance(value, list) else str(value).split(SEPARATOR)
        if len(pieces) != len(items):
            raise ValueError(
                f"{len(pieces)} alt text(s) for {len(items)} media item(s): separate "
                f"one per item with {SEPARATOR!r}, in the order of the media column"
            )
        locale = "default" if column == "alt" else column[4:]
        for index, piece in enumerate(pieces):
            if str(piece).strip():
                per_item[index][locale] = str(piece).strip()
    result = []
    for item, alt in zip(items, per_item, strict=True):
        if not isinstance(item, str):
            raise ValueError(f"a media item must be a path or URL, not {item!r:.40}")
        alt_value: str | dict[str, str] | None = alt or None
        if alt and set(alt) == {"default"}:
            alt_value = alt["default"]
        if item.startswith(("http://", "https://")):
            result.append(MediaItem(url=item, alt=alt_value))
            continue
        result.append(MediaItem(path=_media_path(item, path, calendar_file, fail), alt=alt_value))
    return tuple(result)


def _media_path(value: str, data_file: Path, calendar_file: Path, fail: Any) -> str:
    """`value` (relative to the data file) as an absolute path inside the calendar's
    allowed folders; a refused or bad file is a problem on the media column."""
    candidate = Path(value).expanduser()
    if not candidate.is_absolute():
        candidate = (data_file.parent / candidate).absolute()
    missing = not_found(value, "media file", calendar_file)
    try:
        absolute = confined(str(candidate), calendar_file, "media file")
    except PathRefused:
        fail(missing, "media")
        return str(candidate)
    try:
        info = os.stat(absolute)  # never opens: a FIFO cannot block here
        problem = _file_problem(absolute, value, missing, info.st_size, info.st_mtime_ns)
    except OSError:
        problem = file_problem(absolute, value, missing)
    if problem is not None:
        fail(problem, "media")
    return str(absolute)


@functools.lru_cache(maxsize=512)
def _file_problem(path: Path, value: str, missing: str, size: int, mtime_ns: int) -> str | None:
    # Rows often share an image: it is read and decoded once per content, not per row.
    return file_problem(path, value, missing)


def _string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _where(row: int, column: str | None) -> str:
    return f"row {row}, column {column!r}" if column else f"row {row}"


def _problem(message: str, path: Path, line: int, row: int, column: str | None = None) -> Problem:
    return Problem(message, file=path, line=line, where=_where(row, column))


def _too_many() -> str:
    return f"more than {MAX_ROWS} rows: split the posts into several files"


__all__ = ["MAX_ROWS", "MAX_SHEET_BYTES", "SheetPost", "Sheets", "read_sheets", "sheets_for"]
