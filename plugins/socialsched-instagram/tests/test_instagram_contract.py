"""The instagram adapter passes socialsched's conformance kit against a local Graph API
stand-in that fetches each file from a real web server publishing the media folder."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from instagram_graph import USER, InstagramGraph
from socialsched_instagram import InstagramAdapter

from socialsched.adapters import Adapter, Message
from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, sample_image, serve_folder


class TestInstagramContract(AdapterContract):
    adapter_class = InstagramAdapter

    def make_adapter(self, channel: Channel, environ: Mapping[str, str], remote: Any) -> Adapter:
        return InstagramAdapter(channel, environ=environ, sleep=lambda seconds: None)

    def make_message(
        self, adapter: Adapter, key: str, text: str | None = None, audience: Any = None
    ) -> Message:
        # Instagram takes no text-only post: the kit's messages carry a JPEG.
        message = super().make_message(adapter, key, text, audience)
        return attrs.evolve(message, attachments=(sample_image(format="JPEG"),))

    @pytest.fixture
    def remote(self) -> Iterator[InstagramGraph]:
        with InstagramGraph(processing=2) as server:
            yield server

    @pytest.fixture
    def channel(self, remote: InstagramGraph, tmp_path: Path) -> Iterator[Channel]:
        with serve_folder(tmp_path) as base_url:
            yield Channel(
                name="instagram",
                adapter="instagram",
                secrets={"access_token": "IG_ACCESS_TOKEN"},
                settings={
                    "user_id": USER,
                    "graph_url": remote.url,
                    "media_host": {"folder": str(tmp_path), "base_url": base_url},
                },
            )

    @pytest.fixture
    def environ(self) -> dict[str, str]:
        return {"SOCIALSCHED_SECRET_IG_ACCESS_TOKEN": "IGQWRcontracttoken1234567890"}
