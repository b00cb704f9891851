"""The adapter conformance contract: pytest checks every socialsched adapter must pass.

Public as `socialsched.testing.AdapterContract`; the module docstring of
`socialsched.testing` shows how a plugin's tests use it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import attrs
import pytest

from socialsched.calendar.audiences import AUDIENCE_KINDS, Audience
from socialsched.calendar.model import Channel
from socialsched.media.model import IMAGE_TYPES, Media, MediaLimits
from socialsched.trust.grants import read_secret

from .base import Adapter
from .capabilities import Capabilities
from .errors import (
    AdapterError,
    CannotCheck,
    CredentialsRejected,
    MissingSecretError,
    PermanentError,
    TransientError,
)
from .messages import Message, Receipt
from .testing_engagement import EngagementContract
from .testing_samples import (
    TEXT_PREFIX,
    Arrived,
    Remote,
    sample_image,
    sample_video,
)

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class AdapterContract(EngagementContract):
    """Base class of an adapter's conformance tests (see the module docs).

    Set `adapter_class`; provide the `remote`, `channel` and `environ` fixtures;
    override `make_adapter` when the constructor needs more than (channel, environ), and
    `make_audience` when the adapter needs a particular audience id.
    """

    adapter_class: ClassVar[type[Adapter]]

    def make_adapter(self, channel: Channel, environ: Mapping[str, str], remote: Any) -> Adapter:
        """A new adapter instance for the channel (override to pass extra arguments)."""
        return self.adapter_class(channel, environ=environ)

    def make_audience(self, adapter: Adapter) -> Audience | None:
        """The audience of the messages the kit publishes: by default one of the first
        declared kind with the id "contract-audience" (override when the adapter needs
        a particular id, e.g. one naming a secret)."""
        return _supported_audience(adapter)

    def make_message(
        self, adapter: Adapter, key: str, text: str | None = None, audience: Any = None
    ) -> Message:
        """A message the adapter should accept, carrying `key` in its text."""
        when = datetime(2030, 1, 15, 9, 30, tzinfo=UTC)
        return Message(
            delivery_id=f"delivery-{key}",
            post="contract-post",
            segment="contract-segment",
            channel=adapter.channel.name,
            locale="en-US",
            text=text if text is not None else f"{TEXT_PREFIX}{key}",
            utc=when,
            local=when,
            audience=audience if audience is not None else self.make_audience(adapter),
        )

    # ---- fixtures the subclass must provide ----

    @pytest.fixture
    def remote(self) -> Any:
        """The fake or local network (override)."""
        pytest.fail(f"{type(self).__name__} must define a `remote` fixture")

    @pytest.fixture
    def channel(self, remote: Any) -> Channel:
        """The channel configuration pointing at `remote` (override)."""
        pytest.fail(f"{type(self).__name__} must define a `channel` fixture")

    @pytest.fixture
    def environ(self) -> Mapping[str, str]:
        """The environment granting the channel's secrets (override; see `grant`)."""
        return {}

    @pytest.fixture
    def adapter(
        self, channel: Channel, environ: Mapping[str, str], remote: Any
    ) -> Iterator[Adapter]:
        adapter = self.make_adapter(channel, environ, remote)
        yield adapter
        adapter.close()

    @pytest.fixture
    def secret_values(self, channel: Channel, environ: Mapping[str, str]) -> list[str]:
        values = [read_secret(name, environ) for name in channel.secrets.values()]
        return [value for value in values if value]

    # ---- the contract ----

    def test_has_a_name(self) -> None:
        name = self.adapter_class.name
        assert isinstance(name, str) and _NAME.match(name), (
            f"adapter name {name!r} must be lowercase letters, digits, '-' or '_'"
        )

    def test_declares_capabilities(self, adapter: Adapter) -> None:
        for capabilities in (self.adapter_class.capabilities, adapter.capabilities):
            assert isinstance(capabilities, Capabilities)
            limit = capabilities.max_length
            assert limit is None or (isinstance(limit, int) and limit > 0)
            # Kinds are open (a network may have its own), but each must be a word
            # a calendar can write before the ':' of an audience.
            bad = [kind for kind in capabilities.audiences if not _NAME.match(str(kind))]
            assert not bad, f"audience kinds {bad} must be lowercase words"

    def test_validate_accepts_a_fitting_message(self, adapter: Adapter) -> None:
        problems = adapter.validate(self.make_message(adapter, "fits"))
        assert isinstance(problems, list)
        assert problems == []

    def test_validate_rejects_text_over_max_length(self, adapter: Adapter) -> None:
        limit = adapter.capabilities.max_length
        if limit is None:
            pytest.skip("the adapter declares no length limit")
        fits = self.make_message(adapter, "k", text="a" * limit)
        too_long = self.make_message(adapter, "k", text="a" * (limit + 1))
        assert adapter.validate(fits) == []
        problems = adapter.validate(too_long)
        assert problems and all(isinstance(p, str) for p in problems)

    def test_validate_rejects_unsupported_audience(self, adapter: Adapter) -> None:
        supported = set(adapter.capabilities.audiences)
        if "any" in supported:
            pytest.skip("the adapter accepts any audience")
        kind = next(k for k in AUDIENCE_KINDS if k not in supported and k != "targeting")
        message = self.make_message(adapter, "k", audience=Audience(kind, "someone"))
        problems = adapter.validate(message)
        assert problems and all(isinstance(p, str) for p in problems)

    def test_validate_rejects_media_when_unsupported(self, adapter: Adapter) -> None:
        if adapter.capabilities.media:
            pytest.skip("the adapter supports media")
        message = attrs.evolve(self.make_message(adapter, "k"), attachments=(sample_image(),))
        assert adapter.validate(message)

    def test_publish_returns_a_receipt(self, adapter: Adapter, remote: Remote) -> None:
        receipt = adapter.publish(self.make_message(adapter, "key-1"), "key-1")
        assert isinstance(receipt, Receipt)
        assert isinstance(receipt.remote_id, str) and receipt.remote_id
        assert remote.published() == ["key-1"]

    def test_publish_with_the_same_key_posts_once(self, adapter: Adapter, remote: Remote) -> None:
        message = self.make_message(adapter, "key-same")
        first = adapter.publish(message, "key-same")
        second = adapter.publish(message, "key-same")
        assert first.remote_id == second.remote_id
        assert remote.published() == ["key-same"]

    def test_publish_with_different_keys_posts_each(self, adapter: Adapter, remote: Remote) -> None:
        adapter.publish(self.make_message(adapter, "key-a"), "key-a")
        adapter.publish(self.make_message(adapter, "key-b"), "key-b")
        assert sorted(remote.published()) == ["key-a", "key-b"]

    def test_declared_idempotency_holds_across_instances(
        self, adapter: Adapter, remote: Remote, channel: Channel, environ: Mapping[str, str]
    ) -> None:
        if not adapter.capabilities.idempotent:
            pytest.skip("the adapter does not declare cross-process idempotency")
        message = self.make_message(adapter, "key-x")
        adapter.publish(message, "key-x")
        other = self.make_adapter(channel, environ, remote)
        try:
            other.publish(message, "key-x")
        finally:
            other.close()
        assert remote.published() == ["key-x"]

    def test_transient_failure_raises_transient_error(
        self, adapter: Adapter, remote: Remote
    ) -> None:
        if not remote.fail_next("transient"):
            pytest.skip("the remote cannot simulate a transient failure")
        with pytest.raises(AdapterError) as raised:
            adapter.publish(self.make_message(adapter, "key-t"), "key-t")
        assert isinstance(raised.value, TransientError)
        retry_after = raised.value.retry_after
        assert retry_after is None or (isinstance(retry_after, int | float) and retry_after >= 0)

    def test_permanent_failure_raises_permanent_error(
        self, adapter: Adapter, remote: Remote
    ) -> None:
        if not remote.fail_next("permanent"):
            pytest.skip("the remote cannot simulate a permanent failure")
        with pytest.raises(AdapterError) as raised:
            adapter.publish(self.make_message(adapter, "key-p"), "key-p")
        assert isinstance(raised.value, PermanentError)

    def test_missing_secret_is_a_permanent_error(self, channel: Channel, remote: Remote) -> None:
        if not channel.secrets:
            pytest.skip("the channel declares no secrets")
        try:
            adapter = self.make_adapter(channel, {}, remote)
        except PermanentError:
            return
        try:
            with pytest.raises(PermanentError):
                adapter.publish(self.make_message(adapter, "key-m"), "key-m")
        finally:
            adapter.close()

    def test_delete_removes_the_post_or_is_refused(self, adapter: Adapter, remote: Remote) -> None:
        receipt = adapter.publish(self.make_message(adapter, "key-d"), "key-d")
        if adapter.capabilities.delete:
            adapter.delete(receipt)
            assert "key-d" not in remote.published()
        else:
            with pytest.raises(PermanentError):
                adapter.delete(receipt)

    def test_repr_never_shows_secrets(
        self, adapter: Adapter, channel: Channel, secret_values: list[str]
    ) -> None:
        if not secret_values:
            pytest.skip("the channel declares no secrets")
        adapter.publish(self.make_message(adapter, "key-r"), "key-r")  # secrets now read
        shown = " ".join([repr(adapter), str(adapter), repr(channel), str(channel)])
        for value in secret_values:
            assert value not in shown, "a secret value appears in repr()"

    def test_logs_output_and_errors_never_show_secrets(
        self,
        adapter: Adapter,
        remote: Remote,
        secret_values: list[str],
        caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        if not secret_values:
            pytest.skip("the channel declares no secrets")
        caplog.set_level(logging.DEBUG)
        said: list[str] = []
        receipt = adapter.publish(self.make_message(adapter, "key-l"), "key-l")
        said.append(repr(receipt))
        for kind in ("transient", "permanent"):
            if remote.fail_next(kind):
                try:
                    adapter.publish(self.make_message(adapter, f"key-{kind}"), f"key-{kind}")
                except AdapterError as error:
                    said.extend([str(error), repr(error)])
        captured = capsys.readouterr()
        said.extend([caplog.text, captured.out, captured.err])
        for value in secret_values:
            assert not any(value in text for text in said), "a secret value was logged or shown"

    def test_a_post_accepted_with_an_unreadable_reply_still_returns_a_receipt(
        self, adapter: Adapter, remote: Remote
    ) -> None:
        # The post went out: raising now would have the runner record a published post
        # as a failed attempt, and send it again.
        garble = getattr(remote, "garble_next_reply", None)
        if garble is None or not garble():
            pytest.skip("the remote cannot garble a reply (no garble_next_reply method)")
        receipt = adapter.publish(self.make_message(adapter, "key-g"), "key-g")
        assert isinstance(receipt, Receipt) and receipt.remote_id
        assert remote.published() == ["key-g"]

    # ---- media (run when the adapter declares images or videos) ----

    def test_publishes_a_fitting_image_with_its_alt_text(
        self, adapter: Adapter, remote: Remote
    ) -> None:
        limits = _declared(adapter, "image")
        image = sample_image(format=_image_format(limits), alt="A red test card")
        message = attrs.evolve(self.make_message(adapter, "key-image"), attachments=(image,))
        assert adapter.validate(message) == []
        receipt = adapter.publish(message, "key-image")
        assert isinstance(receipt, Receipt) and receipt.remote_id
        assert remote.published() == ["key-image"]
        _check_arrived(remote, "key-image", [image])

    def test_publishes_as_many_images_as_it_declares(
        self, adapter: Adapter, remote: Remote
    ) -> None:
        limits = _declared(adapter, "image")
        count = min(limits.max_count, 4)
        images = tuple(
            sample_image(format=_image_format(limits), alt=f"Card {n}", color=n)
            for n in range(1, count + 1)
        )
        message = attrs.evolve(self.make_message(adapter, "key-images"), attachments=images)
        assert adapter.validate(message) == []
        adapter.publish(message, "key-images")
        assert remote.published() == ["key-images"]
        _check_arrived(remote, "key-images", list(images))

    def test_validate_rejects_more_images_than_max_count(self, adapter: Adapter) -> None:
        limits = _declared(adapter, "image")
        images = tuple(
            sample_image(format=_image_format(limits), color=n) for n in range(limits.max_count + 1)
        )
        message = attrs.evolve(self.make_message(adapter, "k"), attachments=images)
        _assert_problems(adapter.validate(message))

    def test_validate_rejects_an_image_type_it_does_not_take(self, adapter: Adapter) -> None:
        limits = _declared(adapter, "image")
        refused = [kind for kind in IMAGE_TYPES if not limits.accepts(kind)]
        if not refused:
            pytest.skip("the adapter takes every image type socialsched reads")
        image = sample_image(format=_FORMATS[refused[0]])
        message = attrs.evolve(self.make_message(adapter, "k"), attachments=(image,))
        _assert_problems(adapter.validate(message))

    def test_validate_rejects_an_image_over_max_bytes(self, adapter: Adapter) -> None:
        limits = _declared(adapter, "image")
        if limits.max_bytes is None:
            pytest.skip("the adapter declares no byte limit for images")
        image = sample_image(format=_image_format(limits))
        # Validation reads the declared size, so a large file need not be made.
        too_big = attrs.evolve(image, size=limits.max_bytes + 1)
        message = attrs.evolve(self.make_message(adapter, "k"), attachments=(too_big,))
        _assert_problems(adapter.validate(message))

    def test_validate_rejects_alt_text_over_max_alt_length(self, adapter: Adapter) -> None:
        limits = _declared(adapter, "image")
        limit = adapter.capabilities.max_alt_length
        if limit is None:
            pytest.skip("the adapter declares no alt-text limit")
        image = sample_image(format=_image_format(limits), alt="a" * (limit + 1))
        message = attrs.evolve(self.make_message(adapter, "k"), attachments=(image,))
        _assert_problems(adapter.validate(message))

    def test_publishes_a_fitting_video(self, adapter: Adapter, remote: Remote) -> None:
        _declared(adapter, "video")
        video = sample_video(alt="A short test clip")
        message = attrs.evolve(self.make_message(adapter, "key-video"), attachments=(video,))
        assert adapter.validate(message) == []
        receipt = adapter.publish(message, "key-video")
        assert isinstance(receipt, Receipt) and receipt.remote_id
        assert remote.published() == ["key-video"]
        _check_arrived(remote, "key-video", [video])

    def test_validate_rejects_more_videos_than_max_count(self, adapter: Adapter) -> None:
        limits = _declared(adapter, "video")
        videos = tuple(sample_video(seed=n) for n in range(limits.max_count + 1))
        message = attrs.evolve(self.make_message(adapter, "k"), attachments=videos)
        _assert_problems(adapter.validate(message))

    def test_validate_rejects_images_with_a_video_unless_mixed_media(
        self, adapter: Adapter
    ) -> None:
        limits = _declared(adapter, "image")
        _declared(adapter, "video")
        if adapter.capabilities.mixed_media:
            pytest.skip("the adapter takes images and a video in one post")
        media = (sample_image(format=_image_format(limits)), sample_video())
        message = attrs.evolve(self.make_message(adapter, "k"), attachments=media)
        _assert_problems(adapter.validate(message))

    # ---- threads (run when the adapter declares them) ----

    def test_publishes_a_thread_as_a_reply_chain(self, adapter: Adapter, remote: Remote) -> None:
        if not adapter.capabilities.threads:
            pytest.skip("the adapter does not declare threads")
        keys = ["key-thread", "key-thread#2", "key-thread#3"]
        receipts: list[Receipt] = []
        for number, key in enumerate(keys, start=1):
            message = attrs.evolve(
                self.make_message(adapter, key),
                delivery_id="delivery-key-thread",
                part=number,
                parts=len(keys),
                reply_to=receipts[-1] if receipts else None,
                thread_root=receipts[0] if receipts else None,
            )
            assert adapter.validate(message) == [], f"part {number}"
            receipt = adapter.publish(message, key)
            assert isinstance(receipt, Receipt) and receipt.remote_id, f"part {number}"
            receipts.append(receipt)
        assert len({receipt.remote_id for receipt in receipts}) == len(keys)
        assert sorted(remote.published()) == sorted(keys)
        reply_chain = getattr(remote, "reply_chain", None)
        if reply_chain is None:
            pytest.skip("the remote cannot show reply chains (no reply_chain method)")
        assert reply_chain(keys[0]) == keys

    # ---- the credentials check (Adapter.verify) ----

    def test_declares_required_secrets_and_settings(
        self, adapter: Adapter, channel: Channel
    ) -> None:
        for declared, given in (
            (adapter.required_secrets, channel.secrets),
            (adapter.required_settings, channel.settings),
        ):
            assert isinstance(declared, tuple) and all(isinstance(k, str) for k in declared)
            # The kit's channel is a working one, so it gives all that is required.
            missing = [key for key in declared if key not in given]
            assert not missing, f"the working channel lacks required {missing}"

    def test_declares_where_each_secret_goes(
        self,
        adapter: Adapter,
        channel: Channel,
        environ: Mapping[str, str],
        secret_values: list[str],
    ) -> None:
        # What the operator approves (`socialsched channels approve`): an origin for
        # every secret the channel names, never a secret value.
        where = type(adapter).destinations(channel, environ)
        assert set(channel.secrets.values()) <= set(where), "a secret has no destination"
        for origin in where.values():
            assert isinstance(origin, str) and origin
            shown = [value for value in secret_values if value in origin]
            assert not shown, "a destination shows a secret"

    def test_verify_returns_a_description_or_cannot_check(self, adapter: Adapter) -> None:
        try:
            answer = adapter.verify()
        except (CannotCheck, CredentialsRejected, MissingSecretError):
            return
        assert isinstance(answer, str) and answer.strip(), "verify() must describe who answered"

    def test_verify_with_a_missing_secret_raises_missing_secret_error(
        self, channel: Channel, remote: Remote
    ) -> None:
        if not channel.secrets:
            pytest.skip("the channel declares no secrets")
        try:
            adapter = self.make_adapter(channel, {}, remote)
        except MissingSecretError:
            return
        except PermanentError:
            pytest.skip("the adapter refuses to start without its secrets")
        try:
            try:
                adapter.verify()
            except CannotCheck:
                if type(adapter).verify is Adapter.verify:
                    pytest.skip("the adapter offers no credentials check")
                raise
        except MissingSecretError:
            return
        finally:
            adapter.close()
        pytest.fail("verify() without the channel's secrets must raise MissingSecretError")

    # ---- the in-doubt lookup (Adapter.find) ----

    def test_find_after_publish_returns_its_receipt(
        self, adapter: Adapter, remote: Remote, channel: Channel, environ: Mapping[str, str]
    ) -> None:
        message = self.make_message(adapter, "key-find")
        receipt = adapter.publish(message, "key-find")
        # Another worker (a new instance, nothing remembered) asks after a crash.
        other = self.make_adapter(channel, environ, remote)
        try:
            found = other.find(message, "key-find")
        except CannotCheck:
            pytest.skip("the adapter cannot look up earlier posts")
        finally:
            other.close()
        assert isinstance(found, Receipt), "find() after a publish must return its receipt"
        assert found.remote_id == receipt.remote_id

    def test_find_of_an_unknown_key_returns_none(self, adapter: Adapter) -> None:
        adapter.publish(self.make_message(adapter, "key-there"), "key-there")
        try:
            found = adapter.find(self.make_message(adapter, "key-never"), "key-never")
        except CannotCheck:
            pytest.skip("the adapter cannot look up earlier posts")
        assert found is None, "find() must return None for a key never published"


_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}


def _declared(adapter: Adapter, kind: str) -> MediaLimits:
    limits = adapter.capabilities.limits(kind)
    if limits.max_count == 0:
        pytest.skip(f"the adapter declares no {kind}s")
    return limits


def _image_format(limits: MediaLimits) -> str:
    """The Pillow format of an image type the limits accept (PNG when any is)."""
    return next(_FORMATS[kind] for kind in ("image/png", *IMAGE_TYPES) if limits.accepts(kind))


def _assert_problems(problems: list[str]) -> None:
    assert problems, "validate() found no problem"
    assert all(isinstance(problem, str) and problem for problem in problems)


def _check_arrived(remote: Any, key: str, sent: Sequence[Media]) -> None:
    attachments = getattr(remote, "attachments", None)
    if attachments is None:
        return  # the remote cannot show media; the publish itself was checked
    arrived = [Arrived.of(item) if isinstance(item, bytes) else item for item in attachments(key)]
    assert [item.digest for item in arrived] == [media.digest for media in sent], (
        "the media that arrived are not the bytes sent, in order"
    )
    for item, media in zip(arrived, sent, strict=True):
        if item.alt is not None:
            assert item.alt == media.alt, "the alt text that arrived is not the one sent"


def _supported_audience(adapter: Adapter) -> Audience | None:
    kinds = adapter.capabilities.audiences
    if not kinds or "any" in kinds:
        return None
    if kinds[0] == "targeting":
        return Audience("targeting", countries=("US",), locales=("en-US",))
    return Audience(kinds[0], "contract-audience")
