"""Mastodon adapter: statuses through the Mastodon REST API (v1 statuses, v2 instance).

Channel settings:
  instance          base URL of the server, e.g. "https://mastodon.social" (required)
  max_length        character limit; when absent, read from the instance configuration
                    (`GET /api/v2/instance`), falling back to Mastodon's default of 500
  instance_limits   false to never ask the instance for its limits (default true)
  visibility        default visibility when a segment has no audience (default "public")
  content_warning   content warning (spoiler text) for every post on this channel
  content_warnings  table: post tag -> content warning, for posts carrying that tag
  timeout           seconds per HTTP request (default 20)
Secrets: token (an access token with the write:statuses scope).
Audiences (per segment, see `socialsched.audiences`):
  "visibility:public" | "visibility:unlisted" | "visibility:private" (followers only)
  "recipient:@alice@example.social"   a direct message to one account (visibility
                                      direct, the mention put in front of the text)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import attrs
import babel
import httpx
import regex

from socialsched.adapters import (
    Adapter,
    Capabilities,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.audiences import Audience
from socialsched.model import Channel

VISIBILITIES = ("public", "unlisted", "private", "direct")
DEFAULT_MAX_LENGTH = 500
DEFAULT_URL_LENGTH = 23

# Mastodon counts every link as a fixed number of characters and a mention by its
# local part only (StatusLengthValidator), then counts grapheme clusters.
_URL = regex.compile(r"https?://[^\s<>\"']+")
_MENTION = regex.compile(r"(?<![\w/])@(\w+(?:[.\-]\w+)*)@[\w.\-]+\w", regex.UNICODE)


def mastodon_language(locale: str) -> str:
    """The ISO 639 language code Mastodon wants for a BCP 47 locale ("fr-DZ" -> "fr")."""
    return babel.Locale.parse(locale, sep="-" if "-" in locale else "_").language


@attrs.frozen
class Visibility:
    """How Mastodon shows one segment's status: its visibility and, for a direct
    message, the recipient's mention."""

    visibility: str
    mention: str | None = None


class MastodonAdapter(Adapter):
    """Posts statuses to one Mastodon account."""

    name = "mastodon"
    capabilities = Capabilities(
        max_length=DEFAULT_MAX_LENGTH,
        audiences=("visibility", "recipient"),
        native_scheduling=False,
        delete=True,
        idempotent=True,
    )

    def __init__(self, channel: Channel, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(channel, environ)
        settings = channel.settings
        instance = settings.get("instance")
        if not instance:
            raise PermanentError(
                f"channel {channel.name!r}: the mastodon adapter needs settings.instance "
                "(e.g. 'https://mastodon.social')"
            )
        self.instance = str(instance).rstrip("/")
        self.timeout = float(settings.get("timeout", 20))
        self.url_length = DEFAULT_URL_LENGTH
        self._limits_known = "max_length" in settings or not settings.get("instance_limits", True)
        if "max_length" in settings:
            self.capabilities = attrs.evolve(
                self.capabilities, max_length=int(settings["max_length"])
            )
        self._client: httpx.Client | None = None
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._blocked_until: datetime | None = None

    # -- limits -------------------------------------------------------------------------

    def _ensure_limits(self) -> None:
        """Read the character limit from the instance once; keep the default on failure."""
        if self._limits_known:
            return
        self._limits_known = True
        try:
            # Public endpoint: no token needed, so `plan` works without secrets; a short
            # timeout because planning offline should fall back to 500 quickly.
            response = httpx.get(f"{self.instance}/api/v2/instance", timeout=min(self.timeout, 5))
            response.raise_for_status()
            config = response.json().get("configuration", {})
            statuses = config.get("statuses", {})
            max_length = int(statuses["max_characters"])
            self.url_length = int(statuses.get("characters_reserved_per_url", self.url_length))
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
            return
        self.capabilities = attrs.evolve(self.capabilities, max_length=max_length)

    def text_length(self, text: str) -> int:
        """Length as Mastodon counts it: links as 23, mentions by local part, graphemes."""
        countable = _URL.sub("x" * self.url_length, text)
        countable = _MENTION.sub(lambda match: "@" + match[1], countable)
        return len(regex.findall(r"\X", countable))

    def visibility(self, message: Message) -> Visibility:
        """The visibility (and recipient, for direct messages) for `message`.

        No audience means the channel's `settings.visibility` (default "public").
        """
        audience: Audience | None = message.audience
        where = f"channel {self.channel.name!r}, segment {message.segment!r}"
        if audience is None:
            visibility, mention = str(self.channel.settings.get("visibility", "public")), None
        elif audience.kind == "visibility":
            visibility, mention = str(audience.id), None
        elif audience.kind == "recipient":
            visibility, mention = "direct", "@" + str(audience.id).removeprefix("@")
        else:
            raise PermanentError(
                f"{where}: mastodon cannot target a {audience.kind!r} audience "
                "(use 'visibility:public|unlisted|private' or 'recipient:@user@host')"
            )
        if visibility not in VISIBILITIES:
            raise PermanentError(
                f"{where}: mastodon visibility {visibility!r} is not one of "
                f"{', '.join(VISIBILITIES)}"
            )
        if visibility == "direct" and mention is None:
            raise PermanentError(
                f"{where}: a direct mastodon message needs a recipient: "
                "write the audience as 'recipient:@user@host'"
            )
        return Visibility(visibility, mention)

    def content_warning(self, message: Message) -> str | None:
        """The spoiler text for `message`: by post tag, else the channel's, else none."""
        by_tag = self.channel.settings.get("content_warnings", {})
        for tag in message.tags:
            if tag in by_tag:
                return str(by_tag[tag])
        warning = self.channel.settings.get("content_warning")
        return str(warning) if warning else None

    def status_text(self, message: Message, visibility: Visibility) -> str:
        """The status text; a direct message starts with its recipient's mention."""
        if visibility.mention and visibility.mention not in message.text:
            return f"{visibility.mention} {message.text}"
        return message.text

    def validate(self, message: Message) -> list[str]:
        # The limit may come from the instance: learn it before the base checks it.
        self._ensure_limits()
        problems = super().validate(message)
        audience = message.audience
        if audience is not None and audience.kind not in self.capabilities.audiences:
            return problems  # the base named the unsupported kind
        try:
            visibility = self.visibility(message)
        except PermanentError as error:
            return [*problems, str(error)]
        limit = self.capabilities.max_length
        if limit is not None and self.text_length(message.text) <= limit:
            # The text fits alone; Mastodon also counts the mention and content warning.
            text = self.status_text(message, visibility)
            warning = self.content_warning(message) or ""
            length = self.text_length(text) + self.text_length(warning)
            if length > limit:
                problems.append(
                    f"text with its mention and content warning is {length} characters; "
                    f"this instance allows {limit}"
                )
        return problems

    # -- HTTP ---------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.instance,
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.secret('token')}"},
            )
        return self._client

    def _retry_after(self, response: httpx.Response) -> float | None:
        """Seconds to wait, from Retry-After or Mastodon's X-RateLimit-Reset."""
        now = self.clock()
        header = response.headers.get("Retry-After")
        if header:
            try:
                return max(0.0, float(header))
            except ValueError:
                try:
                    return max(0.0, (parsedate_to_datetime(header) - now).total_seconds())
                except (TypeError, ValueError):
                    pass
        reset = _reset_time(response)
        if reset is not None:
            return max(0.0, (reset - now).total_seconds())
        return None

    def _note_rate_limit(self, response: httpx.Response) -> None:
        """Remember an exhausted rate limit so the next call waits instead of failing."""
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = _reset_time(response)
        if remaining is not None and reset is not None and remaining.strip() == "0":
            self._blocked_until = reset
        else:
            self._blocked_until = None

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._blocked_until is not None:
            wait = (self._blocked_until - self.clock()).total_seconds()
            if wait > 0:
                raise TransientError(
                    f"mastodon rate limit exhausted on {self.instance}", retry_after=wait
                )
            self._blocked_until = None
        try:
            response = self._http().request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise TransientError(f"mastodon {self.instance} timed out") from None
        except httpx.TransportError as error:
            raise TransientError(
                f"mastodon {self.instance} unreachable: {type(error).__name__}"
            ) from None
        self._note_rate_limit(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(
                f"mastodon {self.instance} answered {response.status_code}"
                f"{_server_error(response)}",
                retry_after=self._retry_after(response),
            )
        return response

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        problems = self.validate(message)
        if problems:
            raise PermanentError("; ".join(problems))
        visibility = self.visibility(message)
        body: dict[str, Any] = {
            "status": self.status_text(message, visibility),
            "visibility": visibility.visibility,
            "language": mastodon_language(message.locale),
        }
        warning = self.content_warning(message)
        if warning:
            body["spoiler_text"] = warning
            body["sensitive"] = True
        response = self._request(
            "POST",
            "/api/v1/statuses",
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        if response.status_code >= 400:
            raise PermanentError(
                f"mastodon {self.instance} rejected the status: {response.status_code}"
                f"{_server_error(response)}"
            )
        try:
            status = response.json()
            return Receipt(remote_id=str(status["id"]), url=status.get("url"))
        except (ValueError, KeyError, TypeError):
            raise PermanentError(
                f"mastodon {self.instance} answered {response.status_code} without a status id"
            ) from None

    def delete(self, receipt: Receipt) -> None:
        response = self._request("DELETE", f"/api/v1/statuses/{receipt.remote_id}")
        # 404: already gone, which is what deleting wanted.
        if response.status_code >= 400 and response.status_code != 404:
            raise PermanentError(
                f"mastodon {self.instance} refused to delete status {receipt.remote_id}: "
                f"{response.status_code}{_server_error(response)}"
            )


def _reset_time(response: httpx.Response) -> datetime | None:
    header = response.headers.get("X-RateLimit-Reset")
    if not header:
        return None
    try:
        reset = datetime.fromisoformat(header.replace("Z", "+00:00"))
    except ValueError:
        return None
    return reset if reset.tzinfo else reset.replace(tzinfo=UTC)


def _server_error(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return f" ({error})" if error else ""
