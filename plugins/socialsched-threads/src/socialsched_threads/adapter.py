"""The `threads` adapter: posts and reply chains on Threads (Meta) through the Threads
API's container-then-publish flow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from socialsched.adapters import Capabilities, CredentialsRejected, Message, Receipt
from socialsched.adapters.engagement import Engagement
from socialsched.adapters.graph import ContainerPublisher
from socialsched.media import Media, MediaLimits
from socialsched.trust.destinations import ANY_SECRET, Destination, declare

from . import engagement as _engagement

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


class ThreadsAdapter(ContainerPublisher):
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

    Engagement: views, likes, replies, reposts and quotes (the post's media insights),
    one call a post; the token then needs threads_manage_insights too.
    """

    name = "threads"
    #: Where each secret is sent (the origin the operator approves).
    secret_destinations = declare({ANY_SECRET: Destination("api_url", API_URL)})
    # Its checks read the text, media and audience, never the time.
    validation_reads_time = False
    capabilities = Capabilities(
        max_length=TEXT_LIMIT,
        images=IMAGES,
        videos=VIDEOS,
        mixed_media=True,
        max_alt_length=MAX_ALT_LENGTH,
        threads=True,
        delete=True,
        engagement=_engagement.COUNTS,
    )
    doubt_guarantee = "checked (recent posts, by text and time)"
    account = "threads user"
    api_url_setting = "api_url"
    default_api_url = API_URL
    default_api_version = API_VERSION
    default_poll_interval = 2.0
    create_edge = "threads"
    publish_edge = "threads_publish"
    quota_edge = "threads_publishing_limit"
    text_field = "text"
    status_field = "status"
    status_detail_field = "error_message"

    def validate(self, message: Message) -> list[str]:
        problems = super().validate(message)
        if len(message.attachments) > MAX_ITEMS:
            problems.append(
                f"{len(message.attachments)} images and videos; threads takes at most "
                f"{MAX_ITEMS} in one post"
            )
        return problems

    # ---- publishing ----

    def container(self, message: Message, urls: Sequence[str]) -> str:
        """The processed container to publish for `message` (its media at `urls`)."""
        reply = {"reply_to_id": message.reply_to.remote_id} if message.reply_to else {}
        text = {"text": message.text, **reply}
        items = list(zip(message.attachments, urls, strict=True))
        if not items:
            return self.create({"media_type": "TEXT", **text}, wait=False)
        if len(items) == 1:
            media, url = items[0]
            return self.create({**_media_fields(media, url), **text}, wait=True)
        children = [
            self.create({**_media_fields(media, url), "is_carousel_item": "true"}, wait=True)
            for media, url in items
        ]
        carousel = {"media_type": "CAROUSEL", "children": ",".join(children)}
        return self.create({**carousel, **text}, wait=True)

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

    # Insights are asked post by post: no call answers for several.
    engagement_batch = 1

    def engagement(self, receipts: Sequence[Receipt]) -> Mapping[str, Engagement]:
        """Views, likes, replies, reposts and quotes of the posts, one call a post; a
        deleted post is left out."""
        return _engagement.engagement(
            lambda path, params: self._request("GET", path, params=dict(params)), receipts
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
