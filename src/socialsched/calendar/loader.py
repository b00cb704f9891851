"""Reading a calendar TOML file into a `Calendar`, reporting every problem with its line."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import attrs

from socialsched import failures
from socialsched.errors import CalendarError, Problem
from socialsched.media.library import file_problem, resolve_path
from socialsched.media.model import MediaItem
from socialsched.trust.paths import PathRefused, confined, is_confined, not_found

from . import duplicates, occurrences
from .channel_tables import check_adapters, resolve_path_settings
from .line_index import LineIndex as LineIndex
from .locale_keys import key_line
from .model import Calendar, Channel, Observance, Post, RunnerSettings, Segment
from .post_problems import guess_key
from .post_sheets import Sheets, sheets_for
from .queues import Queue

_TABLES: dict[str, type] = {
    "segment": Segment,
    "channel": Channel,
    "observance": Observance,
    "queue": Queue,
    "post": Post,
}
_CALENDAR_KEYS = {"name", "posts_from", "templates", "max_gap_days", "vars", "duplicate_window"}
_RUNNER_KEYS = {field.name for field in attrs.fields(RunnerSettings)}

#: Checks the texts and templates of a loaded calendar: (calendar, its file, its lines,
#: the problems found so far, its post sheets) -> None, appending problems.
TemplateCheck = Callable[[Calendar, Path, LineIndex, list[Problem], Sheets], None]


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
    if kind == "post":  # [[post.occurrence]] tables, each checked on its own lines
        raw = occurrences.prepare(raw, index, path, lines, problems)
    fields = {a.name for a in attrs.fields(cls) if a.init}
    unknown = sorted(set(raw) - fields)
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(fields), n=1, cutoff=0.7)
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
        # attrs validators raise TypeError(message, attribute, type, value): keep the message.
        message = str(error.args[0]) if error.args else str(error)
        missing = re.findall(r"'(\w+)'", message) if "missing" in message else []
        if missing:
            text = f"missing required key(s): {', '.join(missing)}"
            problems.append(Problem(text, file=path, line=lines.line(kind, index), where=where))
        else:
            problems.append(_value_problem(message, kind, index, raw, cls, path, lines, where))
    except occurrences.SeriesError as error:
        problems.append(occurrences.located(error, index, path, lines, where))
    except (ValueError, KeyError) as error:
        message = str(error.args[0]) if error.args else str(error)
        # The location already names the table; don't say "post 'x': post 'x': ...".
        message = message.removeprefix(f"{where}: ").removeprefix(f"{where} ")
        problems.append(_value_problem(message, kind, index, raw, cls, path, lines, where))
    return None


def _value_problem(
    message: str,
    kind: str,
    index: int,
    raw: dict[str, Any],
    cls: type,
    path: Path,
    lines: LineIndex,
    where: str,
) -> Problem:
    key = guess_key(message, raw, cls)
    if key == "secrets" and not message.startswith("secret "):
        # Never echo the value: it may be the secret itself.
        message = (
            "secrets must be a table naming each secret, e.g. "
            'secrets = { token = "MASTO_TOKEN" }, granted as SOCIALSCHED_SECRET_MASTO_TOKEN'
        )
    mentioned = key is not None and re.search(rf"\b{key}\b", message)
    if key is not None and key != "secrets" and not mentioned and repr(raw[key]) not in message:
        # Python's own messages ("'int' object is not iterable") don't say which key.
        message = f"{key} = {raw[key]!r}: {message}"
    return Problem(message, file=path, line=lines.line(kind, index, key), where=where)


_WHERE = re.compile(r"^(segment|channel|post|observance|queue|runner)\[(\d+)\](?:\.(\w+))?(.*)$")


def _locate(problem: Problem, path: Path, lines: LineIndex) -> Problem:
    match = _WHERE.match(problem.where or "")
    line = lines.line(match[1], int(match[2]), match[3]) if match else None
    if match and match[3] == "occurrence" and match[4][:1] == "[":  # `occurrence[1].channels`
        line = occurrences.where_line(lines, int(match[2]), match[4]) or line
    elif match and match[4]:  # a key inside the table: `post[2].text[fe]`
        line = key_line(lines.text_lines, match[4], line)
    return attrs.evolve(problem, file=path, line=line, where=None)


def load(
    path: str | Path,
    *,
    collect: list[Problem] | None = None,
    check_templates: TemplateCheck | None = None,
) -> Calendar:
    """Load a calendar TOML file.

    Raises `CalendarError` listing every problem (file, line, offending value). With
    `collect` given, problems are appended there too, so `lint` can report them all.
    `check_templates` adds the problems of texts and templates that do not compile:
    the template engine belongs to planning, so `socialsched.load` (which is
    `socialsched.planning.calendar_load.load`) passes it, and this loader alone checks
    only what the calendar's own models can.
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
    except (RecursionError, ValueError) as error:  # deep nesting, a number too long
        raise CalendarError([failures.toml_problem(error, text, path)]) from None
    lines = LineIndex(text)

    header = data.pop("calendar", {})
    if not isinstance(header, dict):
        problems.append(Problem("calendar must be a table: [calendar]", file=path))
        header = {}
    problems.extend(_header_problems(header, path, lines))
    problems.extend(duplicates.header_problems(header, path, lines))
    for key in sorted(set(header) - _CALENDAR_KEYS):
        problems.append(
            Problem(
                f"unknown key {key!r} in [calendar]", file=path, line=lines.line("calendar", 0, key)
            )
        )
    runner = _runner_settings(data.pop("runner", {}), path, lines, problems)
    for key in sorted(set(data) - set(_TABLES)):
        problems.append(
            Problem(
                f"unknown table {key!r} (expected [calendar], [runner], "
                f"{', '.join(f'[[{t}]]' for t in _TABLES)})",
                file=path,
                line=lines.line(key, 0),
            )
        )
    built: dict[str, list[Any]] = {}
    in_order: dict[str, list[Any]] = {}
    for kind in _TABLES:
        raw_items = data.get(kind, [])
        if not isinstance(raw_items, list):
            problems.append(Problem(f"{kind} must be written [[{kind}]]", file=path))
            raw_items = []
        if kind == "channel":
            raw_items = [
                resolve_path_settings(raw, index, path, lines, problems)
                for index, raw in enumerate(raw_items)
            ]
        items = [_build(kind, i, raw, path, lines, problems) for i, raw in enumerate(raw_items)]
        if kind == "post":
            items = [
                _with_media_files(item, i, path, lines, problems) if item is not None else None
                for i, item in enumerate(items)
            ]
        built[kind] = [item for item in items if item is not None]
        in_order[kind] = [
            item if item is not None else _stand_in(raw)
            for item, raw in zip(items, raw_items, strict=True)
        ]
        if kind == "channel":
            check_adapters(raw_items, path, lines, problems)
    # Rows of the `posts_from` data files come after the [[post]] tables, as posts.
    sheets = sheets_for(header, data.get("post"), path, lines, problems)
    built["post"].extend(sheets.posts)
    in_order["post"].extend(sheets.posts)
    tables = len(in_order["post"]) - len(sheets.rows)

    templates = resolve_relative(header.get("templates") or "templates", path)
    if not is_confined(templates, path):
        problems.append(
            Problem(
                not_found(header.get("templates") or "templates", "templates folder", path),
                file=path,
                line=lines.line("calendar", 0, "templates"),
            )
        )
    if any(p.template for p in built["post"]) and not templates.is_dir():
        problems.append(
            Problem(
                f"templates folder {templates} does not exist",
                file=path,
                line=lines.line("calendar", 0, "templates"),
            )
        )
    calendar = None
    if problems:
        # Report broken references too, so one bad value does not hide them from lint.
        partial = SimpleNamespace(
            segments=in_order["segment"],
            channels=in_order["channel"],
            posts=in_order["post"],
            queues=in_order["queue"],
            runner=runner,
        )
        references = Calendar.reference_problems(cast(Calendar, partial))
        problems.extend(sheets.locate(p, tables) or _locate(p, path, lines) for p in references)
    else:
        try:
            calendar = Calendar(
                name=header.get("name", path.stem),
                segments=built["segment"],
                channels=built["channel"],
                posts=built["post"],
                observances=built["observance"],
                queues=built["queue"],
                templates=templates,
                max_gap_days=header.get("max_gap_days"),
                duplicate_window=header.get(
                    "duplicate_window", duplicates.DEFAULT_DUPLICATE_WINDOW
                ),
                vars=header.get("vars", {}),
                source=path,
                runner=runner or RunnerSettings(),
                post_origins={
                    post.id: (path, lines.line("post", index))
                    for index, post in enumerate(in_order["post"])
                    if isinstance(post, Post)
                }
                | sheets.origins,
            )
        except CalendarError as error:
            located = (sheets.locate(p, tables) or _locate(p, path, lines) for p in error.problems)
            problems.extend(located)
        except (TypeError, ValueError) as error:
            problems.append(Problem(str(error), file=path, line=lines.line("calendar", 0)))
    if calendar is not None and check_templates is not None:
        check_templates(calendar, path, lines, problems, sheets)
    if collect is not None:
        collect.extend(problems)
    if problems:
        raise CalendarError(problems)
    assert calendar is not None
    return calendar


def _with_media_files(
    post: Post, index: int, path: Path, lines: LineIndex, problems: list[Problem]
) -> Post:
    """`post` with its media paths made absolute (relative to the calendar file), each
    file checked: missing, of an unknown type (by content) or unreadable is a problem
    on the line that names it."""
    check = lambda stand_in, view: _with_media_files(stand_in, 0, path, view, problems)  # noqa: E731
    post = _with_occurrence_media(post, index, lines, check)  # each occurrence's media
    if not post.media:
        return post
    media_line = lines.line("post", index, "media")

    def resolve(items: tuple[MediaItem, ...]) -> tuple[MediaItem, ...]:
        resolved = []
        for item in items:
            if item.path is None:
                resolved.append(item)
                continue
            # Inside the calendar's folder (or an allowed one), symlinks resolved; a
            # refused path reads as a missing one, so it reveals nothing.
            try:
                absolute = confined(item.path, path, "media file")
                missing = not_found(item.path, "media file", path)
                problem = file_problem(absolute, item.path, missing)
            except PathRefused as error:
                absolute, problem = resolve_path(item.path, path.parent), str(error)
            if problem is not None:
                problems.append(
                    Problem(
                        problem,
                        file=path,
                        line=lines.find(f"{item.path}", media_line),
                        where=f"post {post.id!r}",
                    )
                )
            resolved.append(attrs.evolve(item, path=str(absolute)))
        return tuple(resolved)

    if isinstance(post.media, Mapping):
        return attrs.evolve(post, media={k: resolve(v) for k, v in post.media.items()})
    return attrs.evolve(post, media=resolve(post.media))


def _runner_settings(
    raw: Any, path: Path, lines: LineIndex, problems: list[Problem]
) -> RunnerSettings | None:
    """The `[runner]` table, or None (with problems added) when it is wrong."""
    if not isinstance(raw, dict):
        problems.append(Problem("runner must be a table: [runner]", file=path))
        return None
    unknown = sorted(set(raw) - _RUNNER_KEYS)
    for key in unknown:
        problems.append(
            Problem(
                f"unknown key {key!r} in [runner]; allowed: {', '.join(sorted(_RUNNER_KEYS))}",
                file=path,
                line=lines.line("runner", 0, key),
            )
        )
    channels = raw.get("alert_channels", [])
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        problems.append(
            Problem(
                f"[runner] alert_channels = {channels!r}: must be a list of channel names",
                file=path,
                line=lines.line("runner", 0, "alert_channels"),
            )
        )
        return None
    if unknown:
        return None
    try:
        return RunnerSettings(**raw)
    except (TypeError, ValueError) as error:
        problems.append(
            Problem(
                f"[runner] {error}",
                file=path,
                line=lines.line("runner", 0, guess_key(str(error), raw, RunnerSettings)),
            )
        )
        return None


_HEADER_TYPES: dict[str, tuple[type, str]] = {
    "name": (str, "a string"),
    "templates": (str, "a folder path string"),
    "max_gap_days": (int, "a whole number of days"),
    "vars": (dict, "a table"),
}


def _header_problems(header: dict[str, Any], path: Path, lines: LineIndex) -> list[Problem]:
    """Wrongly typed [calendar] values; they would otherwise fail deep in planning."""
    problems = []
    for key, (expected, description) in _HEADER_TYPES.items():
        if key not in header:
            continue
        value = header[key]
        wrong = not isinstance(value, expected) or isinstance(value, bool)
        if key == "max_gap_days" and not wrong and value < 0:
            wrong = True
        if wrong:
            problems.append(
                Problem(
                    f"[calendar] {key} = {value!r}: must be {description}",
                    file=path,
                    line=lines.line("calendar", 0, key),
                )
            )
            del header[key]
    return problems


def _stand_in(raw: Any) -> SimpleNamespace:
    """A placeholder for a table that failed to build: it keeps its name (so references
    to it are not reported as unknown) and refers to nothing itself."""
    raw = raw if isinstance(raw, dict) else {}
    circles = raw.get("circles")
    # A fresh object() for a missing name never equals another: no false duplicates.
    return SimpleNamespace(
        name=raw.get("name", object()),
        id=raw.get("id", object()),
        circles=tuple(circles) if isinstance(circles, list) else (circles,) if circles else (),
        audiences={},
        segments=(),
        channels=(),
    )


def resolve_relative(value: str, calendar_file: Path) -> Path:
    """A path written in a calendar, absolute: `~` expanded, a relative path taken
    from the calendar file's folder (not the working folder)."""
    return (calendar_file.parent / Path(value).expanduser()).resolve()


class _MediaLines:
    """What the loader's media check reads of a `LineIndex`, for one occurrence's
    `media`: its line, and the lines after it."""

    def __init__(self, lines: LineIndex, line: int | None) -> None:
        self._lines, self._line = lines, line

    def line(self, table: str, index: int, key: str | None = None) -> int | None:
        return self._line

    def find(self, needle: str, start: int | None) -> int | None:
        return self._lines.find(needle, start)


def _with_occurrence_media(
    post: Post, index: int, lines: LineIndex, resolve: Callable[[Post, Any], Post]
) -> Post:
    """`post` with each occurrence's media checked and resolved by `resolve(post,
    lines)`, the loader's own check of a post's media, with the occurrence's lines."""
    if not any(change.media for change in post.occurrence):
        return post
    changes = []
    for number, change in enumerate(post.occurrence):
        if change.media:
            stand_in = Post(id=post.id, text="", dates=(change.date,), at="00:00")
            stand_in = attrs.evolve(stand_in, media=change.media)
            view = _MediaLines(lines, occurrences.occurrence_line(lines, index, number, "media"))
            change = attrs.evolve(change, media=resolve(stand_in, view).media)
        changes.append(change)
    return attrs.evolve(post, occurrence=tuple(changes))
