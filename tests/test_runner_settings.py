"""The calendar's `[runner]` table and a channel's `on_doubt`: loaded, validated with
file and line, and alert channels left out of posts that name no channel."""

from __future__ import annotations

from datetime import timedelta

import pytest

import socialsched
from socialsched.calendar.model import RunnerSettings
from socialsched.errors import CalendarError

BASE = """\
[[segment]]
name = "uk"
locale = "en-GB"
timezone = "Europe/London"
country = "GB"

[[channel]]
name = "screen"
adapter = "console"

[[channel]]
name = "ops"
adapter = "console"
{channel_extra}

[[post]]
id = "hello"
text = "Hello"
dates = ["2027-01-04"]
at = "09:00"
{runner}
"""


def write(tmp_path, runner: str = "", channel_extra: str = ""):
    path = tmp_path / "calendar.toml"
    path.write_text(BASE.format(runner=runner, channel_extra=channel_extra), encoding="utf-8")
    return path


def problems(path) -> list[str]:
    with pytest.raises(CalendarError) as caught:
        socialsched.load(path)
    return [str(problem) for problem in caught.value.problems]


def line_of(path, text: str) -> int:
    lines = path.read_text().splitlines()
    return next(number for number, line in enumerate(lines, start=1) if text in line)


def test_runner_table_is_loaded_and_alert_channels_get_no_posts(tmp_path):
    path = write(tmp_path, '\n[runner]\nalert_channels = ["ops"]\nalert_window = "30min"\n')
    calendar = socialsched.load(path)
    assert calendar.runner == RunnerSettings(("ops",), timedelta(minutes=30))
    deliveries = socialsched.plan(calendar, "2027-01-04", "2027-01-04")
    assert [d.channel for d in deliveries] == ["screen"]


def test_without_runner_table_every_channel_gets_posts(tmp_path):
    calendar = socialsched.load(write(tmp_path))
    assert calendar.runner == RunnerSettings()
    deliveries = socialsched.plan(calendar, "2027-01-04", "2027-01-04")
    assert sorted(d.channel for d in deliveries) == ["ops", "screen"]


@pytest.mark.parametrize(
    ("runner", "message", "key"),
    [
        ('alert_channels = ["pager"]', "alert_channels names unknown channel 'pager'", None),
        ('alert_channels = "ops"\n', "alert_channels = 'ops': must be a list", "alert_channels"),
        ('alert_window = "soon"', "duration 'soon' must look like", "alert_window"),
        ('alert_window = "0s"', "must be a positive duration", "alert_window"),
        ('alert_chanels = ["ops"]', "unknown key 'alert_chanels' in [runner]", "alert_chanels"),
    ],
)
def test_runner_table_problems_name_file_and_line(tmp_path, runner, message, key):
    path = write(tmp_path, f"\n[runner]\n{runner}\n")
    [problem] = problems(path)
    assert message in problem
    line = line_of(path, key) if key else None
    assert problem.startswith(f"{path}:{line}: error:" if line else f"{path}:")


def test_on_doubt_accepts_resend_or_hold_only(tmp_path):
    calendar = socialsched.load(write(tmp_path, channel_extra='on_doubt = "hold"'))
    assert calendar.channel("ops").on_doubt == "hold"
    assert calendar.channel("screen").on_doubt is None
    path = write(tmp_path, channel_extra='on_doubt = "maybe"')
    [problem] = problems(path)
    assert "on_doubt" in problem and "maybe" in problem
    assert problem.startswith(f"{path}:{line_of(path, 'on_doubt')}:")
