"""What adapters declare about a channel's table, applied when a calendar file is loaded:
required settings and secrets (reported by `lint` and `schedule` with the channel's
line), and settings that are file paths (taken from the calendar's folder)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_loader import line_of

from socialsched import CalendarError, hookimpl, load, plugins
from socialsched.adapters import Adapter, Capabilities, ConsoleAdapter, JsonlAdapter, Receipt
from socialsched.adapters.webhook import WebhookAdapter
from socialsched.cli import main

HEAD = """
[[segment]]
name = "uk"
locale = "en-GB"
timezone = "Europe/London"
country = "GB"

[[post]]
id = "hello"
text = "Hello"
dates = ["2027-03-01"]
at = "10:00"
"""


def write(folder: Path, channels: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "calendar.toml"
    path.write_text(textwrap.dedent(HEAD + channels).lstrip("\n"), encoding="utf-8")
    return path


def test_the_built_ins_declare_what_a_channel_must_give():
    assert (ConsoleAdapter.required_settings, ConsoleAdapter.required_secrets) == ((), ())
    assert (JsonlAdapter.required_settings, JsonlAdapter.path_settings) == (("path",), ("path",))
    assert WebhookAdapter.required_secrets == ("signing_key",)


WEBHOOK_WITHOUT_KEY = """
[[channel]]
name = "hooks"
adapter = "webhook"
settings = { url = "https://hooks.example/in" }
"""

JSONL_WITHOUT_PATH = """
[[channel]]
name = "audit"
adapter = "jsonl"
"""


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_lint_names_the_missing_secret_and_the_channels_line(tmp_path, monkeypatch):
    calendar = write(tmp_path / "project", WEBHOOK_WITHOUT_KEY + JSONL_WITHOUT_PATH)
    monkeypatch.chdir(tmp_path)
    result = invoke("lint", "project/calendar.toml", "--start", "2027-03-01", "--end", "2027-03-01")
    assert result.exit_code == 1
    shown = "project/calendar.toml"
    # No secrets table: the channel's [[channel]] line.
    hooks_line = line_of(calendar, "[[channel]]")
    assert (
        f"{shown}:{hooks_line}: error: channel 'hooks': the webhook adapter requires "
        "secrets.signing_key (name the secret holding it: signing_key = "
        '"HOOKS_SIGNING_KEY", granted as SOCIALSCHED_SECRET_HOOKS_SIGNING_KEY)'
    ) in result.stderr
    # No settings table at all: the channel's [[channel]] line.
    block_line = line_of(calendar, "[[channel]]", occurrence=2)
    assert (
        f"{shown}:{block_line}: error: channel 'audit': the jsonl adapter requires settings.path"
    ) in result.stderr
    assert "2 error(s)" in result.stderr


def test_schedule_refuses_the_channel_and_stores_nothing(tmp_path, monkeypatch):
    write(tmp_path / "project", WEBHOOK_WITHOUT_KEY)
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "schedule", "project/calendar.toml", "--db", "state.db", "--start", "2027-03-01",
        "--end", "2027-03-01",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "requires secrets.signing_key" in result.stderr
    assert not (tmp_path / "state.db").exists()


def test_a_channel_with_what_its_adapter_requires_loads(tmp_path):
    path = write(
        tmp_path,
        WEBHOOK_WITHOUT_KEY + 'secrets = { signing_key = "HOOK_KEY" }\n',
    )
    assert load(path).channel("hooks").secrets == {"signing_key": "HOOK_KEY"}


class NeedsBoth(Adapter):
    name = "needsboth"
    capabilities = Capabilities(audiences=("any",))
    required_settings = ("base_url", "region")
    required_secrets = ("token",)
    path_settings = ("cert", "key_file")

    def publish(self, message, idempotency_key):
        return Receipt(remote_id=idempotency_key)


class NeedsBothPlugin:
    @hookimpl
    def register_adapters(self, register):
        register(NeedsBoth)


@pytest.fixture
def needsboth():
    name = plugins.register(NeedsBothPlugin(), name="needsboth-plugin")
    yield
    plugins.unregister(name=name)


def test_a_plugins_declarations_are_checked_too_each_missing_key_once(tmp_path, needsboth):
    path = write(
        tmp_path,
        """
[[channel]]
name = "mine"
adapter = "needsboth"
settings = { base_url = "https://api.example", region = "" }
""",
    )
    with pytest.raises(CalendarError) as raised:
        load(path)
    messages = [(p.line, str(p).split(": error: ")[1]) for p in raised.value.problems]
    line = line_of(path, "settings =")
    assert messages == [
        (line, "channel 'mine': the needsboth adapter requires settings.region (add region = "
         "... to the channel's settings)"),
        (line_of(path, "[[channel]]"), "channel 'mine': the needsboth adapter requires "
         'secrets.token (name the secret holding it: token = "MINE_TOKEN", granted as '
         "SOCIALSCHED_SECRET_MINE_TOKEN)"),
    ]  # fmt: skip


def test_path_settings_are_taken_from_the_calendars_folder(tmp_path, needsboth, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # Paths outside the calendar's folder are the operator's to allow.
    allowed = [tmp_path / "abs", tmp_path / "certs", tmp_path / "home"]
    monkeypatch.setenv("SOCIALSCHED_ALLOWED_PATHS", os.pathsep.join(map(str, allowed)))
    project = tmp_path / "project"
    write(
        project,
        f"""
[[channel]]
name = "mine"
adapter = "needsboth"
secrets = {{ token = "MINE_TOKEN" }}
settings = {{ base_url = "u", region = "eu", cert = "../certs/c.pem", key_file = "~/k.pem" }}

[[channel]]
name = "audit"
adapter = "jsonl"
settings = {{ path = "{tmp_path / "abs" / "audit.jsonl"}" }}

[[channel]]
name = "local"
adapter = "jsonl"
settings = {{ path = "logs/out.jsonl", other = "not/a/path" }}
""",
    )
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path / "home")
    calendar = load("../project/calendar.toml")
    mine = calendar.channel("mine").settings
    assert mine["cert"] == str(tmp_path / "certs" / "c.pem")
    assert mine["key_file"] == str(tmp_path / "home" / "k.pem")
    assert mine["base_url"] == "u"  # not declared a path: untouched
    assert calendar.channel("audit").settings["path"] == str(tmp_path / "abs" / "audit.jsonl")
    local = calendar.channel("local").settings
    assert local == {"path": str(project / "logs" / "out.jsonl"), "other": "not/a/path"}


def test_a_path_setting_that_is_not_a_string_is_reported(tmp_path):
    path = write(
        tmp_path,
        """
[[channel]]
name = "audit"
adapter = "jsonl"
settings = { path = 7 }
""",
    )
    with pytest.raises(CalendarError) as raised:
        load(path)
    [problem] = raised.value.problems
    assert problem.line == line_of(path, "settings =")
    assert str(problem).endswith(
        "error: channel 'audit': settings.path = 7: must be a file path (a string)"
    )


@pytest.mark.parametrize("folder", [None, "words", "~/shared/words"])
def test_the_templates_folder_is_taken_from_the_calendars_folder(tmp_path, monkeypatch, folder):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOCIALSCHED_ALLOWED_PATHS", str(tmp_path / "home" / "shared"))
    project = tmp_path / "project"
    expected = {
        None: project / "templates",
        "words": project / "words",
        "~/shared/words": tmp_path / "home" / "shared" / "words",
    }[folder]
    expected.mkdir(parents=True)
    (expected / "hello.j2").write_text("Hello from {{ segment.name }}", encoding="utf-8")
    header = f'[calendar]\ntemplates = "{folder}"\n' if folder else ""
    calendar_text = (HEAD + JSONL_WITHOUT_PATH + 'settings = { path = "out.jsonl" }\n').replace(
        'text = "Hello"', 'template = "hello"'
    )
    project.mkdir(exist_ok=True)
    (project / "calendar.toml").write_text(header + calendar_text, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    calendar = load("../project/calendar.toml")
    assert calendar.templates == expected
