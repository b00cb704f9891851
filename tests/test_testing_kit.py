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
    from socialsched.calendar.model import Channel
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
            return f"<BadAdapter token={self._environ.get('SOCIALSCHED_SECRET_NET_TOKEN')}>"

        def validate(self, message):
            return []  # ignores every limit

        def publish(self, message, idempotency_key):
            # KeyError when unset
            token = self._environ["SOCIALSCHED_SECRET_" + self.channel.secrets["token"]]
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
            return {{"SOCIALSCHED_SECRET_NET_TOKEN": "tok-very-secret-1234"}}
"""


def run_contract(pytester: pytest.Pytester, adapter_source: str, cls: str, remote: str = REMOTE):
    source = textwrap.dedent(remote) + textwrap.dedent(adapter_source)
    source += textwrap.dedent(CONTRACT.format(cls=cls))
    pytester.makepyfile(test_contract=source)
    recorder = pytester.inline_run("-p", "no:cacheprovider")
    passed, skipped, failed = recorder.listoutcomes()
    name = lambda report: report.nodeid.rsplit("::", 1)[1]  # noqa: E731
    return {name(r) for r in passed}, {name(r) for r in skipped}, {name(r) for r in failed}


def test_an_adapter_that_keeps_the_contract_passes(pytester):
    passed, skipped, failed = run_contract(pytester, GOOD, "GoodAdapter")
    assert failed == set()
    assert "test_declared_idempotency_holds_across_instances" in skipped  # not declared
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


RICH_REMOTE = """
    import pytest

    from socialsched.adapters import (
        Adapter, CannotCheck, Capabilities, CredentialsRejected, PermanentError, Receipt,
    )
    from socialsched.media.model import MediaLimits
    from socialsched.calendar.model import Channel
    from socialsched.testing import AdapterContract, Arrived, key_in_text


    class Network:
        \"\"\"Keeps each post: its key, the media that came with it, what it replies to.\"\"\"

        def __init__(self):
            self.posts = {}  # remote id -> (key, [Arrived], reply-to remote id)
            self.failure = None

        def published(self):
            return [key for key, _media, _reply in self.posts.values()]

        def fail_next(self, kind):
            return False

        def garble_next_reply(self):
            self.failure = "garbled"
            return True

        def attachments(self, key):
            [media] = [media for k, media, _reply in self.posts.values() if k == key]
            return media

        def reply_chain(self, key):
            [current] = [rid for rid, (k, _m, _r) in self.posts.items() if k == key]
            chain = [key]
            while True:
                replies = [rid for rid, (_k, _m, r) in self.posts.items() if r == current]
                if not replies:
                    return chain
                [current] = replies
                chain.append(self.posts[current][0])
"""

RICH = """
    class RichAdapter(Adapter):
        name = "rich"
        capabilities = Capabilities(
            max_length=100,
            audiences=("any",),
            images=MediaLimits(max_count=2, max_bytes=100_000, types=("image/png", "image/jpeg")),
            videos=MediaLimits(max_count=1, max_bytes=1_000_000),
            max_alt_length=50,
            threads=True,
        )
        required_secrets = ("token",)

        def __init__(self, channel, environ=None, network=None):
            super().__init__(channel, environ)
            self.network = network

        def publish(self, message, idempotency_key):
            self.secret("token")
            for remote_id, (key, _media, _reply) in self.network.posts.items():
                if key == idempotency_key:
                    return Receipt(remote_id)
            media = [Arrived.of(m.read(), m.alt) for m in message.attachments]
            reply = message.reply_to.remote_id if message.reply_to else None
            remote_id = f"r{len(self.network.posts) + 1}"
            self.network.posts[remote_id] = (key_in_text(message.text), media, reply)
            garbled, self.network.failure = self.network.failure == "garbled", None
            if garbled:
                return Receipt(f"unread-{idempotency_key}")
            return Receipt(remote_id)

        def verify(self):
            if self.secret("token") != "tok-very-secret-1234":
                raise CredentialsRejected("token refused")
            return "account @rich"

        def find(self, message, idempotency_key):
            self.secret("token")
            for remote_id, (key, _media, _reply) in self.network.posts.items():
                if key == idempotency_key:
                    return Receipt(remote_id)
            return None
"""

RICH_CASES = {
    "test_a_post_accepted_with_an_unreadable_reply_still_returns_a_receipt",
    "test_publishes_a_fitting_image_with_its_alt_text",
    "test_publishes_as_many_images_as_it_declares",
    "test_validate_rejects_more_images_than_max_count",
    "test_validate_rejects_an_image_type_it_does_not_take",
    "test_validate_rejects_an_image_over_max_bytes",
    "test_validate_rejects_alt_text_over_max_alt_length",
    "test_publishes_a_fitting_video",
    "test_validate_rejects_more_videos_than_max_count",
    "test_validate_rejects_images_with_a_video_unless_mixed_media",
    "test_publishes_a_thread_as_a_reply_chain",
    "test_declares_required_secrets_and_settings",
    "test_verify_returns_a_description_or_cannot_check",
    "test_verify_with_a_missing_secret_raises_missing_secret_error",
    "test_find_after_publish_returns_its_receipt",
    "test_find_of_an_unknown_key_returns_none",
}


def run_rich(pytester: pytest.Pytester, *changes: tuple[str, str]):
    adapter = RICH
    for old, new in changes:
        assert old in adapter, old
        adapter = adapter.replace(old, new)
    return run_contract(pytester, adapter, "RichAdapter", remote=RICH_REMOTE)


def test_the_media_thread_verify_and_find_cases_skip_for_an_adapter_declaring_none(pytester):
    _passed, skipped, failed = run_contract(pytester, GOOD, "GoodAdapter")
    assert failed == set()
    assert {
        "test_publishes_a_fitting_image_with_its_alt_text",
        "test_validate_rejects_more_images_than_max_count",
        "test_publishes_a_fitting_video",
        "test_publishes_a_thread_as_a_reply_chain",
        "test_verify_with_a_missing_secret_raises_missing_secret_error",
        "test_find_after_publish_returns_its_receipt",
        "test_find_of_an_unknown_key_returns_none",
    } <= skipped


def test_an_adapter_keeping_the_media_thread_verify_and_find_rules_passes_them(pytester):
    passed, _skipped, failed = run_rich(pytester)
    assert failed == set()
    assert passed >= RICH_CASES


def test_media_that_do_not_arrive_fail(pytester):
    _passed, _skipped, failed = run_rich(
        pytester, ("media = [Arrived.of(m.read(), m.alt)", "media = [Arrived.of(b'x', m.alt)")
    )
    assert failed == {
        "test_publishes_a_fitting_image_with_its_alt_text",
        "test_publishes_as_many_images_as_it_declares",
        "test_publishes_a_fitting_video",
    }


def test_alt_text_that_does_not_arrive_fails(pytester):
    _passed, _skipped, failed = run_rich(
        pytester, ("Arrived.of(m.read(), m.alt)", "Arrived.of(m.read(), 'picture')")
    )
    assert "test_publishes_a_fitting_image_with_its_alt_text" in failed


def test_validation_that_ignores_the_declared_media_limits_fails(pytester):
    ignoring = "        def validate(self, message):\n            return []\n\n"
    _passed, _skipped, failed = run_rich(
        pytester,
        ("        def publish(self, message", ignoring + "        def publish(self, message"),
    )
    assert failed == {
        "test_validate_rejects_text_over_max_length",
        "test_validate_rejects_more_images_than_max_count",
        "test_validate_rejects_an_image_type_it_does_not_take",
        "test_validate_rejects_an_image_over_max_bytes",
        "test_validate_rejects_alt_text_over_max_alt_length",
        "test_validate_rejects_more_videos_than_max_count",
        "test_validate_rejects_images_with_a_video_unless_mixed_media",
    }


def test_a_thread_whose_parts_do_not_reply_to_each_other_fails(pytester):
    _passed, _skipped, failed = run_rich(
        pytester,
        ("reply = message.reply_to.remote_id if", "reply = message.thread_root.remote_id if"),
    )
    assert failed == {"test_publishes_a_thread_as_a_reply_chain"}


def test_verify_that_returns_nothing_or_raises_another_error_fails(pytester):
    _passed, _skipped, failed = run_rich(pytester, ('return "account @rich"', "return None"))
    assert "test_verify_returns_a_description_or_cannot_check" in failed
    _passed, _skipped, failed = run_rich(
        pytester, ('return "account @rich"', 'raise RuntimeError("no")')
    )
    assert "test_verify_returns_a_description_or_cannot_check" in failed


def test_verify_that_does_not_notice_a_missing_secret_fails(pytester):
    _passed, _skipped, failed = run_rich(
        pytester,
        ('if self.secret("token") != "tok-very-secret-1234"', 'if self.secret("token", "x") == ""'),
    )
    assert failed == {"test_verify_with_a_missing_secret_raises_missing_secret_error"}


def test_required_secrets_the_working_channel_lacks_fail(pytester):
    _passed, _skipped, failed = run_rich(
        pytester, ('required_secrets = ("token",)', 'required_secrets = ("token", "password")')
    )
    assert "test_declares_required_secrets_and_settings" in failed


def test_find_that_misses_a_published_post_or_finds_a_missing_one_fails(pytester):
    _passed, _skipped, failed = run_rich(
        pytester,
        (
            "                    return Receipt(remote_id)\n            return None",
            "                    return None\n            return None",
        ),
    )
    assert failed == {"test_find_after_publish_returns_its_receipt"}
    _passed, _skipped, failed = run_rich(
        pytester, ("            return None\n", "            return Receipt('r1')\n")
    )
    assert failed == {"test_find_of_an_unknown_key_returns_none"}


def test_an_error_raised_after_the_post_went_out_fails(pytester):
    _passed, _skipped, failed = run_rich(
        pytester,
        (
            'return Receipt(f"unread-{idempotency_key}")',
            'raise PermanentError("the reply is not JSON")',
        ),
    )
    assert failed == {"test_a_post_accepted_with_an_unreadable_reply_still_returns_a_receipt"}
