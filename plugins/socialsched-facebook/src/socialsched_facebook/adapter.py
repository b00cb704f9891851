"""The `facebook` adapter: Facebook Page posts through the Graph API, with targeting
and native scheduling."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from socialsched.adapters import (
    Adapter,
    CannotCheck,
    Capabilities,
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
    read_media,
)
from socialsched.adapters.engagement import Engagement
from socialsched.adapters.graph import (
    error_codes,
    graph_error,
    graph_failed,
    graph_request,
    graph_time,
)
from socialsched.adapters.graph_engagement import GRAPH_BATCH
from socialsched.calendar.model import Channel
from socialsched.media import Media, MediaLimits
from socialsched.trust.destinations import ANY_SECRET, Destination, declare
from socialsched.trust.http_client import ChannelClient

from . import engagement as _engagement
from .targeting import (
    FIELD_MODES,
    audience_problems,
    graph_feed_targeting,
    graph_targeting,
    locale_key,
    parse_locale_keys,
)

API_VERSION = "v23.0"
GRAPH_URL = "https://graph.facebook.com"
GRAPH_VIDEO_URL = "https://graph-video.facebook.com"
"""Where Facebook takes video uploads (`POST /{page-id}/videos`)."""
TEXT_LIMIT = 63_206
"""Most characters Facebook accepts in a page post's message."""
FACEBOOK_EARLIEST = timedelta(minutes=10)
FACEBOOK_LATEST = timedelta(days=180)
"""Facebook documents native scheduling as 10 minutes to 6 months ahead; 180 days is
the safe reading of "6 months"."""
SCHEDULING_MODES = ("native", "immediate")
DEFAULT_TIMEOUT = 20.0
# Graph API error codes worth retrying: temporary failures and rate limits.
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 368, 613, 80001})
NONEXISTENT_OBJECT = (100, 33)
"""(code, subcode) Facebook answers when the object to delete no longer exists."""
IMAGES = MediaLimits(
    max_count=10,
    max_bytes=10_000_000 - 1,  # Facebook takes photos under 10 MB
    types=("image/jpeg", "image/png", "image/gif"),
    animated=False,  # a GIF uploaded as a photo shows its first frame only
)
VIDEOS = MediaLimits(max_count=1, max_bytes=1_000_000_000, types=("video/mp4",))
"""One video per post, as a page video; 1 GB is the most a single-request upload takes."""
FIND_SLACK = timedelta(hours=1)
"""How long before its planned time an in-doubt post may have been created."""
FIND_LIMIT = 100

log = logging.getLogger(__name__)
_DURATION = re.compile(r"\s*(\d+)\s*(s|min|h|d)\s*")
_UNITS = {"s": "seconds", "min": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: Any, setting: str) -> timedelta:
    """A duration setting: '10min', '2h', '180d', '30s' or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.fullmatch(str(value))
    if not match:
        raise ValueError(f"settings.{setting} {value!r} must look like '10min', '2h' or '180d'")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _describe(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds >= 86_400:
        return f"{sign}{seconds / 86_400:.1f} days"
    if seconds >= 3_600:
        return f"{sign}{seconds / 3_600:.1f} hours"
    return f"{sign}{seconds // 60} minutes"


def _usage_retry_after(response: httpx.Response) -> float | None:
    # Rate-limited Page calls report, per business, the minutes until access returns.
    header = response.headers.get("X-Business-Use-Case-Usage")
    if not header:
        return None
    try:
        usage = json.loads(header)
        minutes = [
            float(entry.get("estimated_time_to_regain_access", 0))
            for entries in usage.values()
            for entry in entries
        ]
    except (ValueError, AttributeError, TypeError):
        return None
    longest = max(minutes, default=0.0)
    return longest * 60 if longest > 0 else None


class FacebookPageAdapter(Adapter):
    """Posts to a Facebook Page's feed through the Graph API.

    A segment's audience is a `targeting` table, `{ kind = "targeting", countries =
    ["FR", "BE"], locales = ["fr-FR"] }` (without countries and locales: the segment's
    own). Settings: `targeting_field` ("targeting", the default: only these people may
    see the post; "feed_targeting": they are likelier to see it in their feed; or
    "both"), `locale_keys` (BCP 47 locale -> Facebook's numeric locale key, for each
    targeted locale), `page_id` (required), `scheduling` ("native", the default: a post handed
    over ahead of time is created unpublished with `scheduled_publish_time`, so it goes
    out at Facebook even if the runner is down; or "immediate"), `schedule_min` /
    `schedule_max` (the native scheduling window, default 10 minutes and 180 days;
    Facebook refuses anything outside 10 minutes..6 months), `api_version` (default
    v23.0), `graph_url`, `graph_video_url` (where videos are uploaded; default
    graph-video.facebook.com, or `graph_url` when that is set), `timeout` (seconds,
    default 20). Secret `page_token`: a Page access token with pages_manage_posts.

    Images go up first as unpublished photos (with their alt text), then the feed post
    attaches them (`attached_media`); a video is posted as a page video with the text
    as its description. Both follow the same native scheduling.

    `clock` (a callable returning an aware UTC `datetime`) is the adapter's "now", for
    the window checks; it defaults to the system clock.

    Engagement: likes (reactions), replies (comments), reposts (shares), views and
    clicks (post insights) of 50 posts a call; the page token then needs
    pages_read_engagement and read_insights too.
    """

    name = "facebook"
    # The page token goes to the Graph API and, for videos, to its video host.
    secret_destinations = declare(
        {
            ANY_SECRET: (
                Destination("graph_url", GRAPH_URL),
                Destination("graph_video_url", GRAPH_VIDEO_URL),
            )
        }
    )
    capabilities = Capabilities(
        max_length=TEXT_LIMIT,
        audiences=("targeting",),
        native_scheduling=True,
        delete=True,
        idempotent=False,
        images=IMAGES,
        videos=VIDEOS,
        engagement=_engagement.COUNTS,
    )
    required_secrets = ("page_token",)
    required_settings = ("page_id",)
    doubt_guarantee = "checked (recent and scheduled posts, by text and time)"

    def __init__(
        self,
        channel: Channel,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(channel, environ)
        settings = channel.settings
        where = f"channel {channel.name!r}"
        page_id = settings.get("page_id")
        if not page_id:
            raise PermanentError(f"{where}: the facebook adapter needs settings.page_id")
        self.page_id = str(page_id)
        self.scheduling = str(settings.get("scheduling", "native"))
        if self.scheduling not in SCHEDULING_MODES:
            raise PermanentError(
                f"{where}: settings.scheduling must be one of "
                f"{', '.join(SCHEDULING_MODES)}, not {self.scheduling!r}"
            )
        try:
            self.earliest = parse_duration(settings.get("schedule_min", "10min"), "schedule_min")
            self.latest = parse_duration(settings.get("schedule_max", "180d"), "schedule_max")
        except ValueError as error:
            raise PermanentError(f"{where}: {error}") from None
        if not FACEBOOK_EARLIEST <= self.earliest < self.latest <= FACEBOOK_LATEST:
            raise PermanentError(
                f"{where}: the scheduling window {_describe(self.earliest)} to "
                f"{_describe(self.latest)} must lie within Facebook's 10 minutes to "
                "180 days, earliest before latest"
            )
        fields = FIELD_MODES.get(str(settings.get("targeting_field", "targeting")))
        if fields is None:
            raise PermanentError(
                f"{where}: settings.targeting_field must be one of "
                f"{', '.join(FIELD_MODES)}, not {settings.get('targeting_field')!r}"
            )
        self.targeting_fields: tuple[str, ...] = fields
        try:
            self.locale_keys = parse_locale_keys(settings.get("locale_keys"))
        except ValueError as error:
            raise PermanentError(f"{where}: {error}") from None
        self.api_version = str(settings.get("api_version", API_VERSION))
        self.graph_url = str(settings.get("graph_url", GRAPH_URL)).rstrip("/")
        video_default = GRAPH_VIDEO_URL if "graph_url" not in settings else self.graph_url
        self.graph_video_url = str(settings.get("graph_video_url", video_default)).rstrip("/")
        self.timeout = float(settings.get("timeout", DEFAULT_TIMEOUT))
        self._http = ChannelClient(timeout=self.timeout)
        self.clock = clock or (lambda: datetime.now(UTC))
        # The Graph API takes no idempotency key for page posts; keys published by
        # this instance are remembered and not posted again, and so are the photos
        # uploaded for a key (a retry attaches them instead of uploading again).
        self._published: dict[str, Receipt] = {}
        self._photos: dict[tuple[str, str], str] = {}

    def validate(self, message: Message) -> list[str]:
        problems = super().validate(message)
        problems.extend(audience_problems(message.audience, self.locale_keys))
        if self.scheduling == "native":
            lead = message.utc - self.clock()
            if not self.earliest <= lead <= self.latest:
                problems.append(
                    f"planned {_describe(lead)} from now ({message.utc:%Y-%m-%d %H:%M} UTC); "
                    f"facebook schedules natively only {_describe(self.earliest)} to "
                    f"{_describe(self.latest)} ahead (settings.schedule_min/schedule_max, "
                    "or scheduling = 'immediate')"
                )
        return problems

    def _url(self, path: str, base: str | None = None) -> str:
        return f"{base or self.graph_url}/{self.api_version}/{path}"

    def post_fields(self, message: Message, now: datetime) -> dict[str, str]:
        """The form fields of the page post for `message`, as of `now`."""
        fields = {"message": message.text}
        audience = message.audience
        if audience is not None and (audience.countries or audience.locales):
            countries = list(audience.countries)
            locales = [locale_key(locale, self.locale_keys) for locale in audience.locales]
            keys = [key for key in locales if key is not None]
            if "targeting" in self.targeting_fields:
                fields["targeting"] = json.dumps(graph_targeting(countries, keys))
            if "feed_targeting" in self.targeting_fields:
                fields["feed_targeting"] = json.dumps(graph_feed_targeting(countries, keys))
        if self.scheduling == "native" and message.utc - now >= self.earliest:
            fields["published"] = "false"
            fields["scheduled_publish_time"] = str(int(message.utc.timestamp()))
        return fields

    def _request(
        self, method: str, path: str, base: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        token = self.secret("page_token")
        where = f"facebook page {self.page_id}"
        response, body = graph_request(
            method,
            self._url(path, base),
            token=token,
            where=where,
            timeout=self.timeout,
            client=self._http,
            **kwargs,
        )
        if not graph_failed(response, body):
            return body
        if method == "DELETE" and error_codes(body) == NONEXISTENT_OBJECT:
            return {"success": True}
        raise graph_error(
            response,
            body,
            token=token,
            where=where,
            transient_codes=TRANSIENT_CODES,
            retry_after=_usage_retry_after,
        )

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        problems = audience_problems(message.audience, self.locale_keys)
        kind = getattr(message.audience, "kind", "targeting")
        if kind != "targeting":
            problems.append(f"facebook cannot target a {kind!r} audience (supports: targeting)")
        if problems:
            raise PermanentError(f"channel {self.channel.name!r}: {problems[0]}")
        now = self.clock()
        lead = message.utc - now
        if self.scheduling == "native" and lead > self.latest:
            # Too far ahead for Facebook to accept yet: come back once it is in the window.
            raise TransientError(
                f"facebook page {self.page_id}: {_describe(lead)} ahead is beyond the "
                f"scheduling window of {_describe(self.latest)}",
                retry_after=(lead - self.latest).total_seconds(),
            )
        if self.scheduling == "native" and timedelta(0) < lead < self.earliest:
            # Too close to schedule natively, too early to post now: wait until due.
            raise TransientError(
                f"facebook page {self.page_id}: due in {_describe(lead)}, inside the "
                f"{_describe(self.earliest)} Facebook needs to schedule",
                retry_after=lead.total_seconds(),
            )
        fields = self.post_fields(message, now)
        url: str | None
        videos = [media for media in message.attachments if media.kind == "video"]
        if videos:
            body = self._post_video(videos[0], fields)
            url = f"https://www.facebook.com/{self.page_id}/videos/{body.get('id')}"
        else:
            images = [media for media in message.attachments if media.kind == "image"]
            scheduled = fields.get("published") == "false"
            for number, image in enumerate(images):
                photo = self._upload_photo(image, idempotency_key, temporary=scheduled)
                fields[f"attached_media[{number}]"] = json.dumps({"media_fbid": photo})
            body = self._request("POST", f"{self.page_id}/feed", data=fields)
            url = f"https://www.facebook.com/{body.get('id')}"
        # The post exists now: whatever the reply lacks, nothing below may raise (the
        # runner would record a post that went out as a failed attempt).
        post_id = body.get("id")
        if not post_id:
            log.warning("facebook page %s: the reply carries no post id", self.page_id)
            post_id, url = f"unknown:{idempotency_key}", None
        receipt = Receipt(
            remote_id=str(post_id),
            url=url,
            extra={
                "scheduled": fields.get("published") == "false",
                "scheduled_publish_time": fields.get("scheduled_publish_time"),
            },
        )
        self._published[idempotency_key] = receipt
        return receipt

    def _upload_photo(self, image: Media, idempotency_key: str, *, temporary: bool) -> str:
        """Upload `image` as an unpublished photo (with its alt text); its photo id."""
        known = self._photos.get((idempotency_key, image.digest))
        if known is not None:
            return known
        data = {"published": "false"}
        if temporary:
            data["temporary"] = "true"  # kept until the scheduled post that attaches it
        if image.alt:
            data["alt_text_custom"] = image.alt
        body = self._request(
            "POST",
            f"{self.page_id}/photos",
            data=data,
            files={"source": (image.filename or "photo", read_media(image), image.mime_type)},
        )
        photo = body.get("id")
        if not photo:
            raise PermanentError(f"facebook page {self.page_id}: the photo upload carries no id")
        self._photos[(idempotency_key, image.digest)] = str(photo)
        return str(photo)

    def _post_video(self, video: Media, fields: dict[str, str]) -> dict[str, Any]:
        """Post `video` as a page video, the text as its description (same targeting
        and native scheduling as a feed post)."""
        data = {
            ("description" if key == "message" else key): value for key, value in fields.items()
        }
        return self._request(
            "POST",
            f"{self.page_id}/videos",
            base=self.graph_video_url,
            data=data,
            files={"source": (video.filename or "video.mp4", read_media(video), video.mime_type)},
        )

    def verify(self) -> str:
        """The page token works and belongs to this page (`GET /me`)."""
        body = self._request("GET", "me", params={"fields": "id,name"})
        if str(body.get("id")) != self.page_id:
            raise CredentialsRejected(
                f"facebook page {self.page_id}: the page_token is not this page's token "
                f"(it is {body.get('id')!r}'s); use a Page access token for page {self.page_id}"
            )
        return f"page {body.get('name') or self.page_id} ({self.page_id})"

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """The page's post with this message's text, natively scheduled for its time or
        published from an hour before it on; None when there is none. Two posts that
        could be it (the same text to two audiences at the same time) cannot be told
        apart: `CannotCheck`."""
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        due = int(message.utc.timestamp())
        if any(media.kind == "video" for media in message.attachments):
            edges = [("videos", "id,description,created_time,scheduled_publish_time")]
            text_field = "description"
        else:
            edges = [
                ("scheduled_posts", "id,message,scheduled_publish_time"),
                ("posts", "id,message,created_time"),
            ]
            text_field = "message"
        since = message.utc - FIND_SLACK
        matches: list[str] = []
        for edge, fields in edges:
            params = {"fields": fields, "limit": str(FIND_LIMIT)}
            body = self._request("GET", f"{self.page_id}/{edge}", params=params)
            for item in body.get("data") or []:
                if item.get(text_field) != message.text:
                    continue
                scheduled = item.get("scheduled_publish_time")
                created = graph_time(item.get("created_time"))
                if (scheduled is not None and int(scheduled) == due) or (
                    created is not None and created >= since
                ):
                    matches.append(str(item["id"]))
        if len(set(matches)) > 1:
            raise CannotCheck(
                f"facebook page {self.page_id}: {len(set(matches))} posts have this text "
                "around this time; cannot tell which is this delivery's"
            )
        if not matches:
            return None
        url = f"https://www.facebook.com/{matches[0]}"
        return Receipt(remote_id=matches[0], url=url, extra={"found": True})

    engagement_batch = GRAPH_BATCH

    def engagement(self, receipts: Sequence[Receipt]) -> Mapping[str, Engagement]:
        """Reactions, comments, shares, views and clicks of the posts, 50 a call; a
        deleted post is left out."""
        return _engagement.engagement(
            lambda path, params: self._request("GET", path, params=dict(params)), receipts
        )

    def delete(self, receipt: Receipt) -> None:
        """Delete (retract) a published or natively scheduled post by its Facebook id."""
        self._request("DELETE", receipt.remote_id)

    def close(self) -> None:
        """Close the channel's HTTP connections."""
        self._http.close()
