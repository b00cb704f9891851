"""Probes: the data files `posts_from` names, and the media their rows name, are as
untrusted as the calendar (issue 22, item 4).

Each runs `socialsched lint` as users do, from another folder than the calendar's,
under the probe's address-space limit: a data file outside the folder or behind a
symlink reads like a missing one, a FIFO does not hang, a huge file is refused by its
size before a byte is read, and too many rows, a deeply nested JSON file or a giant
cell end with a message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .probe import assert_no_traceback, run_probe

CALENDAR = """[calendar]
name = "probe"
posts_from = ["{data}"]

[[segment]]
name = "paris"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"

[[channel]]
name = "community"
adapter = "console"
"""

ROW = "id,text,date,at\nhello,Hello,2027-03-01,10:00\n"


def _lint(project: Path, elsewhere: Path, data: str, **env: str) -> str:
    (project / "calendar.toml").write_text(CALENDAR.format(data=data), encoding="utf-8")
    result = run_probe(
        "lint", "../project/calendar.toml", "--start", "2027-03-01", "--end", "2027-03-01",
        cwd=elsewhere, env=env, timeout=60,
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout + result.stderr


def _refusal(value: str, project: Path, what: str = "posts_from file") -> str:
    """The one message for a missing or outside path (written here, not imported)."""
    return (
        f"{what} {value!r} not found: it must be inside the calendar's folder "
        f"{project.resolve()} or a folder listed in SOCIALSCHED_ALLOWED_PATHS"
    )


def test_a_data_file_outside_the_folder_reads_like_a_missing_one(folders, tmp_path):
    project, elsewhere = folders
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "posts.csv").write_text(ROW, encoding="utf-8")
    (project / "link.csv").symlink_to(outside / "posts.csv")
    said = {}
    for value in ("../outside/posts.csv", str(outside / "posts.csv"), "link.csv", "none.csv"):
        output = _lint(project, elsewhere, value)
        assert f"calendar.toml:3: error: {_refusal(value, project)}" in output, output
        said[value] = output.replace(value, "VALUE")
    # Nothing tells an existing file outside from a missing one.
    assert len(set(said.values())) == 1
    # The operator can allow the folder.
    (project / "calendar.toml").write_text(
        CALENDAR.format(data=str(outside / "posts.csv")), encoding="utf-8"
    )
    result = run_probe(
        "plan", "../project/calendar.toml", "--start", "2027-03-01", "--end", "2027-03-01",
        cwd=elsewhere, env={"SOCIALSCHED_ALLOWED_PATHS": str(outside)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "hello" in result.stdout


def test_a_fifo_named_posts_csv_does_not_hang(folders):
    project, elsewhere = folders
    os.mkfifo(project / "posts.csv")
    output = _lint(project, elsewhere, "posts.csv")
    assert "posts_from file 'posts.csv' is a FIFO, not a file" in output


def test_a_huge_sparse_file_is_refused_by_its_size(folders):
    project, elsewhere = folders
    with open(project / "posts.csv", "wb") as handle:
        handle.truncate(3 * 1024**3)  # 3 GiB of nothing: more than the probe's memory
    output = _lint(project, elsewhere, "posts.csv")
    assert f"posts_from file 'posts.csv' is {3 * 1024**3} bytes, over the" in output


def test_too_many_rows_are_refused(folders):
    from socialsched.calendar.post_sheets import MAX_ROWS

    project, elsewhere = folders
    rows = "".join(f"p{n},x,2027-03-01,10:00\n" for n in range(MAX_ROWS + 1))
    (project / "posts.csv").write_text("id,text,date,at\n" + rows, encoding="utf-8")
    output = _lint(project, elsewhere, "posts.csv")
    assert f"posts.csv:{MAX_ROWS + 2}: error: more than {MAX_ROWS} rows" in output


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("posts.json", "[" * 200_000 + "]" * 200_000, "posts.json: error: unreadable JSON"),
        ("posts.json", '[{"id": "a", "text": ' + "9" * 100_000 + "}]", "posts.json: error:"),
        ("posts.csv", "id,text\na," + "x" * 1_000_000 + "\n", "posts.csv:2: error: unreadable CSV"),
        ("posts.csv", "id," + ",".join(f"c{n}" for n in range(5000)) + "\n", "5001 columns"),
    ],
    ids=["deep-json", "long-number", "giant-cell", "many-columns"],
)
def test_hostile_content_ends_with_a_message(folders, name, content, expected):
    project, elsewhere = folders
    (project / name).write_text(content, encoding="utf-8")
    assert expected in _lint(project, elsewhere, name)


def test_a_rows_media_outside_the_folder_reads_like_a_missing_file(folders, tmp_path):
    project, elsewhere = folders
    (tmp_path / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (project / "data").mkdir()
    said = {}
    for value in ("../../secret.png", "../../nothing.png", "/etc/passwd"):
        (project / "data" / "posts.csv").write_text(
            f"id,text,date,at,media\nhello,Hello,2027-03-01,10:00,{value}\n", encoding="utf-8"
        )
        output = _lint(project, elsewhere, "data/posts.csv")
        expected = f"row 1, column 'media': {_refusal(value, project, 'media file')}"
        assert f"posts.csv:2: error: {expected}" in output, output
        said[value] = output.replace(value, "VALUE")
    assert len(set(said.values())) == 1
