"""The sandbox's fast path for the calendar's models (`segment.name`, `post.id`): fields
of plain values (text, numbers, booleans, None) of these exact types are read without
the per-read checks, and nothing else gets past them: internal attributes, fields
holding methods or functions, subclasses and other objects are refused or checked as
before."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import attrs
import pytest
from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import unsafe

from socialsched.calendar.model import Channel, Post, Segment
from socialsched.planning.template_limits import LimitedSandbox


@attrs.frozen
class Model:
    name: Any
    size: Any = 0


class SubModel(Model):
    """Not the exact type: every read is checked as before."""

    @unsafe
    def leak(self) -> str:
        return "reached"


class Sandbox(LimitedSandbox):
    plain_fields = MappingProxyType(
        {Model: frozenset({"name", "size"}), SubModel: frozenset({"leak"})}
    )


def render(source: str, **context: Any) -> str:
    return Sandbox(undefined=StrictUndefined).from_string(source).render(**context)


def test_the_renderer_reads_the_models_fields_on_the_fast_path():
    from socialsched.planning.render import _MODEL_FIELDS

    assert set(_MODEL_FIELDS) == {Segment, Post, Channel}
    assert "name" in _MODEL_FIELDS[Segment] and "id" in _MODEL_FIELDS[Post]
    assert not any(name.startswith("_") for names in _MODEL_FIELDS.values() for name in names)


@pytest.mark.parametrize("value", ["shop", 3, 2.5, True, None])
def test_plain_fields_read_as_before(value):
    assert render("{{ m.name }}", m=Model(value)) == str(value)
    assert render("{{ m.name }}", m=Model(value)) == LimitedSandbox().from_string(
        "{{ m.name }}"
    ).render(m=Model(value))


@pytest.mark.parametrize(
    "source",
    [
        "{{ m.__class__ }}",
        "{{ m.__class__.__mro__ }}",
        "{{ m.name.__class__.__mro__ }}",
        "{{ m.__init__.__globals__ }}",
        "{{ m.__attrs_attrs__ }}",
        "{{ m.__slots__ }}",
    ],
)
def test_internal_attributes_are_still_refused(source):
    with pytest.raises(SecurityError):
        render(source, m=Model("x"))


def _function() -> str:
    return "reached"


def test_a_field_holding_a_function_or_method_is_checked_as_before():
    with pytest.raises(SecurityError):
        render("{{ m.name.__globals__ }}", m=Model(_function))
    with pytest.raises(SecurityError):
        render("{{ m.name.__code__ }}", m=Model(_function))
    # `str.format` from a field is still the sandbox's checked format.
    with pytest.raises(SecurityError):
        render("{{ m.name(1) }}", m=Model("{0.__class__.__mro__}".format))


def test_subclasses_are_not_on_the_fast_path():
    with pytest.raises(SecurityError):
        render("{{ m.leak() }}", m=SubModel("x"))
