"""Plugins: registration in code and from entry points, template helpers, content
checks, lifecycle events, and broken plugins reported by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from typing import ClassVar

import pytest
from click.testing import CliRunner

from socialsched import Calendar, Channel, PlanError, Post, Segment, hookimpl, plugins
from socialsched.adapters import Adapter, Capabilities, Receipt, TransientError, registry
from socialsched.calendar.audiences import Audience
from socialsched.cli import main
from socialsched.errors import CalendarError, SocialschedError
from socialsched.planning.calendar_load import load
from socialsched.planning.lint import lint
from socialsched.planning.planner import Planner


@pytest.fixture(autouse=True)
def fresh_plugins():
    plugins.reset()
    yield
    plugins.reset()


class SeenAdapter(Adapter):
    """Remembers what it validated."""

    name = "seen"
    capabilities = Capabilities(max_length=20, audiences=("list", "recipient"))
    validated: ClassVar[list] = []

    def validate(self, message):
        SeenAdapter.validated.append(message)
        return super().validate(message)

    def publish(self, message, idempotency_key):
        return Receipt(remote_id=idempotency_key)


class SeenPlugin:
    @hookimpl
    def register_adapters(self, register):
        register(SeenAdapter)


def calendar(text="Hello", adapter="console", audiences=None, segment_vars=None):
    return Calendar(
        segments=[
            Segment(
                name="fr-FR",
                locale="fr-FR",
                timezone="Europe/Paris",
                country="FR",
                vars=segment_vars or {},
            ),
            Segment(name="en-US", locale="en-US", timezone="America/New_York", country="US"),
        ],
        channels=[Channel(name="main", adapter=adapter, audiences=audiences or {})],
        posts=[Post(id="hello", text=text, dates=["2027-03-02"], at="10:00")],
    )


def test_adapter_registered_in_code_is_available_and_found_by_the_registry():
    assert "seen" not in registry.available_adapters()
    name = plugins.register(SeenPlugin(), name="seen-plugin")
    assert registry.adapter_class("seen") is SeenAdapter
    info = plugins.adapters()["seen"]
    assert info.plugin == name == "seen-plugin"
    assert info.package == f"registered in code ({__name__})"
    plugins.unregister(name="seen-plugin")
    assert "seen" not in registry.available_adapters()


def test_unknown_adapter_lists_installed_ones():
    with pytest.raises(registry.UnknownAdapterError) as raised:
        registry.adapter_class("nope")
    message = str(raised.value)
    assert message.startswith("unknown adapter 'nope' (installed: ") and message.endswith(")")
    installed = message.split("(installed: ", 1)[1][:-1].split(", ")
    # Plugins installed next to socialsched add their names; the built-ins are always there.
    assert {"console", "jsonl", "webhook"} <= set(installed)
    assert installed == sorted(installed) and "nope" not in installed


def test_planner_hands_the_adapter_the_resolved_audience():
    plugins.register(SeenPlugin())
    SeenAdapter.validated.clear()
    cal = calendar(
        adapter="seen", audiences={"fr-FR": "list:clients-fr", "en-US": "recipient:@ana"}
    )
    Planner(cal).plan("2027-03-01", "2027-03-03")
    audiences = {m.segment: m.audience for m in SeenAdapter.validated}
    assert audiences == {
        "fr-FR": Audience("list", "clients-fr"),
        "en-US": Audience("recipient", "@ana"),
    }


def test_plan_fails_on_text_over_the_adapter_limit_and_lint_lists_each():
    plugins.register(SeenPlugin())
    cal = calendar(text="x" * 21, adapter="seen")
    with pytest.raises(PlanError, match="text is 21 characters; seen allows 20"):
        Planner(cal).plan("2027-03-01", "2027-03-03")
    errors = [p for p in lint(cal, date(2027, 3, 1), date(2027, 3, 3)) if p.severity == "error"]
    assert len(errors) == 2
    assert {("fr-FR" in p.message, "en-US" in p.message) for p in errors} == {
        (True, False),
        (False, True),
    }


def test_plan_fails_on_an_audience_kind_the_adapter_cannot_target():
    plugins.register(SeenPlugin())
    cal = calendar(adapter="seen", audiences={"fr-FR": "circle:amis"})
    with pytest.raises(PlanError, match="cannot target a 'circle' audience"):
        Planner(cal).plan("2027-03-01", "2027-03-03")


class BannedWords:
    """A per-market policy: segment.vars.banned_words."""

    @hookimpl
    def check_message(self, message, segment, channel):
        banned = segment.vars.get("banned_words", [])
        return [f"contains banned word {w!r}" for w in banned if w in message.text.lower()]


def test_content_check_violations_fail_plan_for_that_market_only():
    plugins.register(BannedWords())
    cal = calendar(text="Free wine today", segment_vars={"banned_words": ["wine"]})
    with pytest.raises(PlanError) as raised:
        Planner(cal).plan("2027-03-01", "2027-03-03")
    assert "contains banned word 'wine'" in str(raised.value)
    assert "segment 'fr-FR'" in str(raised.value)
    problems = []
    deliveries = Planner(cal).plan("2027-03-01", "2027-03-03", problems=problems)
    assert [d.segment for d in deliveries] == ["en-US"]
    assert len(problems) == 1


def test_a_content_check_that_raises_is_reported_naming_the_plugin():
    class Broken:
        @hookimpl
        def check_message(self, message, segment, channel):
            raise RuntimeError("policy service down")

    plugins.register(Broken(), name="policy")
    with pytest.raises(PlanError, match="content check of plugin 'policy' failed"):
        Planner(calendar()).plan("2027-03-01", "2027-03-03")


def test_template_filters_and_globals_from_plugins_render():
    class Helpers:
        @hookimpl
        def template_filters(self):
            return {"shout": lambda text: text.upper() + "!"}

        @hookimpl
        def template_globals(self):
            return {"brand": "Olivar"}

    plugins.register(Helpers())
    cal = calendar(text="{{ 'hola' | shout }} {{ brand }}")
    deliveries = Planner(cal).plan("2027-03-01", "2027-03-03")
    assert {d.text for d in deliveries} == {"HOLA! Olivar"}


def test_lifecycle_events_reach_observers_and_a_failing_one_is_skipped(caplog):
    seen = []

    class Failing:
        @hookimpl
        def delivery_published(self, delivery, channel, receipt, attempt):
            raise RuntimeError("metrics down")

    class Metrics:
        @hookimpl
        def delivery_scheduled(self, delivery, channel):
            seen.append(("scheduled", delivery, channel.name))

        @hookimpl
        def delivery_published(self, delivery, channel, receipt, attempt):
            seen.append(("published", receipt.remote_id, attempt))

        @hookimpl
        def delivery_failed(self, delivery, channel, error, attempt, final):
            seen.append(("failed", str(error), attempt, final))

    plugins.register(Failing(), name="failing-metrics")
    plugins.register(Metrics())
    cal = calendar()
    delivery = Planner(cal).plan("2027-03-01", "2027-03-03")[0]
    channel = cal.channels[0]
    plugins.notify("delivery_scheduled", delivery=delivery, channel=channel)
    plugins.notify(
        "delivery_published", delivery=delivery, channel=channel, receipt=Receipt("r1"), attempt=2
    )
    plugins.notify(
        "delivery_failed",
        delivery=delivery,
        channel=channel,
        error=TransientError("slow down", retry_after=3),
        attempt=5,
        final=True,
    )
    assert seen == [
        ("scheduled", delivery, "main"),
        ("published", "r1", 2),
        ("failed", "slow down", 5, True),
    ]
    assert "failing-metrics" in caplog.text and "metrics down" in caplog.text
    with pytest.raises(ValueError, match="unknown lifecycle event"):
        plugins.notify("delivery_exploded", delivery=delivery)


def test_hook_relay_calls_lifecycle_hooks_directly():
    calls = []

    class Observer:
        @hookimpl
        def delivery_scheduled(self, delivery, channel):
            calls.append(channel)

    plugins.register(Observer())
    plugins.hook().delivery_scheduled(delivery=None, channel="main")
    assert calls == ["main"]


def test_register_adapters_that_raises_is_reported_and_others_still_work():
    class Broken:
        @hookimpl
        def register_adapters(self, register):
            raise ImportError("no module named 'tweepy'")

    plugins.register(Broken(), name="broken-net")
    plugins.register(SeenPlugin())
    assert {"console", "seen"} <= set(plugins.available_adapters())
    [failure] = plugins.failures()
    assert failure.plugin == "broken-net"
    assert "ImportError: no module named 'tweepy'" in failure.message


def test_duplicate_and_invalid_adapter_registrations_are_reported():
    class Impostor(Adapter):
        name = "console"

    class Bad:
        @hookimpl
        def register_adapters(self, register):
            register(Impostor)
            register(object)

    plugins.register(Bad(), name="bad")
    assert registry.adapter_class("console") is not Impostor
    messages = [f.message for f in plugins.failures()]
    assert any("'console' is already taken" in m for m in messages)
    assert any("not a socialsched.adapters.Adapter subclass" in m for m in messages)


def install_fake_distribution(tmp_path, monkeypatch, name, entry_point, module_source):
    """A distribution on sys.path whose entry point in group socialsched is `entry_point`."""
    site = tmp_path / "site"
    dist_info = site / f"{name}-1.2.3.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (dist_info / "entry_points.txt").write_text(f"[socialsched]\n{entry_point}\n")
    module = entry_point.split("=")[1].strip().split(":")[0]
    (site / f"{module}.py").write_text(textwrap.dedent(module_source))
    monkeypatch.syspath_prepend(str(site))
    plugins.reset()


GOOD_MODULE = """
    from socialsched import hookimpl
    from socialsched.adapters import Adapter, Capabilities, Receipt
    from socialsched.media.model import MediaLimits

    class FaxAdapter(Adapter):
        name = "fax"
        capabilities = Capabilities(
            max_length=1000,
            audiences=("recipient",),
            images=MediaLimits(max_count=3),
            max_alt_length=120,
            threads=True,
        )

        def publish(self, message, idempotency_key):
            return Receipt(remote_id=idempotency_key)

    @hookimpl
    def register_adapters(register):
        register(FaxAdapter)
"""


def test_entry_point_plugin_is_listed_with_its_package(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path, monkeypatch, "socialsched-fax", "fax = sched_fax_plugin", GOOD_MODULE
    )
    result = CliRunner().invoke(main, ["adapters", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["fax"]["package"] == "socialsched-fax 1.2.3"
    assert rows["fax"]["capabilities"]["max_length"] == 1000
    assert rows["fax"]["capabilities"]["audiences"] == ["recipient"]
    assert {
        key: rows["fax"]["capabilities"][key]
        for key in ("media", "images", "videos", "max_alt_length", "threads")
    } == {"media": True, "images": 3, "videos": 0, "max_alt_length": 120, "threads": True}
    assert rows["webhook"]["package"].startswith("socialsched ")
    text = CliRunner().invoke(main, ["adapters", "list"]).output
    (fax,) = [line for line in text.splitlines() if line.startswith("fax ")]
    assert fax.endswith("max 1000 chars; audiences: recipient; images: up to 3; threads")


def test_broken_entry_point_is_named_and_the_cli_keeps_working(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path,
        monkeypatch,
        "socialsched-broken",
        "broken = sched_broken_plugin",
        "import does_not_exist_anywhere\n",
    )
    result = CliRunner().invoke(main, ["adapters", "list"])
    assert result.exit_code == 0
    assert "console" in result.stdout
    assert (
        "warning: plugin 'broken' (package socialsched-broken 1.2.3): ModuleNotFoundError"
        in result.stderr
    )
    assert "Traceback" not in result.output


def socialsched_with(site, *args):
    """The command line in a process of its own, with the fake distributions of `site`
    installed: what a user sees on a terminal, logging included."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    return subprocess.run(
        [sys.executable, "-m", "socialsched", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_broken_plugin_is_reported_once_with_the_warning_prefix(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path,
        monkeypatch,
        "socialsched-broken",
        "broken = sched_broken_plugin",
        "import does_not_exist_anywhere\n",
    )
    result = socialsched_with(tmp_path / "site", "adapters", "list")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: plugin 'broken' (package socialsched-broken 1.2.3): ModuleNotFoundError: "
        "No module named 'does_not_exist_anywhere'"
    ]


def test_an_adapter_class_without_a_name_is_reported_once_by_the_cli(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path,
        monkeypatch,
        "socialsched-nameless",
        "nameless = sched_nameless_plugin",
        GOOD_MODULE.replace('name = "fax"', 'name = ""'),
    )
    calendar = tmp_path / "cal.toml"
    calendar.write_text(
        '[[segment]]\nname = "uk"\nlocale = "en-GB"\ntimezone = "Europe/London"\n'
        'country = "GB"\n[[channel]]\nname = "c"\nadapter = "console"\n[[post]]\n'
        'id = "p"\ntext = "hi"\ndates = ["2027-03-01"]\nat = "10:00"\n'
    )
    result = socialsched_with(
        tmp_path / "site", "lint", str(calendar), "--start", "2027-03-01", "--end", "2027-03-01"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: plugin 'nameless' (package socialsched-nameless 1.2.3): "
        "adapter class FaxAdapter has no name"
    ]


def test_without_the_cli_a_broken_plugin_is_a_logged_warning(tmp_path, monkeypatch, caplog):
    install_fake_distribution(
        tmp_path,
        monkeypatch,
        "socialsched-broken",
        "broken = sched_broken_plugin",
        "import does_not_exist_anywhere\n",
    )
    assert "console" in plugins.available_adapters()
    [record] = [r for r in caplog.records if r.name == "socialsched.plugins"]
    assert record.levelname == "WARNING" and "plugin 'broken'" in record.getMessage()


def test_adapters_list_table_shows_name_package_and_capabilities():
    result = CliRunner().invoke(main, ["adapters", "list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PACKAGE", "CAPABILITIES"]
    jsonl = next(line for line in lines if line.startswith("jsonl "))
    assert "(built-in)" in jsonl and "delete" in jsonl and "idempotent" in jsonl


def test_unknown_adapter_in_a_calendar_file_names_file_line_and_installed(tmp_path):
    path = tmp_path / "cal.toml"
    path.write_text(
        textwrap.dedent(
            """
            [[segment]]
            name = "us"
            locale = "en-US"
            timezone = "America/New_York"
            country = "US"

            [[channel]]
            name = "main"
            adapter = "fax"

            [[post]]
            id = "p"
            text = "hi"
            dates = ["2027-03-02"]
            at = "10:00"
            """
        )
    )
    with pytest.raises(CalendarError) as raised:
        load(path)
    assert f"{path}:10: error: channel 'main': unknown adapter 'fax' (installed: " in str(
        raised.value
    )
    result = CliRunner().invoke(main, ["plan", str(path), "--start", "2027-03-01"])
    assert result.exit_code == 1
    assert "unknown adapter 'fax' (installed: " in result.stderr
    assert "console" in result.stderr.rpartition("installed: ")[2]


def test_bad_audience_in_a_calendar_file_is_reported_at_load(tmp_path):
    path = tmp_path / "cal.toml"
    path.write_text(
        textwrap.dedent(
            """
            [[segment]]
            name = "us"
            locale = "en-US"
            timezone = "America/New_York"
            country = "US"

            [[channel]]
            name = "main"
            adapter = "console"

            [channel.audiences]
            us = "everyone"

            [[post]]
            id = "p"
            text = "hi"
            dates = ["2027-03-02"]
            at = "10:00"
            """
        )
    )
    with pytest.raises(CalendarError, match=r"audience for segment 'us': audience 'everyone'"):
        load(path)


def test_hook_implementations_may_take_only_the_arguments_they_use():
    seen = []

    class Partial:
        @hookimpl
        def check_message(self, message):
            return ["always"] if "bad" in message.text else None

        @hookimpl
        def delivery_failed(self, error, final):
            seen.append((str(error), final))

    plugins.register(Partial())
    with pytest.raises(PlanError, match="always"):
        Planner(calendar(text="bad")).plan("2027-03-01", "2027-03-03")
    plugins.notify(
        "delivery_failed",
        delivery=None,
        channel=None,
        error=TransientError("later"),
        attempt=1,
        final=False,
    )
    assert seen == [("later", False)]


def test_lint_reports_a_channel_its_adapter_cannot_use_instead_of_stopping():
    cal = Calendar(
        segments=[Segment(name="us", locale="en-US", timezone="America/New_York", country="US")],
        channels=[Channel(name="hooks", adapter="webhook")],
        posts=[Post(id="p", text="hi", dates=["2027-03-02", "2027-03-03"], at="10:00")],
    )
    errors = [p for p in lint(cal, date(2027, 3, 1), date(2027, 3, 5)) if p.severity == "error"]
    assert [p.message for p in errors] == [
        "channel 'hooks': the webhook adapter needs settings.url "
        "(or secrets.url naming a granted secret)"
    ]
    with pytest.raises(SocialschedError, match=r"needs settings\.url"):
        Planner(cal).plan("2027-03-01", "2027-03-05")


def test_plugins_registered_without_a_name_get_a_readable_one():
    plugins.register(BannedWords())
    second = plugins.register(BannedWords())
    assert second == f"{__name__}.BannedWords#2"
    cal = calendar(text="wine", segment_vars={"banned_words": ["wine"]})
    with pytest.raises(PlanError, match=rf"contains banned word 'wine' \(plugin {__name__}"):
        Planner(cal).plan("2027-03-01", "2027-03-03")


def test_unregister_by_object():
    plugin = SeenPlugin()
    plugins.register(plugin)
    assert "seen" in plugins.available_adapters()
    plugins.unregister(plugin)
    assert "seen" not in plugins.available_adapters()
