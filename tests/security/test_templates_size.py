"""Issue 20, templates: a calendar's template cannot build a value past the size cap by
any operation (doubling with `%`, `|format`, `|sum(start=[])`, `str.format`, printing
a list), run as users run the CLI: from another folder, under a 2 GiB address-space
limit. Before the fix, each doubling reached gigabytes (MemoryError under the limit)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from .probe import assert_no_traceback, lint_one_day, run_probe

# Doubles `ns.s` 40 times with EXPR: 2**40 characters (or items) if nothing stops it.
DOUBLING = (
    "{% set ns = namespace(s=START) %}{% for i in range(40) %}"
    "{% set ns.s = EXPR %}{% endfor %}{{ ns.s|length }}"
)


def write_calendar(folder: Path, text: str, templates: dict[str, str] | None = None) -> Path:
    """A calendar in `folder` with one post whose inline text is `text` (or, with
    `templates`, whose template is the first of them)."""
    folder.mkdir(parents=True, exist_ok=True)
    header = ""
    post_text = f"text = {json.dumps(text)}"
    if templates:
        header = '[calendar]\ntemplates = "templates"\n'
        (folder / "templates").mkdir()
        for name, source in templates.items():
            (folder / "templates" / f"{name}.j2").write_text(source, encoding="utf-8")
        post_text = f'template = "{next(iter(templates))}"'
    (folder / "calendar.toml").write_text(
        header
        + textwrap.dedent(
            """
            [[segment]]
            name = "uk"
            locale = "en-GB"
            timezone = "Europe/London"
            country = "GB"

            [[channel]]
            name = "feed"
            adapter = "console"

            [[post]]
            id = "spam"
            dates = ["2027-03-01"]
            at = "10:00"
            """
        )
        + post_text
        + "\n",
        encoding="utf-8",
    )
    return folder / "calendar.toml"


def lint_from_elsewhere(tmp_path: Path) -> tuple[int, str]:
    result = lint_one_day(tmp_path)
    return result.returncode, result.stderr


@pytest.mark.parametrize(
    ("start", "expression", "refusal"),
    [
        ("'x'", "'%s%s' % (ns.s, ns.s)", "%-formatting would build 131080 characters"),
        ("'x'", "'%s%s'|format(ns.s, ns.s)", "the format filter would build 131080 characters"),
        ("'x'", "'{}{}'.format(ns.s, ns.s)", "str.format would build 131080 characters"),
        ("['x']", "[ns.s, ns.s]|sum(start=[])", "the sum filter would build 131072 items"),
        ("['x']", "(ns.s, ns.s)|sum(start=[])", "the sum filter would build 131072 items"),
        ("'x'", "[ns.s, ns.s]|join", "the join filter would build 131072 characters"),
        ("'x'", "(ns.s ~ ns.s)", "joining with ~ would build 131072 characters"),
        ("'x'", "[ns.s, ns.s]|string", "the string filter would build"),
    ],
)
def test_doubling_by_any_operation_is_refused(tmp_path, start, expression, refusal):
    text = DOUBLING.replace("START", start).replace("EXPR", expression)
    write_calendar(tmp_path / "cal", text)
    code, stderr = lint_from_elsewhere(tmp_path)
    assert code == 1, stderr
    assert refusal in stderr
    # The post, the template (inline: the post's text) and its line are named.
    assert "post 'spam' text:1: " in stderr
    assert "rendering post 'spam' for segment 'uk'" in stderr


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        # A list of 100,000 references to one 100,000-character string is small; its
        # text (printed, upper-cased) would be 10 GB.
        ("{% set l = ['x' * 100000] * 100000 %}{{ l }}", "printing a value would build"),
        ("{% set l = ['x' * 100000] * 100000 %}{{ l|upper }}", "the upper filter would build"),
        ("{% set l = ['x' * 100000] * 100000 %}{{ '%s' % (l,) }}", "%-formatting would build"),
        # Output collected in a macro or a block, not the rendering's own output.
        (
            "{% macro m() %}{% for i in range(50000) %}{{ 'x' * 100000 }}{% endfor %}"
            "{% endmacro %}{{ m()|length }}",
            "a macro, call or block would build more than 100000 characters",
        ),
        (
            "{% set x %}{% for i in range(50000) %}{{ 'x' * 100000 }}{% endfor %}{% endset %}"
            "{{ x|length }}",
            "a macro, call or block would build more than 100000 characters",
        ),
        ("{{ lipsum(100000000) }}", "lipsum would build"),
        ("{{ [1]|batch(1000000000, 'x')|list|length }}", "the batch filter would build"),
        ("{{ ('%s' * 30000) % (('x' * 100000,) * 30000) }}", "%-formatting would build"),
        ("{{ ('{0}' * 30000).format('x' * 100000) }}", "str.format would build"),
    ],
)
def test_values_too_large_to_print_are_refused_before_printing(tmp_path, text, refusal):
    write_calendar(tmp_path / "cal", text)
    code, stderr = lint_from_elsewhere(tmp_path)
    assert code == 1, stderr
    assert refusal in stderr
    assert "rendering post 'spam' for segment 'uk'" in stderr


def test_a_file_template_is_named_with_its_line(tmp_path):
    source = "Hello\n{% set s = 'x' * 60000 %}\n{{ '%s%s' % (s, s) }}\n"
    write_calendar(tmp_path / "cal", "", templates={"offer": source})
    code, stderr = lint_from_elsewhere(tmp_path)
    assert code == 1, stderr
    # %-formatting a 60,000-character string twice: the 4 characters of '%s%s' and
    # twice 60,000 + 2 (each value counted as %r would print it, quotes included).
    assert "offer.j2:3: %-formatting would build 120008 characters" in stderr
    assert "rendering post 'spam' for segment 'uk'" in stderr


def test_an_ordinary_template_still_renders(tmp_path):
    text = (
        "{{ '%s-%s' % ('a', 'b') }} {{ '%(n)s'|format(n=1) }} {{ [[1], [2]]|sum(start=[]) }} "
        "{{ [1, 2, 3]|sum }} {{ '{}/{}'.format(4, 5) }} {{ ['p', 'q']|join(',') }} "
        "{% for i in range(3) %}{{ loop.index }}{% endfor %}"
    )
    write_calendar(tmp_path / "cal", text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_probe(
        "plan", "../cal/calendar.toml", "--start", "2027-03-01", "--end", "2027-03-01",
        "--format", "jsonl", cwd=elsewhere,
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["text"] == "a-b 1 [1, 2] 6 4/5 p,q 123"
