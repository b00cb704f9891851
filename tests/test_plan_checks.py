"""Limits and content checks at plan time: checked once per distinct text of a route
when nothing the check reads can change from slot to slot, else for every delivery."""

from __future__ import annotations

from datetime import date, timedelta
from typing import ClassVar

import pytest

from socialsched import Calendar, Channel, Planner, Post, Problem, Segment, hookimpl, plugins
from socialsched.adapters import Adapter, Capabilities
from socialsched.adapters.base import reads_no_time

START, END = date(2027, 3, 1), date(2027, 3, 14)  # two weeks from a Monday
SEGMENTS = [
    Segment(name="paris", locale="fr", timezone="Europe/Paris", country="FR"),
    Segment(name="lyon", locale="fr", timezone="Europe/Paris", country="FR"),
]


class Counting(Adapter):
    """Counts its checks; keeps the base's checks but overrides `validate`."""

    name = "counting"
    capabilities = Capabilities(max_length=40, audiences=("any",))
    calls: ClassVar[list] = []

    def validate(self, message):
        Counting.calls.append(message.utc)
        return super().validate(message)


class TimeFree(Counting):
    validation_reads_time = False


class NoWeekends(Counting):
    """A check that reads the time: weekends are refused."""

    def validate(self, message):
        problems = super().validate(message)
        if message.local.weekday() >= 5:
            problems.append("no posts at weekends")
        return problems


def plan(adapter: type[Adapter], text: str, problems: list[Problem] | None = None):
    Counting.calls = []
    calendar = Calendar(
        segments=SEGMENTS,
        channels=[Channel(name="feed", adapter="console")],
        posts=[Post(id="daily", text=text, schedule="0 9 * * *")],
    )
    planner = Planner(calendar, adapters=adapter)
    return planner.plan(START, END, problems=problems)


def test_a_check_that_cannot_read_the_time_runs_once_per_text_of_a_route():
    deliveries = plan(TimeFree, "Bonjour {{ segment.name }}")
    assert len(deliveries) == 2 * 14
    assert len(Counting.calls) == 2  # one text per route
    deliveries = plan(TimeFree, "{{ when|date('full') }}")
    assert len(Counting.calls) == len({(d.segment, d.text) for d in deliveries}) == 2 * 14


def test_an_overridden_check_runs_for_every_delivery_unless_it_says_it_reads_no_time():
    deliveries = plan(Counting, "Bonjour {{ segment.name }}")
    assert sorted(Counting.calls) == sorted(d.utc for d in deliveries)
    assert Counting.validates_time() and not TimeFree.validates_time()
    assert not Adapter.validates_time()  # the base's own checks never read the time


def test_a_check_reading_the_time_refuses_only_the_deliveries_it_should():
    problems: list[Problem] = []
    deliveries = plan(NoWeekends, "Bonjour {{ segment.name }}", problems)
    weekdays = [START + timedelta(days=n) for n in range(14)]
    expected = {day for day in weekdays if day.weekday() < 5}
    assert {d.local.date() for d in deliveries} == expected
    assert len(deliveries) == 2 * len(expected)
    assert len(problems) == 2 * (14 - len(expected))
    assert all("no posts at weekends" in problem.message for problem in problems)


def test_a_too_long_text_fails_in_every_slot_it_is_planned_for():
    problems: list[Problem] = []
    deliveries = plan(TimeFree, "{{ 'x' * 41 }}", problems)
    assert deliveries == [] and len(problems) == 2 * 14
    assert all("text is 41 characters" in problem.message for problem in problems)


class Sundays:
    """A content check that reads the time."""

    @hookimpl
    def check_message(self, message, segment, channel):
        if message.local.weekday() == 6:
            return ["quiet on Sundays"]
        return None


@pytest.fixture
def sundays():
    name = plugins.register(Sundays(), name="sundays")
    yield
    plugins.unregister(name=name)


def test_a_plugins_content_check_runs_for_every_delivery(sundays):
    problems: list[Problem] = []
    deliveries = plan(TimeFree, "Bonjour {{ segment.name }}", problems)
    assert len(Counting.calls) == 2 * 14
    assert not any(d.local.weekday() == 6 for d in deliveries)
    assert len(deliveries) == 2 * 12 and len(problems) == 2 * 2


class Plain(Adapter):
    """The base's checks only (a length limit): they read the text's length alone."""

    name = "plain"
    capabilities = Capabilities(max_length=8, audiences=("any",))


class Weighted(Plain):
    """Counts length its own way: its check may read more than the length."""

    def text_length(self, text):
        return len(text.encode())


@pytest.fixture
def base_calls(monkeypatch):
    calls: list[str] = []
    base = Adapter.validate

    def counted(self, message):
        calls.append(message.text)
        return base(self, message)

    monkeypatch.setattr(Adapter, "validate", reads_no_time(counted))
    return calls


@pytest.mark.parametrize(("adapter", "checks"), [(Plain, 3 + 2), (Weighted, 6 + 2)])
def test_the_base_check_runs_once_per_text_length_unless_the_length_is_counted_otherwise(
    base_calls, adapter, checks
):
    # Weekday names: Monday 6, Tuesday 7, Wednesday 9 (over 8), Thursday 8, Friday 6...
    problems: list[Problem] = []
    deliveries = plan(adapter, "{{ when.strftime('%A') }}", problems)
    assert "Wednesday" not in {d.text for d in deliveries} and len(deliveries) == 2 * 12
    assert len(problems) == 2 * 2
    assert all("text is 9 characters" in problem.message for problem in problems)
    # Per route: each passing length (or text) once, each failing delivery again.
    assert len(base_calls) == 2 * checks
