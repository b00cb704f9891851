"""Reading a calendar TOML file into a `Calendar`, reporting every problem with its line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import attrs

from .audiences import Audience
from .errors import CalendarError, Problem
from .model import Calendar, Channel, Observance, Post, Segment
from .registry import UnknownAdapterError, adapter_class
from .render import template_root

_TABLES: dict[str, type] = {
    "segment": Segment,
    "channel": Channel,
    "observance": Observance,
    "post": Post,
}
_CALENDAR_KEYS = {"name", "templates", "max_gap_days", "vars"}
_HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z_][\w.]*)\s*\]\]|^\s*\[\s*([A-Za-z_][\w.]*)\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*[=.]")


class LineIndex:
    """Maps (table, index, key) to a line number by reading the file's headers and keys.

    tomllib gives no positions for values, so this scans the text: good enough to point
    at the `[[post]]` block and the `key =` line a problem is about.
    """

    def __init__(self, text: str) -> None:
        self.blocks: dict[tuple[str, int], int] = {}
        self.keys: dict[tuple[str, int, str], int] = {}
        counts: dict[str, int] = {}
        current: tuple[str, int] | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                if header[1]:  # [[table]]
                    table = header[1]
                    index = counts.get(table, 0)
                    counts[table] = index + 1
                    current = (table, index)
                    self.blocks[current] = number
                else:  # [table] or [post.vars] style sub-table
                    table = header[2]
                    root, _, sub = table.partition(".")
                    if root in counts and sub:
                        current = (root, counts[root] - 1)
                        self.keys.setdefault((*current, sub), number)
                    else:
                        current = (table, 0)
                        self.blocks[current] = number
                continue
            key = _KEY.match(line)
            if key and current is not None:
                self.keys.setdefault((*current, key[1].strip("\"'")), number)

    def line(self, table: str, index: int, key: str | None = None) -> int | None:
        """Line of `key` in the index-th `[[table]]` (or of the block itself)."""
        if key is not None and (table, index, key) in self.keys:
            return self.keys[(table, index, key)]
        return self.blocks.get((table, index))


_KEY_IN_MESSAGE = re.compile(
    r"\b(timezone|locale|country|subdivision|schedule|quiet_hours|at|dates|date|start|end|on_holiday|on_weekend|secrets|text|template|late|misfire_grace|month|weekday|nth)\b"
)


def _guess_key(message: str, given: dict[str, Any]) -> str | None:
    for match in _KEY_IN_MESSAGE.finditer(message):
        if match[1] in given:
            return match[1]
    return None


def _build(
    kind: str, index: int, raw: Any, path: Path, lines: LineIndex, problems: list[Problem]
) -> Any:
    cls = _TABLES[kind]
    where = f"[[{kind}]] #{index + 1}"
    if not isinstance(raw, dict):
        problems.append(Problem(f"{where} must be a table", file=path))
        return None
    label = raw.get("name", raw.get("id"))
    if label is not None:
        where = f"{kind} {label!r}"
    fields = {a.name for a in attrs.fields(cls) if a.init}
    unknown = sorted(set(raw) - fields)
    for key in unknown:
        close = [f for f in fields if f.startswith(key[:3])]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            Problem(
                f"unknown key {key!r}{hint}; allowed: {', '.join(sorted(fields))}",
                file=path,
                line=lines.line(kind, index, key),
                where=where,
            )
        )
    if unknown:
        return None
    try:
        return cls(**raw)
    except TypeError as error:
        message = str(error)
        missing = re.findall(r"'(\w+)'", message) if "missing" in message else []
        text = f"missing required key(s): {', '.join(missing)}" if missing else message
        problems.append(Problem(text, file=path, line=lines.line(kind, index), where=where))
    except (ValueError, KeyError) as error:
        message = str(error.args[0]) if error.args else str(error)
        key = _guess_key(message, raw)
        problems.append(Problem(message, file=path, line=lines.line(kind, index, key), where=where))
    return None


_WHERE = re.compile(r"^(segment|channel|post|observance)\[(\d+)\](?:\.(\w+))?$")


def _locate(problem: Problem, path: Path, lines: LineIndex) -> Problem:
    match = _WHERE.match(problem.where or "")
    line = lines.line(match[1], int(match[2]), match[3]) if match else None
    return attrs.evolve(problem, file=path, line=line, where=None)


def load(path: str | Path, *, collect: list[Problem] | None = None) -> Calendar:
    """Load a calendar TOML file.

    Raises `CalendarError` listing every problem (file, line, offending value). With
    `collect` given, problems are appended there too, so `lint` can report them all.
    """
    path = Path(path)
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalendarError([Problem("calendar file not found", file=path)]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise CalendarError([Problem(f"cannot read calendar: {error}", file=path)]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"line (\d+)", str(error))
        raise CalendarError(
            [Problem(f"invalid TOML: {error}", file=path, line=int(line[1]) if line else None)]
        ) from None
    lines = LineIndex(text)

    header = data.pop("calendar", {})
    for key in sorted(set(header) - _CALENDAR_KEYS):
        problems.append(
            Problem(
                f"unknown key {key!r} in [calendar]", file=path, line=lines.line("calendar", 0, key)
            )
        )
    for key in sorted(set(data) - set(_TABLES)):
        problems.append(
            Problem(
                f"unknown table {key!r} (expected [calendar], "
                f"{', '.join(f'[[{t}]]' for t in _TABLES)})",
                file=path,
                line=lines.line(key, 0),
            )
        )
    built: dict[str, list[Any]] = {}
    for kind in _TABLES:
        raw_items = data.get(kind, [])
        if not isinstance(raw_items, list):
            problems.append(Problem(f"{kind} must be written [[{kind}]]", file=path))
            raw_items = []
        items = [_build(kind, i, raw, path, lines, problems) for i, raw in enumerate(raw_items)]
        built[kind] = [item for item in items if item is not None]
        if kind == "channel":
            _check_adapters(raw_items, path, lines, problems)

    templates = template_root(path, header.get("templates"))
    if any(p.template for p in built["post"]) and not templates.is_dir():
        problems.append(
            Problem(
                f"templates folder {templates} does not exist",
                file=path,
                line=lines.line("calendar", 0, "templates"),
            )
        )
    calendar = None
    if not problems:
        try:
            calendar = Calendar(
                name=header.get("name", path.stem),
                segments=built["segment"],
                channels=built["channel"],
                posts=built["post"],
                observances=built["observance"],
                templates=templates,
                max_gap_days=header.get("max_gap_days"),
                vars=header.get("vars", {}),
                source=path,
            )
        except CalendarError as error:
            problems.extend(_locate(p, path, lines) for p in error.problems)
        except (TypeError, ValueError) as error:
            problems.append(Problem(str(error), file=path, line=lines.line("calendar", 0)))
    if calendar is not None:
        _check_templates(calendar, path, lines, problems)
    if collect is not None:
        collect.extend(problems)
    if problems:
        raise CalendarError(problems)
    assert calendar is not None
    return calendar


def _check_adapters(
    raw_items: list[Any], path: Path, lines: LineIndex, problems: list[Problem]
) -> None:
    for index, raw in enumerate(raw_items):
        audiences = raw.get("audiences") if isinstance(raw, dict) else None
        if isinstance(audiences, dict):
            for segment, audience in audiences.items():
                try:
                    Audience.parse(audience)
                except ValueError as error:
                    problems.append(
                        Problem(
                            f"audience for segment {segment!r}: {error}",
                            file=path,
                            line=lines.line("channel", index, "audiences"),
                            where=f"channel {raw.get('name')!r}",
                        )
                    )
        if isinstance(raw, dict) and isinstance(raw.get("adapter"), str):
            try:
                adapter_class(raw["adapter"])
            except UnknownAdapterError as error:
                problems.append(
                    Problem(
                        str(error),
                        file=path,
                        line=lines.line("channel", index, "adapter"),
                        where=f"channel {raw.get('name')!r}",
                    )
                )


def _check_templates(
    calendar: Calendar, path: Path, lines: LineIndex, problems: list[Problem]
) -> None:
    from .errors import RenderError
    from .render import Renderer

    renderer = Renderer(calendar)
    for index, post in enumerate(calendar.posts):
        for locale in sorted({segment.locale for segment in calendar.segments_for(post)}):
            try:
                renderer.check(post, locale)
            except RenderError as error:
                key = "template" if post.template else "text"
                problems.append(Problem(str(error), file=path, line=lines.line("post", index, key)))
                break
