"""Templates cannot build runaway text: multiplication, concatenation, formatting and
the filters that multiply text are capped, and so is the rendered length, with an
error naming the post and segment. Ordinary templates render as before."""

from __future__ import annotations

import re
import textwrap
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from socialsched import Calendar, Channel, Post, RenderError, Segment
from socialsched.cli import main
from socialsched.planning.render import Renderer
from socialsched.planning.template_limits import MAX_TEMPLATE_TEXT, LimitedSandbox

WHEN = datetime(2027, 3, 1, 10, 0, tzinfo=ZoneInfo("Europe/London"))
UK = Segment(name="uk", locale="en-GB", timezone="Europe/London", country="GB")
CHANNEL = Channel(name="feed", adapter="console")


def render(text: str) -> str:
    post = Post(id="spam", text=text, dates=["2027-03-01"], at="10:00")
    calendar = Calendar(segments=[UK], channels=[CHANNEL], posts=[post])
    return Renderer(calendar).render(post, UK, CHANNEL, WHEN)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("{{ 'x' * 300000000 }}", "a 1-character string * 300000000 would build 300000000 "
         "characters"),
        ("{{ 300000000 * 'ab' }}", "a 2-character string * 300000000 would build 600000000 "
         "characters"),
        ("{{ [0] * 10 ** 9 }}", "a 1-item list * 1000000000 would build 1000000000 items"),
        ("{{ 9 ** 999999999 }}", "the number 9 ** 999999999 would build 2999999997 bits"),
        ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
         "{% endfor %}", "joining with ~ would build 131072 characters"),
        ("{% set ns = namespace(s=['x']) %}{% for i in range(64) %}"
         "{% set ns.s = ns.s + ns.s %}{% endfor %}",
         "a 65536-item list + a 65536-item list would build 131072 items"),
        ("{% set l = [1] %}{% for i in range(64) %}{% set _ = l.extend(l) %}{% endfor %}",
         "list.extend would build 131072 items"),
        ("{{ '%0300000000d' % 1 }}", "the %-format width 300000000 would build 300000000 "
         "characters"),
        ("{{ '%0300000000d'|format(1) }}", "the %-format width 300000000 would build"),
        ("{{ '{:>300000000}'.format(1) }}", "the format width 300000000 would build"),
        ("{{ 'x'.center(300000000) }}", "str.center would build 300000000 characters"),
        ("{{ 'x'|center(300000000) }}", "the center filter would build 300000000 characters"),
        ("{{ ('x' * 100000)|replace('x', 'x' * 100000) }}",
         "the replace filter would build 10000000000 characters"),
        ("{{ range(100000)|join('x' * 100000) }}", "the join filter would build"),
        ("{{ ('x' * 1000)|indent(300000000) }}", "the indent filter would build 300001000"),
        ("{% for i in range(100) %}{% for j in range(1000) %}{{ 'x' * 10 }}{% endfor %}"
         "{% endfor %}", f"the rendered text passed {MAX_TEMPLATE_TEXT} characters"),
    ],
)  # fmt: skip
def test_runaway_templates_are_refused_naming_post_and_segment(text, what):
    with pytest.raises(RenderError) as raised:
        render(text)
    message = str(raised.value)
    # The line is named when the refusal comes from a line of the template (the
    # rendered length is checked outside it).
    assert re.match(r"post 'spam' text(:1)?: ", message), message
    assert what in message
    assert message.endswith(", rendering post 'spam' for segment 'uk'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ 'ab' * 3 }}", "ababab"),
        ("{{ ([1, 2] + [3])|join('-') }}", "1-2-3"),
        ("{{ 'a' ~ 'b' ~ 3 }}", "ab3"),
        ("{{ '%5.2f' % 3.14159 }}|", "3.14|"),
        ("|{{ '%5.2f' % 3.14159 }}", "| 3.14"),
        ("{{ '%s and %s'|format('salt', 'pepper') }}", "salt and pepper"),
        ("|{{ '{:>5}'.format(42) }}", "|   42"),
        ("{{ ['a', 'b']|join(', ') }}", "a, b"),
        ("|{{ 'x'|center(5) }}|", "|  x  |"),
        ("{{ 'a-b-c'|replace('-', ' ') }}", "a b c"),
        ("{{ 'one two three'|wordwrap(7) }}", "one two\nthree"),
        ("{{ 'a\nb'|indent(2) }}", "a\n  b"),
        ("{{ 'x'.ljust(3) }}|", "x  |"),
        ("{{ ', '.join(['a', 'b']) }}", "a, b"),
        ("{{ 2 ** 10 }} {{ 6 * 7 }}", "1024 42"),
        ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
        ("{{ 'x' * 100000 }}", "x" * 100_000),
    ],
)
def test_ordinary_templates_render_as_before(text, expected):
    assert render(text) == expected


def test_the_cap_is_the_environments_own_setting():
    class Strict(LimitedSandbox):
        max_text = 10

    assert Strict().from_string("{{ 'x' * 10 }}").render() == "x" * 10
    with pytest.raises(Exception, match="would build 11 characters"):
        Strict().from_string("{{ 'x' * 11 }}").render()


def test_lint_reports_a_runaway_template_with_post_and_segment(tmp_path):
    (tmp_path / "calendar.toml").write_text(
        textwrap.dedent(
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
            text = "{{ 'x' * 300000000 }}"
            dates = ["2027-03-01"]
            at = "10:00"
            """
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main,
        ["lint", str(tmp_path / "calendar.toml"), "--start", "2027-03-01", "--end", "2027-03-01"],
    )
    assert result.exit_code == 1
    assert "would build 300000000 characters" in result.stderr
    assert "rendering post 'spam' for segment 'uk'" in result.stderr
