"""Installing plugins/socialsched-example makes its adapter usable from a calendar file
with no other change; uninstalling it gives a clear unknown-adapter error at load time.

The package is really built and installed by pip, into a throwaway virtual
environment that sees this environment's packages (socialsched and its
dependencies) through a .pth file, so nothing here is changed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import site
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from socialsched.testing import LocalServer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "plugins" / "socialsched-example"

CALENDAR = """
[calendar]
name = "chat-demo"

[[segment]]
name = "fr-FR"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"

[[segment]]
name = "fr-DZ"
locale = "fr-DZ"
timezone = "Africa/Algiers"
country = "DZ"
vars = {{ banned_words = ["vin"] }}

[[channel]]
name = "chat"
adapter = "example-chat"
settings = {{ base_url = "{url}" }}
secrets = {{ token = "EXAMPLE_CHAT_TOKEN" }}

[channel.audiences]
"fr-FR" = "group:clients-fr"
"fr-DZ" = "group:clients-dz"

[[post]]
id = "hello"
text = "Bonjour {{{{ 'nouvelle saison' | hashtag }}}}"
dates = ["2027-05-03"]
at = "10:00"

[[post]]
id = "wine"
text = "Un verre de vin ?"
segments = ["fr-DZ"]
dates = ["2027-05-04"]
at = "10:00"
"""

PUBLISH = """
import sys
import socialsched
from socialsched.adapters import Message
from socialsched.adapters.registry import adapter_class

calendar = socialsched.load(sys.argv[1])
channel = calendar.channel("chat")
adapter = adapter_class(channel.adapter)(channel)
for delivery in socialsched.plan(calendar, "2027-05-03", "2027-05-03"):
    message = Message.for_delivery(delivery, calendar.segment(delivery.segment), channel)
    print(adapter.publish(message, delivery.id).remote_id)
"""


def _plugin_files() -> set[str]:
    """Top-level site-packages entries of the installed socialsched plugin distributions."""
    names: set[str] = set()
    for dist in importlib.metadata.distributions():
        if dist.metadata["Name"] == "socialsched":
            continue
        if any(ep.group == "socialsched" for ep in dist.entry_points):
            names.update(Path(str(file)).parts[0] for file in dist.files or ())
    return names


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    target_site = Path(
        sysconfig.get_path("purelib", vars={"base": str(home), "platbase": str(home)})
    )
    # The new environment sees this one's packages (addsitedir also runs its .pth files,
    # e.g. the editable socialsched) except the socialsched plugins installed here, so
    # that installing and uninstalling the example changes what it sees.
    view = tmp_path_factory.mktemp("parent-site")
    hidden = _plugin_files()
    for parent in site.getsitepackages():
        for entry in Path(parent).iterdir():
            if entry.name not in hidden and not (view / entry.name).exists():
                (view / entry.name).symlink_to(entry)
    lines = [f"import site; site.addsitedir({str(view)!r})"]
    (target_site / "_parent_env.pth").write_text("\n".join(lines) + "\n")
    return home


def pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), *args],
        capture_output=True,
        text=True,
        check=True,
    )


def socialsched(venv: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "socialsched", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )


@pytest.mark.slow
def test_install_use_and_uninstall_the_example_plugin(venv, tmp_path):
    assert importlib.util.find_spec("hatchling"), (
        "building the example needs hatchling: pip install -e '.[test]'"
    )
    pip(venv, "install", "--no-deps", "--no-build-isolation", "--no-index", str(EXAMPLE))

    listed = socialsched(venv, "adapters", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["example-chat"]["package"] == "socialsched-example 0.1.0"
    assert rows["example-chat"]["capabilities"]["audiences"] == ["group", "recipient"]
    assert rows["example-chat"]["capabilities"]["max_length"] == 500

    with LocalServer() as chat:
        calendar_file = tmp_path / "calendar.toml"
        calendar_file.write_text(CALENDAR.format(url=chat.url))

        # plan uses the plugin's adapter, filter and content policy from the file alone.
        planned = socialsched(
            venv, "plan", str(calendar_file), "--start", "2027-05-03", "--end", "2027-05-03",
            "--format", "json",
        )  # fmt: skip
        assert planned.returncode == 0, planned.stderr
        texts = {d["segment"]: d["text"] for d in json.loads(planned.stdout)}
        assert texts == {"fr-FR": "Bonjour #NouvelleSaison", "fr-DZ": "Bonjour #NouvelleSaison"}
        linted = socialsched(
            venv, "lint", str(calendar_file), "--start", "2027-05-01", "--end", "2027-05-05"
        )
        assert linted.returncode == 1
        assert "contains 'vin', banned in fr-DZ" in linted.stderr

        script = tmp_path / "publish.py"
        script.write_text(textwrap.dedent(PUBLISH))
        published = subprocess.run(
            [str(venv / "bin" / "python"), str(script), str(calendar_file)],
            capture_output=True,
            text=True,
            env={**os.environ, "SOCIALSCHED_SECRET_EXAMPLE_CHAT_TOKEN": "demo-token"},
        )
        assert published.returncode == 0, published.stderr
        assert sorted(r.path for r in chat.requests) == [
            "/chats/clients-dz/messages",
            "/chats/clients-fr/messages",
        ]
        assert {r.header("Authorization") for r in chat.requests} == {"Bearer demo-token"}

    kit = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(EXAMPLE / "tests")],
        capture_output=True, text=True, cwd=EXAMPLE,
    )  # fmt: skip
    assert kit.returncode == 0, kit.stdout + kit.stderr

    pip(venv, "uninstall", "--yes", "socialsched-example")
    after = socialsched(venv, "plan", str(calendar_file), "--start", "2027-05-03")
    assert after.returncode == 1
    lines = calendar_file.read_text().splitlines()
    adapter_line = lines.index('adapter = "example-chat"') + 1
    assert (
        f"{calendar_file}:{adapter_line}: error: channel 'chat': unknown adapter 'example-chat' "
        "(installed: console, jsonl, webhook)" in after.stderr
    )
    assert "Traceback" not in after.stderr
