"""Probes: files a calendar names stay in its folder (issue 20, item 2).

Each runs the CLI as users do, from another folder than the calendar's, under the
probe's address-space limit. Media paths (absolute, `..`, symlinks), template
symlinks, FIFOs, huge sparse files and the jsonl adapter's `path`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .hostile import calendar, line_of, png, sparse_jpeg
from .probe import assert_no_traceback, run_probe


@pytest.fixture
def where(tmp_path: Path) -> dict[str, Path]:
    """project/ holds the calendar, elsewhere/ is the working folder, outside/ holds
    files the calendar must not reach."""
    made = {name: tmp_path / name for name in ("project", "elsewhere", "outside")}
    for folder in made.values():
        folder.mkdir()
    return made


def refusal(value: str, project: Path, what: str = "media file") -> str:
    """The one message for a path that is missing or outside (computed here)."""
    return (
        f"{what} {value!r} not found: it must be inside the calendar's folder {project.resolve()} "
        "or a folder listed in SOCIALSCHED_ALLOWED_PATHS"
    )


def lint(where: dict[str, Path], **env: str):
    result = run_probe("lint", "../project/calendar.toml", cwd=where["elsewhere"], env=env)
    assert_no_traceback(result)
    return result


def test_an_absolute_path_out_of_the_folder_reads_like_a_missing_file(where):
    """Before: /etc/passwd was opened and reported as 'not a JPEG', confirming it
    exists; /etc/shadow-like files were attached if they were images."""
    project = where["project"]
    (where["outside"] / "secret.png").write_bytes(png())
    existing = str(where["outside"] / "secret.png")
    missing = str(where["outside"] / "nothing-here.png")
    messages = {}
    for value in (existing, missing, "/etc/passwd"):
        path = calendar(project, f'["{value}"]')
        result = lint(where)
        assert result.returncode == 1
        expected = refusal(value, project)
        assert f"calendar.toml:{line_of(path, value)}:" in result.stdout + result.stderr
        assert expected in result.stdout + result.stderr
        messages[value] = (result.stdout + result.stderr).replace(value, "VALUE")
    # Nothing tells the existing file from the missing one.
    assert messages[existing] == messages[missing] == messages["/etc/passwd"]
    assert "root:" not in messages["/etc/passwd"]


def test_dot_dot_and_symlinks_out_of_the_folder_are_refused(where):
    project, outside = where["project"], where["outside"]
    (outside / "banner.png").write_bytes(png())
    (project / "img").mkdir()
    (project / "img" / "link.png").symlink_to(outside / "banner.png")
    (project / "shared").symlink_to(outside, target_is_directory=True)
    for value in ("../outside/banner.png", "img/link.png", "shared/banner.png"):
        path = calendar(project, f'["{value}"]')
        result = lint(where)
        assert result.returncode == 1, value
        output = result.stdout + result.stderr
        assert f"calendar.toml:{line_of(path, value)}:" in output
        assert refusal(value, project) in output


def test_a_folder_the_operator_allows_may_be_used(where):
    project, outside = where["project"], where["outside"]
    (outside / "banner.png").write_bytes(png())
    calendar(project, '["../outside/banner.png"]')
    assert lint(where).returncode == 1
    allowed = lint(where, SOCIALSCHED_ALLOWED_PATHS=os.pathsep.join(["/nonexistent", str(outside)]))
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr


def test_a_symlink_inside_the_folder_is_fine(where):
    project = where["project"]
    (project / "assets").mkdir()
    (project / "assets" / "banner.png").write_bytes(png())
    (project / "banner.png").symlink_to(project / "assets" / "banner.png")
    calendar(project, '["banner.png"]')
    result = lint(where)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_fifo_named_like_an_image_does_not_hang_the_loader(where):
    """Before: opening the FIFO blocked until killed."""
    project = where["project"]
    os.mkfifo(project / "x.png")
    path = calendar(project, '["x.png"]')
    result = run_probe("lint", "../project/calendar.toml", cwd=where["elsewhere"], timeout=60)
    assert_no_traceback(result)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"calendar.toml:{line_of(path, 'x.png')}:" in output
    assert "media file x.png is a FIFO, not a file" in output


def test_a_huge_sparse_file_with_a_jpeg_header_is_refused_before_reading(where):
    """Before: the 3 GB file was read whole (MemoryError under the limit)."""
    project = where["project"]
    sparse_jpeg(project / "huge.jpg")
    path = calendar(project, '["huge.jpg"]')
    result = lint(where)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"calendar.toml:{line_of(path, 'huge.jpg')}:" in output
    size = 3 * 1024**3
    assert f"media file huge.jpg is 3.2 GB ({size} bytes), over the {1024**3} bytes" in output


def test_a_template_symlink_out_of_the_folder_is_not_read(where):
    project, outside = where["project"], where["outside"]
    (outside / "secret.txt").write_text("TOKEN=hunter2\n", encoding="utf-8")
    (project / "templates").mkdir()
    (project / "templates" / "launch.j2").symlink_to(outside / "secret.txt")
    path = project / "calendar.toml"
    calendar(project, "[]")
    text = path.read_text(encoding="utf-8").replace('text = "Bonjour"', 'template = "launch"')
    path.write_text(text, encoding="utf-8")
    result = run_probe(
        "plan",
        "../project/calendar.toml",
        "--start",
        "2027-03-02",
        "--end",
        "2027-03-02",
        cwd=where["elsewhere"],
    )
    assert_no_traceback(result)
    assert result.returncode == 1
    assert "hunter2" not in result.stdout + result.stderr


def test_a_templates_folder_out_of_the_calendars_folder_is_refused(where):
    project = where["project"]
    path = calendar(project, "[]")
    text = path.read_text(encoding="utf-8")
    path.write_text('[calendar]\ntemplates = "../outside"\n' + text, encoding="utf-8")
    result = lint(where)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"calendar.toml:{line_of(path, 'templates =')}:" in output
    assert refusal("../outside", project, "templates folder") in output


JSONL = """
[[channel]]
name = "feed"
adapter = "jsonl"
settings = {{ path = "{path}" }}
"""

DAY = "2020-03-02"  # long past: the post is due at once (late = "publish")


def jsonl_calendar(project: Path, log: str) -> Path:
    path = calendar(project, "[]", channel=JSONL.format(path=log))
    text = path.read_text(encoding="utf-8").replace("2027-03-02", DAY)
    path.write_text(text.replace('at = "10:00"', 'at = "10:00"\nlate = "publish"'), "utf-8")
    return path


def schedule_and_run(where: dict[str, Path]):
    db = str(where["elsewhere"] / "state.db")
    scheduled = run_probe(
        "schedule",
        "../project/calendar.toml",
        "--db",
        db,
        "--start",
        DAY,
        cwd=where["elsewhere"],
    )
    assert_no_traceback(scheduled)
    if scheduled.returncode != 0:
        return scheduled
    ran = run_probe("run", "--until-idle", "--db", db, cwd=where["elsewhere"])
    assert_no_traceback(ran)
    return ran


def test_a_jsonl_path_out_of_the_folder_is_refused_and_nothing_is_written(where):
    """Before: `path = "../somewhere/file"` was followed; a dotfile was created."""
    project, outside = where["project"], where["outside"]
    for value in ("../outside/.profile", str(outside / "log.jsonl")):
        path = jsonl_calendar(project, value)
        result = schedule_and_run(where)
        assert result.returncode == 1
        output = result.stdout + result.stderr
        assert f"calendar.toml:{line_of(path, 'settings =')}:" in output
        assert refusal(value, project, "settings.path") in output
    assert list(outside.iterdir()) == []


def test_a_jsonl_path_symlinked_out_of_the_folder_is_refused(where):
    project, outside = where["project"], where["outside"]
    (project / "log.jsonl").symlink_to(outside / "log.jsonl")
    jsonl_calendar(project, "log.jsonl")
    result = schedule_and_run(where)
    assert result.returncode == 1
    assert refusal("log.jsonl", project, "settings.path") in result.stdout + result.stderr
    assert list(outside.iterdir()) == []


def test_a_file_that_is_not_a_log_is_never_truncated_or_appended_to(where):
    """Before: a file without a trailing newline was truncated (the torn-tail repair)
    and the post's text appended to it."""
    project = where["project"]
    script = b"#!/bin/sh\necho 'deploy'\nexit 0"  # no trailing newline
    (project / "deploy.sh").write_bytes(script)
    jsonl_calendar(project, "deploy.sh")
    result = schedule_and_run(where)
    assert (project / "deploy.sh").read_bytes() == script
    assert "is not a socialsched jsonl log" in result.stdout + result.stderr


def test_a_log_torn_by_a_killed_writer_keeps_its_bytes(where):
    project = where["project"]
    first = json.dumps({"idempotency_key": "other", "text": "earlier"}) + "\n"
    torn = json.dumps({"idempotency_key": "killed", "text": "half"})[:25]
    (project / "out.jsonl").write_text(first + torn, encoding="utf-8")
    jsonl_calendar(project, "out.jsonl")
    result = schedule_and_run(where)
    assert result.returncode == 0, result.stdout + result.stderr
    content = (project / "out.jsonl").read_text(encoding="utf-8")
    assert content.startswith(first + torn + "\n")
    added = [json.loads(line) for line in content.splitlines()[2:]]
    assert [(r["post"], r["text"]) for r in added] == [("launch", "Bonjour")]


EMAIL = """
[[channel]]
name = "letters"
adapter = "email"
settings = {{ host = "127.0.0.1", from = "news@example.org", html_template = "{path}" }}
"""


def test_an_email_html_template_out_of_the_folder_is_refused(where):
    """The email plugin's `html_template` is a calendar-named file too."""
    project, outside = where["project"], where["outside"]
    (outside / "mail.html").write_text("{{ message.text }}", encoding="utf-8")
    path = calendar(project, "[]", channel=EMAIL.format(path="../outside/mail.html"))
    result = lint(where)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"calendar.toml:{line_of(path, 'html_template')}:" in output
    assert refusal("../outside/mail.html", project, "settings.html_template") in output


def test_an_email_html_template_is_sandboxed(tmp_path):
    from jinja2.sandbox import SecurityError
    from socialsched_email.compose import html_environment

    (tmp_path / "mail.html").write_text(
        "{{ ''.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8"
    )
    environment, name = html_environment(str(tmp_path / "mail.html"))
    with pytest.raises(SecurityError):
        environment.get_template(name).render()
