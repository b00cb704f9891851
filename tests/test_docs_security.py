"""docs/security.md and SECURITY.md say what the code does: the receiver example
verifies the webhook adapter's real requests with the official library, the key
recipes give keys the adapter takes, and the names and numbers are the code's."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_webhook_signing import message

from socialsched.adapters.webhook import WebhookAdapter
from socialsched.adapters.webhook_signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOLERANCE,
    key_bytes,
    sign,
)
from socialsched.calendar.model import Channel
from socialsched.media import image_safety
from socialsched.planning import template_limits, template_work
from socialsched.testing import LocalServer, Reply
from socialsched.trust import grants, paths, safe_fetch

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "security.md"
TEXT = PAGE.read_text(encoding="utf-8")


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", TEXT, re.S)


def section(title: str) -> str:
    parts = re.split(r"^## (.*)$", TEXT, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))[title]


def test_the_page_is_in_the_site_and_security_md_points_to_it():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert {"Security": "security.md"} in config["nav"]
    policy = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    assert "(docs/security.md)" in policy
    for name in ("SOCIALSCHED_SECRET_", "CREDENTIALS_DIRECTORY", "channels approve"):
        assert name in policy


def test_the_names_and_numbers_are_the_codes():
    assert grants.SECRET_PREFIX + "MASTO_TOKEN" in TEXT
    assert "$" + grants.CREDENTIALS_DIRECTORY in TEXT
    assert f"{grants.MAX_SECRET_BYTES // 1024} KiB" in TEXT
    assert paths.ALLOWED_PATHS_VARIABLE in TEXT
    assert f"{paths.MAX_FILE_BYTES // 1024**3} GiB" in TEXT
    assert safe_fetch.ALLOWED_NETWORKS_VARIABLE in TEXT
    assert safe_fetch.DEADLINE_VARIABLE in TEXT
    assert f"at most {safe_fetch.MAX_REDIRECTS})" in TEXT
    assert f"({safe_fetch.FETCH_DEADLINE:g} s;" in TEXT
    assert f"{image_safety.MAX_PIXELS:,} pixels" in TEXT
    assert image_safety.MAX_ANIMATION_PIXELS == 4 * image_safety.MAX_PIXELS
    assert f"at most {template_limits.MAX_TEMPLATE_TEXT:,} characters" in TEXT
    assert f"{template_work.MAX_TEMPLATE_STEPS:,} steps" in TEXT
    assert f"{template_work.MAX_TEMPLATE_SECONDS:g} seconds" in TEXT
    assert TOLERANCE == 5 * 60 and "5 minutes" in section("Webhooks")
    for header in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER):
        assert f"| `{header}` |" in section("Webhooks")


def test_the_old_style_variable_message_is_the_one_shown():
    message = grants.not_granted_message("MASTO_TOKEN", {"MASTO_TOKEN": "x" * 20})
    assert message.replace("\n", " ") in " ".join(TEXT.split())


@pytest.fixture
def receiver_example(monkeypatch):
    """The page's receiver, run as written, with a key made the way the page says."""
    [make_key] = re.findall(r'`(python -c "import base64, os;.*?")`', TEXT)
    key = subprocess.run(
        ["bash", "-c", make_key], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert len(key_bytes(key)) == 32
    monkeypatch.setenv("HOOK_SIGNING_KEY", key)
    [code] = python_blocks()
    namespace: dict = {}
    exec(compile(code, str(PAGE), "exec"), namespace)
    return key, namespace["receive"]


def test_the_receiver_example_takes_the_adapters_posts_once_and_answers_pings(
    receiver_example, capsys
):
    key, receive = receiver_example
    with LocalServer() as server:
        server.reply(Reply(200), Reply(200), Reply(204))
        channel = Channel(
            name="hook",
            adapter="webhook",
            settings={"url": f"{server.url}/in"},
            secrets={"signing_key": "HOOK_KEY"},
        )
        adapter = WebhookAdapter(channel, environ={"SOCIALSCHED_SECRET_HOOK_KEY": key})
        adapter.verify()
        adapter.publish(message(), "key-1")
        ping, post = server.requests
    assert receive(ping.body, dict(ping.headers)) == 204
    assert receive(post.body, dict(post.headers)) == 200
    assert receive(post.body, dict(post.headers)) == 200  # a retry: taken once
    assert capsys.readouterr().out == "Hola ✓\n"
    assert receive(post.body + b" ", dict(post.headers)) == 401
    stale = sign(key, "old", post.body, timestamp=int(ping.header(TIMESTAMP_HEADER)) - 301)
    assert receive(post.body, stale) == 401


@pytest.mark.skipif(shutil.which("base64") is None, reason="no base64 command")
def test_the_conversion_of_an_old_key_keeps_its_bytes():
    old = "an-old-raw-key-0123456789"
    [recipe] = re.findall(r'`(printf %s "\$K" \| base64 -w0)`', TEXT)
    encoded = subprocess.run(
        ["bash", "-c", recipe],
        env={"K": old, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert encoded == base64.b64encode(old.encode()).decode()
    assert key_bytes("whsec_" + encoded) == old.encode()
