"""The `linkedin` adapter: posts with images or a video through LinkedIn's versioned
Posts, Images and Videos APIs."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import attrs
import httpx

from socialsched.adapters import (
    Adapter,
    Capabilities,
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
    retry_after_seconds,
)
from socialsched.adapters.engagement import Engagement
from socialsched.calendar.model import Channel
from socialsched.media import Media
from socialsched.trust.destinations import (
    ANY_SECRET,
    Destination,
    DestinationError,
    declare,
    origin,
)
from socialsched.trust.http_client import ChannelClient

from . import engagement as _engagement
from .media import IMAGES, MAX_ALT_LENGTH, VIDEOS, content, upload_image, upload_video
from .targeting import target_entities, targeting_problems

API_URL = "https://api.linkedin.com"
LINKEDIN_VERSION = "202506"
"""The `LinkedIn-Version` every request pins (YYYYMM)."""
TEXT_LIMIT = 3000
DEFAULT_TIMEOUT = 20.0
FIND_COUNT = 50
AUTHOR = re.compile(r"urn:li:(organization|person):\S+")
_RESERVED = re.compile(r"([\\|{}@\[\]()<>#*_~])")
"""Characters LinkedIn's "little text" commentary format reserves."""

log = logging.getLogger(__name__)


def escape_commentary(text: str) -> str:
    """`text` with the little-text reserved characters backslash-escaped, so LinkedIn
    shows them as typed instead of reading mentions, hashtags or markup."""
    return _RESERVED.sub(r"\\\1", text)


class LinkedInAdapter(Adapter):
    """Posts to a LinkedIn organization page or member feed (`POST /rest/posts`).

    Settings: `author` (required: `urn:li:organization:ID` or `urn:li:person:ID`),
    `api_url`, `timeout` (seconds, default 20), `geo_urns` (country code -> LinkedIn
    geo URN, for targeting by country). Secret `access_token`: an OAuth 2.0 token with
    `w_organization_social` (organization) or `w_member_social` (member), plus
    `r_organization_social` for `find`. The commentary's reserved characters are
    escaped, so the text shows as written.

    Images (up to twenty, with alt text) go up through the Images API, a video through
    the Videos API (in the parts LinkedIn asks for, then finalized and awaited), before
    the post names them. An organization post may target a segment: a `targeting`
    audience becomes `distribution.targetEntities` (interface locales, and countries as
    geo URNs); a member's posts cannot be targeted.

    Engagement, 20 posts a call: an organization's likes, reposts, replies, views and
    clicks (share statistics; the token needs `rw_organization_admin`, from a page
    ADMINISTRATOR), a member's likes and replies (social actions; `r_member_social`).
    """

    name = "linkedin"
    #: Where each secret is sent (the origin the operator approves).
    secret_destinations = declare({ANY_SECRET: Destination("api_url", API_URL)})
    # Its checks read the text, media and audience, never the time.
    validation_reads_time = False
    capabilities = Capabilities(
        max_length=TEXT_LIMIT,
        delete=True,
        audiences=("targeting",),
        images=IMAGES,
        videos=VIDEOS,
        max_alt_length=MAX_ALT_LENGTH,
        engagement=_engagement.ORGANIZATION_COUNTS,
    )
    required_secrets = ("access_token",)
    required_settings = ("author",)
    doubt_guarantee = "checked (the author's recent posts, by exact text)"

    def __init__(
        self,
        channel: Channel,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(channel, environ)
        self.sleep = sleep
        settings = channel.settings
        author = str(settings.get("author") or "")
        if not AUTHOR.fullmatch(author):
            raise PermanentError(
                f"channel {channel.name!r}: settings.author must be urn:li:organization:ID "
                f"or urn:li:person:ID, not {author!r}"
            )
        self.author = author
        self.organization = author.startswith("urn:li:organization:")
        if not self.organization:
            # LinkedIn has no targeting for a member's own posts, and gives a member's
            # posts only their social actions' counts.
            self.capabilities = attrs.evolve(
                self.capabilities, audiences=(), engagement=_engagement.MEMBER_COUNTS
            )
        geo_urns = settings.get("geo_urns") or {}
        if not isinstance(geo_urns, Mapping):
            raise PermanentError(
                f"channel {channel.name!r}: settings.geo_urns must be a table "
                '(e.g. { FR = "urn:li:geo:105015875" })'
            )
        self.geo_urns = {str(code).upper(): str(urn) for code, urn in geo_urns.items()}
        self.api_url = str(settings.get("api_url", API_URL)).rstrip("/")
        self.timeout = float(settings.get("timeout", DEFAULT_TIMEOUT))
        self._http = ChannelClient(timeout=self.timeout)
        self._published: dict[str, Receipt] = {}
        # Media uploaded for a key: a retry names them again instead of uploading again.
        self._uploaded: dict[tuple[str, str], str] = {}

    def validate(self, message: Message) -> list[str]:
        return [
            *super().validate(message),
            *targeting_problems(message.audience, self.geo_urns, self.organization),
        ]

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        token = self.secret("access_token")
        where = f"linkedin {self.author}"
        headers = {
            "Authorization": f"Bearer {token}",
            "LinkedIn-Version": LINKEDIN_VERSION,
            "X-Restli-Protocol-Version": "2.0.0",
            **kwargs.pop("headers", {}),
        }
        # Upload URLs LinkedIn hands out are absolute; API paths are not.
        absolute = path.startswith(("http://", "https://"))
        url = path if absolute else f"{self.api_url}{path}"
        if absolute and not self.token_goes_to(url):
            del headers["Authorization"]
        try:
            response = self._http.request(
                method, url, headers=headers, timeout=self.timeout, **kwargs
            )
        except httpx.TimeoutException:
            raise TransientError(f"{where}: timed out after {self.timeout:g}s") from None
        except httpx.HTTPError as error:
            raise TransientError(f"{where}: {type(error).__name__}") from None
        if response.status_code < 400:
            return response
        try:
            body = response.json()
        except ValueError:
            body = {}
        text = str(
            (body if isinstance(body, dict) else {}).get("message") or response.reason_phrase
        )
        detail = f"{where}: {response.status_code} {text.replace(token, '***')}"
        if response.status_code == 429:
            raise TransientError(detail, retry_after=retry_after_seconds(response.headers))
        if response.status_code >= 500:
            raise TransientError(detail)
        if response.status_code == 401:
            raise CredentialsRejected(detail)
        raise PermanentError(detail)

    def token_goes_to(self, url: str) -> bool:
        """Whether the token may go with a request to `url`, a URL an answer gave: to
        the approved API origin, or over https to LinkedIn's own hosts when the API is
        LinkedIn's (its upload URLs are on www.linkedin.com). Anywhere else an answer
        points, the request goes without it."""
        try:
            target = origin(url)
        except DestinationError:
            return False
        if target == origin(self.api_url):
            return True
        host = urlsplit(url).hostname or ""
        return (
            origin(self.api_url) == origin(API_URL)
            and target.startswith("https://")
            and (host == "linkedin.com" or host.endswith(".linkedin.com"))
        )

    def post_body(self, message: Message, media_urns: Sequence[str] = ()) -> dict[str, Any]:
        """The JSON body of the post for `message`, naming its uploaded media."""
        body = {
            "author": self.author,
            "commentary": escape_commentary(message.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": target_entities(message.audience, self.geo_urns),
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if media_urns:
            body["content"] = content(list(zip(message.attachments, media_urns, strict=True)))
        return body

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        problems = targeting_problems(message.audience, self.geo_urns, self.organization)
        if problems:
            raise PermanentError(f"channel {self.channel.name!r}: {problems[0]}")
        urns = [self._upload(media, idempotency_key) for media in message.attachments]
        response = self._request("POST", "/rest/posts", json=self.post_body(message, urns))
        # The post exists now: nothing below may raise.
        urn = response.headers.get("x-restli-id")
        if not urn:
            log.warning("linkedin %s: the reply carries no post urn", self.author)
            receipt = Receipt(remote_id=f"unknown:{idempotency_key}")
        else:
            receipt = Receipt(remote_id=urn, url=f"https://www.linkedin.com/feed/update/{urn}/")
        self._published[idempotency_key] = receipt
        return receipt

    def _upload(self, media: Media, idempotency_key: str) -> str:
        known = self._uploaded.get((idempotency_key, media.digest))
        if known is None:
            if media.kind == "video":
                known = upload_video(self._request, self.author, media, sleep=self.sleep)
            else:
                known = upload_image(self._request, self.author, media)
            self._uploaded[(idempotency_key, media.digest)] = known
        return known

    def verify(self) -> str:
        """The token works (`GET /v2/userinfo`): the member it belongs to."""
        body = self._request("GET", "/v2/userinfo").json()
        return f"{body.get('name') or body.get('sub')} posting as {self.author}"

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """The author's recent post with exactly this commentary; None when there is none."""
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        commentary = escape_commentary(message.text)
        response = self._request(
            "GET",
            f"/rest/posts?author={quote(self.author, safe='')}&q=author&count={FIND_COUNT}",
            headers={"X-RestLi-Method": "FINDER"},
        )
        for item in response.json().get("elements") or []:
            if item.get("commentary") == commentary:
                urn = str(item["id"])
                url = f"https://www.linkedin.com/feed/update/{urn}/"
                return Receipt(remote_id=urn, url=url, extra={"found": True})
        return None

    engagement_batch = _engagement.BATCH

    def engagement(self, receipts: Sequence[Receipt]) -> Mapping[str, Engagement]:
        """The posts' counts, 20 a call: an organization's from its share statistics, a
        member's from the posts' social actions; a deleted post is left out."""
        if self.organization:
            return _engagement.organization_engagement(self._request, self.author, receipts)
        return _engagement.member_engagement(self._request, receipts)

    def delete(self, receipt: Receipt) -> None:
        """Delete (retract) a post by its urn."""
        self._request("DELETE", f"/rest/posts/{quote(receipt.remote_id, safe='')}")

    def close(self) -> None:
        """Close the channel's HTTP connections."""
        self._http.close()
