"""Loading calendar files: every bad input gets a clear error naming file, line and value."""

from __future__ import annotations

import textwrap
from pathlib import Path

import holidays
import pytest

from socialsched import CalendarError, Problem, load
from socialsched.calendar.loader import LineIndex

DATA = Path(__file__).parent / "data"

SEGMENT = """
[[segment]]
name = "fr-FR"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"
"""
CHANNEL = """
[[channel]]
name = "community"
adapter = "console"
"""
POST = """
[[post]]
id = "hello"
text = "Bonjour"
schedule = "0 10 * * *"
"""


def write(tmp_path: Path, text: str, name: str = "cal.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the n-th line containing `needle` (computed from the text)."""
    found = [
        number
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if needle in line
    ]
    return found[occurrence - 1]


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(CalendarError) as caught:
        load(path)
    return caught.value.problems


def only_problem(path: Path) -> Problem:
    problems = problems_of(path)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_valid_file_loads_into_a_calendar(tmp_path):
    path = write(tmp_path, SEGMENT + CHANNEL + POST)
    calendar = load(path)
    assert [s.name for s in calendar.segments] == ["fr-FR"]
    assert calendar.segments[0].timezone.key == "Europe/Paris"
    assert [c.name for c in calendar.channels] == ["community"]
    assert [p.id for p in calendar.posts] == ["hello"]
    assert calendar.source == path
    assert calendar.name == "cal"  # default: file stem


def test_missing_file_is_a_calendar_error(tmp_path):
    problem = only_problem(tmp_path / "nope.toml")
    assert "not found" in problem.message
    assert "nope.toml" in str(problem)


def test_malformed_toml_names_file_and_line(tmp_path):
    path = write(tmp_path, SEGMENT + '\n[[post]]\nid = "broken\n')
    problem = only_problem(path)
    assert "invalid TOML" in problem.message
    assert problem.file == path
    assert problem.line == line_of(path, 'id = "broken')
    assert str(problem).startswith(f"{path}:{problem.line}: error:")


def test_unknown_time_zone_suggests_closest_name(tmp_path):
    path = write(tmp_path, SEGMENT.replace("Europe/Paris", "Europe/Pariss") + CHANNEL + POST)
    problem = only_problem(path)
    assert "'Europe/Pariss'" in problem.message
    assert "did you mean 'Europe/Paris'" in problem.message
    assert problem.file == path
    assert problem.line == line_of(path, "timezone =")


def test_unknown_time_zone_city_only_suggests_area(tmp_path):
    path = write(tmp_path, SEGMENT.replace("Europe/Paris", "Paris") + CHANNEL + POST)
    assert "did you mean 'Europe/Paris'" in only_problem(path).message


def test_unknown_country(tmp_path):
    path = write(tmp_path, SEGMENT.replace('country = "FR"', 'country = "XQ"') + CHANNEL + POST)
    problem = only_problem(path)
    assert "unknown country code 'XQ'" in problem.message
    assert problem.line == line_of(path, "country =")


def test_unknown_subdivision_lists_known_ones(tmp_path):
    segment = SEGMENT.replace('country = "FR"', 'country = "ES"\nsubdivision = "ZZ"').replace(
        "Europe/Paris", "Europe/Madrid"
    )
    path = write(tmp_path, segment + CHANNEL + POST)
    problem = only_problem(path)
    assert "unknown subdivision 'ZZ'" in problem.message
    assert "'ES'" in problem.message
    first_known = holidays.list_supported_countries()["ES"][0]
    assert f"known: {first_known}" in problem.message
    assert problem.line == line_of(path, "subdivision =")


def test_subdivision_with_country_prefix_is_accepted(tmp_path):
    segment = SEGMENT.replace('country = "FR"', 'country = "ES"\nsubdivision = "es-md"')
    calendar = load(write(tmp_path, segment + CHANNEL + POST))
    assert calendar.segments[0].subdivision_code == "MD"


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 25 * * *", ["hour 25", "0-23"]),
        ("0 10 * *", ["'0 10 * *'", "4 fields", "expected 5"]),
        ("0 10 * * funday", ["'funday'"]),
    ],
)
def test_bad_cron(tmp_path, cron, words):
    path = write(tmp_path, SEGMENT + CHANNEL + POST.replace("0 10 * * *", cron))
    problem = only_problem(path)
    assert "bad schedule" in problem.message
    assert str(problem).count("post 'hello'") == 1
    assert f"{cron!r}" in problem.message
    for word in words:
        assert word in problem.message
    assert problem.line == line_of(path, "schedule =")


def test_unknown_segment_referenced_by_post(tmp_path):
    post = POST + 'segments = ["fr-FR", "de-DE"]\n'
    path = write(tmp_path, SEGMENT + CHANNEL + post)
    problem = only_problem(path)
    assert "unknown segment 'de-DE'" in problem.message
    assert "known: fr-FR" in problem.message
    assert problem.line == line_of(path, "segments =")


def test_unknown_circle_referenced_by_post(tmp_path):
    segment = SEGMENT + 'circles = ["europe"]\n'
    post = POST + 'segments = ["circle:asia"]\n'
    path = write(tmp_path, segment + CHANNEL + post)
    problem = only_problem(path)
    assert "unknown circle 'asia'" in problem.message
    assert "known: europe" in problem.message
    assert problem.line == line_of(path, "segments =")


def test_unknown_channel_referenced_by_post(tmp_path):
    post = POST + 'channels = ["fediverse"]\n'
    path = write(tmp_path, SEGMENT + CHANNEL + post)
    problem = only_problem(path)
    assert "unknown channel 'fediverse'" in problem.message
    assert "known: community" in problem.message
    assert problem.line == line_of(path, "channels =")


def test_unknown_segment_in_channel_audiences(tmp_path):
    channel = CHANNEL + '\n[channel.audiences]\n"de-DE" = "list:kunden"\n'
    path = write(tmp_path, SEGMENT + channel + POST)
    problem = only_problem(path)
    assert "unknown segment 'de-DE'" in problem.message
    assert problem.line == line_of(path, "[channel.audiences]")


def test_unknown_template_names_files_tried(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "other.j2").write_text("x")
    post = POST.replace('text = "Bonjour"', 'template = "greeting"')
    path = write(tmp_path, SEGMENT + CHANNEL + post)
    problem = only_problem(path)
    for name in ("greeting.fr-FR.j2", "greeting.fr.j2", "greeting.j2"):
        assert name in problem.message
    assert "'fr-FR'" in problem.message
    assert problem.line == line_of(path, "template =")


def test_missing_templates_folder(tmp_path):
    post = POST.replace('text = "Bonjour"', 'template = "greeting"')
    path = write(tmp_path, '[calendar]\ntemplates = "tpl"\n' + SEGMENT + CHANNEL + post)
    problem = only_problem(path)
    assert "does not exist" in problem.message
    assert "tpl" in problem.message
    assert problem.line == line_of(path, "templates =")


def test_template_syntax_error_names_template_file_and_line(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "greeting.j2").write_text("Bonjour\n{% if %}\n")
    post = POST.replace('text = "Bonjour"', 'template = "greeting"')
    path = write(tmp_path, SEGMENT + CHANNEL + post)
    problem = only_problem(path)
    assert "greeting.j2:2" in problem.message
    assert "syntax error" in problem.message


def test_duplicate_post_ids_point_at_second_block(tmp_path):
    path = write(tmp_path, SEGMENT + CHANNEL + POST + POST)
    problem = only_problem(path)
    assert "duplicate post id 'hello'" in problem.message
    assert problem.line == line_of(path, "[[post]]", occurrence=2)


def test_duplicate_segment_names(tmp_path):
    path = write(tmp_path, SEGMENT + SEGMENT + CHANNEL + POST)
    problem = only_problem(path)
    assert "duplicate segment name 'fr-FR'" in problem.message
    assert problem.line == line_of(path, "[[segment]]", occurrence=2)


def test_unknown_key_with_suggestion(tmp_path):
    post = POST.replace("schedule =", "shedule =")
    path = write(tmp_path, SEGMENT + CHANNEL + post)
    problem = only_problem(path)
    assert "unknown key 'shedule'" in problem.message
    assert "did you mean 'schedule'" in problem.message
    assert problem.line == line_of(path, "shedule =")


def test_unknown_key_in_calendar_header_and_unknown_table(tmp_path):
    path = write(tmp_path, '[calendar]\nnmae = "x"\n\n[[posts]]\nid = "a"\n' + SEGMENT + CHANNEL)
    problems = problems_of(path)
    messages = [p.message for p in problems]
    assert any("unknown key 'nmae'" in m for m in messages)
    assert any("unknown table 'posts'" in m for m in messages)
    by_message = {p.message.split(" (")[0].split(" in ")[0]: p.line for p in problems}
    assert by_message["unknown key 'nmae'"] == line_of(path, "nmae =")
    assert by_message["unknown table 'posts'"] == line_of(path, "[[posts]]")


def test_missing_required_key(tmp_path):
    path = write(tmp_path, SEGMENT.replace('country = "FR"\n', "") + CHANNEL + POST)
    problem = only_problem(path)
    assert "missing required key(s): country" in problem.message
    assert problem.line == line_of(path, "[[segment]]")


@pytest.mark.parametrize(
    "secrets",
    [
        '\n[channel.secrets]\ntoken = "sk-live-9f8e7d6c5b4a"\n',
        'secrets = { token = "sk-live-9f8e7d6c5b4a" }\n',
        'secrets = "sk-live-9f8e7d6c5b4a"\n',
        'secrets = ["sk-live-9f8e7d6c5b4a"]\n',
    ],
)
def test_inline_secret_is_rejected_without_echoing_it(tmp_path, secrets):
    path = write(tmp_path, SEGMENT + CHANNEL + secrets + POST)
    problem = only_problem(path)
    assert "sk-live-9f8e7d6c5b4a" not in str(problem)
    assert "9f8e7d6c5b4a" not in repr(problem)
    assert "token" in problem.message
    assert "SOCIALSCHED_SECRET_" in problem.message
    assert problem.line == line_of(path, "secrets")


def test_secret_by_environment_variable_name_is_accepted(tmp_path):
    secrets = '\n[channel.secrets]\ntoken = "MASTO_TOKEN"\n'
    path = write(tmp_path, SEGMENT + CHANNEL + secrets + POST)
    assert load(path).channels[0].secrets == {"token": "MASTO_TOKEN"}


def test_unknown_adapter_lists_installed_ones(tmp_path):
    path = write(tmp_path, SEGMENT + CHANNEL.replace('"console"', '"myspace"') + POST)
    problem = only_problem(path)
    assert "unknown adapter 'myspace'" in problem.message
    installed = problem.message.split("installed: ")[1]
    assert "console" in installed
    assert "jsonl" in installed
    assert problem.line == line_of(path, "adapter =")


def test_every_table_problem_is_reported_at_once(tmp_path):
    path = DATA / "several_errors.toml"
    problems = problems_of(path)
    lines = {p.line for p in problems}
    assert {
        line_of(path, "Europe/Pariss"),
        line_of(path, '"XQ"'),
        line_of(path, "0 61 * * *"),
        line_of(path, "adapter ="),
        line_of(path, "colour ="),
    } <= lines
    assert all(p.file == path for p in problems)


def test_collect_receives_the_problems(tmp_path):
    path = write(tmp_path, SEGMENT.replace("Europe/Paris", "Mars/Olympus") + CHANNEL + POST)
    collected: list[Problem] = []
    with pytest.raises(CalendarError):
        load(path, collect=collected)
    assert len(collected) == 1
    assert "Mars/Olympus" in collected[0].message


def test_line_index_finds_blocks_keys_and_sub_tables():
    text = textwrap.dedent(
        """\
        [calendar]
        name = "x"

        [[post]]
        id = "a"

        [[post]]
        id = "b"
        [post.vars]
        price = 1
        """
    )
    index = LineIndex(text)
    assert index.line("calendar", 0, "name") == 2
    assert index.line("post", 0) == 4
    assert index.line("post", 1) == 7
    assert index.line("post", 1, "id") == 8
    assert index.line("post", 1, "vars") == 9
    assert index.line("post", 1, "missing") == 7  # falls back to the block
    assert index.line("post", 5) is None


@pytest.mark.parametrize(
    ("table", "old", "new", "key", "words"),
    [
        ("segment", 'locale = "fr-FR"', 'locale = "zz-QQ-Bad"', "locale", ["'zz-QQ-Bad'"]),
        ("segment", "", 'quiet_hours = ["12-14"]', "quiet_hours", ["'12'", "HH:MM"]),
        ("segment", "", "quiet_hours = 5", "quiet_hours", ["quiet_hours = 5"]),
        ("segment", "", "circles = 5", "circles", ["circles = 5"]),
        ("post", "", 'on_holiday = "never"', "on_holiday", ["'never'", "next_business_day"]),
        ("post", "", "segments = 5", "segments", ["segments = 5"]),
        (
            "post",
            'schedule = "0 10 * * *"',
            'dates = ["2027-02-30"]\nat = "10:00"',
            "dates",
            [
                "'2027-02-30'",
                "YYYY-MM-DD",
            ],
        ),
        (
            "post",
            'schedule = "0 10 * * *"',
            'dates = ["2027-02-03"]\nat = "25:00"',
            "at",
            [
                "'25:00'",
                "HH:MM",
            ],
        ),
        (
            "post",
            'schedule = "0 10 * * *"',
            'on_holidays = ["Noël"]\nat = "10:00"\noffset_days = "two"',
            "offset_days",
            ["'offset_days'", "'two'"],
        ),
        ("post", 'text = "Bonjour"', "text = 7", "text", ["string or a table"]),
    ],
)
def test_bad_values_name_key_line_and_value(tmp_path, table, old, new, key, words):
    segment, post = SEGMENT, POST
    if table == "segment":
        segment = segment.replace(old, new) if old else segment + new + "\n"
    else:
        post = post.replace(old, new) if old else post + new + "\n"
    path = write(tmp_path, segment + CHANNEL + post)
    problem = only_problem(path)
    for word in words:
        assert word in problem.message
    assert problem.line == line_of(path, f"{key} =")


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('max_gap_days = "seven"', ["max_gap_days = 'seven'", "whole number"]),
        ("max_gap_days = -1", ["max_gap_days = -1"]),
        ("templates = 5", ["templates = 5", "folder"]),
        ("vars = 3", ["vars = 3", "table"]),
        ("name = true", ["name = True", "string"]),
    ],
)
def test_wrongly_typed_calendar_header(tmp_path, line, words):
    path = write(tmp_path, f"[calendar]\n{line}\n" + SEGMENT + CHANNEL + POST)
    problem = only_problem(path)
    for word in words:
        assert word in problem.message
    assert problem.line == 2


def test_file_that_is_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[calendar]\nname = "Año"\n'.encode("latin-1"))
    problem = only_problem(path)
    assert "cannot read calendar" in problem.message
    assert problem.file == path


def test_tables_missing_their_name_are_not_reported_as_duplicates(tmp_path):
    nameless = SEGMENT.replace('name = "fr-FR"\n', "")
    path = write(tmp_path, SEGMENT + nameless + nameless + CHANNEL + POST)
    problems = problems_of(path)
    assert [p.message for p in problems] == ["missing required key(s): name"] * 2
    assert [p.line for p in problems] == [
        line_of(path, "[[segment]]", occurrence=2),
        line_of(path, "[[segment]]", occurrence=3),
    ]


def test_reference_problems_are_reported_next_to_value_problems(tmp_path):
    broken_segment = SEGMENT.replace("Europe/Paris", "Europe/Pariss")
    post = POST + 'segments = ["fr-FR", "de-DE"]\nchannels = ["fediverse"]\n'
    path = write(tmp_path, broken_segment + CHANNEL + post)
    messages = sorted(p.message for p in problems_of(path))
    assert len(messages) == 3
    assert "unknown channel 'fediverse'" in messages[0]
    assert "unknown segment 'de-DE'" in messages[1]
    assert "Europe/Pariss" in messages[2]


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ('date = "02-30"', "date", ["'02-30'", "not a day of the year"]),
        ('date = "Aug 15"', "date", ["'Aug 15'", "MM-DD"]),
        ('month = 5\nweekday = "funday"\nnth = 2', "weekday", ["'funday'"]),
        ('month = 5\nweekday = "sunday"\nnth = 7', "nth = 7", ["nth 7 must be 1-5 or -1"]),
        ('date = "08-15"\nmonth = 5', 'date = "08-15"', ["needs exactly one of"]),
    ],
)
def test_bad_observance(tmp_path, body, key, words):
    observance = f'\n[[observance]]\nname = "Brand Day"\n{body}\n'
    path = write(tmp_path, SEGMENT + CHANNEL + observance + POST)
    problem = only_problem(path)
    for word in words:
        assert word in problem.message
    assert str(problem).count("'Brand Day'") == 1
    needle = key if "=" in key else f"{key} ="
    assert problem.line == line_of(path, needle)
