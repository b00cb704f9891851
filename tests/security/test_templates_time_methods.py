"""The sandbox's fast path for dates and times (`when.strftime(...)`, `when.hour`):
templates read and call them as before, each call still a counted step, and nothing
else gets past the sandbox's checks: internal attributes, subclasses of the date types
and other objects' methods of the same names are refused or checked as before."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from jinja2.exceptions import SecurityError
from jinja2.sandbox import unsafe

from socialsched.planning.template_limits import LimitedSandbox
from socialsched.planning.template_work import TemplateTooLarge

WHEN = datetime(2027, 3, 14, 9, 5, tzinfo=UTC)


class Small(LimitedSandbox):
    max_steps = 10


class MarkedUnsafe(datetime):
    """A datetime whose strftime the sandbox must refuse (it is marked unsafe)."""

    @unsafe
    def strftime(self, format: str) -> str:
        return "reached"


class Leaky:
    """Not a date: its `strftime` and `hour` go through every check."""

    hour = 9

    @unsafe
    def strftime(self, format: str) -> str:
        return "reached"


def render(source: str, **context: Any) -> str:
    return LimitedSandbox().from_string(source).render(**context)


@pytest.mark.parametrize(
    ("value", "source", "expected"),
    [
        (WHEN, "{{ when.strftime('%H:%M on %d %b') }}", "09:05 on 14 Mar"),
        (WHEN, "{{ when.isoformat() }} {{ when.weekday() }} {{ when.isoweekday() }}",
         "2027-03-14T09:05:00+00:00 6 7"),
        (WHEN, "{{ when.year }}-{{ when.month }}-{{ when.day }} {{ when.hour }}:{{ when.minute }}"
         ":{{ when.second }}", "2027-3-14 9:5:0"),
        (WHEN, "{{ when.date() }} {{ when.time() }}", "2027-03-14 09:05:00"),
        (date(2027, 3, 14), "{{ when.strftime('%A') }}", "Sunday"),
        (time(9, 5), "{{ when.strftime('%H.%M') }} {{ when.isoformat() }}", "09.05 09:05:00"),
    ],
)  # fmt: skip
def test_dates_and_times_read_and_call_as_before(value, source, expected):
    assert render(source, when=value) == expected


def test_internal_attributes_of_dates_stay_refused():
    for attribute in ("__class__", "__reduce__", "__init_subclass__", "__reduce_ex__"):
        with pytest.raises(SecurityError):
            render(f"{{{{ when.{attribute}.mro() }}}}", when=WHEN)
    # Through the methods the fast path hands out: printed, a refused attribute is
    # nothing; used, an error.
    assert render("{{ when.strftime.__self__ }}{{ when.__class__ }}", when=WHEN) == ""
    with pytest.raises(SecurityError, match="'__self__' of 'builtin_function_or_method'"):
        render("{{ when.strftime.__self__.replace() }}", when=WHEN)
    with pytest.raises(SecurityError, match="'__call__'"):
        render("{{ when.isoformat.__call__() }}", when=WHEN)


def test_subclasses_and_other_objects_get_every_check():
    evil = MarkedUnsafe(2027, 3, 14, 9, 5, tzinfo=UTC)
    with pytest.raises(SecurityError, match="not safely callable"):
        render("{{ when.strftime('%H') }}", when=evil)
    with pytest.raises(SecurityError, match="not safely callable"):
        render("{{ when.strftime('%H') }}", when=Leaky())
    assert render("{{ when.hour }}", when=Leaky()) == "9"
    # Methods outside the short list still go through the checks (and pass them).
    assert render("{{ when.replace(year=2030).year }}", when=WHEN) == "2030"
    assert render("{{ when.timetuple().tm_year }}", when=WHEN) == "2027"


def test_each_date_method_call_is_still_a_step():
    ten = "{{ when.strftime('%H') }}" * 10
    assert Small().from_string(ten).render(when=WHEN) == "09" * 10
    with pytest.raises(TemplateTooLarge, match="calling isoformat took the rendering past 10"):
        Small().from_string(ten + "{{ when.isoformat() }}").render(when=WHEN)
