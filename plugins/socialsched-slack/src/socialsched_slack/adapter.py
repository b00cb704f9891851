"""The `slack` adapter: incoming webhooks for text, a bot token for files and lookups.

A segment is reached either through an incoming webhook (`webhook:NAME`: text only,
since a webhook cannot upload files, read history or delete) or, when the channel has
a bot token, through a Slack channel id (`group:C0123ABCDEF`): text with
`chat.postMessage`, images and videos with the external upload flow
(`files.getUploadURLExternal`, the bytes POSTed to the upload URL, then
`files.completeUploadExternal` sharing them in the channel with the text as the
initial comment), deletes, and in-doubt lookups in `conversations.history`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import httpx

from socialsched.adapters import (
    CannotCheck,
    Capabilities,
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
    WebhookAudienceAdapter,
    retry_after_seconds,
)
from socialsched.calendar.model import Channel
from socialsched.media import NO_MEDIA, Media, MediaLimits
from socialsched.trust.destinations import Destination, declare
from socialsched.trust.http_client import ChannelClient

from .blocks import TEXT_LIMIT, escape, section_blocks

FORMATS = ("blocks", "text")
DEFAULT_TIMEOUT = 10.0
DEFAULT_API_URL = "https://slack.com/api"
GB = 1024**3
FILES_PER_MESSAGE = 10
"""Most files one message shares (`files.completeUploadExternal`)."""
ALT_LIMIT = 1000
"""Most characters of an image's alt text (`alt_txt`)."""
METADATA_EVENT = "socialsched_post"
"""The `metadata.event_type` of messages this adapter posts; its payload carries the
idempotency key, which is how `find` recognises them."""
FIND_MARGIN = timedelta(days=1)
"""How far before the earlier of the due time and now `find` looks: a post goes out
at or after its due time, or (publish-now) shortly before the lookup."""
CREDENTIAL_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "invalid_token",  # a webhook's
        "no_service",  # a removed or disabled webhook
        "no_team",
        "team_disabled",
    }
)
"""Slack error strings that mean the token or webhook itself is refused."""
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
NO_WEBHOOK_FILES = (
    "slack incoming webhooks cannot upload files: give the channel a bot_token secret "
    "and the segment a group:<channel id> audience"
)
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class SlackAdapter(WebhookAudienceAdapter):
    """Posts to Slack through incoming webhooks, or as a bot (files, delete, lookups).

    A segment's audience `webhook:NAME` *names* where its webhook URL lives, because the
    URL is a credential: NAME is a key of the channel's `secrets` table or else an
    environment variable name. With no audience, the channel's `webhook` secret is used.
    With a `bot_token` secret, a `group:C0123ABCDEF` audience posts to that Slack
    channel as the bot, media included.

    Settings: `format` ("blocks", the default: the text split into mrkdwn section blocks
    of at most 3,000 characters, with the whole text as notification fallback; or
    "text"), `escape` (default true: `&`, `<`, `>` are escaped so rendered text is never
    read as Slack markup; false lets templates write `<url|label>` links),
    `unfurl_links` (bool), `timeout` (seconds, default 10), `api_url` (the Web API,
    default https://slack.com/api).
    """

    name = "slack"
    #: Where each secret is sent (the origin the operator approves).
    secret_destinations = declare(
        {
            **WebhookAudienceAdapter.secret_destinations,
            "bot_token": Destination("api_url", DEFAULT_API_URL),
        }
    )
    # Its checks read the text, media and audience, never the time.
    validation_reads_time = False
    # With a bot token; a channel without one takes webhook audiences and text only.
    capabilities = Capabilities(
        max_length=TEXT_LIMIT,
        audiences=("webhook", "group"),
        native_scheduling=False,
        delete=True,
        idempotent=False,
        images=MediaLimits(max_count=FILES_PER_MESSAGE, max_bytes=GB),
        videos=MediaLimits(max_count=FILES_PER_MESSAGE, max_bytes=GB, types=("video/mp4",)),
        mixed_media=True,
        max_alt_length=ALT_LIMIT,
        threads=False,
        engagement=(),  # no views or shares; webhooks read nothing (docs/networks/slack.md)
    )
    doubt_guarantee = "checked (find) as a bot; webhooks: cannot check"

    def __init__(self, channel: Channel, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(channel, environ)
        settings = channel.settings
        self.format = str(settings.get("format", "blocks"))
        if self.format not in FORMATS:
            raise PermanentError(
                f"channel {channel.name!r}: settings.format must be one of "
                f"{', '.join(FORMATS)}, not {self.format!r}"
            )
        self.escape = bool(settings.get("escape", True))
        self.unfurl_links = settings.get("unfurl_links")
        self.timeout = float(settings.get("timeout", DEFAULT_TIMEOUT))
        self.api_url = str(settings.get("api_url", DEFAULT_API_URL)).rstrip("/")
        self.has_bot = "bot_token" in channel.secrets
        if not self.has_bot:
            self.capabilities = attrs.evolve(
                self.capabilities,
                audiences=("webhook",),
                delete=False,
                images=NO_MEDIA,
                videos=NO_MEDIA,
                max_alt_length=None,
            )
        self._client: httpx.Client | None = None
        # Incoming webhooks and upload URLs: without the bot's Authorization header.
        self._plain = ChannelClient(timeout=self.timeout)
        self._identity: dict[str, Any] | None = None
        # Webhooks and chat.postMessage take no idempotency key, so a key published by
        # this instance is remembered and not sent again; `find` covers other workers
        # where a bot token can read the channel.
        self._published: dict[str, Receipt] = {}

    def _slack_text(self, text: str) -> str:
        return escape(text) if self.escape else text

    def text_length(self, text: str) -> int:
        """Characters Slack counts: escaping `&`, `<`, `>` makes the text longer."""
        return len(self._slack_text(text))

    def validate(self, message: Message) -> list[str]:
        problems = super().validate(message)
        kind = getattr(message.audience, "kind", None)
        if kind == "group":
            if not self.has_bot:
                problems.append(
                    "a slack group:<channel id> audience needs the channel's bot_token secret"
                )
            elif not _CHANNEL_ID.match(str(message.audience.id)):
                problems.append(
                    f"slack channel id {message.audience.id!r} must look like C0123ABCDEF "
                    "(the channel's details show it)"
                )
        elif message.attachments and kind in (None, "webhook"):
            problems.append(NO_WEBHOOK_FILES)
        return problems

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON body of a text message (the webhook's, or chat.postMessage's without
        its channel and metadata)."""
        text = self._slack_text(message.text)
        body: dict[str, Any] = {"text": text}
        if self.format == "blocks":
            body["blocks"] = section_blocks(text)
        if self.unfurl_links is not None:
            body["unfurl_links"] = bool(self.unfurl_links)
        return body

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        if getattr(message.audience, "kind", None) == "group":
            receipt = self._publish_as_bot(message, idempotency_key)
        else:
            if message.attachments:
                raise PermanentError(NO_WEBHOOK_FILES)
            receipt = self._publish_to_webhook(message, idempotency_key)
        self._published[idempotency_key] = receipt
        return receipt

    # -- incoming webhooks -------------------------------------------------------------

    def _webhook_post(self, name: str, body: dict[str, Any]) -> httpx.Response:
        url = self.webhook_url(name)
        where = f"slack webhook {name}"
        try:
            response = self._plain.client().post(url, json=body, timeout=self.timeout)
        except httpx.TimeoutException:
            raise TransientError(f"{where}: timed out after {self.timeout:g}s") from None
        except httpx.HTTPError as error:
            raise TransientError(f"{where}: {type(error).__name__}") from None
        return response

    def _webhook_error(self, name: str, response: httpx.Response) -> Exception:
        where = f"slack webhook {name}"
        detail = response.text.strip()[:200]
        if response.status_code == 429:
            retry_after = retry_after_seconds(response.headers)
            return TransientError(f"{where}: rate limited (429)", retry_after=retry_after)
        if response.status_code >= 500:
            return TransientError(
                f"{where}: server error {response.status_code} {detail}",
                retry_after=retry_after_seconds(response.headers),
            )
        error = CredentialsRejected if detail in CREDENTIAL_ERRORS else PermanentError
        return error(f"{where}: rejected with {response.status_code} {detail}")

    def _publish_to_webhook(self, message: Message, idempotency_key: str) -> Receipt:
        name = self.webhook_name(message.audience)
        response = self._webhook_post(name, self.payload(message))
        if response.status_code >= 400:
            raise self._webhook_error(name, response)
        return Receipt(remote_id=idempotency_key, extra={"webhook": name})

    def _probe_webhook(self, name: str) -> str:
        # A message without text is refused (400 no_text) by a live webhook and posts
        # nothing; a removed or revoked webhook answers 403/404/410 instead.
        response = self._webhook_post(name, {})
        if response.status_code == 400:
            return f"webhook {name} answers"
        if response.status_code in (403, 404, 410):
            raise CredentialsRejected(
                f"slack webhook {name}: refused with {response.status_code} "
                f"{response.text.strip()[:200]}"
            )
        if response.status_code < 400:
            return f"webhook {name} answers"
        raise self._webhook_error(name, response)

    # -- the Web API, as the bot ------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            token = self.secret("bot_token")
            self._client = httpx.Client(
                base_url=self.api_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            )
        return self._client

    def _api(self, method: str, *, sent: bool = False, **request: Any) -> dict[str, Any]:
        """Call Web API `method` (POST, or GET with `params`); its answer when `ok`.

        With `sent`, the call posts the message: a success whose answer cannot be read
        returns `{}` rather than raising (the post exists)."""
        verb = "GET" if "params" in request else "POST"
        try:
            response = self._http().request(verb, f"/{method}", **request)
        except httpx.TimeoutException:
            raise TransientError(f"slack {method}: timed out after {self.timeout:g}s") from None
        except httpx.HTTPError as error:
            raise TransientError(f"slack {method}: {type(error).__name__}") from None
        if response.status_code == 429:
            raise TransientError(
                f"slack {method}: rate limited (429)",
                retry_after=retry_after_seconds(response.headers),
            )
        if response.status_code >= 500:
            raise TransientError(f"slack {method}: server error {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            if sent and response.is_success:
                return {}
            raise TransientError(f"slack {method}: unreadable answer ({response.status_code})")
        if answer.get("ok"):
            return answer
        reason = str(answer.get("error") or response.status_code)
        if response.status_code == 401 or reason in CREDENTIAL_ERRORS:
            raise CredentialsRejected(f"slack {method}: {reason}")
        if reason in TRANSIENT_ERRORS:
            raise TransientError(
                f"slack {method}: {reason}", retry_after=retry_after_seconds(response.headers)
            )
        raise PermanentError(f"slack {method}: {reason}")

    def _publish_as_bot(self, message: Message, idempotency_key: str) -> Receipt:
        problems = self.validate(message)
        if problems:
            raise PermanentError("; ".join(problems))
        channel_id = str(message.audience.id)
        if not message.attachments:
            body = {
                "channel": channel_id,
                **self.payload(message),
                "metadata": {
                    "event_type": METADATA_EVENT,
                    "event_payload": {"idempotency_key": idempotency_key},
                },
            }
            answer = self._api("chat.postMessage", sent=True, json=body)
            return _receipt(channel_id, answer.get("ts"))
        # Uploaded files stay private (nothing is posted) until the last step shares them.
        file_ids = [self._upload(media, number) for number, media in enumerate(message.attachments)]
        body = {
            "files": [
                {"id": file_id, "title": _filename(media, number)}
                for number, (file_id, media) in enumerate(
                    zip(file_ids, message.attachments, strict=True)
                )
            ],
            "channel_id": channel_id,
        }
        if message.text.strip():
            body["initial_comment"] = self._slack_text(message.text)
        answer = self._api("files.completeUploadExternal", sent=True, json=body)
        return _receipt(channel_id, _share_ts(answer, channel_id), file_ids)

    def _upload(self, media: Media, number: int) -> str:
        """Upload one file (not shared yet); its Slack file id."""
        data = media.read()
        fields = {"filename": _filename(media, number), "length": str(len(data))}
        if media.kind == "image" and media.alt:
            fields["alt_txt"] = media.alt
        ticket = self._api("files.getUploadURLExternal", data=fields)
        try:
            upload_url, file_id = str(ticket["upload_url"]), str(ticket["file_id"])
        except KeyError:
            raise TransientError("slack files.getUploadURLExternal: no upload_url") from None
        try:
            response = self._plain.client().post(
                upload_url,
                content=data,
                headers={"Content-Type": media.mime_type},
                timeout=self.timeout,
            )
        except httpx.HTTPError as error:
            raise TransientError(f"slack file upload: {type(error).__name__}") from None
        if response.status_code >= 400:
            refusal = TransientError if response.status_code >= 500 else PermanentError
            raise refusal(f"slack file upload: refused with {response.status_code}")
        return file_id

    def verify(self) -> str:
        """`auth.test` with the bot token, and an empty (refused, unposted) message to
        each webhook the channel names."""
        said = []
        if self.has_bot:
            me = self._api("auth.test")
            said.append(f"bot {me.get('user', '?')} in workspace {me.get('team', '?')}")
        said.extend(self._probe_webhook(name) for name in self.webhook_names())
        if not said:
            raise PermanentError(
                f"channel {self.channel.name!r} names no slack webhook or bot_token"
            )
        return "slack " + "; ".join(said)

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """Look for the post in the Slack channel's recent history (bot token and a
        `group:` audience): a text message by its metadata key, a file share by the
        bot's identity, its text and its file names."""
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        if getattr(message.audience, "kind", None) != "group" or not self.has_bot:
            raise CannotCheck(
                "slack incoming webhooks cannot read their channel; a bot_token and a "
                "group:<channel id> audience can"
            )
        channel_id = str(message.audience.id)
        if self._identity is None:
            self._identity = self._api("auth.test")
        me = {self._identity.get("user_id"), self._identity.get("bot_id")} - {None}
        since = min(message.utc, datetime.now(UTC)) - FIND_MARGIN
        text = self._slack_text(message.text)
        names = [_filename(media, n) for n, media in enumerate(message.attachments)]
        cursor = ""
        while True:
            params = {
                "channel": channel_id,
                "oldest": f"{since.timestamp():.6f}",
                "limit": "200",
                "include_all_metadata": "true",
            }
            if cursor:
                params["cursor"] = cursor
            page = self._api("conversations.history", params=params)
            for posted in page.get("messages") or []:
                if _is_ours(posted, idempotency_key, me, text, names):
                    file_ids = [str(f["id"]) for f in posted.get("files") or [] if "id" in f]
                    return _receipt(channel_id, posted.get("ts"), file_ids)
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return None

    def delete(self, receipt: Receipt) -> None:
        """Delete a post made as the bot: its files, then its message when its ts is
        known (gone already counts as done). Webhook posts cannot be deleted."""
        if "webhook" in receipt.extra or not self.has_bot:
            raise PermanentError("slack cannot delete what an incoming webhook posted")
        for file_id in receipt.extra.get("file_ids") or ():
            try:
                self._api("files.delete", json={"file": file_id})
            except PermanentError as error:
                if "file_not_found" not in str(error) and "file_deleted" not in str(error):
                    raise
        ts = receipt.extra.get("ts")
        if ts:
            try:
                self._api("chat.delete", json={"channel": receipt.extra["channel"], "ts": ts})
            except PermanentError as error:
                if "message_not_found" not in str(error):
                    raise

    def close(self) -> None:
        """Close the channel's HTTP connections (bot and webhook)."""
        self._plain.close()
        if self._client is not None:
            self._client.close()
            self._client = None


def _filename(media: Media, number: int) -> str:
    return media.filename or f"media{number}.{media.mime_type.partition('/')[2]}"


def _receipt(channel_id: str, ts: Any, file_ids: list[str] | None = None) -> Receipt:
    """A post's receipt: a file share is named by its file ids (known before Slack
    reports the share's ts, and seen again by `find`), a text message by its ts ("?"
    when the answer could not be read: the post exists all the same)."""
    extra: dict[str, Any] = {"channel": channel_id}
    if ts:
        extra["ts"] = str(ts)
    if file_ids:
        extra["file_ids"] = file_ids
    ident = ",".join(file_ids) if file_ids else str(ts or "?")
    return Receipt(remote_id=f"{channel_id}/{ident}", extra=extra)


def _share_ts(answer: Mapping[str, Any], channel_id: str) -> str | None:
    """The ts of the message sharing the files, when Slack already reports it (the
    files are shared whatever this finds: it must not raise)."""
    try:
        for shared in answer.get("files") or []:
            shares = shared.get("shares") or {}
            for scope in ("public", "private"):
                found = (shares.get(scope) or {}).get(channel_id) or []
                if found and found[0].get("ts"):
                    return str(found[0]["ts"])
    except (AttributeError, TypeError, IndexError):
        pass
    return None


def _is_ours(
    posted: Mapping[str, Any], key: str, me: set[Any], text: str, names: list[str]
) -> bool:
    metadata = posted.get("metadata") or {}
    if metadata.get("event_type") == METADATA_EVENT:
        return (metadata.get("event_payload") or {}).get("idempotency_key") == key
    if not names or not ({posted.get("user"), posted.get("bot_id")} & me):
        return False
    files = [str(shared.get("name") or shared.get("title")) for shared in posted.get("files") or []]
    return posted.get("text", "") == text and files == names
