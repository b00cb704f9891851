"""The network adapter API: what an adapter declares, receives, returns and raises.

An adapter turns a rendered `Message` into a post on one network. It declares its
`Capabilities` (checked at plan time), validates messages, publishes with an
idempotency key and returns a `Receipt`, and may delete what it published. The only
exceptions it lets escape are `TransientError` (retry later) and `PermanentError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from socialsched.calendar.model import Channel
from socialsched.media.hosts import MediaHostError
from socialsched.media.model import Media
from socialsched.trust import destinations as _destinations
from socialsched.trust.destinations import ANY_SECRET, Destination
from socialsched.trust.grants import GrantError, read_secret

from .capabilities import Capabilities
from .engagement import Engagement
from .errors import CannotCheck, MissingSecretError, PermanentError, TransientError
from .granted_secrets import granted_secret
from .messages import Message, Receipt
from .plugin_manager import media_host

if TYPE_CHECKING:
    from socialsched.media.hosts import MediaHost

_REQUIRED = object()
_READS_NO_TIME = "_socialsched_reads_no_time"

Validate = TypeVar("Validate", bound=Callable[..., Any])


def reads_no_time(validate: Validate) -> Validate:
    """Marks a `validate` that never reads when a message goes out, so the planner
    validates each distinct message of a route once (see `validation_reads_time`); an
    override in a subclass is a new function, unmarked, so it counts as reading it."""
    setattr(validate, _READS_NO_TIME, True)
    return validate


class Adapter:
    """Base class for network adapters; subclass it and set `name` and `capabilities`."""

    name: ClassVar[str] = ""
    # Usually set on the class; an instance may refine it from channel settings.
    capabilities: Capabilities = Capabilities()
    #: Secrets (keys of the channel's `secrets` table) a channel must declare; `lint`
    #: reports a channel lacking one.
    required_secrets: ClassVar[tuple[str, ...]] = ()
    #: Settings (keys of the channel's `settings` table) a channel must give.
    required_settings: ClassVar[tuple[str, ...]] = ()
    #: Settings that are file paths: the loader resolves a relative one against the
    #: calendar file's folder (and expands `~`), so the adapter always gets an absolute
    #: path and `schedule` and `run` from any working folder agree.
    path_settings: ClassVar[tuple[str, ...]] = ()
    #: True for networks that fetch media from a public URL: the channel then needs
    #: `settings.media_host` (see `socialsched.media.hosts`).
    media_by_url: ClassVar[bool] = False
    #: What holds for a post whose worker died between sending it and recording it, in
    #: a few words for docs/adapters.md (e.g. "checked (recent posts)"); when empty,
    #: `in_doubt_guarantee()` derives it from `find` and `capabilities.idempotent`.
    doubt_guarantee: ClassVar[str] = ""
    #: Whether `validate` may answer differently for two messages that differ only in
    #: when they go out (`utc`, `local`): the planner then validates every delivery,
    #: else each distinct text, media and thread of a route once. None: True for an
    #: adapter that overrides `validate`, False for one that keeps the base's checks;
    #: an adapter whose own checks never read the time sets False.
    validation_reads_time: ClassVar[bool | None] = None
    #: Where each secret is sent, by secret name (`ANY_SECRET`, "*", for the others):
    #: the channel setting holding the URL whose origin receives it, with the default
    #: for a network with a fixed host, or `Destination(in_value=True)` for a secret
    #: whose value is the URL. The operator approves these origins per channel
    #: (`socialsched channels approve`); a secret with no declaration is approved
    #: with the channel's whole settings, so any change of them needs approval again.
    secret_destinations: ClassVar[Mapping[str, Destination | tuple[Destination, ...]]] = {}
    #: How many posts one request of `engagement` asks about (the network API's batch
    #: size): collection counts `ceil(receipts / engagement_batch)` requests per call
    #: against the channel's `rate`.
    engagement_batch: ClassVar[int] = 1

    def __init__(self, channel: Channel, environ: Mapping[str, str] | None = None) -> None:
        self.channel = channel
        self._environ = os.environ if environ is None else environ

    def __repr__(self) -> str:
        return f"<{type(self).__name__} channel={self.channel.name!r}>"

    def secret(self, key: str, default: Any = _REQUIRED) -> Any:
        """The value of secret `key`, as the operator granted it (`socialsched.trust.grants`):
        the environment variable `SOCIALSCHED_SECRET_<NAME>` or the file `<NAME>` in
        `$CREDENTIALS_DIRECTORY`, where NAME is what the channel's `secrets` table names.

        Raises `MissingSecretError` when the channel does not declare it or it is not
        granted, unless a `default` is given (e.g. `self.secret("token", None)` for an
        optional secret), which is then returned.
        """
        env_name = self.channel.secrets.get(key)
        if env_name is None and default is not _REQUIRED:
            return default
        if env_name is None:
            raise MissingSecretError(
                f"channel {self.channel.name!r} declares no secret {key!r} "
                f"(add secrets.{key} = 'SECRET_NAME')"
            )
        if default is not _REQUIRED and not self._granted(env_name):
            return default
        return granted_secret(self.channel, env_name, f"secret {key!r}", self._environ)

    def _granted(self, name: str) -> bool:
        try:
            return read_secret(name, self._environ) is not None
        except GrantError:
            return True  # granted but unusable: reading it reports why

    def env_secret(self, env_name: str, what: str = "secret") -> str:
        """The value granted for secret `env_name`, for secrets that a channel's audience
        names directly (e.g. `webhook:SLACK_WEBHOOK_FR`) rather than through its
        `secrets` table: read like `secret`, from `SOCIALSCHED_SECRET_<env_name>` or
        `$CREDENTIALS_DIRECTORY`, never from the variable `env_name` itself. `what`
        says what the value is, for the error message, which never shows a value.
        """
        return granted_secret(self.channel, env_name, what, self._environ)

    @classmethod
    def destinations(
        cls, channel: Channel, environ: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """{secret name: destination origin} for each secret `channel` declares, per
        `secret_destinations`: what the operator approves and the runner checks.
        Reads only the secrets whose value is the URL (from `environ`, default the
        process environment); raises `MissingSecretError` when one is not granted and
        `PermanentError` when a destination setting is not a URL.

        Keyed by the secret's name (what `SOCIALSCHED_SECRET_<NAME>` grants), not its
        key: a calendar that swaps which granted secret a channel uses needs approval."""
        found: dict[str, str] = {}
        for key, name in sorted(channel.secrets.items()):
            where = cls._destination(channel, key, name, environ)
            if name in found and where not in found[name].split(" "):
                where = f"{found[name]} {where}"  # one secret under two keys
            found[name] = where
        return dict(sorted(found.items()))

    @classmethod
    def _destination(
        cls, channel: Channel, key: str, name: str, environ: Mapping[str, str] | None
    ) -> str:
        """The origin(s) secret `key` (granted as `name`) goes to; several are joined
        by a space, in order."""
        declared = cls.secret_destinations.get(key, cls.secret_destinations.get(ANY_SECRET))
        if declared is None:
            return _destinations.settings_digest(channel.settings)
        rules = declared if isinstance(declared, tuple) else (declared,)
        env = os.environ if environ is None else environ
        found: list[str] = []
        for rule in rules:
            try:
                where = _destinations.resolve(
                    rule,
                    channel.settings,
                    lambda: granted_secret(channel, name, f"secret {key!r}", env),
                )
            except _destinations.DestinationError as error:
                raise PermanentError(
                    f"channel {channel.name!r}: cannot tell where secret {key!r} is sent: {error}"
                ) from None
            if where not in found:
                found.append(where)
        return " ".join(found)

    def text_length(self, text: str) -> int:
        """Length of `text` as the network counts it (code points by default)."""
        return len(text)

    @reads_no_time
    def validate(self, message: Message) -> list[str]:
        """Problems that would make the network reject `message`; empty when fine.

        The base checks the declared capabilities (length, media, audience kind);
        override to add network rules and call `super().validate(message)`.
        """
        problems = []
        capabilities = self.capabilities
        limit = capabilities.max_length
        if limit is not None:
            length = self.text_length(message.text)
            if length > limit:
                problems.append(f"text is {length} characters; {self.name} allows {limit}")
        problems.extend(self.media_problems(message.attachments))
        if message.audience is not None and "any" not in capabilities.audiences:
            kind = getattr(message.audience, "kind", None)
            if kind is None:
                kind = str(message.audience).partition(":")[0]
            if kind not in capabilities.audiences:
                supported = ", ".join(capabilities.audiences) or "none"
                problems.append(
                    f"{self.name} cannot target a {kind!r} audience (supports: {supported})"
                )
        return problems

    @classmethod
    def validates_time(cls) -> bool:
        """Whether `validate` may read when a message goes out (see
        `validation_reads_time`)."""
        if cls.validation_reads_time is not None:
            return cls.validation_reads_time
        return not getattr(cls.validate, _READS_NO_TIME, False)

    def media_problems(self, attachments: tuple[Media, ...]) -> list[str]:
        """What the network would refuse in `attachments` (counts, types, bytes, pixels,
        alt text), each problem naming the file."""
        if not attachments:
            return []
        capabilities = self.capabilities
        if not capabilities.media:
            return [f"{self.name} cannot publish media attachments"]
        problems = []
        if self.media_by_url:
            try:
                self.media_host()
            except MediaHostError as error:
                problems.append(f"channel {self.channel.name!r}: {error}")
        kinds = {media.kind for media in attachments}
        if len(kinds) > 1 and not capabilities.mixed_media:
            problems.append(f"{self.name} cannot mix images and a video in one post")
        for kind in sorted(kinds):
            limits = capabilities.limits(kind)
            count = sum(1 for media in attachments if media.kind == kind)
            if limits.max_count == 0:
                problems.append(f"{self.name} cannot publish {kind}s")
                continue
            if count > limits.max_count:
                problems.append(
                    f"{count} {kind}s; {self.name} takes at most {limits.max_count} per post"
                )
        for media in attachments:
            limits = capabilities.limits(media.kind)
            name = media.source or media.filename or media.digest[:12]
            if limits.max_count == 0:
                continue
            if not limits.accepts(media.mime_type):
                accepted = ", ".join(limits.types)
                problems.append(
                    f"{name}: {self.name} does not take {media.mime_type} (takes {accepted})"
                )
            if limits.max_bytes is not None and media.size > limits.max_bytes:
                problems.append(
                    f"{name}: {media.size} bytes; {self.name} takes at most "
                    f"{limits.max_bytes} bytes per {media.kind}"
                )
            pixels = media.pixels
            if limits.max_pixels is not None and pixels is not None and pixels > limits.max_pixels:
                problems.append(
                    f"{name}: {media.width}x{media.height} pixels; {self.name} takes at most "
                    f"{limits.max_pixels} pixels"
                )
            side = max(media.width or 0, media.height or 0)
            if limits.max_side is not None and side > limits.max_side:
                problems.append(
                    f"{name}: {media.width}x{media.height} pixels; {self.name} takes at most "
                    f"{limits.max_side} pixels a side"
                )
            if media.animated and not limits.animated:
                problems.append(f"{name}: {self.name} cannot publish animated images")
            alt_limit = capabilities.max_alt_length
            if alt_limit is not None and len(media.alt) > alt_limit:
                problems.append(
                    f"{name}: alt text is {len(media.alt)} characters; {self.name} allows "
                    f"{alt_limit}"
                )
        return problems

    def media_host(self) -> MediaHost:
        """The host that makes this channel's media reachable by URL (`settings.media_host`),
        for networks that fetch media rather than take the bytes; `MediaHostError` when
        the channel configures none."""
        return media_host(self.channel.settings.get("media_host"))

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        """Publish `message`; publishing the same key twice must not post twice.

        Raise `CredentialsRejected` when the network refuses the credentials, and
        never raise after the post went out (return its receipt instead): the runner
        would record a post that exists as a failed attempt.
        """
        raise NotImplementedError

    def verify(self) -> str:
        """Ask the network whether the channel's credentials work, posting nothing.

        Returns a short description of what answered (e.g. the account name). Raises
        `MissingSecretError`, `CredentialsRejected`, `TransientError` (unreachable) or
        `CannotCheck` (the base: the network has no such check).
        """
        for key in self.required_secrets:
            self.secret(key)
        raise CannotCheck(f"{self.name} offers no way to check credentials without posting")

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """Look on the network for a post published earlier under `idempotency_key`
        (a worker died between sending and recording it): its receipt, or None when
        the network certainly has no such post. Raises `CannotCheck` (the base) where
        the network cannot tell, `TransientError` to try again later.
        """
        raise CannotCheck(f"{self.name} cannot look up earlier posts")

    def engagement(self, receipts: Sequence[Receipt]) -> Mapping[str, Engagement]:
        """The engagement of many published posts at once, by `Receipt.remote_id`.

        Batched as the network's API allows (one call for many posts where it can).
        Each `Engagement` carries the counts of `capabilities.engagement` and None for
        the others. A post the network no longer has (deleted) is left out. Raises
        `TransientError` to try again later (rate limits: with `retry_after`) and
        `PermanentError` when the network refuses. The base gives nothing: a network
        that declares no counts is never asked.
        """
        return {}

    def delete(self, receipt: Receipt) -> None:
        """Delete a published post, where the network allows it."""
        raise PermanentError(f"{self.name} cannot delete published posts")

    def close(self) -> None:
        """Release connections or files; the adapter is not used afterwards."""


def read_media(media: Media) -> bytes:
    """The bytes of `media` for an upload: an unreadable file (gone, or the store out
    of reach) is a `TransientError`, media without content a `PermanentError`. Read
    every attachment before sending anything, so a failure never half-sends a post."""
    name = media.filename or media.source or media.digest[:12]
    try:
        return media.read()
    except OSError as error:
        raise TransientError(
            f"cannot read {name}: {error.strerror or type(error).__name__}"
        ) from None
    except ValueError as error:
        raise PermanentError(f"cannot read {name}: {error}") from None


def in_doubt_guarantee(adapter_class: type[Adapter]) -> str:
    """What holds for an in-doubt post of `adapter_class` (sent, then its worker died
    before recording it): its own `doubt_guarantee`, else "checked (find)" when it
    implements `find`, "idempotent key" when the network drops a repeated key, and
    "cannot check" otherwise (the channel's `on_doubt` then decides)."""
    if adapter_class.doubt_guarantee:
        return adapter_class.doubt_guarantee
    if adapter_class.find is not Adapter.find:
        return "checked (find)"
    if adapter_class.capabilities.idempotent:
        return "idempotent key"
    return "cannot check"
