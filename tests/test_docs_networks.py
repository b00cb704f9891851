"""The network and built-in adapter pages (docs/networks/, docs/built-in/) match the
adapters: every adapter and every plugin under plugins/ has a page in the site's nav,
the settings and secrets a page documents are the ones its adapter reads (and every
one it requires or sends somewhere is documented), and every calendar on a page
passes `socialsched lint`, run as a user runs it."""

from __future__ import annotations

import ast
import inspect
import re
import sys
import tomllib
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import pytest
import yaml
from cli_commands import resolve, socialsched_commands
from click.testing import CliRunner

from socialsched import plugins
from socialsched.adapters import Adapter, WebhookAudienceAdapter
from socialsched.calendar.model import Channel
from socialsched.cli import main
from socialsched.runner import on_doubt
from socialsched.testing import sample_image
from socialsched.trust.destinations import ANY_SECRET, Destination

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGE_FOLDERS = ("networks", "built-in")
# The sample plugin teaches plugin authors (docs/plugins.md); it is not a network.
SAMPLE_PLUGINS = {"socialsched-example"}
# Settings the core reads from every channel, whatever its adapter (media_library.py).
CORE_SETTINGS = {"keep_metadata"}


def nav_paths() -> list[str]:
    """Every page path in mkdocs.yml's nav, in order."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(config["nav"])
    return found


def repo_plugin_adapters() -> dict[str, set[str]]:
    """Plugin folder -> the adapter names its entry points register (the entry point's
    name is the adapter's in this repository), read from its pyproject.toml."""
    found = {}
    for pyproject in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        if project["name"] not in SAMPLE_PLUGINS:
            found[pyproject.parent.name] = set(project["entry-points"]["socialsched"])
    return found


def installed() -> dict[str, type[Adapter]]:
    """Every installed adapter but the sample plugin's, by name."""
    return {
        name: info.adapter_class
        for name, info in plugins.adapters().items()
        if info.package.split()[0] not in SAMPLE_PLUGINS
    }


@cache
def page_of(name: str) -> Path | None:
    """The nav page that documents adapter `name`: the one that says "The `name` adapter"."""
    for path in nav_paths():
        if path.split("/")[0] in PAGE_FOLDERS:
            page = DOCS / path
            if f"The `{name}` adapter" in page.read_text(encoding="utf-8"):
                return page
    return None


def page_text(name: str) -> str:
    page = page_of(name)
    assert page is not None, f"no page in the nav says 'The `{name}` adapter'"
    return page.read_text(encoding="utf-8")


# -- (a) a page for every adapter -----------------------------------------------------


def test_every_plugin_folder_has_its_adapters_page_in_the_nav():
    plugins_found = repo_plugin_adapters()
    assert len(plugins_found) >= 12  # the twelve network plugins, whatever is installed
    missing = [
        f"{folder}: {name}"
        for folder, names in plugins_found.items()
        for name in sorted(names)
        if page_of(name) is None
    ]
    assert missing == [], f"no page in the nav for {missing}"


def test_every_installed_adapter_the_built_ins_included_has_a_page_in_the_nav():
    adapters = installed()
    assert {"console", "jsonl", "webhook"} <= set(adapters)
    assert [name for name in sorted(adapters) if page_of(name) is None] == []


def test_each_page_documents_one_adapter_and_every_network_page_is_in_the_nav():
    pages = [p for p in (page_of(name) for name in installed()) if p is not None]
    assert len(pages) == len(set(pages)), "two adapters share one page"
    in_folders = {
        f"{folder}/{page.name}" for folder in PAGE_FOLDERS for page in (DOCS / folder).glob("*.md")
    }
    assert in_folders <= set(nav_paths()), f"not in the nav: {in_folders - set(nav_paths())}"


# -- (b) settings and secrets ---------------------------------------------------------


def _names_in_cell(cell: str) -> list[str]:
    return re.findall(r"`([a-z_][a-z0-9_]*)`", cell)


def table_names(text: str, header: str) -> set[str]:
    """The backticked names in the first column of every table whose first header
    cell is `header` ("setting" or "secret")."""
    names: set[str] = set()
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if not re.match(rf"^\|\s*{header}\s*\|", line):
            continue
        for row in lines[number + 2 :]:
            if not row.startswith("|"):
                break
            names.update(_names_in_cell(row.split("|")[1]))
    return names


def toml_blocks(text: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL)


def channel_tables(text: str, name: str) -> list[dict]:
    """The `[[channel]]` tables of adapter `name` in the page's TOML blocks."""
    return [
        channel
        for block in toml_blocks(text)
        for channel in tomllib.loads(block).get("channel", [])
        if channel.get("adapter") == name
    ]


def documented_settings(name: str) -> set[str]:
    text = page_text(name)
    from_snippets = {
        key for channel in channel_tables(text, name) for key in channel.get("settings", {})
    }
    return table_names(text, "setting") | from_snippets


def documented_secrets(name: str) -> set[str]:
    text = page_text(name)
    from_snippets = {
        key for channel in channel_tables(text, name) for key in channel.get("secrets", {})
    }
    return table_names(text, "secret") | from_snippets


def _is_settings(node: ast.AST) -> bool:
    """`settings`, `self.settings`, `channel.settings`, `self.channel.settings`..."""
    return (isinstance(node, ast.Name) and node.id == "settings") or (
        isinstance(node, ast.Attribute) and node.attr == "settings"
    )


def _is_secrets(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "secrets"


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def keys_read(tree: ast.AST, is_table) -> set[str]:
    """String keys read from a table: `table.get("k")`, `table["k"]`, `"k" in table`."""
    found = set()
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "get" and is_table(node.func.value) and node.args:
                key = _string(node.args[0])
        elif isinstance(node, ast.Subscript) and is_table(node.value):
            key = _string(node.slice)
        elif (
            isinstance(node, ast.Compare)
            and isinstance(node.ops[0], ast.In | ast.NotIn)
            and is_table(node.comparators[0])
        ):
            key = _string(node.left)
        if key is not None:
            found.add(key)
    return found


def secret_calls(tree: ast.AST) -> set[str]:
    """Keys passed to `self.secret("k", ...)`."""
    return {
        key
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "secret"
        and node.args
        and (key := _string(node.args[0])) is not None
    }


def source_trees(cls: type[Adapter]) -> list[ast.AST]:
    """What the adapter's code is: a plugin's whole package; for each class of the core
    in its bases (`socialsched.adapters`, `socialsched.adapters.graph`...), that class's source
    and the core's module-level functions it calls, not the module's other adapters."""
    trees: list[ast.AST] = []
    for klass in cls.__mro__:
        if klass in (Adapter, object):
            continue
        module = sys.modules[klass.__module__]
        if not klass.__module__.startswith("socialsched."):
            package = Path(module.__file__).parent
            trees += [ast.parse(p.read_text(encoding="utf-8")) for p in package.rglob("*.py")]
            continue
        source = inspect.getsource(klass)
        trees.append(ast.parse(inspect.cleandoc("\n" + source) if source[0].isspace() else source))
        called = {n.id for n in ast.walk(trees[-1]) if isinstance(n, ast.Name)}
        for helper in sorted(called):
            function = getattr(module, helper, None)
            # The core's own helpers, wherever in `socialsched.adapters` they live (the
            # console and jsonl adapters share one), not the Python or attrs functions.
            if inspect.isfunction(function) and function.__module__.startswith("socialsched."):
                trees.append(ast.parse(inspect.getsource(function)))
    return trees


def destinations(cls: type[Adapter]) -> list[Destination]:
    declared = cls.secret_destinations.values()
    return [
        rule for value in declared for rule in (value if isinstance(value, tuple) else (value,))
    ]


def settings_read(cls: type[Adapter]) -> set[str]:
    """The settings adapter class `cls` reads: in its code, the settings named by class
    attributes `*_setting` (read by a shared base), where its secrets go, and the
    core's own (`media_host` for networks that fetch media by URL)."""
    found = set(CORE_SETTINGS) | set(cls.required_settings) | set(cls.path_settings)
    for tree in source_trees(cls):
        found |= keys_read(tree, _is_settings)
    found |= {
        value
        for attribute, value in vars(cls).items()
        if attribute.endswith("_setting") and isinstance(value, str)
    }
    found |= {rule.setting for rule in destinations(cls) if rule.setting}
    if cls.media_by_url:
        found.add("media_host")
    return found


def secrets_read(cls: type[Adapter]) -> set[str]:
    found = set(cls.required_secrets) | (set(cls.secret_destinations) - {ANY_SECRET})
    for tree in source_trees(cls):
        found |= keys_read(tree, _is_secrets) | secret_calls(tree)
    if issubclass(cls, WebhookAudienceAdapter):
        found.add("webhook")  # the webhook of segments without an audience
    return found


def any_key_is_a_webhook(cls: type[Adapter]) -> bool:
    """Whether any secret key is a webhook URL (named by a `webhook:KEY` audience)."""
    rule = cls.secret_destinations.get(ANY_SECRET)
    return isinstance(rule, Destination) and rule.in_value


ADAPTERS = sorted(installed())


@pytest.mark.parametrize("name", ADAPTERS)
def test_every_documented_setting_is_one_the_adapter_reads(name):
    cls = installed()[name]
    unknown = documented_settings(name) - settings_read(cls)
    assert not unknown, f"{page_of(name)} documents settings {name} never reads: {unknown}"


@pytest.mark.parametrize("name", ADAPTERS)
def test_every_setting_the_adapter_reads_is_documented(name):
    cls = installed()[name]
    text = page_text(name)
    # The core's own settings may be documented once, on the calendar reference.
    missing = {
        key
        for key in settings_read(cls) - CORE_SETTINGS
        if key not in documented_settings(name) and f"`{key}`" not in text
    }
    assert not missing, f"{page_of(name)} does not document settings.{sorted(missing)}"
    required = set(cls.required_settings) | {r.setting for r in destinations(cls) if r.setting}
    assert required <= documented_settings(name), "a required setting lacks a table row"


@pytest.mark.parametrize("name", ADAPTERS)
def test_every_documented_secret_is_one_the_adapter_reads(name):
    cls = installed()[name]
    documented = documented_secrets(name)
    if any_key_is_a_webhook(cls):
        # Other keys are webhooks: each must be named by a webhook:KEY audience.
        text = page_text(name)
        for channel in channel_tables(text, name):
            for key in set(channel.get("secrets", {})) - secrets_read(cls):
                assert f"webhook:{key}" in channel.get("audiences", {}).values(), key
        return
    unknown = documented - secrets_read(cls)
    assert not unknown, f"{page_of(name)} documents secrets {name} never reads: {unknown}"


@pytest.mark.parametrize("name", ADAPTERS)
def test_every_secret_the_adapter_reads_or_requires_is_documented(name):
    cls = installed()[name]
    text = page_text(name)
    missing = {
        key
        for key in secrets_read(cls)
        if key not in documented_secrets(name)
        and f"`{key}`" not in text
        and not re.search(rf"^#? ?{key} = ", text, flags=re.MULTILINE)
    }
    assert not missing, f"{page_of(name)} does not document secrets.{sorted(missing)}"
    assert set(cls.required_secrets) <= documented_secrets(name)


@pytest.mark.parametrize("name", ADAPTERS)
def test_a_page_says_how_secrets_are_granted_and_where_they_go(name):
    cls = installed()[name]
    text = page_text(name)
    if not secrets_read(cls):
        assert "no secret" in text or "None" in text
        return
    assert "SOCIALSCHED_SECRET_" in text
    assert "socialsched channels approve" in text or "channels approve" in text
    for rule in destinations(cls):
        if rule.setting:
            assert f"`{rule.setting}`" in text or f"settings.{rule.setting}" in text


def test_the_scanner_sees_what_the_built_ins_read():
    """The derivation above, checked on what the built-ins' code says in words."""
    registry = installed()
    assert settings_read(registry["console"]) == {"max_length"} | CORE_SETTINGS
    assert settings_read(registry["jsonl"]) == {"path", "max_length"} | CORE_SETTINGS
    assert settings_read(registry["webhook"]) == {"url", "timeout", "max_length"} | CORE_SETTINGS
    assert secrets_read(registry["webhook"]) == {"signing_key", "url"}
    assert secrets_read(registry["console"]) == set()


# -- (c) every calendar on a page passes lint -----------------------------------------


def is_calendar(block: str) -> bool:
    return "[[segment]]" in block and "[[post]]" in block


_HEADER = re.compile(r"^\[\[?([a-z_]+)[\].]", flags=re.MULTILINE)


def with_channels(calendar: str, fragment: str) -> str:
    """`calendar` with its channel tables replaced by those of `fragment` (a snippet
    that shows only a `[[channel]]`, meant for the page's calendar)."""
    chunks = re.split(r"(?m)^(?=\[)", calendar)
    kept: list[str] = []
    for chunk in chunks:
        header = _HEADER.match(chunk)
        if header and header[1] == "channel":
            if fragment:
                kept.append(fragment.rstrip("\n") + "\n\n")
                fragment = ""
            continue
        kept.append(chunk)
    return "".join(kept)


def page_calendars() -> list[tuple[str, int, str]]:
    """(page, block number, calendar text) for every TOML block of every adapter page:
    a complete calendar as it is, a channel alone inside the page's first calendar."""
    found = []
    for path in nav_paths():
        if path.split("/")[0] not in PAGE_FOLDERS:
            continue
        blocks = toml_blocks((DOCS / path).read_text(encoding="utf-8"))
        calendars = [b for b in blocks if is_calendar(b)]
        for number, block in enumerate(blocks, start=1):
            if is_calendar(block):
                found.append((path, number, block))
            elif calendars and "[[channel]]" in block:
                found.append((path, number, with_channels(calendars[0], block)))
            else:
                found.append((path, number, ""))  # nothing to lint it in: a failure below
    return found


@pytest.mark.parametrize("path", [p for p in nav_paths() if p.split("/")[0] in PAGE_FOLDERS])
def test_every_adapter_page_shows_a_complete_minimal_calendar(path):
    blocks = toml_blocks((DOCS / path).read_text(encoding="utf-8"))
    assert any(is_calendar(block) for block in blocks), f"{path}: no complete calendar"


def write_media(folder: Path, calendar: str) -> None:
    """Put an image at every media path the calendar names."""
    for media_path in re.findall(r'path = "([^"]+\.(?:jpg|jpeg|png))"', calendar):
        target = folder / media_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(sample_image(640, 480, format="JPEG").read())


@pytest.mark.parametrize(
    ("path", "number", "calendar"),
    page_calendars(),
    ids=[f"{p}#{n}" for p, n, _ in page_calendars()],
)
def test_every_calendar_on_an_adapter_page_passes_lint(
    path, number, calendar, tmp_path, monkeypatch
):
    assert calendar, f"{path}: TOML block {number} is neither a calendar nor a channel"
    name = re.search(r"The `([a-z]+)` adapter", (DOCS / path).read_text(encoding="utf-8"))[1]
    if name not in installed():
        pytest.skip(f"pip install -e plugins/socialsched-{name}")
    project = tmp_path / "project"
    project.mkdir()
    (project / "calendar.toml").write_text(calendar, encoding="utf-8")
    write_media(project, calendar)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # A week from the day after tomorrow: past days, and Facebook's native scheduling
    # window (10 minutes ahead at least), never come into it.
    start = date.today() + timedelta(days=2)
    result = CliRunner().invoke(
        main,
        [
            "lint",
            "../project/calendar.toml",
            "--start",
            str(start),
            "--end",
            str(start + timedelta(days=7)),
        ],
    )
    assert result.exit_code == 0, f"{path} block {number}:\n{result.output}"
    assert "error" not in result.output


# -- commands shown on the pages ------------------------------------------------------


@pytest.mark.parametrize(
    "path", [*(p for p in nav_paths() if p.split("/")[0] in PAGE_FOLDERS), "plugins.md"]
)
def test_every_socialsched_command_shown_parses(path):
    text = (DOCS / path).read_text(encoding="utf-8")
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.DOTALL):
        for args in socialsched_commands(block):
            resolve(args)  # raises click's usage error for an unknown command or option


# -- delivery guarantees --------------------------------------------------------------


@pytest.mark.parametrize("name", ADAPTERS)
def test_the_on_doubt_default_a_page_states_is_the_runners(name):
    """Each page says what `on_doubt` defaults to; the runner decides it from the adapter
    built for the page's own channel (its `on_doubt` left unset)."""
    text = " ".join(page_text(name).split())
    stated = set(re.findall(r'`on_doubt`[^.]*?default[^.]*?`"(resend|hold)"`', text))
    assert len(stated) == 1, f"{page_of(name)} states no single on_doubt default: {stated}"
    table = dict(channel_tables(page_text(name), name)[0])
    table.pop("on_doubt", None)
    channel = Channel(**table)
    adapter = installed()[name](channel, environ={})
    try:
        assert stated == {on_doubt(channel, adapter)}
    finally:
        adapter.close()


@pytest.mark.parametrize("name", ADAPTERS)
def test_a_page_explains_every_audience_kind_its_adapter_takes(name):
    kinds = installed()[name].capabilities.audiences
    text = page_text(name)
    channels = channel_tables(text, name)
    if not kinds:
        # No audiences: the page's calendars give none, and the page says so.
        assert not any(channel.get("audiences") for channel in channels)
        assert re.search(r"(?i)audiences? per segment|no audience", " ".join(text.split()))
    elif "any" in kinds:
        assert "Any audience kind" in text
    else:
        for kind in kinds:
            assert f"`{kind}:" in text or f'kind = "{kind}"' in text, f"{name}: {kind}"
        given = {
            str(value).partition(":")[0] if isinstance(value, str) else value["kind"]
            for channel in channels
            for value in channel.get("audiences", {}).values()
        }
        assert given <= set(kinds)
