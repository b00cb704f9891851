"""The threads adapter passes socialsched's conformance kit, media and reply chains
included, against a local Threads API stand-in that fetches each file from a real web
server publishing the media folder."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from socialsched_threads import ThreadsAdapter
from threads_api import USER, ThreadsApi

from socialsched.adapters import Adapter
from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, serve_folder


class TestThreadsContract(AdapterContract):
    adapter_class = ThreadsAdapter

    def make_adapter(self, channel: Channel, environ: Mapping[str, str], remote: Any) -> Adapter:
        return ThreadsAdapter(channel, environ=environ, sleep=lambda seconds: None)

    @pytest.fixture
    def remote(self) -> Iterator[ThreadsApi]:
        with ThreadsApi(processing=1) as server:
            yield server

    @pytest.fixture
    def channel(self, remote: ThreadsApi, tmp_path: Path) -> Iterator[Channel]:
        with serve_folder(tmp_path) as base_url:
            yield Channel(
                name="threads",
                adapter="threads",
                secrets={"access_token": "THREADS_ACCESS_TOKEN"},
                settings={
                    "user_id": USER,
                    "api_url": remote.url,
                    "media_host": {"folder": str(tmp_path), "base_url": base_url},
                },
            )

    @pytest.fixture
    def environ(self) -> dict[str, str]:
        return {"SOCIALSCHED_SECRET_THREADS_ACCESS_TOKEN": "THQWcontracttoken1234567890"}
