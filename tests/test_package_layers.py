"""The calendar and media packages sit below planning: they never import it (not even
inside a function). The template check, which needs planning's template engine, is
passed to the calendar's loader by `socialsched.load`; the media library renders alt
texts with the renderer planning gives it."""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path

import pytest

from socialsched import CalendarError, load
from socialsched.calendar import loader

SOURCE = Path(__file__).resolve().parents[1] / "src" / "socialsched"
BROKEN_TEMPLATE = """
[[segment]]
name = "fr-FR"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"

[[channel]]
name = "community"
adapter = "console"

[[post]]
id = "hello"
text = "Bonjour {% if %}"
schedule = "0 10 * * *"
"""


def _imported(path: Path, package: str) -> set[str]:
    """Absolute names of the modules `path` imports (relative ones resolved in
    `socialsched.<package>`), imports inside functions included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = ["socialsched", package][: 3 - node.level]
                base = ".".join([*anchor, base] if base else anchor)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("package", ["calendar", "media"])
def test_no_module_below_planning_imports_it(package: str) -> None:
    reaching = {
        path.name: sorted(
            name for name in _imported(path, package) if name.startswith("socialsched.planning")
        )
        for path in sorted((SOURCE / package).glob("*.py"))
    }
    assert {name: found for name, found in reaching.items() if found} == {}


def test_socialsched_load_checks_templates_the_calendar_loader_alone_does_not(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cal.toml"
    path.write_text(BROKEN_TEMPLATE, encoding="utf-8")
    assert [post.id for post in loader.load(path).posts] == ["hello"]
    with pytest.raises(CalendarError) as error:
        load(path)
    assert "syntax error" in str(error.value)
    assert error.value.problems[0].line == 14


def test_the_media_library_renders_alt_texts_only_with_a_renderer(tmp_path: Path) -> None:
    from socialsched.media.cache import MemoryMediaCache
    from socialsched.media.library import MediaLibrary

    path = tmp_path / "cal.toml"
    path.write_text(BROKEN_TEMPLATE.replace(" {% if %}", ""), encoding="utf-8")
    calendar = load(path)
    (post,) = calendar.posts
    library = MediaLibrary(calendar, MemoryMediaCache())
    segment, channel = calendar.segments[0], calendar.channels[0]
    with pytest.raises(ValueError, match="renderer="):
        library.media_for(post, segment, channel, datetime(2027, 3, 2, 10))
