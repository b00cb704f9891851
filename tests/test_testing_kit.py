"""The conformance kit fails adapters that break the contract and passes one that keeps it."""

from __future__ import annotations

import textwrap

import pytest

REMOTE = """
    import logging

    import pytest

    from socialsched.adapters import (
        Adapter, Capabilities, PermanentError, Receipt, TransientError,
    )
    from socialsched.model import Channel
    from socialsched.testing import AdapterContract, key_in_text


    class Network:
        def __init__(self):
            self.posts = []
            self.failure = None

        def published(self):
            return list(self.posts)

        def fail_next(self, kind):
            self.failure = kind
            return True


    NETWORK = None
"""

GOOD = """
    class GoodAdapter(Adapter):
        name = "good"
        capabilities = Capabilities(max_length=30, audiences=("list",))

        def __init__(self, channel, environ=None, network=None):
            super().__init__(channel, environ)
            self.network = network
            self.receipts = {}

        def publish(self, message, idempotency_key):
            token = self.secret("token")
            assert token
            if idempotency_key in self.receipts:
                return self.receipts[idempotency_key]
            failure, self.network.failure = self.network.failure, None
            if failure == "transient":
                raise TransientError("rate limited", retry_after=30)
            if failure == "permanent":
                raise PermanentError("rejected")
            self.network.posts.append(key_in_text(message.text))
            receipt = Receipt(remote_id=f"r-{idempotency_key}")
            self.receipts[idempotency_key] = receipt
            return receipt
"""

BAD = """
    class BadAdapter(Adapter):
        name = "Bad Adapter"
        capabilities = Capabilities(max_length=30)

        def __init__(self, channel, environ=None, network=None):
            super().__init__(channel, environ)
            self.network = network

        def __repr__(self):
            return f"<BadAdapter token={self._environ.get('NET_TOKEN')}>"

        def validate(self, message):
            return []  # ignores every limit

        def publish(self, message, idempotency_key):
            token = self._environ[self.channel.secrets["token"]]  # KeyError when unset
            logging.getLogger("bad").info("posting with token %s", token)
            failure, self.network.failure = self.network.failure, None
            if failure:
                raise ConnectionError("network said no")  # neither transient nor permanent
            self.network.posts.append(key_in_text(message.text))  # posts every time
            return Receipt(remote_id=idempotency_key)
"""

CONTRACT = """
    class TestContract(AdapterContract):
        adapter_class = {cls}

        def make_adapter(self, channel, environ, remote):
            return {cls}(channel, environ=environ, network=remote)

        @pytest.fixture
        def remote(self):
            return Network()

        @pytest.fixture
        def channel(self, remote):
            return Channel(name="net", adapter="x", secrets={{"token": "NET_TOKEN"}})

        @pytest.fixture
        def environ(self):
            return {{"NET_TOKEN": "tok-very-secret-1234"}}
"""


def run_contract(pytester: pytest.Pytester, adapter_source: str, cls: str):
    source = textwrap.dedent(REMOTE) + textwrap.dedent(adapter_source)
    source += textwrap.dedent(CONTRACT.format(cls=cls))
    pytester.makepyfile(test_contract=source)
    recorder = pytester.inline_run("-p", "no:cacheprovider")
    passed, skipped, failed = recorder.listoutcomes()
    name = lambda report: report.nodeid.rsplit("::", 1)[1]  # noqa: E731
    return {name(r) for r in passed}, {name(r) for r in skipped}, {name(r) for r in failed}


def test_an_adapter_that_keeps_the_contract_passes(pytester):
    passed, skipped, failed = run_contract(pytester, GOOD, "GoodAdapter")
    assert failed == set()
    assert skipped == {
        "test_declared_idempotency_holds_across_instances",  # not declared idempotent
    }
    assert {
        "test_publish_with_the_same_key_posts_once",
        "test_transient_failure_raises_transient_error",
        "test_permanent_failure_raises_permanent_error",
        "test_repr_never_shows_secrets",
        "test_logs_output_and_errors_never_show_secrets",
        "test_validate_rejects_text_over_max_length",
        "test_validate_rejects_unsupported_audience",
        "test_missing_secret_is_a_permanent_error",
    } <= passed


def test_an_adapter_that_breaks_the_contract_fails_each_broken_rule(pytester):
    passed, _skipped, failed = run_contract(pytester, BAD, "BadAdapter")
    assert failed == {
        "test_has_a_name",
        "test_validate_rejects_text_over_max_length",
        "test_validate_rejects_media_when_unsupported",
        "test_validate_rejects_unsupported_audience",
        "test_publish_with_the_same_key_posts_once",
        "test_transient_failure_raises_transient_error",
        "test_permanent_failure_raises_permanent_error",
        "test_missing_secret_is_a_permanent_error",
        "test_repr_never_shows_secrets",
        "test_logs_output_and_errors_never_show_secrets",
    }
    assert {"test_publish_returns_a_receipt", "test_declares_capabilities"} <= passed


def test_a_network_specific_audience_kind_is_accepted(pytester):
    own_kind = GOOD.replace('audiences=("list",)', 'audiences=("webhook",)')
    passed, _skipped, failed = run_contract(pytester, own_kind, "GoodAdapter")
    assert failed == set()
    assert {"test_declares_capabilities", "test_validate_rejects_unsupported_audience"} <= passed


def test_an_audience_kind_that_is_not_a_lowercase_word_fails(pytester):
    bad_kind = GOOD.replace('audiences=("list",)', 'audiences=("Web Hook",)')
    _passed, _skipped, failed = run_contract(pytester, bad_kind, "GoodAdapter")
    assert "test_declares_capabilities" in failed
