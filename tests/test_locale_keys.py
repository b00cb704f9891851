"""Locale keys of per-locale tables (`text`, `media`, `alt`): BCP 47 tags compared
case-insensitively with `_` for `-`; a key no selected segment can use is an error
naming file and line with a suggestion, and `plan` and `schedule` refuse it.

The three typos of issue 22 are here: `fe` for `fr`, `alt = { es_MX = ... }` and
`media.fr-Fr`, run as a user would, from another folder than the calendar's."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from calendar_text import only_line_of, write_calendar
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from socialsched import CalendarError, load, plan
from socialsched.calendar.locale_keys import canonical, locale_table, lookup
from socialsched.calendar.model import Calendar, Channel, Post, Segment
from socialsched.cli import main
from socialsched.media.model import MediaItem

SEGMENTS = """\
[[segment]]
name = "paris"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"

[[segment]]
name = "madrid"
locale = "es-ES"
timezone = "Europe/Madrid"
country = "ES"

[[segment]]
name = "mexico"
locale = "es-MX"
timezone = "America/Mexico_City"
country = "MX"

[[segment]]
name = "new-york"
locale = "en-US"
timezone = "America/New_York"
country = "US"

[[channel]]
name = "out"
adapter = "console"
"""

DAY = "2027-03-02"
RANGE = ["--start", DAY, "--end", DAY]


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The calendar's folder; the working folder is another one beside it."""
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return tmp_path / "project"


def write(project: Path, posts: str, files: dict[str, bytes] | None = None) -> Path:
    return write_calendar(project, SEGMENTS + posts, files)


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def planned(path: str) -> list[dict]:
    result = cli("plan", path, *RANGE, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ---- the three typos ----

TYPO_FE = f"""
[[post]]
id = "launch"
dates = ["{DAY}"]
at = "10:00"

[post.text]
default = "We are live"
fe = "C'est parti"
"""


def test_a_key_no_segment_uses_is_a_lint_error_with_file_line_and_suggestion(project):
    path = write(project, TYPO_FE)
    expected = f"../project/calendar.toml:{only_line_of(path, 'fe = ')}: error: "
    result = cli("lint", "../project/calendar.toml", *RANGE)
    assert result.exit_code == 1, result.output
    assert expected in result.stderr
    assert "fe: no segment uses it; did you mean fr?" in result.stderr
    assert result.stderr.count("'launch'") == 1
    assert "Traceback" not in result.output


def test_plan_and_schedule_refuse_a_calendar_with_an_unused_key(project):
    path = write(project, TYPO_FE)
    line = only_line_of(path, "fe = ")
    planned_ = cli("plan", "../project/calendar.toml", *RANGE)
    assert planned_.exit_code == 1
    assert f"../project/calendar.toml:{line}: error: " in planned_.stderr
    assert "fe: no segment uses it" in planned_.stderr
    assert planned_.stdout == ""
    for extra in ([], ["--dry-run"]):
        scheduled = cli("schedule", "../project/calendar.toml", "--db", "state.db", *RANGE, *extra)
        assert scheduled.exit_code == 1, scheduled.output
        assert f"../project/calendar.toml:{line}: error: " in scheduled.stderr
        assert "Traceback" not in scheduled.output
    assert not Path("state.db").exists()  # refused before the store was opened


def test_fixing_the_typo_gives_france_its_text(project):
    path = write(project, TYPO_FE.replace("fe = ", "fr = "))
    texts = {d["segment"]: d["text"] for d in planned("../project/calendar.toml")}
    assert texts == {
        "paris": "C'est parti",
        "madrid": "We are live",
        "mexico": "We are live",
        "new-york": "We are live",
    }
    assert cli("lint", "../project/calendar.toml", *RANGE).exit_code == 0
    assert path.exists()


ALT_ES_MX = f"""
[[post]]
id = "poster"
segments = ["madrid", "mexico"]
dates = ["{DAY}"]
at = "10:00"
text = "Hola"

[[post.media]]
path = "poster.png"
alt = {{ es = "Un cartel de España", es_MX = "Un cartel de México" }}
"""


def test_an_underscore_key_gives_mexico_its_own_alt_text(project):
    write(project, ALT_ES_MX, {"poster.png": png((200, 0, 0))})
    assert cli("lint", "../project/calendar.toml", *RANGE).exit_code == 0
    alts = {
        d["segment"]: [m["alt"] for m in d["media"]] for d in planned("../project/calendar.toml")
    }
    assert alts == {"madrid": ["Un cartel de España"], "mexico": ["Un cartel de México"]}


MEDIA_FR_FR = f"""
[[post]]
id = "banner"
segments = ["paris", "new-york"]
dates = ["{DAY}"]
at = "10:00"
text = "Look"
media.default = [{{ path = "banner.en.png", alt = "Our banner" }}]
media.fr-Fr = [{{ path = "banner.fr.png", alt = "Notre bannière" }}]
"""


def test_a_key_in_another_case_keeps_the_french_banner(project):
    files = {"banner.en.png": png((0, 0, 200)), "banner.fr.png": png((0, 200, 0))}
    write(project, MEDIA_FR_FR, files)
    assert cli("lint", "../project/calendar.toml", *RANGE).exit_code == 0
    media = {d["segment"]: d["media"] for d in planned("../project/calendar.toml")}
    (french,) = media["paris"]
    (english,) = media["new-york"]
    assert french["digest"] == hashlib.sha256(files["banner.fr.png"]).hexdigest()
    assert french["alt"] == "Notre bannière"
    assert english["digest"] == hashlib.sha256(files["banner.en.png"]).hexdigest()


# ---- which keys are reported, and where ----


@pytest.mark.parametrize(
    ("table", "key_line"),
    [
        ('text = { default = "Hi", fe = "Salut" }', 'fe = "Salut"'),
        ('text.default = "Hi"\ntext.fe = "Salut"', "text.fe"),
        ('text = "Hi"\nmedia = { FE = ["a.png"] }', "FE = "),
        ('text = "Hi"\n\n[post.media]\ndefault = ["a.png"]\nfe_fr = ["a.png"]', "fe_fr"),
        ('text = "Hi"\nmedia = [{ path = "a.png", alt = { fe = "Une image" } }]', "fe = "),
    ],
)
def test_each_table_reports_the_line_of_its_key(project, table, key_line):
    posts = f'\n[[post]]\nid = "p"\nsegments = ["paris"]\ndates = ["{DAY}"]\nat = "10:00"\n'
    path = write(project, posts + table + "\n", {"a.png": png((1, 2, 3))})
    result = cli("lint", "../project/calendar.toml", *RANGE)
    assert result.exit_code == 1
    (error,) = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert error.startswith(f"../project/calendar.toml:{only_line_of(path, key_line)}: error: ")
    assert "no segment uses it; did you mean fr" in error


def test_a_key_is_checked_against_the_segments_the_post_selects(project):
    # Madrid exists, but this post goes to Paris only: its "es" text can never go out.
    posts = f"""
[[post]]
id = "paris-only"
segments = ["paris"]
dates = ["{DAY}"]
at = "10:00"
text = {{ fr = "Bonjour", es = "Hola" }}
"""
    write(project, posts)
    result = cli("lint", "../project/calendar.toml", *RANGE)
    assert result.exit_code == 1
    assert "post 'paris-only' text: es: no segment uses it" in result.stderr


def test_alt_keys_are_checked_against_the_segments_that_get_their_list(project):
    # Paris gets the "fr" list, so a French alt text in the default list is never read.
    posts = f"""
[[post]]
id = "p"
segments = ["paris", "new-york"]
dates = ["{DAY}"]
at = "10:00"
text = "Hi"

[post.media]
default = [{{ path = "a.png", alt = {{ default = "A picture", fr = "Une image" }} }}]
fr = [{{ path = "a.png", alt = "Une image" }}]
"""
    path = write(project, posts, {"a.png": png((1, 2, 3))})
    line = only_line_of(path, "A picture")
    result = cli("lint", "../project/calendar.toml", *RANGE)
    assert result.exit_code == 1
    assert f"calendar.toml:{line}: error: " in result.stderr
    assert "media 'a.png' alt: fr: no segment uses it" in result.stderr


def test_a_key_with_nothing_close_lists_what_the_segments_read(project):
    posts = f'\n[[post]]\nid = "p"\nsegments = ["paris"]\ndates = ["{DAY}"]\nat = "10:00"\n'
    write(project, posts + 'text = { default = "Hi", ja-JP = "Konnichiwa" }\n')
    result = cli("lint", "../project/calendar.toml", *RANGE)
    assert "ja-JP: no segment uses it; its segments read fr, fr-FR or default" in result.stderr


def test_two_keys_for_one_locale_are_an_error_on_their_line(project):
    posts = f"""
[[post]]
id = "p"
dates = ["{DAY}"]
at = "10:00"
text = {{ default = "Hi", fr-FR = "Salut", fr_fr = "Bonjour" }}
"""
    path = write(project, posts)
    result = cli("lint", "../project/calendar.toml", *RANGE)
    assert result.exit_code == 1
    assert f"calendar.toml:{only_line_of(path, 'fr_fr')}: error: " in result.stderr
    assert "keys 'fr-FR' and 'fr_fr' are the same locale (fr-FR)" in result.stderr


# ---- Python-built calendars behave the same ----


def segment(name: str, locale: str, zone: str, country: str) -> Segment:
    return Segment(name=name, locale=locale, timezone=zone, country=country)


def test_a_python_built_calendar_reads_keys_as_locales():
    post = Post(
        id="p", dates=[DAY], at="10:00", text={"default": "Hi", "FR-fr": "Salut", "es_mx": "Hola"}
    )
    assert post.text == {"default": "Hi", "fr-FR": "Salut", "es-MX": "Hola"}
    with_media = Post(
        id="m", dates=[DAY], at="10:00", text="Hi", media={"default": [], "Fr": ["a.png"]}
    )
    assert isinstance(with_media.media, dict) and list(with_media.media) == ["default", "fr"]
    calendar = Calendar(
        segments=[
            segment("paris", "fr-FR", "Europe/Paris", "FR"),
            # A segment's locale may be written with '_' too.
            segment("mexico", "es_MX", "America/Mexico_City", "MX"),
        ],
        channels=[Channel(name="out", adapter="console")],
        posts=[post],
    )
    texts = {d.segment: d.text for d in plan(calendar, DAY, DAY)}
    assert texts == {"paris": "Salut", "mexico": "Hola"}


def test_a_python_built_calendar_with_an_unused_key_is_refused():
    with pytest.raises(CalendarError) as caught:
        Calendar(
            segments=[segment("paris", "fr-FR", "Europe/Paris", "FR")],
            channels=[Channel(name="out", adapter="console")],
            posts=[Post(id="p", dates=[DAY], at="10:00", text={"default": "Hi", "fe": "Salut"})],
        )
    (problem,) = caught.value.problems
    assert "post 'p' text: fe: no segment uses it; did you mean fr?" in problem.message


def test_two_keys_for_one_locale_are_refused_in_python():
    with pytest.raises(ValueError, match="'fr-FR' and 'fr_fr' are the same locale"):
        Post(id="p", dates=[DAY], at="10:00", text={"fr-FR": "Salut", "fr_fr": "Bonjour"})
    with pytest.raises(ValueError, match="'es' and 'ES' are the same locale"):
        MediaItem(path="a.png", alt={"es": "uno", "ES": "dos"})


def test_a_key_that_is_no_tag_is_refused():
    with pytest.raises(ValueError, match="'fr FR' is not a locale"):
        Post(id="p", dates=[DAY], at="10:00", text={"fr FR": "Salut"})


# ---- canonical keys ----


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("fr-Fr", "fr-FR"),
        ("FR-fr", "fr-FR"),
        ("es_MX", "es-MX"),
        ("es_419", "es-419"),
        ("zh_hant_tw", "zh-Hant-TW"),
        ("SR-LATN", "sr-Latn"),
        ("de-DE-u-co-phonebk", "de-DE-u-co-phonebk"),
        ("Default", "default"),
    ],
)
def test_canonical_spelling(written, expected):
    assert canonical(written) == expected


subtags = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=4), min_size=1, max_size=3
)


@given(subtags, st.lists(st.booleans(), min_size=12, max_size=12), st.booleans())
def test_case_and_separator_never_change_the_key(parts, upper, underscore):
    tag = "-".join(parts)
    letters = [c.upper() if upper[i % 12] else c for i, c in enumerate(tag)]
    written = "".join(letters).replace("-", "_" if underscore else "-")
    assert canonical(written) == canonical(tag)
    assert canonical(canonical(tag)) == canonical(tag)
    table = locale_table({written: "x"}, "text")
    assert lookup(table, tag) == (canonical(tag), "x")
    assert lookup({written: "y"}, tag.upper()) == (written, "y")  # a plain mapping too


def test_lookup_falls_back_from_region_to_language_to_default():
    table = locale_table({"default": 0, "es": 1, "es_mx": 2}, "text")
    assert lookup(table, "es-MX") == ("es-MX", 2)
    assert lookup(table, "es_AR") == ("es", 1)
    assert lookup(table, "fr-FR") == ("default", 0)
    assert lookup({"es": 1}, "fr") is None


def test_examples_and_recipes_keep_loading():
    root = Path(__file__).resolve().parents[1]
    calendars = [*root.glob("examples/*/calendar.toml"), *root.glob("docs/recipes/*/*.toml")]
    assert calendars
    for path in calendars:
        load(path)


def test_a_changed_occurrence_has_its_keys_checked_too(project):
    # The post's own text is fine; the occurrence of 2027-03-09 misspells 'fr'.
    posts = """
[[post]]
id = "class"
segments = ["paris", "new-york"]
text = { default = "Class today", fr = "Cours aujourd'hui" }
schedule = "0 9 * * tue"
start = 2027-03-02
count = 3

[[post.occurrence]]
date = 2027-03-09
text = { default = "Class moved", fe = "Cours déplacé" }
"""
    path = write(project, posts)
    result = cli("lint", "../project/calendar.toml", "--start", "2027-03-01", "--end", "2027-03-20")
    assert result.exit_code == 1
    (error,) = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert error.startswith(f"../project/calendar.toml:{only_line_of(path, 'fe = ')}: error: ")
    assert (
        "post 'class' occurrence 2027-03-09 text: fe: no segment uses it; did you mean fr?" in error
    )
    fixed = path.read_text().replace("fe = ", "FR = ")
    path.write_text(fixed)
    deliveries = cli(
        "plan", "../project/calendar.toml", "--start", "2027-03-09", "--end", "2027-03-09",
        "--format", "json",
    )  # fmt: skip
    assert deliveries.exit_code == 0, deliveries.output
    texts = {d["segment"]: d["text"] for d in json.loads(deliveries.stdout)}
    assert texts == {"paris": "Cours déplacé", "new-york": "Class moved"}
