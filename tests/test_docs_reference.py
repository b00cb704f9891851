"""The calendar file reference page documents exactly the keys the loader accepts,
and its examples are valid calendar tables."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import attrs
import pytest

from socialsched.calendar import loader
from socialsched.calendar.model import Channel, Observance, Post, RunnerSettings, Segment
from socialsched.calendar.queues import Queue

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "calendar.md"
TABLES = {
    "segment": Segment,
    "channel": Channel,
    "observance": Observance,
    "queue": Queue,
    "post": Post,
}


def _sections() -> dict[str, str]:
    """Page text by table: '## `[[post]]`' -> 'post', '## `[calendar]`' -> 'calendar'."""
    text = PAGE.read_text(encoding="utf-8")
    parts = re.split(r"^## (.*)$", text, flags=re.MULTILINE)
    sections = {}
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        table = re.fullmatch(r"`\[\[?(\w+)\]\]?`\s*", heading)
        if table:
            sections[table[1]] = body
    return sections


def _documented_keys(section: str) -> list[str]:
    return re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)


def _examples(section: str) -> list[dict]:
    return [tomllib.loads(block) for block in re.findall(r"```toml\n(.*?)```", section, re.S)]


def _fields(cls: type) -> set[str]:
    return {field.name for field in attrs.fields(cls) if field.init}


def test_page_has_a_section_per_table():
    assert set(_sections()) == {"calendar", "runner", *TABLES}


def test_runner_section_lists_every_runner_key_and_its_example_is_valid():
    section = _sections()["runner"]
    assert sorted(_documented_keys(section)) == sorted(_fields(RunnerSettings))
    (example,) = _examples(section)
    RunnerSettings(**example["runner"])


def test_calendar_section_lists_every_calendar_key():
    keys = _documented_keys(_sections()["calendar"])
    assert sorted(keys) == sorted(loader._CALENDAR_KEYS)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_section_lists_every_field_once_and_nothing_else(table):
    keys = _documented_keys(_sections()[table])
    assert len(keys) == len(set(keys)), f"a key is listed twice in [[{table}]]"
    assert set(keys) == _fields(TABLES[table])


@pytest.mark.parametrize("table", sorted(TABLES))
def test_section_rows_give_type_default_and_meaning(table):
    section = _sections()[table]
    for key in _documented_keys(section):
        row = re.search(rf"^\| `{key}` \|(.*)\|$", section, flags=re.MULTILINE)
        assert row is not None
        cells = [cell.strip() for cell in row[1].split("|")]
        assert len(cells) == 3 and all(cells), f"{table}.{key}: {cells}"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_section_example_is_a_valid_table(table):
    (example,) = _examples(_sections()[table])
    (raw,) = example[table]
    # Building the model object validates every value, as the loader does.
    TABLES[table](**raw)


def test_calendar_example_uses_known_keys():
    (example,) = _examples(_sections()["calendar"])
    assert set(example["calendar"]) <= loader._CALENDAR_KEYS
