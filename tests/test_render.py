"""Rendering: sandboxed strict Jinja, locale fallback, context and Babel filters."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import babel.dates
import babel.numbers
import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from socialsched import Calendar, Channel, Post, RenderError, Segment
from socialsched.planning.render import Renderer, locale_chain

WHEN = datetime(2027, 1, 15, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))


def segment(name: str, locale: str, **extra) -> Segment:
    zones = {"FR": "Europe/Paris", "DZ": "Africa/Algiers", "US": "America/New_York"}
    country = extra.pop("country", locale.split("-")[-1] if "-" in locale else "FR")
    return Segment(
        name=name, locale=locale, timezone=zones.get(country, "UTC"), country=country, **extra
    )


CHANNEL = Channel(name="community", adapter="console")


def calendar_with(
    templates: Path | None, posts: list[Post], segments: list[Segment], **extra
) -> Calendar:
    return Calendar(
        segments=segments, channels=[CHANNEL], posts=posts, templates=templates, **extra
    )


def render(calendar: Calendar, post_id: str, segment_name: str, **kwargs) -> str:
    renderer = Renderer(calendar)
    return renderer.render(
        calendar.post(post_id),
        calendar.segment(segment_name),
        CHANNEL,
        kwargs.pop("when", WHEN),
        **kwargs,
    )


def inline(post_id: str, text, **extra) -> Post:
    return Post(id=post_id, text=text, dates=["2027-01-15"], at="10:00", **extra)


def templated(post_id: str, template: str, **extra) -> Post:
    return Post(id=post_id, template=template, dates=["2027-01-15"], at="10:00", **extra)


MARKETS = [
    segment("fr-DZ", "fr-DZ"),
    segment("fr-FR", "fr-FR"),
    segment("en-US", "en-US"),
]


def test_renderer_uses_a_sandboxed_strict_environment():
    renderer = Renderer(calendar_with(None, [inline("p", "x")], MARKETS[:1]))
    assert isinstance(renderer.environment, SandboxedEnvironment)
    assert renderer.environment.undefined is StrictUndefined


def test_locale_chain():
    assert locale_chain("fr-DZ") == ["fr-DZ", "fr"]
    assert locale_chain("fr") == ["fr"]


def test_template_lookup_falls_back_by_locale(tmp_path):
    (tmp_path / "greet.fr-DZ.j2").write_text("dz")
    (tmp_path / "greet.fr.j2").write_text("fr")
    (tmp_path / "greet.j2").write_text("default")
    calendar = calendar_with(tmp_path, [templated("p", "greet")], MARKETS)
    assert render(calendar, "p", "fr-DZ") == "dz"
    assert render(calendar, "p", "fr-FR") == "fr"
    assert render(calendar, "p", "en-US") == "default"


def test_region_without_own_template_uses_language_template(tmp_path):
    (tmp_path / "greet.fr.j2").write_text("fr")
    (tmp_path / "greet.j2").write_text("default")
    calendar = calendar_with(tmp_path, [templated("p", "greet")], MARKETS)
    assert render(calendar, "p", "fr-DZ") == "fr"


def test_missing_template_for_locale_is_a_render_error(tmp_path):
    (tmp_path / "greet.fr.j2").write_text("fr")
    calendar = calendar_with(tmp_path, [templated("p", "greet")], MARKETS)
    with pytest.raises(RenderError) as caught:
        render(calendar, "p", "en-US")
    assert "greet.en-US.j2, greet.en.j2, greet.j2" in str(caught.value)


def test_inline_text_table_falls_back_to_language_then_default():
    text = {"fr-DZ": "dz", "fr": "fr", "default": "default"}
    calendar = calendar_with(None, [inline("p", text)], [*MARKETS, segment("fr-CA", "fr-CA")])
    assert render(calendar, "p", "fr-DZ") == "dz"
    assert render(calendar, "p", "fr-FR") == "fr"
    assert render(calendar, "p", "fr-CA") == "fr"
    assert render(calendar, "p", "en-US") == "default"


def test_inline_text_table_without_default_names_locale_and_keys():
    calendar = calendar_with(None, [inline("p", {"fr": "fr"})], MARKETS)
    with pytest.raises(RenderError) as caught:
        render(calendar, "p", "en-US")
    assert "'en-US'" in str(caught.value)
    assert "has: fr" in str(caught.value)


def test_context_variables(tmp_path):
    (tmp_path / "ctx.j2").write_text(
        "{{ segment.name }}|{{ segment.locale }}|{{ post.id }}|{{ channel.name }}|"
        "{{ when.isoformat() }}|{{ holiday }}|{{ vars.brand }}|{{ vars.level }}|{{ vars.code }}"
    )
    market = Segment(
        name="fr-FR",
        locale="fr-FR",
        timezone="Europe/Paris",
        country="FR",
        vars={"level": "segment", "code": "S"},
    )
    post = templated("p", "ctx", vars={"code": "P"})
    calendar = calendar_with(
        tmp_path, [post], [market], vars={"brand": "Olivar", "level": "calendar"}
    )
    rendered = render(calendar, "p", "fr-FR", holiday="Jour de l'an")
    # Post vars override segment vars, which override calendar vars.
    assert rendered == (f"fr-FR|fr-FR|p|community|{WHEN.isoformat()}|Jour de l'an|Olivar|segment|P")


def test_holiday_is_none_when_not_given():
    calendar = calendar_with(None, [inline("p", "{{ holiday is none }}")], MARKETS)
    assert render(calendar, "p", "fr-FR") == "True"


def test_full_date_in_french():
    calendar = calendar_with(None, [inline("p", '{{ when | date("full") }}')], MARKETS)
    rendered = render(calendar, "p", "fr-FR")
    assert rendered == "vendredi 15 janvier 2027"
    assert rendered == babel.dates.format_date(date(2027, 1, 15), "full", locale="fr_FR")


def test_date_formats_follow_each_locale():
    calendar = calendar_with(None, [inline("p", '{{ when | date("full") }}')], MARKETS)
    assert render(calendar, "p", "en-US") == babel.dates.format_date(
        date(2027, 1, 15), "full", locale="en_US"
    )
    assert render(calendar, "p", "en-US").startswith("Friday, January 15")


def test_time_filter_uses_local_wall_clock():
    calendar = calendar_with(None, [inline("p", "{{ when | time }}")], MARKETS)
    assert render(calendar, "p", "fr-FR") == "10:00"


def test_number_currency_and_percent_are_localized():
    source = "{{ 1234.5 | number }}|{{ 24.9 | currency('EUR') }}|{{ 0.15 | percent }}"
    markets = [segment("de-DE", "de-DE", country="DE"), segment("en-US", "en-US")]
    calendar = calendar_with(None, [inline("p", source)], markets)
    german = render(calendar, "p", "de-DE").split("|")
    american = render(calendar, "p", "en-US").split("|")
    assert german == [
        babel.numbers.format_decimal(1234.5, locale="de_DE"),
        babel.numbers.format_currency(24.9, "EUR", locale="de_DE"),
        babel.numbers.format_percent(0.15, locale="de_DE"),
    ]
    # German groups with '.' and uses a decimal comma; the euro sign follows the amount.
    assert german[0] == "1.234,5"
    assert german[1].startswith("24,90") and german[1].endswith("€")
    assert american[0] == "1,234.5"
    assert american[1] == "€24.90"
    assert american[2] == "15%"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ post.__init__.__globals__ }}",
        "{{ segment.__class__.__subclasses__() }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ '{0.__class__}'.format(post) }}",
        "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ vars.__class__.__init__ }}",
    ],
)
def test_sandbox_escape_is_a_clear_render_error(source):
    calendar = calendar_with(None, [inline("p", source)], MARKETS)
    with pytest.raises(RenderError) as caught:
        render(calendar, "p", "fr-FR")
    message = str(caught.value)
    assert "sandbox" in message
    assert "'p'" in message and "'fr-FR'" in message


def test_undefined_variable_names_template_file_and_line(tmp_path):
    (tmp_path / "broken.j2").write_text("Hello\n{{ vars.brand }}\n{{ vars.nope }}\n")
    calendar = calendar_with(tmp_path, [templated("p", "broken")], MARKETS, vars={"brand": "x"})
    with pytest.raises(RenderError) as caught:
        render(calendar, "p", "fr-FR")
    message = str(caught.value)
    assert f"{tmp_path / 'broken.j2'}:3" in message
    assert "undefined" in message
    assert "nope" in message


def test_filter_error_is_a_render_error_not_a_traceback():
    calendar = calendar_with(None, [inline("p", "{{ 'abc' | currency('EUR') }}")], MARKETS)
    with pytest.raises(RenderError) as caught:
        render(calendar, "p", "fr-FR")
    assert "'p'" in str(caught.value)


def test_inline_syntax_error_names_post():
    calendar = calendar_with(None, [inline("p", "{% if %}")], MARKETS)
    with pytest.raises(RenderError) as caught:
        Renderer(calendar).check(calendar.post("p"), "fr-FR")
    assert "post 'p'" in str(caught.value)
    assert "syntax error" in str(caught.value)
