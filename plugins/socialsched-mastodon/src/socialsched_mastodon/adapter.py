"""Mastodon adapter: statuses through the Mastodon REST API (v1 statuses, v2 media,
v2 instance).

Channel settings:
  instance          base URL of the server, e.g. "https://mastodon.social" (required)
  max_length        character limit; when absent, read from the instance configuration
                    (`GET /api/v2/instance`), falling back to Mastodon's default of 500
  instance_limits   false to never ask the instance for its character and media limits
                    (default true; giving max_length also means not asking)
  media_wait        seconds to wait for the server to process an upload (default 120)
  visibility        default visibility when a segment has no audience (default "public")
  content_warning   content warning (spoiler text) for every post on this channel
  content_warnings  table: post tag -> content warning, for posts carrying that tag
  timeout           seconds per HTTP request (default 20)
Secrets: token (an access token with the read:accounts, read:statuses, write:media and
write:statuses scopes).
Audiences (per segment, see `socialsched.calendar.audiences`):
  "visibility:public" | "visibility:unlisted" | "visibility:private" (followers only)
  "recipient:@alice@example.social"   a direct message to one account (visibility
                                      direct, the mention put in front of the text)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, overload

import attrs
import babel
import httpx
import regex

from socialsched.adapters import (
    Adapter,
    CannotCheck,
    Capabilities,
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.adapters.engagement import Engagement
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.media import IMAGE_TYPES, VIDEO_TYPES, Media, MediaLimits
from socialsched.trust import safe_fetch
from socialsched.trust.destinations import ANY_SECRET, Destination, declare

from .engagement import BATCH, ENGAGEMENT, status_engagement
from .html_text import plain_text
from .limits import instance_media_limits

VISIBILITIES = ("public", "unlisted", "private", "direct")
DEFAULT_MAX_LENGTH = 500
DEFAULT_URL_LENGTH = 23
# An instance document is a few kilobytes; more is not an instance's answer.
INSTANCE_DOCUMENT_BYTES = 1_000_000
MEGABYTE = 1024 * 1024
# Mastodon's own defaults since 4.2 (MediaAttachment: 16 MB and 3840x2160 pixels per
# image, 99 MB per video; four attachments, of which at most one video, never mixed);
# an instance may announce other limits in its configuration, which then win.
DEFAULT_IMAGES = MediaLimits(
    max_count=4, max_bytes=16 * MEGABYTE, max_pixels=8_294_400, types=IMAGE_TYPES
)
DEFAULT_VIDEOS = MediaLimits(
    max_count=1, max_bytes=99 * MEGABYTE, max_pixels=8_294_400, types=VIDEO_TYPES
)
DEFAULT_ALT_LENGTH = 1500
# How far before a delivery's due time `find` looks for its status: a runner never
# publishes early, so this only covers clocks that disagree.
FIND_MARGIN = timedelta(hours=1)
FIND_PAGE = 40  # the most Mastodon returns per page of an account's statuses
FIND_PAGES = 5
# The receipt of a status that went out but whose id the server's answer lacked.
UNCONFIRMED = "unconfirmed:"

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


class InstanceCapabilities:
    """`MastodonAdapter.capabilities`: on the class, Mastodon's defaults; on an adapter,
    what its instance announces, asked once on first use, since the planner reads the
    limits (to fit media and split threads) before it validates anything."""

    def __init__(self, defaults: Capabilities) -> None:
        self.defaults = defaults

    @overload
    def __get__(self, adapter: None, owner: type) -> Capabilities: ...

    @overload
    def __get__(self, adapter: MastodonAdapter, owner: type) -> Capabilities: ...

    def __get__(self, adapter: MastodonAdapter | None, owner: type) -> Capabilities:
        if adapter is None:
            return self.defaults
        adapter._ensure_limits()
        return adapter.__dict__.get("_capabilities", self.defaults)

    def __set__(self, adapter: MastodonAdapter, value: Capabilities) -> None:
        adapter.__dict__["_capabilities"] = value


class MastodonAdapter(Adapter):
    """Posts statuses to one Mastodon account."""

    name = "mastodon"
    #: Where each secret is sent (the origin the operator approves).
    secret_destinations = declare({ANY_SECRET: Destination("instance")})
    # Its checks read the text, media and audience, never the time.
    validation_reads_time = False
    capabilities = InstanceCapabilities(
        Capabilities(
            max_length=DEFAULT_MAX_LENGTH,
            audiences=("visibility", "recipient"),
            native_scheduling=False,
            delete=True,
            idempotent=True,
            images=DEFAULT_IMAGES,
            videos=DEFAULT_VIDEOS,
            mixed_media=False,
            max_alt_length=DEFAULT_ALT_LENGTH,
            threads=True,
            engagement=ENGAGEMENT,
        )
    )
    required_secrets = ("token",)
    required_settings = ("instance",)
    doubt_guarantee = "checked (recent statuses)"

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
        # A channel that states its limit is planned without asking the instance.
        self._limits_known: bool = "max_length" in settings or not settings.get(
            "instance_limits", True
        )
        if "max_length" in settings:
            self.capabilities = attrs.evolve(
                self.capabilities, max_length=int(settings["max_length"])
            )
        self.media_wait = float(settings.get("media_wait", 120))
        self._client: httpx.Client | None = None
        #: Extra arguments for `safe_fetch.fetch` when reading the instance's limits
        #: (tests give a resolver and a network backend).
        self.instance_fetch_options: dict[str, Any] = {}
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.sleep: Callable[[float], None] = time.sleep
        self._blocked_until: datetime | None = None
        self._account: dict[str, Any] | None = None
        #: Whether the server shows many statuses in one request (None: not asked yet).
        self.batch_statuses: bool | None = None

    # -- limits -------------------------------------------------------------------------

    def _ensure_limits(self) -> None:
        """Read the character and media limits from the instance once; keep the
        defaults for what it does not say or when it cannot be asked."""
        if getattr(self, "_limits_known", True):
            return  # known, or asked before __init__ has said where to ask
        self._limits_known = True
        try:
            # Public endpoint: no token needed, so `plan` works without secrets; a short
            # deadline because planning offline should fall back to the defaults quickly.
            # The instance is named by the calendar, so it is fetched like a calendar's
            # media URL: public addresses only (or SOCIALSCHED_ALLOWED_NETWORKS), bounded
            # in bytes and time, and never with the token.
            document = safe_fetch.fetch(
                f"{self.instance}/api/v2/instance",
                max_bytes=INSTANCE_DOCUMENT_BYTES,
                deadline=min(self.timeout, 5),
                **self.instance_fetch_options,
            )
            config = json.loads(document.data)["configuration"]
            statuses = config.get("statuses", {})
            media = config.get("media_attachments", {})
        except (safe_fetch.FetchRefused, ValueError, KeyError, TypeError, AttributeError):
            return
        try:
            capabilities = instance_media_limits(self.capabilities, statuses, media)
            if (
                statuses.get("max_characters") is not None
                and "max_length" not in self.channel.settings
            ):
                max_length = int(statuses["max_characters"])
                capabilities = attrs.evolve(capabilities, max_length=max_length)
            url_length = int(statuses.get("characters_reserved_per_url", self.url_length))
        except (ValueError, TypeError, AttributeError):
            return  # a malformed configuration: Mastodon's defaults stay
        self.capabilities, self.url_length = capabilities, url_length

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

    def _refused(self, response: httpx.Response, what: str) -> PermanentError:
        """The error for a 4xx answer: a refused token is `CredentialsRejected`."""
        text = f"mastodon {self.instance} {what}: {response.status_code}{_server_error(response)}"
        if response.status_code in (401, 403):
            return CredentialsRejected(text)
        return PermanentError(text)

    # -- media --------------------------------------------------------------------------

    def upload(self, media: Media) -> str:
        """Upload one attachment with its alt text (the description); its media id once
        the server has processed it."""
        response = self._request(
            "POST",
            "/api/v2/media",
            files={
                "file": (
                    media.filename or f"upload.{media.mime_type.split('/')[1]}",
                    media.read(),
                    media.mime_type,
                )
            },
            data={"description": media.alt} if media.alt else {},
        )
        name = media.source or media.filename or media.digest[:12]
        if response.status_code >= 400:
            raise self._refused(response, f"refused {name}")
        attachment = _json(response)
        media_id = str(attachment.get("id") or "")
        if not media_id:
            raise TransientError(
                f"mastodon {self.instance} answered the upload of {name} without a media id"
            )
        # 202: accepted, processed in the background; `url` stays null until it is done.
        waited = 0.0
        delay = 1.0
        while response.status_code == 202 or not attachment.get("url"):
            if waited >= self.media_wait:
                raise TransientError(
                    f"mastodon {self.instance} still processing {name} after {waited:.0f} s"
                )
            self.sleep(delay)
            waited += delay
            delay = min(delay * 2, 10.0)
            response = self._request("GET", f"/api/v1/media/{media_id}")
            if response.status_code >= 400:
                raise self._refused(response, f"failed to process {name}")
            # 206 Partial Content: still processing.
            attachment = _json(response) if response.status_code == 200 else {}
        return media_id

    # -- publishing ---------------------------------------------------------------------

    def status_body(self, message: Message, media_ids: list[str]) -> dict[str, Any]:
        """The JSON body of `POST /api/v1/statuses` for `message`."""
        visibility = self.visibility(message)
        body: dict[str, Any] = {
            "status": self.status_text(message, visibility),
            "visibility": visibility.visibility,
            "language": mastodon_language(message.locale),
        }
        if media_ids:
            body["media_ids"] = media_ids
        if message.reply_to is not None:
            body["in_reply_to_id"] = message.reply_to.remote_id
        warning = self.content_warning(message)
        if warning:
            body["spoiler_text"] = warning
            body["sensitive"] = True
        return body

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        problems = self.validate(message)
        if problems:
            raise PermanentError("; ".join(problems))
        # A retry uploads the media again: Mastodon deletes unattached uploads itself,
        # and the Idempotency-Key below keeps the status from being posted twice.
        media_ids = [self.upload(media) for media in message.attachments]
        body = self.status_body(message, media_ids)
        response = self._request(
            "POST",
            "/api/v1/statuses",
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        if response.status_code >= 400:
            raise self._refused(response, "rejected the status")
        # From here on the status exists: whatever goes wrong, return a receipt.
        try:
            status = response.json()
            return Receipt(remote_id=str(status["id"]), url=status.get("url"))
        except (ValueError, KeyError, TypeError):
            pass
        try:
            found = self.find(message, idempotency_key)
        except Exception:  # whatever fails now, the status went out: never an error
            found = None
        if found is not None:
            return found
        return Receipt(
            remote_id=f"{UNCONFIRMED}{idempotency_key}",
            extra={"unconfirmed": f"mastodon answered {response.status_code} without a status id"},
        )

    # -- checks -------------------------------------------------------------------------

    def account(self) -> dict[str, Any]:
        """The account the token belongs to (`verify_credentials`), asked once."""
        if self._account is None:
            response = self._request("GET", "/api/v1/accounts/verify_credentials")
            if response.status_code >= 400:
                raise self._refused(response, "refused the token")
            account = _json(response)
            if not account.get("id"):
                raise TransientError(
                    f"mastodon {self.instance} answered verify_credentials without an account"
                )
            self._account = account
        return self._account

    def verify(self) -> str:
        """The account's handle, once the instance has accepted the token."""
        self.secret("token")
        self._account = None
        account = self.account()
        host = httpx.URL(self.instance).host
        return f"@{account.get('acct') or account.get('username')}@{host}"

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """The account's status for `message`, looked up among its statuses since the
        delivery was due: same text, content warning and reply target (Mastodon keeps
        an Idempotency-Key for an hour only, so a later retry cannot rely on it)."""
        account_id = self.account()["id"]
        since = message.utc - FIND_MARGIN
        expected = _comparable(self.status_text(message, self.visibility(message)))
        warning = self.content_warning(message) or ""
        # A later part names the part it replies to; one asked about without it (its
        # receipt not at hand) is matched on its text alone.
        any_reply = message.part > 1 and message.reply_to is None
        reply_to = message.reply_to.remote_id if message.reply_to is not None else None
        params: dict[str, Any] = {"limit": FIND_PAGE, "exclude_reblogs": "true"}
        for _ in range(FIND_PAGES):
            response = self._request(
                "GET", f"/api/v1/accounts/{account_id}/statuses", params=params
            )
            if response.status_code >= 400:
                raise self._refused(response, "refused to list the account's statuses")
            try:
                statuses = response.json() if response.status_code == 200 else None
            except ValueError:
                statuses = None
            if not isinstance(statuses, list):
                raise TransientError(f"mastodon {self.instance} listed statuses unreadably")
            if not statuses:
                return None
            for status in statuses:
                if _created_at(status) < since:
                    return None
                if (
                    _comparable(plain_text(status.get("content") or "")) == expected
                    and (status.get("spoiler_text") or "") == warning
                    and (any_reply or status.get("in_reply_to_id") == reply_to)
                ):
                    return Receipt(remote_id=str(status["id"]), url=status.get("url"))
            params["max_id"] = statuses[-1]["id"]
        raise CannotCheck(
            f"mastodon {self.instance}: more than {FIND_PAGE * FIND_PAGES} statuses since "
            f"{since:%Y-%m-%d %H:%M} UTC; cannot tell whether {idempotency_key} went out"
        )

    def delete(self, receipt: Receipt) -> None:
        if receipt.remote_id.startswith(UNCONFIRMED):
            raise PermanentError(
                f"mastodon {self.instance}: the status published under "
                f"{receipt.remote_id.removeprefix(UNCONFIRMED)} has no known id; delete it "
                "by hand"
            )
        response = self._request("DELETE", f"/api/v1/statuses/{receipt.remote_id}")
        # 404: already gone, which is what deleting wanted.
        if response.status_code >= 400 and response.status_code != 404:
            raise self._refused(response, f"refused to delete status {receipt.remote_id}")

    engagement_batch = BATCH

    def engagement(self, receipts: Sequence[Receipt]) -> Mapping[str, Engagement]:
        """Favourites, boosts, replies and quotes: 20 statuses a request (see
        `socialsched_mastodon.engagement`); an unconfirmed receipt has no id to ask."""
        ids = [r.remote_id for r in receipts if not r.remote_id.startswith(UNCONFIRMED)]
        return status_engagement(self, ids)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _comparable(text: str) -> str:
    """Text as Mastodon shows it back, for comparing: a mention `@user@host` of another
    server shown as `@user`, whitespace runs as one space."""
    text = _MENTION.sub(lambda match: "@" + match[1], text)
    return " ".join(text.split())


def _created_at(status: Mapping[str, Any]) -> datetime:
    try:
        created = datetime.fromisoformat(str(status["created_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return datetime.max.replace(tzinfo=UTC)  # unknown: keep looking
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


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
