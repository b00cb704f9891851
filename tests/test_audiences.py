"""Audiences: how a channel reaches a segment, parsed from calendar values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialsched import Channel, PlanError, Segment
from socialsched.adapters import Message
from socialsched.calendar.audiences import Audience, resolve_audience
from socialsched.calendar.model import Delivery

SEGMENT = Segment(name="mx", locale="es-MX", timezone="America/Mexico_City", country="MX")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("list:clientes-mx", Audience("list", "clientes-mx")),
        ("circle:amigos", Audience("circle", "amigos")),
        ("community:1234", Audience("community", "1234")),
        ("group:-100987", Audience("group", "-100987")),
        ("recipient:@ana", Audience("recipient", "@ana")),
        ({"kind": "group", "id": 42}, Audience("group", "42")),
        (
            {"kind": "targeting", "countries": ["mx", "gt"], "locales": "es-MX"},
            Audience("targeting", None, ("MX", "GT"), ("es-MX",)),
        ),
    ],
)
def test_parse_calendar_forms(raw, expected):
    assert Audience.parse(raw) == expected


def test_targeting_without_countries_or_locales_targets_the_segment():
    assert Audience.parse({"kind": "targeting"}, SEGMENT) == Audience(
        "targeting", None, ("MX",), ("es-MX",)
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("everyone", "must look like 'kind:id'"),
        ("Page Wall:123", "must look like 'kind:id'"),
        ("targeting:MX", "write targeting as a table"),
        ({"kind": "list"}, "needs an id"),
        ({"kind": "Wall!", "id": "x"}, "kind 'Wall!' must be a lowercase word"),
        ({"kind": "list", "id": "x", "colour": "red"}, "unknown key(s) colour"),
        (42, "must be a 'kind:id' string or a table"),
    ],
)
def test_bad_audiences_say_what_is_wrong(raw, message):
    with pytest.raises(ValueError, match=re_escape(message)):
        Audience.parse(raw)


def re_escape(text):
    import re

    return re.escape(text)


def test_resolve_audience_names_channel_and_segment_when_malformed():
    channel = Channel(name="tg", adapter="console", audiences={"mx": "nope"})
    with pytest.raises(PlanError, match="channel 'tg', segment 'mx'"):
        resolve_audience(channel, SEGMENT)
    assert resolve_audience(Channel(name="c", adapter="console"), SEGMENT) is None


def test_to_dict_and_str():
    assert Audience("list", "a").to_dict() == {"kind": "list", "id": "a"}
    targeting = Audience("targeting", countries=("MX",), locales=("es-MX",))
    assert targeting.to_dict() == {"kind": "targeting", "countries": ["MX"], "locales": ["es-MX"]}
    assert str(Audience("circle", "amigos")) == "circle:amigos"


def test_message_for_delivery_carries_the_resolved_audience():
    channel = Channel(name="tg", adapter="console", audiences={"mx": "group:-100"})
    when = datetime(2027, 3, 1, 16, 0, tzinfo=UTC)
    delivery = Delivery(
        id="d1",
        post="p",
        segment="mx",
        channel="tg",
        adapter="console",
        utc=when,
        local=when,
        text="Hola",
        audience="group:-100",
        tags=("t",),
    )
    message = Message.for_delivery(delivery, SEGMENT, channel)
    assert message.audience == Audience("group", "-100")
    assert (message.delivery_id, message.locale, message.text, message.tags) == (
        "d1",
        "es-MX",
        "Hola",
        ("t",),
    )
    assert message.to_dict()["audience"] == {"kind": "group", "id": "-100"}
