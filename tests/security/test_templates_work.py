"""Issue 20, templates: one rendering's work is bounded (loop iterations, calls,
includes), so a template always stops, with an error naming post, template and line;
run from another folder under a 2 GiB address-space limit. Before the fix, three nested
`range(10**5)` loops ran until killed and two nested `range(10**4)` loops took 10 s
and were accepted."""

from __future__ import annotations

import pytest
from jinja2 import DictLoader

from socialsched.planning.template_limits import LimitedSandbox
from socialsched.planning.template_work import MAX_TEMPLATE_STEPS, TemplateTooLarge

from .probe import assert_no_traceback, run_probe
from .test_templates_size import lint_from_elsewhere, write_calendar

STEPS = f"past {MAX_TEMPLATE_STEPS} steps"


@pytest.mark.parametrize(
    "text",
    [
        "{% for i in range(10**5) %}{% for j in range(10**5) %}{% for k in range(10**5) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "{% for i in range(10**4) %}{% for j in range(10**4) %}{% endfor %}{% endfor %}",
        # Recursion doubling the calls at each level: 2**60 calls.
        "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}"
        "{{ m(60) }}",
        # A recursive loop over a tree 40 levels deep whose every level holds the next
        # one twice: 2**40 leaves.
        "{% set ns = namespace(t=[]) %}{% for i in range(40) %}{% set ns.t = [ns.t, ns.t] %}"
        "{% endfor %}{% for node in ns.t recursive %}{{ loop(node) }}{% endfor %}",
    ],
    ids=["three-nested-1e5", "two-nested-1e4", "doubling-macro", "recursive-loop"],
)
def test_endless_work_is_stopped_with_post_template_and_line(tmp_path, text):
    write_calendar(tmp_path / "cal", text)
    code, stderr = lint_from_elsewhere(tmp_path)
    assert code == 1, stderr
    assert STEPS in stderr
    assert "post 'spam' text:1: " in stderr
    assert "rendering post 'spam' for segment 'uk'" in stderr


def test_a_template_including_itself_twice_per_level_stops(tmp_path):
    # 40 levels, each including the next twice: 2**40 includes.
    source = (
        "{% set d = (d|default(0)) + 1 %}{% if d < 40 %}"
        "{% include 'loop.j2' %}{% include 'loop.j2' %}{% endif %}"
    )
    write_calendar(tmp_path / "cal", "", templates={"loop": source})
    code, stderr = lint_from_elsewhere(tmp_path)
    assert code == 1, stderr
    assert "including 'loop.j2'" in stderr and STEPS in stderr
    assert "loop.j2:1" in stderr


def test_a_template_including_itself_without_end_stops(tmp_path):
    write_calendar(tmp_path / "cal", "", templates={"loop": "x{% include 'loop.j2' %}"})
    code, stderr = lint_from_elsewhere(tmp_path)
    assert code == 1, stderr
    assert "loop.j2: the template calls or includes itself too deeply" in stderr


def test_a_plan_with_a_budgeted_template_runs_under_the_limit(tmp_path):
    # 99 * 1,000 iterations: under the budget, fine.
    text = "{% for i in range(99) %}{% for j in range(1000) %}{% endfor %}{% endfor %}done"
    write_calendar(tmp_path / "cal", text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_probe(
        "plan", "../cal/calendar.toml", "--start", "2027-03-01", "--end", "2027-03-01",
        "--format", "csv", cwd=elsewhere,
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout


# ---- the budget itself, in process ----


class Small(LimitedSandbox):
    max_steps = 10


def test_each_loop_iteration_call_and_include_is_a_step():
    environment = Small(loader=DictLoader({"inc": "i"}))
    assert environment.from_string("{% for c in 'abcdefghij' %}{% endfor %}").render() == ""
    with pytest.raises(TemplateTooLarge, match="a loop took the rendering past 10 steps"):
        environment.from_string("{% for c in 'abcdefghijk' %}{% endfor %}").render()
    # range(9) is a call, then 9 iterations; range(10) one step too many.
    assert environment.from_string("{% for i in range(9) %}{% endfor %}").render() == ""
    with pytest.raises(TemplateTooLarge, match="a loop took the rendering past 10 steps"):
        environment.from_string("{% for i in range(10) %}{% endfor %}").render()
    calls = "{% macro m() %}{% endmacro %}" + "{{ m() }}" * 11
    with pytest.raises(TemplateTooLarge, match="calling m took the rendering past 10 steps"):
        environment.from_string(calls).render()
    with pytest.raises(TemplateTooLarge, match="including 'inc' took the rendering past"):
        environment.from_string("{% include 'inc' %}" * 11).render()


def test_each_rendering_has_its_own_budget():
    template = Small().from_string("{% for c in 'abcdefghij' %}{{ c }}{% endfor %}")
    for _ in range(3):
        assert template.render() == "abcdefghij"
        assert "".join(template.generate()) == "abcdefghij"


def test_loop_variables_still_work_through_the_budget():
    template = LimitedSandbox().from_string(
        "{% for x in 'abc' %}{{ loop.index }}{{ x }}{{ loop.length }}{% if loop.last %}."
        "{% endif %}{% else %}none{% endfor %}{% for x in [] %}{% else %}none{% endfor %}"
    )
    assert template.render() == "1a32b33c3.none"
