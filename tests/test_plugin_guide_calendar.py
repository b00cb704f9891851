"""docs/plugins.md, tried as a plugin author tries it: the guide's complete calendar,
with the guide's own adapter, lints and plans (media with alt text, a thread, an
audience per segment name); "make a delivery due now" publishes it; a network with no
audiences and the media limits behave as the guide says."""

from __future__ import annotations

import json
import re
import sys
import types
import zoneinfo
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from cli_commands import resolve, socialsched_commands
from click.testing import CliRunner

from socialsched import hookimpl, plugins
from socialsched.adapters import Adapter, Capabilities, Message
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.cli import main
from socialsched.media.model import MediaLimits
from socialsched.testing import sample_image

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)


def python_block(containing: str) -> str:
    [block] = [b for b in blocks("python") if containing in b]
    return block


def guide_calendar() -> str:
    """The guide's complete calendar: its one TOML block with segments and a post."""
    [calendar] = [b for b in blocks("toml") if "[[segment]]" in b and "[[post]]" in b]
    return calendar


@pytest.fixture
def guide_adapter(monkeypatch):
    """The guide's MyNetAdapter as the package `socialsched_mynet` it tells authors to
    write, registered as an installed plugin would be."""
    package = types.ModuleType("socialsched_mynet")
    module = types.ModuleType("socialsched_mynet.adapter")
    package.adapter = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "socialsched_mynet", package)
    monkeypatch.setitem(sys.modules, "socialsched_mynet.adapter", module)
    exec(compile(python_block("class MyNetAdapter(Adapter)"), "plugins.md", "exec"), vars(module))

    class Plugin:
        @hookimpl
        def register_adapters(self, register):
            register(module.MyNetAdapter)

    name = plugins.register(Plugin(), name="guide-mynet")
    yield module.MyNetAdapter
    plugins.unregister(name=name)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The guide's calendar in project/, its image in project/img/, and the working
    folder elsewhere, as a user runs it."""
    folder = tmp_path / "project"
    (folder / "img").mkdir(parents=True)
    (folder / "calendar.toml").write_text(guide_calendar(), encoding="utf-8")
    [media_path] = re.findall(r'path = "([^"]+)"', guide_calendar())
    (folder / media_path).write_bytes(sample_image(800, 600, format="JPEG").read())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return folder


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_the_guide_links_the_calendar_reference_and_the_built_in_adapter_pages():
    text = GUIDE.read_text(encoding="utf-8")
    assert "](reference/calendar.md)" in text
    for page in ("built-in/console.md", "built-in/jsonl.md", "built-in/webhook.md"):
        assert f"]({page})" in text


def test_the_guides_calendar_lints_with_the_guides_adapter(project, guide_adapter):
    result = invoke(
        "lint", "../project/calendar.toml", "--start", "2027-03-01", "--end", "2027-03-01"
    )
    assert result.exit_code == 0, result.output
    assert "error" not in result.output
    assert "alt" not in result.output  # no warning about media without alt text


def test_the_guides_calendar_plans_a_thread_with_the_image_and_its_alt_text_per_segment(
    project, guide_adapter
):
    result = invoke(
        "plan", "../project/calendar.toml", "--start", "2027-03-01", "--end", "2027-03-01",
        "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    deliveries = {d["segment"]: d for d in json.loads(result.output)}
    calendar = __import__("tomllib").loads(guide_calendar())
    segments = {s["name"]: s for s in calendar["segment"]}
    [post] = calendar["post"]
    assert set(deliveries) == set(segments) == set(calendar["channel"][0]["audiences"])
    hour, minute = map(int, post["at"].split(":"))
    alts = post["media"][0]["alt"]
    for name, delivery in deliveries.items():
        zone = zoneinfo.ZoneInfo(segments[name]["timezone"])
        local = datetime(2027, 3, 1, hour, minute, tzinfo=zone)
        assert delivery["utc"] == local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # [channel.audiences] keys are segment names.
        kind, _, audience_id = calendar["channel"][0]["audiences"][name].partition(":")
        assert delivery["audience"] == {"kind": kind, "id": audience_id}
        # The text is over the adapter's 280 characters, so it goes out as a thread.
        language = segments[name]["locale"].split("-")[0]
        text = " ".join(post["text"].get(language, post["text"]["default"]).split())
        assert len(text) > guide_adapter.capabilities.max_length
        parts = delivery["parts"]
        assert len(parts) == 2
        assert all(len(part) <= guide_adapter.capabilities.max_length for part in parts)
        assert [part.rsplit(" ", 1)[1] for part in parts] == ["1/2", "2/2"]
        [media] = delivery["media"]
        assert media["alt"] == alts.get(language, alts["default"])
        assert media["mime_type"] in guide_adapter.capabilities.images.types


def test_without_the_plugin_the_error_is_the_one_the_guide_quotes(project):
    guide = " ".join(GUIDE.read_text(encoding="utf-8").split())
    quoted = re.search(
        r"`(calendar\.toml:\d+: error: channel 'mynet': unknown adapter 'mynet')", guide
    )
    assert quoted
    result = invoke(
        "lint", "../project/calendar.toml", "--start", "2027-03-01", "--end", "2027-03-01"
    )
    assert result.exit_code == 1
    assert f"../project/{quoted[1]} (installed: " in result.output


def test_publish_now_publishes_the_guides_delivery_as_a_thread_with_its_image(
    project, guide_adapter, monkeypatch
):
    """ "Make a delivery due now": schedule, approve, publish-now ID, as the guide shows,
    against the guide's fake MyNet server."""
    contract = types.ModuleType("test_mynet_contract")
    exec(
        compile(python_block("class FakeMyNet(LocalServer)"), "plugins.md", "exec"), vars(contract)
    )
    shown = [
        args
        for block in blocks("bash")
        if "publish-now" in block
        for args in socialsched_commands(block)
    ]
    assert [resolve(args) for args in shown][:3] == [
        ["schedule"],
        ["channels", "approve"],
        ["publish-now"],
    ]
    monkeypatch.setenv("SOCIALSCHED_SECRET_MYNET_TOKEN", "a-token")
    with contract.FakeMyNet() as server:
        calendar = project / "calendar.toml"
        calendar.write_text(
            calendar.read_text().replace("https://api.mynet.example", server.url), encoding="utf-8"
        )
        db = str(project.parent / "try.db")
        steps = [
            ["schedule", "../project/calendar.toml", "--db", db,
             "--start", "2027-03-01", "--end", "2027-03-01"],
            ["channels", "approve", "mynet", "--db", db],
        ]  # fmt: skip
        for step in steps:
            result = invoke(*step)
            assert result.exit_code == 0, result.output
        planned = invoke(
            "plan", "../project/calendar.toml", "--start", "2027-03-01", "--end", "2027-03-01",
            "--format", "jsonl", "--segment", "fr",
        )  # fmt: skip
        delivery_id = json.loads(planned.output.splitlines()[0])["id"]
        result = invoke("publish-now", delivery_id, "--db", db)
        assert result.exit_code == 0, result.output
        assert f"{delivery_id} published" in result.output
        assert server.reply_chain(delivery_id) == [delivery_id, f"{delivery_id}#2"]
        [arrived] = server.attachments(delivery_id)
        assert arrived.alt == "Le menu de printemps sur une ardoise"


def test_a_network_with_no_audiences_refuses_one_as_the_guide_says(tmp_path, monkeypatch):
    namespace: dict[str, object] = {}
    exec(compile(python_block("class MyFeedAdapter(Adapter)"), "plugins.md", "exec"), namespace)
    feed = namespace["MyFeedAdapter"]
    assert feed.capabilities.audiences == ()

    class Plugin:
        @hookimpl
        def register_adapters(self, register):
            register(feed)

    name = plugins.register(Plugin(), name="guide-myfeed")
    try:
        (tmp_path / "calendar.toml").write_text(
            guide_calendar().replace('adapter = "mynet"', 'adapter = "myfeed"').split("[[post]]")[0]
            + '[[post]]\nid = "hello"\ntext = "Hello"\ndates = ["2027-03-01"]\nat = "10:00"\n',
            encoding="utf-8",
        )
        monkeypatch.chdir(tmp_path)
        result = invoke("lint", "calendar.toml", "--start", "2027-03-01", "--end", "2027-03-01")
        guide = " ".join(GUIDE.read_text(encoding="utf-8").split())
        quoted = re.search(r"`(myfeed cannot target a 'list' audience \(supports: none\))`", guide)
        assert quoted and result.exit_code == 1
        assert quoted[1] in result.output
        # Without [channel.audiences] the same channel reaches every segment.
        text = (tmp_path / "calendar.toml").read_text()
        without = re.sub(r"(?ms)^\[channel\.audiences\].*?(?=^\[\[post\]\])", "", text)
        assert "list:" not in without
        (tmp_path / "calendar.toml").write_text(without, encoding="utf-8")
        result = invoke("lint", "calendar.toml", "--start", "2027-03-01", "--end", "2027-03-01")
        assert result.exit_code == 0, result.output
    finally:
        plugins.unregister(name=name)


def problems_with(limits: MediaLimits, width: int, height: int, size: int) -> list[str]:
    """What an adapter declaring `limits` for images says of one such image."""

    class Limited(Adapter):
        name = "limited"
        capabilities = Capabilities(images=limits)

    image = attrs.evolve(sample_image(), width=width, height=height, size=size)
    return Limited(Channel(name="limited", adapter="limited"), environ={}).media_problems((image,))


@pytest.mark.parametrize(
    ("width", "height", "too_big"),
    [(2000, 1500, False), (1500, 2000, False), (2001, 100, True), (100, 2001, True)],
)
def test_max_side_bounds_the_longer_side(width, height, too_big):
    problems = problems_with(MediaLimits(max_count=1, max_side=2000), width, height, 1)
    expected = f"card.png: {width}x{height} pixels; limited takes at most 2000 pixels a side"
    assert problems == ([expected] if too_big else [])


@pytest.mark.parametrize(
    ("width", "height", "too_big"), [(3840, 2160, False), (2160, 3840, False), (3841, 2160, True)]
)
def test_max_pixels_bounds_width_times_height(width, height, too_big):
    limit = 3840 * 2160
    problems = problems_with(MediaLimits(max_count=1, max_pixels=limit), width, height, 1)
    expected = f"card.png: {width}x{height} pixels; limited takes at most {limit} pixels"
    assert problems == ([expected] if too_big else [])
    guide = " ".join(GUIDE.read_text(encoding="utf-8").split())
    assert f"`{limit:_}` for 3840 × 2160" in guide


def test_max_bytes_is_plain_bytes():
    limits = MediaLimits(max_count=1, max_bytes=5_000_000)
    assert problems_with(limits, 10, 10, 5_000_000) == []
    assert problems_with(limits, 10, 10, 5_000_001) == [
        "card.png: 5000001 bytes; limited takes at most 5000000 bytes per image"
    ]
    guide = " ".join(GUIDE.read_text(encoding="utf-8").split())
    assert f"`5 * 1024 * 1024` ({5 * 1024 * 1024:,})" in guide


def test_message_audience_is_none_for_a_channel_without_audiences():
    message = Message(
        delivery_id="d",
        post="p",
        segment="fr",
        channel="c",
        locale="fr-FR",
        text="t",
        utc=datetime(2027, 3, 1, tzinfo=UTC),
        local=datetime(2027, 3, 1, tzinfo=UTC),
    )
    assert message.audience is None
    assert Adapter(Channel(name="c", adapter="x")).validate(message) == []
    with_audience = attrs.evolve(message, audience=Audience("list", "clients-fr"))
    assert Adapter(Channel(name="c", adapter="x")).validate(with_audience) != []
