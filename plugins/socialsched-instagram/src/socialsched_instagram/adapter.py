"""The `instagram` adapter: posts to an Instagram professional account through the
Instagram Graph API's container-then-publish flow."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
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

API_VERSION = "v23.0"
"""The Graph API version every request names (one place to move it)."""
GRAPH_URL = "https://graph.facebook.com"
CAPTION_LIMIT = 2_200
MAX_HASHTAGS = 30
MAX_MENTIONS = 20
MAX_ITEMS = 10
"""Most images and videos one post (a carousel) holds."""
ASPECT_RATIOS = (4 / 5, 1.91)
"""The narrowest and widest feed image Instagram takes (width / height)."""
IMAGES = MediaLimits(
    max_count=MAX_ITEMS,
    max_bytes=8_000_000,
    types=("image/jpeg",),  # Instagram fetches JPEG only: others are converted
    animated=False,
)
VIDEOS = MediaLimits(max_count=MAX_ITEMS, max_bytes=300_000_000, types=("video/mp4",))
DEFAULT_TIMEOUT = 30.0
DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_POLL_TIMEOUT = 600.0
FIND_SLACK = timedelta(hours=1)
"""How long before its planned time an in-doubt post may have been created."""
FIND_LIMIT = 50
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80002})
REJECTED_TOKEN_CODES = frozenset({102, 190})
DAILY_LIMIT_SUBCODE = 2207042
"""The error subcode Instagram answers once the account's posts for the day are used up."""

log = logging.getLogger(__name__)
_HASHTAG = re.compile(r"(?<![\w&])#\w+")
_MENTION = re.compile(r"(?<![\w@])@[\w.]+")


class _ReplyLost(TransientError):
    """The request may have reached Instagram, but no answer came back."""


class InstagramAdapter(Adapter):
    """Publishes to an Instagram professional (business or creator) account.

    One image is a photo post, one video a reel, two to ten images or videos a carousel;
    the text is the caption. Instagram takes no text-only post, which `validate` (so
    `socialsched lint` and `plan`) reports. Instagram fetches every file from a public
    URL: the channel's `settings.media_host` makes it reachable while the post is
    created (see docs/media-hosts.md).

    Settings: `user_id` (required, the Instagram account id), `media_host`,
    `graph_url`, `api_version` (default v23.0), `timeout` (seconds, default 30),
    `poll_interval` and `poll_timeout` (seconds between and in all of the checks of a
    video container's processing, default 5 and 600). Secret `access_token`: a token
    with instagram_basic and instagram_content_publish.

    Before each post the account's publishing quota is read
    (`content_publishing_limit`); when it is used up the delivery is deferred
    (`QuotaReached`), not failed.
    """

    name = "instagram"
    capabilities = Capabilities(
        max_length=CAPTION_LIMIT,
        images=IMAGES,
        videos=VIDEOS,
        mixed_media=True,
    )
    media_by_url = True
    required_secrets = ("access_token",)
    required_settings = ("user_id",)
    doubt_guarantee = "checked (recent posts, by caption and time)"

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
                f"channel {channel.name!r}: the instagram adapter needs settings.user_id"
            )
        self.user_id = str(user_id)
        self.api_version = str(settings.get("api_version", API_VERSION))
        self.graph_url = str(settings.get("graph_url", GRAPH_URL)).rstrip("/")
        self.timeout = float(settings.get("timeout", DEFAULT_TIMEOUT))
        self.poll_interval = float(settings.get("poll_interval", DEFAULT_POLL_INTERVAL))
        self.poll_timeout = float(settings.get("poll_timeout", DEFAULT_POLL_TIMEOUT))
        self.sleep = sleep
        self._published: dict[str, Receipt] = {}
        # Keys whose publish request got no answer: a retry looks the post up first.
        self._unanswered: set[str] = set()

    # ---- plan-time checks ----

    def validate(self, message: Message) -> list[str]:
        problems = super().validate(message)
        if not message.attachments:
            problems.append(
                "instagram takes no text-only post: give the post an image or a video (media)"
            )
        if len(message.attachments) > MAX_ITEMS:
            problems.append(
                f"{len(message.attachments)} images and videos; instagram takes at most "
                f"{MAX_ITEMS} in one post"
            )
        for label, pattern, limit in (
            ("hashtags", _HASHTAG, MAX_HASHTAGS),
            ("mentions", _MENTION, MAX_MENTIONS),
        ):
            found = len(pattern.findall(message.text))
            if found > limit:
                problems.append(f"caption has {found} {label}; instagram allows {limit}")
        for media in message.attachments:
            if media.kind == "image" and media.width and media.height:
                ratio = media.width / media.height
                if not ASPECT_RATIOS[0] <= ratio <= ASPECT_RATIOS[1]:
                    problems.append(
                        f"{media.filename or media.source}: {media.width}x{media.height} is "
                        "outside the 4:5 to 1.91:1 aspect ratios instagram takes in the feed"
                    )
        return problems

    # ---- the Graph API ----

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        token = self.secret("access_token")
        where = f"instagram account {self.user_id}"
        try:
            response = httpx.request(
                method,
                f"{self.graph_url}/{self.api_version}/{path}",
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
        code, subcode = graph_error.get("code"), graph_error.get("error_subcode")
        # Never trust an error text to leave the token out.
        text = str(graph_error.get("message") or response.reason_phrase).replace(token, "***")
        detail = f"{where}: {response.status_code} (code {code}"
        detail += f"/{subcode}) {text}" if subcode else f") {text}"
        retry_after = _retry_after(response)
        if subcode == DAILY_LIMIT_SUBCODE:
            raise QuotaReached(detail, retry_after=retry_after)
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(detail, retry_after=retry_after)
        if graph_error.get("is_transient") or code in TRANSIENT_CODES:
            raise TransientError(detail, retry_after=retry_after)
        if code in REJECTED_TOKEN_CODES:
            raise CredentialsRejected(detail)
        raise PermanentError(detail)

    def quota(self) -> tuple[int, int, int]:
        """The account's publishing quota: (posts used, posts allowed, window seconds)."""
        body = self._request(
            "GET",
            f"{self.user_id}/content_publishing_limit",
            params={"fields": "config,quota_usage"},
        )
        data = body.get("data") or [{}]
        config = data[0].get("config") or {}
        return (
            int(data[0].get("quota_usage") or 0),
            int(config.get("quota_total") or 0),
            int(config.get("quota_duration") or 86_400),
        )

    # ---- publishing ----

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        if idempotency_key in self._unanswered:
            found = self.find(message, idempotency_key)
            if found is not None:
                self._published[idempotency_key] = found
                return found
        problems = self.validate(message)
        if problems:
            raise PermanentError(f"channel {self.channel.name!r}: {problems[0]}")
        used, allowed, window = self.quota()
        if allowed and used >= allowed:
            # A rolling window: on average one post's worth of it frees per allowed post.
            raise QuotaReached(
                f"instagram account {self.user_id}: {used} of {allowed} posts in the last "
                f"{window // 3600} hours used",
                retry_after=window / allowed,
            )
        try:
            host = self.media_host()
        except MediaHostError as error:
            raise PermanentError(f"channel {self.channel.name!r}: {error}") from None
        try:
            with hosted(host, message.attachments) as urls:
                container = self._container(message, urls)
                try:
                    body = self._request(
                        "POST", f"{self.user_id}/media_publish", data={"creation_id": container}
                    )
                except _ReplyLost:
                    self._unanswered.add(idempotency_key)
                    raise
        except MediaHostError as error:
            raise TransientError(f"channel {self.channel.name!r}: {error}") from None
        # The post exists now: nothing below may raise.
        self._unanswered.discard(idempotency_key)
        media_id = body.get("id")
        if not media_id:
            log.warning("instagram account %s: the reply carries no media id", self.user_id)
            media_id = f"unknown:{idempotency_key}"
        receipt = Receipt(remote_id=str(media_id), extra={"container": container})
        self._published[idempotency_key] = receipt
        return receipt

    def _container(self, message: Message, urls: Sequence[str]) -> str:
        """The container to publish for `message` (its media at `urls`), processed."""
        items = list(zip(message.attachments, urls, strict=True))
        if len(items) == 1:
            (media, url), caption = items[0], {"caption": message.text}
            if media.kind == "video":
                fields = {"media_type": "REELS", "video_url": url, **caption}
            else:
                fields = {"image_url": url, **caption, **_alt(media)}
            return self._create(fields, wait=media.kind == "video")
        children = []
        for media, url in items:
            if media.kind == "video":
                fields = {"media_type": "VIDEO", "video_url": url}
            else:
                fields = {"image_url": url, **_alt(media)}
            fields["is_carousel_item"] = "true"
            children.append(self._create(fields, wait=media.kind == "video"))
        carousel = {"media_type": "CAROUSEL", "children": ",".join(children)}
        return self._create({**carousel, "caption": message.text}, wait=False)

    def _create(self, fields: dict[str, str], *, wait: bool) -> str:
        body = self._request("POST", f"{self.user_id}/media", data=fields)
        container = body.get("id")
        if not container:
            raise TransientError(f"instagram account {self.user_id}: a container without an id")
        if wait:
            self._wait_until_processed(str(container))
        return str(container)

    def _wait_until_processed(self, container: str) -> None:
        """Poll a video container until Instagram has fetched and processed it."""
        waited = 0.0
        while True:
            body = self._request("GET", container, params={"fields": "status_code,status"})
            status = body.get("status_code")
            if status in ("FINISHED", "PUBLISHED"):
                return
            if status in ("ERROR", "EXPIRED"):
                raise PermanentError(
                    f"instagram container {container}: {status} "
                    f"({body.get('status') or 'no detail given'})"
                )
            if waited >= self.poll_timeout:
                raise TransientError(
                    f"instagram container {container}: still {status} after {waited:g}s"
                )
            self.sleep(self.poll_interval)
            waited += max(self.poll_interval, 0.001)

    # ---- checks and lookups ----

    def verify(self) -> str:
        """The token works for this account (`GET /{user-id}?fields=username`)."""
        body = self._request("GET", self.user_id, params={"fields": "id,username"})
        return f"instagram account @{body.get('username') or '?'} ({self.user_id})"

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """The account's post with this caption, published from an hour before the
        message's time on; None when there is none."""
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        body = self._request(
            "GET",
            f"{self.user_id}/media",
            params={"fields": "id,caption,timestamp,permalink", "limit": str(FIND_LIMIT)},
        )
        since = message.utc - FIND_SLACK
        matches = [
            item
            for item in body.get("data") or []
            if item.get("caption") == message.text
            and (_graph_time(item.get("timestamp")) or since) >= since
        ]
        if len(matches) > 1:
            raise CannotCheck(
                f"instagram account {self.user_id}: {len(matches)} posts have this caption "
                "around this time; cannot tell which is this delivery's"
            )
        if not matches:
            return None
        found = matches[0]
        return Receipt(
            remote_id=str(found["id"]), url=found.get("permalink"), extra={"found": True}
        )

    def delete(self, receipt: Receipt) -> None:
        """Instagram's API cannot delete a post: retract it in the Instagram app."""
        raise PermanentError(
            f"instagram cannot delete post {receipt.remote_id} through its API; "
            "delete it in the Instagram app"
        )


def _alt(media: Media) -> dict[str, str]:
    return {"alt_text": media.alt} if media.alt else {}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _graph_time(value: Any) -> datetime | None:
    """A Graph API time ("2027-03-01T12:00:00+0000"), or None."""
    if not value:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
