"""The adapter conformance kit: pytest checks every socialsched adapter must pass.

A plugin author subclasses `AdapterContract` in a test module, names the adapter
class, and provides three fixtures: `remote` (a fake or local server standing in for
the network, following the `Remote` protocol), `channel` (a `Channel` pointing at it)
and `environ` (the environment holding the channel's secrets)::

    from socialsched.calendar.model import Channel
    from socialsched.testing import AdapterContract, LocalServer, grant

    class TestMyAdapter(AdapterContract):
        adapter_class = MyAdapter

        @pytest.fixture
        def remote(self):
            with MyFakeNetwork() as fake:
                yield fake

        @pytest.fixture
        def channel(self, remote):
            return Channel(name="main", adapter="mynet",
                           settings={"url": remote.url}, secrets={"token": "MYNET_TOKEN"})

        @pytest.fixture
        def environ(self):
            return grant(MYNET_TOKEN="s3cr3t-value")  # SOCIALSCHED_SECRET_MYNET_TOKEN

Every `test_*` method below then runs against the adapter. Messages the kit
publishes have the text `"contract message <idempotency key>"`, so a remote that
only sees text can still tell which key a post belongs to (see `key_in_text`).

Cases for what an adapter declares only run when it declares it, and skip otherwise:
media (`Capabilities.images`, `videos`), threads (`Capabilities.threads`), the
credentials check (`Adapter.verify`), the in-doubt lookup (`Adapter.find`) and
engagement counts (`Capabilities.engagement`; see
`socialsched.adapters.testing_engagement`). Two optional methods of the remote let
the kit check what arrived (see `Remote`): `attachments(key)` and `reply_chain(key)`.

`LocalServer` is a real HTTP server on 127.0.0.1 (a thread, any free port) with
scripted responses, for adapters that talk HTTP; `serve_folder` publishes a folder
the way a channel's media host is served, for networks that fetch media by URL.
"""

from socialsched.adapters.testing_contract import AdapterContract
from socialsched.adapters.testing_samples import (
    TEXT_PREFIX,
    Arrived,
    Remote,
    grant,
    key_in_text,
    sample_image,
    sample_video,
)
from socialsched.adapters.testing_server import LocalServer, Reply, Request, serve_folder

__all__ = [
    "TEXT_PREFIX",
    "AdapterContract",
    "Arrived",
    "LocalServer",
    "Remote",
    "Reply",
    "Request",
    "grant",
    "key_in_text",
    "sample_image",
    "sample_video",
    "serve_folder",
]
