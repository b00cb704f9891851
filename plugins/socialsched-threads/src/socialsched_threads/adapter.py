"""The `threads` adapter: posts and reply chains on Threads (Meta) through the Threads
API's container-then-publish flow."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

import httpx

from socialsched.adapters import (
    Adapter,
    CannotCheck,
    Capabilities,
    CredentialsRejected,
    Message,
    PermanentError,
    QuotaReached,
    Receipt,
    TransientError,
)
from socialsched.media import Media, MediaLimits
from socialsched.media_hosts import MediaHostError, hosted
from socialsched.model import Channel

API_VERSION = "v1.0"
"""The Threads API version every request names (one place to move it)."""
API_URL = "https://graph.threads.net"
TEXT_LIMIT = 500
MAX_ITEMS = 20
"""Most images and videos one carousel holds."""
IMAGES = MediaLimits(
    max_count=MAX_ITEMS,
    max_bytes=8_000_000,
    types=("image/jpeg", "image/png"),
    animated=False,
)
VIDEOS = MediaLimits(max_count=MAX_ITEMS, max_bytes=1_000_000_000, types=("video/mp4",))
MAX_ALT_LENGTH = 1_000
DEFAULT_TIMEOUT = 30.0
DEFAULT_POLL_INTERVAL = 2.0
DEFAULT_POLL_TIMEOUT = 600.0
FIND_SLACK = timedelta(hours=1)
"""How long before its planned time an in-doubt post may have been created."""
FIND_LIMIT = 50
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613})
REJECTED_TOKEN_CODES = frozenset({102, 190})

log = logging.getLogger(__name__)


class _ReplyLost(TransientError):
    """The request may have reached Threads, but no answer came back."""


class ThreadsAdapter(Adapter):
    """Publishes to a Threads profile: text, one image or video, or a carousel of two to
    twenty; text over 500 characters goes out as a reply chain (`thread = "auto"`),
    each part replying to the one before, the media on the first.

    Threads fetches every file from a public URL: the channel's `settings.media_host`
    makes it reachable while the post is created (see docs/media-hosts.md).

    Settings: `user_id` (required, the Threads user id), `media_host`, `api_url`,
    `api_version` (default v1.0), `timeout` (seconds, default 30), `poll_interval` and
    `poll_timeout` (seconds between and in all of the checks of a media container's
    processing, default 2 and 600). Secret `access_token`: a token with threads_basic,
    threads_content_publish and threads_delete (for `retract`).

    Before each post the profile's publishing quota is read
    (`threads_publishing_limit`); when it is used up the delivery is deferred
    (`QuotaReached`), not failed.
    """

    name = "threads"
    capabilities = Capabilities(
        max_length=TEXT_LIMIT,
        images=IMAGES,
        videos=VIDEOS,
        mixed_media=True,
        max_alt_length=MAX_ALT_LENGTH,
        threads=True,
        delete=True,
    )
    media_by_url = True
    required_secrets = ("access_token",)
    required_settings = ("user_id",)
    doubt_guarantee = "checked (recent posts, by text and time)"

    def __init__(
        self,
        channel: Channel,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(channel, environ)
        settings = channel.settings
        user_id = settings.get("user_id")
        if not user_id:
            raise PermanentError(
                f"channel {channel.name!r}: the threads adapter needs settings.user_id"
            )
        self.user_id = str(user_id)
        self.api_version = str(settings.get("api_version", API_VERSION))
        self.api_url = str(settings.get("api_url", API_URL)).rstrip("/")
        self.timeout = float(settings.get("timeout", DEFAULT_TIMEOUT))
        self.poll_interval = float(settings.get("poll_interval", DEFAULT_POLL_INTERVAL))
        self.poll_timeout = float(settings.get("poll_timeout", DEFAULT_POLL_TIMEOUT))
        self.sleep = sleep
        self._published: dict[str, Receipt] = {}
        # Keys whose publish request got no answer: a retry looks the post up first.
        self._unanswered: set[str] = set()

    def validate(self, message: Message) -> list[str]:
        problems = super().validate(message)
        if len(message.attachments) > MAX_ITEMS:
            problems.append(
                f"{len(message.attachments)} images and videos; threads takes at most "
                f"{MAX_ITEMS} in one post"
            )
        return problems

    # ---- the Threads API ----

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        token = self.secret("access_token")
        where = f"threads user {self.user_id}"
        try:
            response = httpx.request(
                method,
                f"{self.api_url}/{self.api_version}/{path}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
                **kwargs,
            )
        except httpx.TimeoutException:
            raise _ReplyLost(f"{where}: timed out after {self.timeout:g}s") from None
        except httpx.HTTPError as error:
            raise _ReplyLost(f"{where}: {type(error).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        if response.status_code < 400 and "error" not in body:
            return body  # empty when unreadable: the caller decides what that means
        graph_error = body.get("error") or {}
        code = graph_error.get("code")
        # Never trust an error text to leave the token out.
        text = str(graph_error.get("message") or response.reason_phrase).replace(token, "***")
        detail = f"{where}: {response.status_code} (code {code}) {text}"
        if method == "DELETE" and response.status_code == 404:
            return {"success": True}  # already gone: what retract wants
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(detail, retry_after=_retry_after(response))
        if graph_error.get("is_transient") or code in TRANSIENT_CODES:
            raise TransientError(detail, retry_after=_retry_after(response))
        if code in REJECTED_TOKEN_CODES:
            raise CredentialsRejected(detail)
        raise PermanentError(detail)

    # ---- publishing ----

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        if idempotency_key in self._unanswered:
            found = self.find(message, idempotency_key)
            if found is not None:
                self._published[idempotency_key] = found
                return found
        self._check_quota()
        host = None
        if message.attachments:
            try:
                host = self.media_host()
            except MediaHostError as error:
                raise PermanentError(f"channel {self.channel.name!r}: {error}") from None
        try:
            serving: AbstractContextManager[list[str]] = (
                hosted(host, message.attachments) if host else nullcontext([])
            )
            with serving as urls:
                container = self._container(message, urls)
                try:
                    body = self._request(
                        "POST", f"{self.user_id}/threads_publish", data={"creation_id": container}
                    )
                except _ReplyLost:
                    self._unanswered.add(idempotency_key)
                    raise
        except MediaHostError as error:
            raise TransientError(f"channel {self.channel.name!r}: {error}") from None
        # The post exists now: nothing below may raise.
        self._unanswered.discard(idempotency_key)
        post_id = body.get("id")
        if not post_id:
            log.warning("threads user %s: the reply carries no post id", self.user_id)
            post_id = f"unknown:{idempotency_key}"
        receipt = Receipt(remote_id=str(post_id), extra={"container": container})
        self._published[idempotency_key] = receipt
        return receipt

    def _check_quota(self) -> None:
        body = self._request(
            "GET",
            f"{self.user_id}/threads_publishing_limit",
            params={"fields": "quota_usage,config"},
        )
        data = (body.get("data") or [{}])[0]
        config = data.get("config") or {}
        used, allowed = int(data.get("quota_usage") or 0), int(config.get("quota_total") or 0)
        window = int(config.get("quota_duration") or 86_400)
        if allowed and used >= allowed:
            # A rolling window: on average one post's worth of it frees per allowed post.
            raise QuotaReached(
                f"threads user {self.user_id}: {used} of {allowed} posts in the last "
                f"{window // 3600} hours used",
                retry_after=window / allowed,
            )

    def _container(self, message: Message, urls: Sequence[str]) -> str:
        """The processed container to publish for `message` (its media at `urls`)."""
        reply = {"reply_to_id": message.reply_to.remote_id} if message.reply_to else {}
        text = {"text": message.text, **reply}
        items = list(zip(message.attachments, urls, strict=True))
        if not items:
            return self._create({"media_type": "TEXT", **text}, wait=False)
        if len(items) == 1:
            media, url = items[0]
            return self._create({**_media_fields(media, url), **text}, wait=True)
        children = [
            self._create({**_media_fields(media, url), "is_carousel_item": "true"}, wait=True)
            for media, url in items
        ]
        carousel = {"media_type": "CAROUSEL", "children": ",".join(children)}
        return self._create({**carousel, **text}, wait=True)

    def _create(self, fields: dict[str, str], *, wait: bool) -> str:
        body = self._request("POST", f"{self.user_id}/threads", data=fields)
        container = body.get("id")
        if not container:
            raise TransientError(f"threads user {self.user_id}: a container without an id")
        if wait:
            self._wait_until_processed(str(container))
        return str(container)

    def _wait_until_processed(self, container: str) -> None:
        """Poll a media container until Threads has fetched and processed its file."""
        waited = 0.0
        while True:
            body = self._request("GET", container, params={"fields": "status,error_message"})
            status = body.get("status")
            if status in ("FINISHED", "PUBLISHED"):
                return
            if status in ("ERROR", "EXPIRED"):
                raise PermanentError(
                    f"threads container {container}: {status} "
                    f"({body.get('error_message') or 'no detail given'})"
                )
            if waited >= self.poll_timeout:
                raise TransientError(
                    f"threads container {container}: still {status} after {waited:g}s"
                )
            self.sleep(self.poll_interval)
            waited += max(self.poll_interval, 0.001)

    # ---- checks, lookups and delete ----

    def verify(self) -> str:
        """The token works for this profile (`GET /me?fields=id,username`)."""
        body = self._request("GET", "me", params={"fields": "id,username"})
        if str(body.get("id")) != self.user_id:
            raise CredentialsRejected(
                f"threads user {self.user_id}: the access_token is {body.get('id')!r}'s, "
                "not this profile's"
            )
        return f"threads profile @{body.get('username') or '?'} ({self.user_id})"

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """The profile's post with this text, published from an hour before the message's
        time on; None when there is none."""
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        body = self._request(
            "GET",
            f"{self.user_id}/threads",
            params={"fields": "id,text,timestamp,permalink", "limit": str(FIND_LIMIT)},
        )
        since = message.utc - FIND_SLACK
        matches = [
            item
            for item in body.get("data") or []
            if item.get("text") == message.text
            and (_graph_time(item.get("timestamp")) or since) >= since
        ]
        if len(matches) > 1:
            raise CannotCheck(
                f"threads user {self.user_id}: {len(matches)} posts have this text around "
                "this time; cannot tell which is this delivery's"
            )
        if not matches:
            return None
        found = matches[0]
        return Receipt(
            remote_id=str(found["id"]), url=found.get("permalink"), extra={"found": True}
        )

    def delete(self, receipt: Receipt) -> None:
        """Delete (retract) a post by its Threads id (`DELETE /{id}`)."""
        self._request("DELETE", receipt.remote_id)


def _media_fields(media: Media, url: str) -> dict[str, str]:
    if media.kind == "video":
        fields = {"media_type": "VIDEO", "video_url": url}
    else:
        fields = {"media_type": "IMAGE", "image_url": url}
    if media.alt:
        fields["alt_text"] = media.alt
    return fields


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _graph_time(value: Any) -> datetime | None:
    """A Threads API time ("2027-03-01T12:00:00+0000"), or None."""
    if not value:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
