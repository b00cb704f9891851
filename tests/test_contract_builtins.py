"""The built-in adapters pass the conformance kit they ship for plugin authors."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest

from socialsched.adapters import ConsoleAdapter, JsonlAdapter
from socialsched.adapters.webhook import IDEMPOTENCY_HEADER, WebhookAdapter
from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, Arrived, LocalServer, Reply, key_in_text


class FlakyStream(io.StringIO):
    """A console that can fail its next write like a broken pipe or a closed file."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: str | None = None

    def write(self, text: str) -> int:
        failure, self.failure = self.failure, None
        if failure == "transient":
            raise BrokenPipeError(32, "Broken pipe")
        if failure == "permanent":
            raise ValueError("I/O operation on closed file.")
        return super().write(text)

    def published(self) -> list[str]:
        return [k for k in map(key_in_text, self.posts()) if k]

    def posts(self) -> list[str]:
        return [line for line in self.getvalue().splitlines() if not line.startswith(" ")]

    def fail_next(self, kind: str) -> bool:
        self.failure = kind
        return True

    def attachments(self, key: str) -> list[Arrived]:
        """The attachment lines printed under the post of `key`."""
        lines = self.getvalue().splitlines()
        [start] = [n for n, line in enumerate(lines) if key_in_text(line) == key]
        arrived = []
        for line in lines[start + 1 :]:
            match = ATTACHMENT_LINE.match(line)
            if match is None:
                break
            arrived.append(Arrived(match["digest"], json.loads(match["alt"])))
        return arrived

    def reply_chain(self, key: str) -> list[str]:
        """Keys of the parts printed as replying to `key`, to that reply, and so on
        (the console's receipts are the keys)."""
        chain = [key]
        while replies := [post for post in self.posts() if f", replying to {chain[-1]})" in post]:
            [reply] = replies
            chain.append(key_in_text(reply) or "")
        return chain


ATTACHMENT_LINE = re.compile(
    r"^  attachment \d+/\d+: \S+ \S+ [\d,]+ bytes( \d+x\d+)? sha256:(?P<digest>[0-9a-f]{64})"
    r" alt: (?P<alt>.*)$"
)


class TestConsoleContract(AdapterContract):
    adapter_class = ConsoleAdapter

    def make_adapter(self, channel, environ, remote):
        return ConsoleAdapter(channel, environ=environ, stream=remote)

    @pytest.fixture
    def remote(self):
        return FlakyStream()

    @pytest.fixture
    def channel(self, remote):
        return Channel(name="screen", adapter="console", settings={"max_length": 40})


class JsonlFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def published(self) -> list[str]:
        if not self.path.is_file():
            return []
        records = [json.loads(line) for line in self.path.read_text().splitlines()]
        deleted = {r["deleted"] for r in records if "deleted" in r}
        return [
            r["idempotency_key"]
            for r in records
            if "idempotency_key" in r and r["idempotency_key"] not in deleted
        ]

    def _records(self) -> list[dict]:
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    def attachments(self, key: str) -> list[Arrived]:
        """What the file recorded of the media (it keeps no bytes): digest and alt."""
        (record,) = [r for r in self._records() if r.get("idempotency_key") == key]
        return [Arrived(item["digest"], item["alt"]) for item in record["attachments"]]

    def reply_chain(self, key: str) -> list[str]:
        # The jsonl adapter's remote id is the idempotency key.
        replies = {
            r["reply_to"]: r["idempotency_key"] for r in self._records() if r.get("reply_to")
        }
        chain = [key]
        while chain[-1] in replies:
            chain.append(replies[chain[-1]])
        return chain

    def fail_next(self, kind: str) -> bool:
        if kind != "transient":
            return False  # a local file has no way to refuse a message for good
        self.path.unlink(missing_ok=True)
        self.path.mkdir(parents=True)  # writing now fails with IsADirectoryError
        return True


class TestJsonlContract(AdapterContract):
    adapter_class = JsonlAdapter

    @pytest.fixture
    def remote(self, tmp_path):
        return JsonlFile(tmp_path / "audit" / "out.jsonl")

    @pytest.fixture
    def channel(self, remote):
        return Channel(name="audit", adapter="jsonl", settings={"path": str(remote.path)})


class WebhookServer(LocalServer):
    def published(self) -> list[str]:
        return [
            r.header(IDEMPOTENCY_HEADER) or ""
            for r in self.requests
            if 200 <= r.status < 300 and r.json()["type"] == "message"
        ]

    def garble_next_reply(self) -> bool:
        self.reply(Reply(200, b"\xff accepted, but not JSON"))
        return True

    def attachments(self, key: str) -> list[Arrived]:
        [body] = [
            r.json()
            for r in self.requests
            if r.header(IDEMPOTENCY_HEADER) == key and 200 <= r.status < 300
        ]
        return [Arrived.of(base64.b64decode(a["data"]), a["alt"]) for a in body["attachments"]]

    def fail_next(self, kind: str) -> bool:
        self.reply(Reply(503, headers={"Retry-After": "2"}) if kind == "transient" else Reply(401))
        return True


class TestWebhookContract(AdapterContract):
    adapter_class = WebhookAdapter

    @pytest.fixture
    def remote(self):
        with WebhookServer() as server:
            yield server

    @pytest.fixture
    def channel(self, remote):
        return Channel(
            name="hook",
            adapter="webhook",
            settings={"url": f"{remote.url}/hook", "timeout": 5},
            secrets={"signing_key": "HOOK_KEY"},
        )

    @pytest.fixture
    def environ(self):
        # A Standard Webhooks key: whsec_ and base64 ("hook-signing-secret-9000").
        return {"SOCIALSCHED_SECRET_HOOK_KEY": "whsec_aG9vay1zaWduaW5nLXNlY3JldC05MDAw"}
