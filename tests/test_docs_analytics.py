"""docs/analytics.md (its Reports and Best times sections) says what the commands do:
the grouping keys, the score, the defaults, and examples that parse and load."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import yaml
from cli_commands import command, resolve

from socialsched.adapters.engagement import COUNTS
from socialsched.analytics.best_times import DEFAULT_MIN_SAMPLES, DEFAULT_TOP, SCORE_COUNTS
from socialsched.analytics.reports import BY

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "analytics.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    found = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", PAGE, re.M | re.S)
    assert found, title
    return found[1]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_the_page_is_in_the_nav_and_the_recipe_links_back():
    nav = json.dumps(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    assert '"analytics.md"' in nav and "recipes/which-market-answers/index.md" in nav
    assert "recipes/which-market-answers/index.md" in PAGE


def test_reports_lists_every_grouping_key_the_command_takes():
    rows = re.findall(r"^\| `([a-z_]+)` \|", section("Reports"), re.M)
    assert rows == list(BY)
    choices = next(p for p in command("report").params if p.name == "by").type.choices
    assert list(choices) == list(BY)


def test_reports_json_example_has_every_count_with_sum_and_median_or_null():
    (example,) = blocks(section("Reports"), "json")
    (group,) = json.loads(example)
    assert list(group)[-len(COUNTS) :] == list(COUNTS)
    for name in COUNTS:
        value = group[name]
        assert value is None or (set(value) == {"sum", "median"} and isinstance(value["sum"], int))


def test_best_times_states_the_score_and_the_defaults():
    text = " ".join(section("Best times").split())
    assert f"score** is {' + '.join(SCORE_COUNTS)}" in text
    assert f"(default {DEFAULT_MIN_SAMPLES})" in text and f"(default {DEFAULT_TOP})" in text
    params = {p.name: p.default for p in command("suggest-times").params}
    assert (params["min_samples"], params["top"]) == (DEFAULT_MIN_SAMPLES, DEFAULT_TOP)


def test_best_times_toml_example_is_a_queue_table():
    (example,) = blocks(section("Best times"), "toml")
    queues = tomllib.loads(example)["queue"]
    assert [set(q) for q in queues] == [{"name", "times"}]
    assert queues[0]["name"].startswith("best-")
    assert queues[0]["times"] == sorted(queues[0]["times"])


def test_every_command_on_the_page_parses():
    commands = [
        line
        for block in blocks(PAGE, "bash")
        for line in block.splitlines()
        if line.startswith("socialsched ")
    ]
    assert len(commands) >= 7
    for line in commands:
        args = shlex.split(line.split(">")[0], comments=True)[1:]
        assert resolve(args)[0] in {"report", "suggest-times", "collect"}, line
