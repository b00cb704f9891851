"""`[runner] collect_after`: the ages after publishing at which engagement is collected,
loaded from the calendar (default 1 h, 24 h, 7 d), problems named with file and line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_runner_settings import line_of, problems, write

import socialsched


def test_collect_after_defaults_to_an_hour_a_day_and_a_week(tmp_path):
    calendar = socialsched.load(write(tmp_path))
    assert calendar.runner.collect_after == (
        timedelta(hours=1),
        timedelta(hours=24),
        timedelta(days=7),
    )


def test_collect_after_is_read_sorted_and_may_be_empty(tmp_path):
    path = write(tmp_path, '\n[runner]\ncollect_after = ["30d", "2h", "90min", "2h"]\n')
    assert socialsched.load(path).runner.collect_after == (
        timedelta(minutes=90),
        timedelta(hours=2),
        timedelta(days=30),
    )
    never = write(tmp_path, "\n[runner]\ncollect_after = []\n")
    assert socialsched.load(never).runner.collect_after == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"1h"', "collect_after '1h' must be a list of ages"),
        ('["soon"]', "duration 'soon' must look like"),
        ('["0s"]', "each age must be a positive duration"),
    ],
)
def test_collect_after_problems_name_file_and_line(tmp_path, value, message):
    path = write(tmp_path, f"\n[runner]\ncollect_after = {value}\n")
    [problem] = problems(path)
    assert message in problem
    assert problem.startswith(f"{path}:{line_of(path, 'collect_after')}: error:")
