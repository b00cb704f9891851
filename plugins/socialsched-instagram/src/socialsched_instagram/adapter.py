"""The `instagram` adapter: posts to an Instagram professional account through the
Instagram Graph API's container-then-publish flow."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from socialsched.adapters import Capabilities, Message, PermanentError, Receipt
from socialsched.adapters.engagement import Engagement
from socialsched.adapters.graph import ContainerPublisher
from socialsched.adapters.graph_engagement import GRAPH_BATCH
from socialsched.media import Media, MediaLimits
from socialsched.trust.destinations import ANY_SECRET, Destination, declare

from . import engagement as _engagement

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
DAILY_LIMIT_SUBCODE = 2207042
"""The error subcode Instagram answers once the account's posts for the day are used up."""

_HASHTAG = re.compile(r"(?<![\w&])#\w+")
_MENTION = re.compile(r"(?<![\w@])@[\w.]+")


class InstagramAdapter(ContainerPublisher):
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

    Engagement: likes and replies (like and comment counts), views and reposts (the
    views and shares insights) of 50 posts a call; the token then needs
    instagram_manage_insights too.
    """

    name = "instagram"
    #: Where each secret is sent (the origin the operator approves).
    secret_destinations = declare({ANY_SECRET: Destination("graph_url", GRAPH_URL)})
    # Its checks read the text, media and audience, never the time.
    validation_reads_time = False
    capabilities = Capabilities(
        max_length=CAPTION_LIMIT,
        images=IMAGES,
        videos=VIDEOS,
        mixed_media=True,
        engagement=_engagement.COUNTS,
    )
    doubt_guarantee = "checked (recent posts, by caption and time)"
    account = "instagram account"
    api_url_setting = "graph_url"
    default_api_url = GRAPH_URL
    default_api_version = API_VERSION
    create_edge = "media"
    publish_edge = "media_publish"
    quota_edge = "content_publishing_limit"
    text_field = "caption"
    status_field = "status_code"
    status_detail_field = "status"
    transient_codes = frozenset({1, 2, 4, 17, 32, 341, 613, 80002})
    quota_subcodes = frozenset({DAILY_LIMIT_SUBCODE})

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

    # ---- publishing ----

    def check_publishable(self, message: Message) -> None:
        problems = self.validate(message)
        if problems:
            raise PermanentError(f"channel {self.channel.name!r}: {problems[0]}")

    def container(self, message: Message, urls: Sequence[str]) -> str:
        """The container to publish for `message` (its media at `urls`), processed."""
        items = list(zip(message.attachments, urls, strict=True))
        if len(items) == 1:
            (media, url), caption = items[0], {"caption": message.text}
            if media.kind == "video":
                fields = {"media_type": "REELS", "video_url": url, **caption}
            else:
                fields = {"image_url": url, **caption, **_alt(media)}
            return self.create(fields, wait=media.kind == "video")
        children = []
        for media, url in items:
            if media.kind == "video":
                fields = {"media_type": "VIDEO", "video_url": url}
            else:
                fields = {"image_url": url, **_alt(media)}
            fields["is_carousel_item"] = "true"
            children.append(self.create(fields, wait=media.kind == "video"))
        carousel = {"media_type": "CAROUSEL", "children": ",".join(children)}
        return self.create({**carousel, "caption": message.text}, wait=False)

    # ---- checks and lookups ----

    def verify(self) -> str:
        """The token works for this account (`GET /{user-id}?fields=username`)."""
        body = self._request("GET", self.user_id, params={"fields": "id,username"})
        return f"instagram account @{body.get('username') or '?'} ({self.user_id})"

    engagement_batch = GRAPH_BATCH

    def engagement(self, receipts: Sequence[Receipt]) -> Mapping[str, Engagement]:
        """Likes, comments, views and shares of the posts, 50 a call; a deleted post
        is left out."""
        return _engagement.engagement(
            lambda path, params: self._request("GET", path, params=dict(params)), receipts
        )

    def delete(self, receipt: Receipt) -> None:
        """Instagram's API cannot delete a post: retract it in the Instagram app."""
        raise PermanentError(
            f"instagram cannot delete post {receipt.remote_id} through its API; "
            "delete it in the Instagram app"
        )


def _alt(media: Media) -> dict[str, str]:
    return {"alt_text": media.alt} if media.alt else {}
