"""The network adapter API: what an adapter declares, receives, returns and raises.

An adapter turns a rendered `Message` into a post on one network. It declares its
`Capabilities` (checked at plan time), validates messages, publishes with an
idempotency key and returns a `Receipt`, and may delete what it published. The only
exceptions it lets escape are `TransientError` (retry later) and `PermanentError`.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

import attrs

from . import destinations as _destinations
from .audiences import Audience, resolve_audience
from .destinations import ANY_SECRET, Destination
from .engagement import Engagement, engagement_counts
from .errors import SocialschedError
from .grants import GrantError, not_granted_message, read_secret, secret_variable
from .jsonl_log import LogRefused, check_line, open_log, record_key
from .media import NO_MEDIA, Media, MediaLimits
from .model import ENV_VAR_NAME, Channel, Delivery, QuietWindow, Segment, quiet_windows
from .redaction import hide_secret

if TYPE_CHECKING:
    from .media_hosts import MediaHost

_REQUIRED = object()


@attrs.frozen
class Capabilities:
    """What a network accepts. `max_length` is counted by `Adapter.text_length`.

    `images` and `videos` say how many of each a post may carry and their byte, pixel
    and type limits (the default accepts none); `mixed_media` whether images and a
    video may go in one post; `max_alt_length` the longest alt text; `threads` whether
    long text can go out as a reply chain (`Message.reply_to`); `engagement` which
    counts `Adapter.engagement` gives.
    """

    max_length: int | None = None
    audiences: tuple[str, ...] = ()
    native_scheduling: bool = False
    delete: bool = False
    idempotent: bool = False
    images: MediaLimits = NO_MEDIA
    videos: MediaLimits = NO_MEDIA
    mixed_media: bool = False
    max_alt_length: int | None = None
    threads: bool = False
    #: The engagement counts the network gives (names from
    #: `socialsched.engagement.COUNTS`); empty: it gives none (`Adapter.engagement`).
    engagement: tuple[str, ...] = attrs.field(default=(), converter=engagement_counts)

    @property
    def media(self) -> bool:
        """Whether the network takes any media at all."""
        return self.images.max_count > 0 or self.videos.max_count > 0

    def limits(self, kind: str) -> MediaLimits:
        """The limits for "image" or "video"."""
        return self.images if kind == "image" else self.videos


@attrs.frozen
class Message:
    """A rendered delivery, as handed to an adapter.

    `audience` is the resolved `socialsched.audiences.Audience` (None when the channel
    names none for the segment); `quiet_hours` are the segment's quiet hours (local
    time windows), for adapters that deliver quietly then; `delivery_id` is empty at
    plan-time validation.

    `attachments` are the media to attach, already fitted to the network's limits.
    A thread goes out as one message per part: `part` of `parts` (1-based), with
    `reply_to` the receipt of the previous part and `thread_root` that of the first
    (both None for the first part and for a single post). Attachments go on part 1.
    """

    delivery_id: str
    post: str
    segment: str
    channel: str
    locale: str
    text: str
    utc: datetime
    local: datetime
    audience: Any = None
    tags: tuple[str, ...] = ()
    attachments: tuple[Media, ...] = ()
    quiet_hours: tuple[QuietWindow, ...] = attrs.field(default=(), converter=quiet_windows)
    reply_to: Receipt | None = None
    thread_root: Receipt | None = None
    part: int = 1
    parts: int = 1

    @classmethod
    def for_delivery(cls, delivery: Delivery, segment: Segment, channel: Channel) -> Message:
        """The message for a planned delivery, with its audience resolved and its media
        attached (a thread's parts are for the caller to send, media with part 1)."""
        if delivery.text is None:
            raise ValueError(f"delivery {delivery.id} was planned without rendering its text")
        return cls(
            delivery_id=delivery.id,
            post=delivery.post,
            segment=delivery.segment,
            channel=delivery.channel,
            locale=segment.locale,
            text=delivery.text,
            utc=delivery.utc,
            local=delivery.local,
            audience=resolve_audience(channel, segment),
            tags=delivery.tags,
            attachments=delivery.media,
            quiet_hours=segment.quiet_hours,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO 8601 times, audience as a dict)."""
        audience = self.audience
        if isinstance(audience, Audience):
            audience = audience.to_dict()
        return {
            "delivery_id": self.delivery_id,
            "post": self.post,
            "segment": self.segment,
            "channel": self.channel,
            "locale": self.locale,
            "audience": audience,
            "utc": self.utc.isoformat(),
            "local": self.local.isoformat(),
            "text": self.text,
            "tags": list(self.tags),
            "attachments": [media.to_dict() for media in self.attachments],
            "quiet_hours": [str(window) for window in self.quiet_hours],
            **(
                {
                    "part": self.part,
                    "parts": self.parts,
                    "reply_to": self.reply_to and self.reply_to.remote_id,
                    "thread_root": self.thread_root and self.thread_root.remote_id,
                }
                if self.parts > 1
                else {}
            ),
        }


@attrs.frozen
class Receipt:
    """What a network returned for a published message."""

    remote_id: str
    url: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)


class AdapterError(SocialschedError):
    """Base of the two errors an adapter may raise."""


class TransientError(AdapterError):
    """A failure worth retrying (rate limit, 5xx, timeout); `retry_after` in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QuotaReached(TransientError):
    """The network's own publishing quota for the account is used up (e.g. Instagram's
    posts per day). Not a failed attempt: the runner gives the delivery back, due again
    `retry_after` seconds from now, without counting an attempt."""


class PermanentError(AdapterError):
    """A failure that retrying will not fix (bad credentials, rejected content)."""


class MissingSecretError(PermanentError):
    """A channel's secret is not granted (see `socialsched.grants`).

    `variable` is the environment variable that would grant it,
    `SOCIALSCHED_SECRET_<NAME>` (None when the channel does not declare the secret at
    all); never its value."""

    def __init__(self, message: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class CredentialsRejected(PermanentError):
    """The network refused the channel's credentials (expired or revoked token, wrong
    password). The runner holds the channel until an operator resumes it, rather than
    failing every delivery in turn."""


class CannotCheck(AdapterError):
    """Raised by `Adapter.verify` or `Adapter.find` where the network offers no way to
    check without posting."""


def granted_secret(channel: Channel, name: str, what: str, environ: Mapping[str, str]) -> str:
    """The value granted for secret `name` of `channel` (`what` says which, for the
    message); `MissingSecretError` saying what to set, or rename, when there is none."""
    try:
        value = read_secret(name, environ)
    except GrantError as error:
        raise MissingSecretError(
            f"channel {channel.name!r}: {what}: {error}", variable=secret_variable(name)
        ) from None
    if not value:
        raise MissingSecretError(
            f"channel {channel.name!r}: {what} ({name}): {not_granted_message(name, environ)}",
            variable=secret_variable(name),
        )
    hide_secret(value, f"secret {name}")
    return value


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The seconds a `Retry-After` header in `headers` asks a client to wait (never
    negative); None when there is none or it is not a number of seconds."""
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


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
    #: `settings.media_host` (see `socialsched.media_hosts`).
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
        """The value of secret `key`, as the operator granted it (`socialsched.grants`):
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
        return cls.validate not in (Adapter.validate, WebhookAudienceAdapter.validate)

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
            from .media_hosts import MediaHostError

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
        from .media_hosts import media_host

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


# What the built-in console and jsonl adapters take: they print or record media and
# thread parts rather than upload them, so any of socialsched's types goes.
_PRINTED = Capabilities(
    audiences=("any",),
    images=MediaLimits(max_count=10),
    videos=MediaLimits(max_count=4),
    mixed_media=True,
    threads=True,
)


def _with_max_length(capabilities: Capabilities, channel: Channel) -> Capabilities:
    """`capabilities` limited to the channel's `max_length` setting, when it has one:
    the console and jsonl adapters then split long text into threads as a network
    would."""
    max_length = channel.settings.get("max_length")
    if max_length is None:
        return capabilities
    return attrs.evolve(capabilities, max_length=int(max_length))


class ConsoleAdapter(Adapter):
    """Prints each message to standard output: for trying a calendar end to end.

    Each attachment gets a line under the text (file name, type, bytes, pixel size,
    digest, alt text); a thread part is marked with its number and the part it
    replies to."""

    name = "console"
    capabilities = _PRINTED

    def __init__(
        self,
        channel: Channel,
        environ: Mapping[str, str] | None = None,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(channel, environ)
        self.stream = stream
        self._receipts: dict[str, Receipt] = {}
        self.capabilities = _with_max_length(self.capabilities, channel)

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        # Idempotent within one process only: a terminal keeps no record to check.
        if idempotency_key in self._receipts:
            return self._receipts[idempotency_key]
        stream = self.stream or sys.stdout
        audience = f" -> {message.audience}" if message.audience else ""
        part = ""
        if message.parts > 1:
            reply = f", replying to {message.reply_to.remote_id}" if message.reply_to else ""
            part = f" ({message.part}/{message.parts}{reply})"
        lines = [
            f"[{message.channel}/{message.segment}{audience}] {message.local.isoformat()}"
            f"{part} {message.text}",
            *(
                f"  attachment {number}/{len(message.attachments)}: {_describe(media)}"
                for number, media in enumerate(message.attachments, start=1)
            ),
        ]
        receipt = Receipt(remote_id=idempotency_key)  # before printing: nothing fails after
        try:
            # One write, so a failing console never shows half a post.
            print("\n".join(lines), file=stream, flush=True)
        except OSError as error:
            raise TransientError(f"cannot write to the console: {error.strerror}") from None
        except ValueError as error:  # writing to a closed stream
            raise PermanentError(f"cannot write to the console: {error}") from None
        self._receipts[idempotency_key] = receipt
        return receipt

    def verify(self) -> str:
        return "prints to standard output"


def _describe(media: Media) -> str:
    size = f" {media.width}x{media.height}" if media.width and media.height else ""
    name = media.filename or media.source or "(unnamed)"
    alt = json.dumps(media.alt, ensure_ascii=False)
    return f"{name} {media.mime_type} {media.size:,} bytes{size} sha256:{media.digest} alt: {alt}"


class JsonlAdapter(Adapter):
    """Appends one JSON object per published message to the file `settings.path`.

    Publishing the same idempotency key twice writes it once, even across processes
    (an exclusive file lock guards the check and the append), so it serves tests
    and audit trails. Attachments are recorded by description (type, size, digest,
    alt text), not their bytes; each thread part is one record. `settings.max_length`
    limits the text as a network would (threads are then split to fit).
    """

    name = "jsonl"
    capabilities = attrs.evolve(_PRINTED, delete=True, idempotent=True)
    required_settings = ("path",)
    path_settings = ("path",)

    def __init__(self, channel: Channel, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(channel, environ)
        path = channel.settings.get("path")
        if not path:
            raise PermanentError(f"channel {channel.name!r}: the jsonl adapter needs settings.path")
        self.path = Path(str(path))
        self.capabilities = _with_max_length(self.capabilities, channel)
        self._keys: set[str] = set()
        self._offset = 0

    def _append(self, record: dict[str, Any], key: str | None) -> bool:
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open_log(self.path) as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                if os.fstat(handle.fileno()).st_size < self._offset:
                    self._offset, self._keys = 0, set()  # replaced or truncated meanwhile
                # Catch up with what other processes appended since we last looked.
                end = self._offset
                handle.seek(end)
                for line in iter(handle.readline, b""):
                    check_line(line, self.path, end)
                    if not line.endswith(b"\n"):
                        # A writer was killed mid-line (its lock went with it): that
                        # record was never published. The bytes are not ours to cut:
                        # end the line, and readers skip it as a torn record.
                        handle.write(b"\n")
                        end += len(line) + 1
                        break
                    seen = record_key(line)
                    if seen:
                        self._keys.add(seen)
                    end += len(line)
                self._offset = end
                if key is not None and key in self._keys:
                    return False
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
                self._offset = end + len(data)
                if key is not None:
                    self._keys.add(key)
                return True
        except LogRefused as error:
            raise PermanentError(str(error)) from None
        except OSError as error:
            raise TransientError(f"cannot write {self.path}: {error.strerror}") from None

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        record = {"idempotency_key": idempotency_key, **message.to_dict()}
        # Everything that could fail is done before the write: once the line is in the
        # file the message is published, and an error then would be counted as a
        # failed attempt of a post that went out.
        receipt = self._receipt(idempotency_key)
        self._append(record, idempotency_key)
        return receipt

    def _receipt(self, idempotency_key: str) -> Receipt:
        # absolute(): a channel built in Python may hold a relative path.
        url = f"{self.path.absolute().as_uri()}#{idempotency_key}"
        return Receipt(remote_id=idempotency_key, url=url)

    def verify(self) -> str:
        """Checks that the file (or the folder it will be made in) is writable."""
        path = self.path.absolute()
        # The file, or else the nearest folder that exists (the rest is made on demand).
        existing = next(p for p in (path, *path.parents) if p.exists())
        if existing == path and path.is_dir():
            raise PermanentError(f"cannot write {self.path}: it is a folder")
        if existing != path and not existing.is_dir():
            raise PermanentError(f"cannot write {self.path}: {existing} is a file")
        if not os.access(existing, os.W_OK):
            raise PermanentError(f"cannot write {self.path}: permission denied")
        return f"appends to {self.path}"

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """The file is the network: a complete line with the key means it went out."""
        try:
            with self.path.open("rb") as handle:
                fcntl.flock(handle, fcntl.LOCK_SH)
                for line in handle:
                    if not line.endswith(b"\n"):
                        break  # torn by a killed writer: never published
                    if record_key(line) == idempotency_key:
                        return self._receipt(idempotency_key)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise TransientError(f"cannot read {self.path}: {error.strerror}") from None
        return None

    def delete(self, receipt: Receipt) -> None:
        self._append({"deleted": receipt.remote_id}, None)


class WebhookAudienceAdapter(Adapter):
    """Base for networks reached through incoming webhooks (Slack, Discord, ...).

    A webhook URL is a credential, so a segment's audience is `webhook:NAME`, where NAME
    is a key of the channel's `secrets` table or else a secret granted under that name
    (`SOCIALSCHED_SECRET_NAME`) holding the URL; with no audience, the channel's
    `webhook` secret is used. The URL itself is never accepted inline, echoed in errors
    or shown in HTTP client logs. Each webhook's destination is its URL's origin.
    """

    # Every secret of such a channel is a webhook URL unless a subclass says otherwise.
    secret_destinations: ClassVar[Mapping[str, Destination | tuple[Destination, ...]]] = (
        _destinations.declare({ANY_SECRET: Destination(in_value=True)})
    )

    @classmethod
    def destinations(
        cls, channel: Channel, environ: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The base's, plus the origin of each `webhook:NAME` audience that names a
        granted secret directly (keyed by NAME)."""
        found = super().destinations(channel, environ)
        webhook = Destination(in_value=True)
        env = os.environ if environ is None else environ
        for raw in channel.audiences.values():
            try:
                audience = Audience.parse(raw)
            except ValueError:
                continue  # reported by lint and validate, with its segment
            name = str(audience.id or "")
            if audience.kind != "webhook" or not ENV_VAR_NAME.match(name):
                continue
            if name in channel.secrets or name in found:
                continue
            try:
                found[name] = _destinations.resolve(
                    webhook,
                    channel.settings,
                    functools.partial(granted_secret, channel, name, "webhook audience", env),
                )
            except _destinations.DestinationError as error:
                raise PermanentError(
                    f"channel {channel.name!r}: cannot tell where webhook {name} is sent: {error}"
                ) from None
        return dict(sorted(found.items()))

    def validate(self, message: Message) -> list[str]:
        return [*super().validate(message), *self.webhook_audience_problems(message.audience)]

    def webhook_audience_problems(self, audience: Any) -> list[str]:
        """What is wrong with a `webhook:NAME` audience (other kinds: the base checks)."""
        if getattr(audience, "kind", None) != "webhook":
            return []
        if not ENV_VAR_NAME.match(audience.id or ""):
            # Never echo the value: it is probably the webhook URL pasted in.
            example = f"{self.name.upper()}_WEBHOOK_FR"
            return [
                "a webhook audience must name a granted secret holding "
                f"the webhook URL (e.g. webhook:{example}), not the URL itself"
            ]
        return []

    def webhook_name(self, audience: Any) -> str:
        """The secret key or environment variable naming the webhook for `audience`."""
        if audience is None:
            return "webhook"
        kind = getattr(audience, "kind", None)
        if kind != "webhook":
            raise PermanentError(
                f"channel {self.channel.name!r}: {self.name} cannot target a {kind!r} "
                "audience (write webhook:NAME)"
            )
        problems = self.webhook_audience_problems(audience)
        if problems:
            raise PermanentError(f"channel {self.channel.name!r}: {problems[0]}")
        return str(audience.id)

    def webhook_names(self) -> list[str]:
        """Every webhook the channel names, in order: its `webhook` secret (when it
        declares one), then each distinct `webhook:NAME` audience; for `verify`."""
        names = ["webhook"] if "webhook" in self.channel.secrets else []
        for raw in self.channel.audiences.values():
            try:
                audience = Audience.parse(raw)
            except ValueError:
                continue  # reported by lint and validate, with its segment
            if audience.kind == "webhook" and not self.webhook_audience_problems(audience):
                name = str(audience.id)
                if name not in names:
                    names.append(name)
        return names

    def webhook_url(self, name: str) -> str:
        """The webhook URL `name` stands for; a credential that only `name` may show."""
        if name in self.channel.secrets or name == "webhook":
            url = self.secret(name)
        else:
            url = self.env_secret(name, "the segment's webhook URL")
        hide_secret(url, f"webhook {name}")
        return url
