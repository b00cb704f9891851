"""Checks of `[[channel]]` tables as written, before a `Channel` is built: the
adapter they name, its audiences, and the settings and secrets it requires; and
path settings resolved inside the calendar's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from socialsched.adapters import Adapter
from socialsched.adapters.registry import UnknownAdapterError, adapter_class
from socialsched.errors import Problem
from socialsched.trust.paths import PathRefused, confined

from .audiences import Audience
from .line_index import LineIndex


def check_adapters(
    raw_items: list[Any], path: Path, lines: LineIndex, problems: list[Problem]
) -> None:
    """Problems of the `[[channel]]` tables as written: audiences that do not parse, an
    unknown adapter, settings and secrets the adapter requires that are missing."""
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
                cls = adapter_class(raw["adapter"])
            except UnknownAdapterError as error:
                problems.append(
                    Problem(
                        str(error),
                        file=path,
                        line=lines.line("channel", index, "adapter"),
                        where=f"channel {raw.get('name')!r}",
                    )
                )
                continue
            problems.extend(missing_declared(raw, index, cls, path, lines))


def missing_declared(
    raw: dict[str, Any], index: int, cls: type[Adapter], path: Path, lines: LineIndex
) -> list[Problem]:
    """The settings and secrets the channel's adapter requires that the channel lacks:
    without them every publication would fail, long after `schedule` accepted it."""
    problems = []
    for table, required in (("settings", cls.required_settings), ("secrets", cls.required_secrets)):
        given = raw.get(table)
        given = given if isinstance(given, dict) else {}
        for key in required:
            if given.get(key) not in (None, ""):
                continue
            if table == "secrets":
                example = f"{raw.get('name', cls.name)}_{key}".upper().replace("-", "_")
                hint = (
                    f'name the secret holding it: {key} = "{example}", granted as '
                    f"SOCIALSCHED_SECRET_{example}"
                )
            else:
                hint = f"add {key} = ... to the channel's settings"
            problems.append(
                Problem(
                    f"the {cls.name} adapter requires {table}.{key} ({hint})",
                    file=path,
                    line=lines.line("channel", index, table),
                    where=f"channel {raw.get('name')!r}",
                )
            )
    return problems


def resolve_path_settings(
    raw: Any, index: int, path: Path, lines: LineIndex, problems: list[Problem]
) -> Any:
    """The channel table with the settings its adapter declares as file paths
    (`Adapter.path_settings`) made absolute against the calendar file's folder, so
    what `schedule` stores works from any working folder."""
    if not isinstance(raw, dict) or not isinstance(raw.get("adapter"), str):
        return raw
    settings = raw.get("settings")
    if not isinstance(settings, dict):
        return raw
    try:
        cls = adapter_class(raw["adapter"])
    except UnknownAdapterError:
        return raw  # reported with the channel's other problems
    resolved = dict(settings)
    for key in cls.path_settings:
        value = settings.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            problems.append(
                Problem(
                    f"settings.{key} = {value!r}: must be a file path (a string)",
                    file=path,
                    line=lines.line("channel", index, "settings"),
                    where=f"channel {raw.get('name')!r}",
                )
            )
            continue
        try:
            # A file the adapter writes or reads must stay in the calendar's folder.
            resolved[key] = str(confined(value, path, f"settings.{key}"))
        except PathRefused as error:
            problems.append(
                Problem(
                    str(error),
                    file=path,
                    line=lines.line("channel", index, "settings"),
                    where=f"channel {raw.get('name')!r}",
                )
            )
    return {**raw, "settings": resolved}
