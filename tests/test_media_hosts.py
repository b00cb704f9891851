"""Media hosts: the built-in folder host, served by a real local web server, and a
host kind contributed by a plugin."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from socialsched import hookspecs, plugins
from socialsched.adapters import Adapter, Capabilities, Message
from socialsched.adapters.plugins import media_host
from socialsched.calendar.model import Channel
from socialsched.media.hosts import FolderMediaHost, MediaHostError, hosted
from socialsched.media.model import Media, MediaLimits
from socialsched.testing import sample_image, serve_folder


@pytest.fixture
def web_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder and the base URL a real HTTP server on 127.0.0.1 serves it at."""
    folder = tmp_path / "www" / "media"
    folder.mkdir(parents=True)
    with serve_folder(folder) as base_url:
        yield folder, base_url + "/"


def test_folder_host_serves_the_bytes_at_a_public_url_then_removes_them(web_folder):
    folder, base_url = web_folder
    image = sample_image()
    host = media_host({"folder": str(folder), "base_url": base_url})

    url = host.put(image)

    assert url == f"{base_url.rstrip('/')}/{image.digest}.png"
    served = httpx.get(url)
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == image.digest
    assert served.content == image.read()
    host.remove(url)
    assert httpx.get(url).status_code == 404
    assert list(folder.iterdir()) == []


def test_hosted_removes_every_file_even_when_publishing_fails(web_folder):
    folder, base_url = web_folder
    host = FolderMediaHost(folder, base_url)
    images = [sample_image(10, 10), sample_image(20, 10)]
    seen: list[str] = []
    with pytest.raises(RuntimeError), hosted(host, images) as urls:
        seen = urls
        assert all(httpx.get(url).status_code == 200 for url in urls)
        raise RuntimeError("the network said no")
    assert len(seen) == 2
    assert all(httpx.get(url).status_code == 404 for url in seen)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (None, "set settings.media_host"),
        ({"folder": "/tmp/x"}, "needs base_url"),
        ({"folder": "/tmp/x", "base_url": "ftp://host/"}, "must start with https://"),
        ({"folder": "/tmp/x", "base_url": "https://h/", "bucket": "b"}, "unknown media_host key"),
        ({"kind": "s4", "folder": "/tmp/x"}, "unknown media_host kind 's4'"),
    ],
)
def test_bad_media_host_settings_say_what_is_wrong(settings, expected):
    with pytest.raises(MediaHostError, match=expected):
        media_host(settings)


class _Bucket:
    """A media host kind a plugin contributes: keeps files in a dict."""

    files: dict[str, bytes] = {}  # noqa: RUF012

    def __init__(self, options: dict[str, Any]) -> None:
        self.prefix = options["prefix"]

    def put(self, media: Media) -> str:
        self.files[media.digest] = media.read()
        return f"{self.prefix}{media.digest}"

    def remove(self, url: str) -> None:
        self.files.pop(url.removeprefix(self.prefix), None)


class _BucketPlugin:
    @hookspecs.hookimpl
    def register_media_hosts(self, register: Any) -> None:
        register("bucket", _Bucket)


def test_a_plugin_provides_another_kind_of_host():
    name = plugins.register(_BucketPlugin())
    try:
        host = media_host({"kind": "bucket", "prefix": "https://cdn.example/"})
        image = sample_image()
        with hosted(host, [image]) as urls:
            assert urls == [f"https://cdn.example/{image.digest}"]
            assert _Bucket.files[image.digest] == image.read()
        assert image.digest not in _Bucket.files
    finally:
        plugins.unregister(name=name)


class _ByUrl(Adapter):
    name = "by-url-test"
    capabilities = Capabilities(images=MediaLimits(max_count=4))
    media_by_url = True


def _message(attachments: tuple[Media, ...]) -> Message:
    now = datetime(2027, 1, 4, 12, tzinfo=UTC)
    return Message(
        delivery_id="",
        post="launch",
        segment="fr",
        channel="insta",
        locale="fr-FR",
        text="Bonjour",
        utc=now,
        local=now,
        attachments=attachments,
    )


def test_a_network_that_fetches_by_url_needs_a_media_host_at_plan_time(tmp_path):
    without = _ByUrl(Channel(name="insta", adapter="by-url-test"))
    problems = without.validate(_message((sample_image(),)))
    assert any("channel 'insta'" in p and "media_host" in p for p in problems)
    assert without.validate(_message(())) == []

    configured = _ByUrl(
        Channel(
            name="insta",
            adapter="by-url-test",
            settings={"media_host": {"folder": str(tmp_path), "base_url": "https://ex.com/m"}},
        )
    )
    assert configured.validate(_message((sample_image(),))) == []


DOC = Path(__file__).parents[1] / "docs" / "media-hosts.md"


def _blocks(language: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return [
        block.split("\n", 1)[1] for block in text.split("```")[1::2] if block.startswith(language)
    ]


def test_the_docs_folder_host_example_is_a_valid_channel():
    import tomllib

    channel = tomllib.loads(_blocks("toml")[0])["channel"][0]
    host = media_host(channel["settings"]["media_host"])
    assert isinstance(host, FolderMediaHost)
    assert host.base_url == "https://media.example.com/socialsched"


def test_the_docs_plugin_example_registers_a_working_host():
    import tomllib

    uploaded: dict[str, bytes] = {}
    namespace: dict[str, Any] = {
        "upload_to_bucket": lambda bucket, key, data, mime: uploaded.__setitem__(key, data),
        "delete_from_bucket": lambda bucket, key: uploaded.pop(key),
    }
    exec(compile(_blocks("python")[0], str(DOC), "exec"), namespace)
    module = type("DocPlugin", (), {"register_media_hosts": namespace["register_media_hosts"]})
    name = plugins.register(module)
    try:
        settings = tomllib.loads(_blocks("toml")[1])["channel"]["settings"]["media_host"]
        image = sample_image()
        with hosted(media_host(settings), [image]) as urls:
            assert urls == [f"https://brand-media.s3.eu-west-3.amazonaws.com/{image.digest}"]
            assert uploaded == {image.digest: image.read()}
        assert uploaded == {}
    finally:
        plugins.unregister(name=name)
