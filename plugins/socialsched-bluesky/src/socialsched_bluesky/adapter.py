"""Bluesky adapter: `app.bsky.feed.post` records through the `atproto` SDK.

Channel settings:
  handle    the account's handle, e.g. "brand.bsky.social" (required)
  service   the account's PDS (default https://bsky.social)
  timeout   seconds per HTTP request (default 20)
  appview   the AppView engagement counts are read from, without credentials
            (default https://public.api.bsky.app)
  langs     table: segment -> language tags (at most 3), overriding the tags taken
            from the segment locale, e.g. { dz = ["fr", "ar"] }
Secrets: app_password (an app password, never the account's main password).
Media: up to 4 images (app.bsky.embed.images, each with its alt text and aspect ratio)
or one MP4 video (app.bsky.embed.video), uploaded as blobs to the account's PDS.
Threads: each part after the first replies to the previous one (reply refs root and
parent, each an at:// URI and CID, which every receipt carries).
Audiences: none. Every Bluesky post is public, so the adapter declares no audience
kinds and plan-time validation reports a channel that names one for a segment.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
import babel
import regex

from socialsched.adapters import (
    Adapter,
    AdapterError,
    Capabilities,
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.adapters.engagement import Engagement
from socialsched.calendar.model import Channel
from socialsched.media import Media, MediaLimits
from socialsched.trust.destinations import ANY_SECRET, Destination, declare
from socialsched.trust.redirects import CrossOriginRedirect, refuse_cross_origin_redirects
from socialsched.trust.safe_fetch import Fetcher, FetchRefused

from .engagement import BATCH, DEFAULT_APPVIEW, ENGAGEMENT, appview_url, post_engagement

# The atproto SDK costs most of a second to import, and every `socialsched` command that
# loads a calendar loads the installed plugins: it is imported where the adapter calls it.
if TYPE_CHECKING:
    from atproto import Client, models
    from atproto.exceptions import RequestErrorBase

MAX_GRAPHEMES = 300
MAX_LANGS = 3
POST_COLLECTION = "app.bsky.feed.post"
DEFAULT_SERVICE = "https://bsky.social"
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
# The image embed lexicon caps each image blob at 1,000,000 bytes (newer lexicons allow
# 2 MB, but PDSes and app views on the older one refuse more); a longer side of 2000
# pixels is what the Bluesky app itself uploads. Animated GIFs show as still images.
IMAGES = MediaLimits(
    max_count=4,
    max_bytes=1_000_000,
    max_side=2000,
    types=("image/jpeg", "image/png", "image/webp", "image/gif"),
    animated=False,
)
# One MP4 per post; 100 MB is what Bluesky's video service takes (the lexicon allows
# more, but a video the service refuses never plays).
VIDEOS = MediaLimits(max_count=1, max_bytes=100_000_000, types=("video/mp4",))
MAX_ALT_GRAPHEMES = 2000  # what the Bluesky app allows for an image
MAX_VIDEO_ALT_GRAPHEMES = 1000  # app.bsky.embed.video: alt maxGraphemes
# Errors a PDS answers with 400 that mean the session or account is refused.
_REFUSED = ("AuthenticationRequired", "ExpiredToken", "InvalidToken", "AccountTakedown")

_URL = regex.compile(r"https?://[^\s<>\"]+")
_MENTION = regex.compile(
    r"(?<![\w@/])@((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(?![\w.-]*\w)"
)
_INVISIBLE = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"
# A hashtag is "#" then a word that is not only digits (Bluesky's own rule).
_HASHTAG = regex.compile(
    rf"(?<!\S)[#＃]((?!\ufe0f)[^\s{_INVISIBLE}]*[^\d\s\p{{P}}{_INVISIBLE}]+[^\s{_INVISIBLE}]*)"
)


def graphemes(text: str) -> int:
    """Number of extended grapheme clusters: what Bluesky's 300 limit counts."""
    return len(regex.findall(r"\X", text))


def bluesky_langs(locale: str) -> list[str]:
    """Language tags for a segment locale: the bare language ("fr-DZ" -> ["fr"]), which is
    what Bluesky's language filters and post-language picker use."""
    return [babel.Locale.parse(locale, sep="-" if "-" in locale else "_").language]


def record_key(utc: datetime, idempotency_key: str) -> str:
    """A TID record key derived from the delivery time and idempotency key.

    The same key always gives the same record key, so a repeated publish hits the same
    record instead of creating a second post. 30 bits of the key's hash pick the
    microsecond within the second and the clock id, so two deliveries at the same
    instant practically never share a key.
    """
    digest = int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:8], "big")
    micros = int(utc.replace(microsecond=0).timestamp()) * 1_000_000 + digest % 1_000_000
    clock_id = (digest >> 20) & 0x3FF
    value = (micros << 10) | clock_id
    return "".join(_TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))


@attrs.frozen
class Span:
    """A facet's place in the text, in UTF-8 byte offsets as the lexicon requires."""

    start: int
    end: int
    kind: str
    value: str


def _byte_span(text: str, start: int, end: int) -> tuple[int, int]:
    return len(text[:start].encode()), len(text[:end].encode())


def find_spans(text: str) -> list[Span]:
    """Links, mentions (as handles, resolved later) and hashtags in `text`."""
    spans = []
    for match in _URL.finditer(text):
        url = match[0]
        # Trailing punctuation ends a sentence, not the link; ")" only when unbalanced.
        while url and (url[-1] in ".,;:!?'" or (url[-1] == ")" and "(" not in url)):
            url = url[:-1]
        spans.append(Span(*_byte_span(text, match.start(), match.start() + len(url)), "link", url))
    for match in _MENTION.finditer(text):
        spans.append(Span(*_byte_span(text, match.start(), match.end()), "mention", match[1]))
    for match in _HASHTAG.finditer(text):
        tag = regex.sub(r"\p{P}+$", "", match[1])
        if not tag or graphemes(tag) > 64:
            continue
        end = match.start() + 1 + len(tag)
        spans.append(Span(*_byte_span(text, match.start(), end), "tag", tag))
    inside_link = [(s.start, s.end) for s in spans if s.kind == "link"]
    return sorted(
        (
            span
            for span in spans
            if span.kind == "link" or not any(a <= span.start < b for a, b in inside_link)
        ),
        key=lambda span: span.start,
    )


class BlueskyAdapter(Adapter):
    """Posts to one Bluesky account, logging in with an app password."""

    name = "bluesky"
    #: Where each secret is sent (the origin the operator approves).
    secret_destinations = declare({ANY_SECRET: Destination("service", DEFAULT_SERVICE)})
    # Its checks read the text, media and audience, never the time.
    validation_reads_time = False
    capabilities = Capabilities(
        max_length=MAX_GRAPHEMES,
        audiences=(),
        native_scheduling=False,
        delete=True,
        idempotent=True,
        images=IMAGES,
        videos=VIDEOS,
        mixed_media=False,
        max_alt_length=MAX_ALT_GRAPHEMES,
        threads=True,
        engagement=ENGAGEMENT,
    )
    required_secrets = ("app_password",)
    required_settings = ("handle",)
    doubt_guarantee = "checked (record key)"

    def __init__(self, channel: Channel, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(channel, environ)
        handle = channel.settings.get("handle")
        if not handle:
            raise PermanentError(
                f"channel {channel.name!r}: the bluesky adapter needs settings.handle "
                "(e.g. 'brand.bsky.social')"
            )
        self.handle = str(handle).removeprefix("@")
        self.service = str(channel.settings.get("service", DEFAULT_SERVICE)).rstrip("/")
        self.timeout = float(channel.settings.get("timeout", 20))
        self.appview = appview_url(channel.name, channel.settings.get("appview", DEFAULT_APPVIEW))
        langs = channel.settings.get("langs", {})
        if not isinstance(langs, Mapping):
            raise PermanentError(
                f"channel {channel.name!r}: bluesky settings.langs must be a table "
                "segment -> language tags, e.g. { dz = ['fr', 'ar'] }"
            )
        self.langs_by_segment: Mapping[str, Any] = langs
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._client: Client | None = None
        self._did: str | None = None
        self._fetcher: Fetcher | None = None

    def text_length(self, text: str) -> int:
        """Grapheme clusters, as Bluesky counts them (an emoji family is one)."""
        return graphemes(text)

    def langs(self, message: Message) -> list[str]:
        """Language tags for `message`: the channel's `langs` for its segment, else the
        locale's language."""
        langs = self.langs_by_segment.get(message.segment)
        if langs:
            return [langs] if isinstance(langs, str) else [str(lang) for lang in langs]
        return bluesky_langs(message.locale)

    def validate(self, message: Message) -> list[str]:
        problems = super().validate(message)
        if len(message.text.encode()) > 3000:
            problems.append("text is over 3000 bytes, which Bluesky rejects")
        if len(self.langs(message)) > MAX_LANGS:
            problems.append(f"bluesky allows at most {MAX_LANGS} language tags")
        for media in message.attachments:
            if media.kind == "video" and graphemes(media.alt) > MAX_VIDEO_ALT_GRAPHEMES:
                problems.append(
                    f"{media.source or media.filename}: a video's alt text is "
                    f"{graphemes(media.alt)} graphemes; bluesky allows {MAX_VIDEO_ALT_GRAPHEMES}"
                )
        return problems

    def media_problems(self, attachments: tuple[Media, ...]) -> list[str]:
        # The base measures alt text in code points; Bluesky in graphemes, which an
        # alt text with combining marks (Arabic harakat, accents) has fewer of. Only
        # the base's length check reads the alt text: show it one "x" per grapheme.
        counted = tuple(
            attrs.evolve(media, alt="x" * graphemes(media.alt)) for media in attachments
        )
        return super().media_problems(counted)

    # -- SDK calls ----------------------------------------------------------------------

    def _session_changed(self, event: Any, session: Any) -> None:
        self._did = session.did

    def _login(self) -> Client:
        from atproto import Client, Request

        if self._client is None:
            # atproto follows redirects: never to another origin (the login body holds
            # the app password; see socialsched.trust.redirects).
            request = Request(
                timeout=self.timeout,
                event_hooks={"response": [refuse_cross_origin_redirects]},
            )
            client = Client(base_url=self.service, request=request)
            client.on_session_change(self._session_changed)
            self._call(
                "login",
                lambda: client.login(
                    self.handle, self.secret("app_password"), fetch_bsky_profile=False
                ),
            )
            self._client = client
        return self._client

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        """Run one SDK call, turning its exceptions into the two socialsched errors."""
        from atproto.exceptions import (
            AtProtocolError,
            BadRequestError,
            NetworkError,
            RateLimitExceededError,
            RequestErrorBase,
            UnauthorizedError,
        )

        try:
            return call()
        except RateLimitExceededError as error:
            retry_after = error.retry_after
            if retry_after is None and error.reset_at is not None:
                retry_after = max(0.0, (error.reset_at - self.clock()).total_seconds())
            raise TransientError(f"bluesky {what}: rate limited", retry_after=retry_after) from None
        except NetworkError as error:
            raise TransientError(f"bluesky {what}: {_describe(error)}") from None
        except CrossOriginRedirect as error:  # the service sent us elsewhere: never follow
            raise PermanentError(f"bluesky {what}: {error}") from None
        except UnauthorizedError as error:
            raise CredentialsRejected(
                f"bluesky {what} for {self.handle!r} refused: {_describe(error)}"
            ) from None
        except BadRequestError as error:
            if _error_name(error) in _REFUSED:
                raise CredentialsRejected(
                    f"bluesky {what} for {self.handle!r} refused: {_describe(error)}"
                ) from None
            raise PermanentError(f"bluesky {what} rejected: {_describe(error)}") from None
        except RequestErrorBase as error:
            status = error.response.status_code if error.response is not None else 0
            kind = TransientError if status >= 500 or status == 0 else PermanentError
            raise kind(f"bluesky {what} failed: {_describe(error)}") from None
        except AtProtocolError as error:
            raise PermanentError(f"bluesky {what} failed: {type(error).__name__}") from None

    def facets(self, client: Client, text: str) -> list[models.AppBskyRichtextFacet.Main]:
        """Rich-text facets; a mention whose handle does not resolve stays plain text."""
        from atproto import models

        facets = []
        for span in find_spans(text):
            feature: Any
            if span.kind == "link":
                feature = models.AppBskyRichtextFacet.Link(uri=span.value)
            elif span.kind == "tag":
                feature = models.AppBskyRichtextFacet.Tag(tag=span.value)
            else:
                try:
                    resolve = functools.partial(client.resolve_handle, span.value)
                    did = self._call(f"resolving @{span.value}", resolve).did
                except PermanentError:
                    continue
                feature = models.AppBskyRichtextFacet.Mention(did=did)
            facets.append(
                models.AppBskyRichtextFacet.Main(
                    index=models.AppBskyRichtextFacet.ByteSlice(
                        byte_start=span.start, byte_end=span.end
                    ),
                    features=[feature],
                )
            )
        return facets

    def _stored(self, client: Client, rkey: str) -> Receipt | None:
        """The receipt of the post stored under `rkey`, or None when the PDS says there
        is none. Any other failure raises: "cannot tell" is not "none"."""
        from atproto import models
        from atproto.exceptions import BadRequestError

        params = models.ComAtprotoRepoGetRecord.Params(
            repo=self._did or self.handle, collection=POST_COLLECTION, rkey=rkey
        )

        def get() -> Any:
            try:
                return client.com.atproto.repo.get_record(params=params)
            except BadRequestError as error:
                if _error_name(error) == "RecordNotFound":
                    return None
                raise

        found = self._call("getRecord", get)
        return None if found is None else self._receipt(found.uri, found.cid or "", rkey)

    def _receipt(self, uri: str, cid: str, rkey: str) -> Receipt:
        return Receipt(
            remote_id=uri,
            url=f"https://bsky.app/profile/{self.handle}/post/{rkey}",
            extra={"cid": cid},
        )

    def _strong_ref(self, client: Client, receipt: Receipt) -> models.ComAtprotoRepoStrongRef.Main:
        """The (URI, CID) reference to a published part; the CID read back from the PDS
        when the receipt lacks it."""
        from atproto import models

        cid = receipt.extra.get("cid")
        if not cid:
            parts = receipt.remote_id.removeprefix("at://").split("/")
            if len(parts) != 3:
                raise PermanentError(f"bluesky receipt {receipt.remote_id!r} is not an at:// URI")
            params = models.ComAtprotoRepoGetRecord.Params(
                repo=parts[0], collection=parts[1], rkey=parts[2]
            )
            found = self._call("getRecord", lambda: client.com.atproto.repo.get_record(params))
            cid = found.cid
        return models.ComAtprotoRepoStrongRef.Main(uri=receipt.remote_id, cid=str(cid))

    def reply_ref(self, client: Client, message: Message) -> Any:
        """The reply refs of a thread part after the first: its parent is the previous
        part, its root the first."""
        from atproto import models

        if message.reply_to is None:
            return None
        parent = self._strong_ref(client, message.reply_to)
        root = (
            self._strong_ref(client, message.thread_root)
            if message.thread_root is not None
            else parent
        )
        return models.AppBskyFeedPost.ReplyRef(root=root, parent=parent)

    def upload(self, client: Client, media: Media) -> Any:
        """Upload one attachment's bytes as a blob; the blob reference."""
        data = media.read()
        name = media.source or media.filename or media.digest[:12]
        headers = {"Content-Type": media.mime_type}
        upload = functools.partial(client.com.atproto.repo.upload_blob, data, headers=headers)
        return self._call(f"uploadBlob of {name}", upload).blob

    def embed(self, client: Client, attachments: tuple[Media, ...]) -> Any:
        """The images or video embed for `attachments` (None without any)."""
        from atproto import models

        if not attachments:
            return None
        blobs = [self.upload(client, media) for media in attachments]
        if attachments[0].kind == "video":
            return models.AppBskyEmbedVideo.Main(
                video=blobs[0], alt=attachments[0].alt or None, aspect_ratio=_aspect(attachments[0])
            )
        return models.AppBskyEmbedImages.Main(
            images=[
                models.AppBskyEmbedImages.Image(
                    image=blob, alt=media.alt, aspect_ratio=_aspect(media)
                )
                for media, blob in zip(attachments, blobs, strict=True)
            ]
        )

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        from atproto import models

        problems = self.validate(message)
        if problems:
            raise PermanentError("; ".join(problems))
        client = self._login()
        rkey = record_key(message.utc, idempotency_key)
        stored = self._stored(client, rkey)
        if stored is not None:
            return stored
        record = models.AppBskyFeedPost.Record(
            text=message.text,
            created_at=self.clock().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            langs=self.langs(message),
            facets=self.facets(client, message.text) or None,
            reply=self.reply_ref(client, message),
            embed=self.embed(client, message.attachments),
        )
        data = models.ComAtprotoRepoCreateRecord.Data(
            repo=self._did or self.handle, collection=POST_COLLECTION, rkey=rkey, record=record
        )
        try:
            created = self._call(
                "createRecord", lambda: client.com.atproto.repo.create_record(data)
            )
            return self._receipt(created.uri, created.cid, rkey)
        except CredentialsRejected:
            raise  # refused before anything was stored
        except AdapterError as error:
            # The record may exist all the same (a lost or unreadable answer, or a
            # create racing another worker): the key says where to look.
            try:
                stored = self._stored(client, rkey)
            except AdapterError:
                raise TransientError(
                    f"{error}; whether the post was stored cannot be checked now"
                ) from None
            if stored is not None:
                return stored
            raise

    def verify(self) -> str:
        """Log in afresh (`createSession`): the account's handle and DID."""
        self.close()
        self._login()
        return f"@{self.handle} ({self._did})"

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """The post stored under the record key derived from `idempotency_key`, or None."""
        return self._stored(self._login(), record_key(message.utc, idempotency_key))

    def delete(self, receipt: Receipt) -> None:
        from atproto import models

        client = self._login()
        parts = receipt.remote_id.removeprefix("at://").split("/")
        if len(parts) != 3 or parts[1] != POST_COLLECTION:
            raise PermanentError(f"bluesky receipt {receipt.remote_id!r} is not a post's at:// URI")
        data = models.ComAtprotoRepoDeleteRecord.Data(
            repo=parts[0], collection=POST_COLLECTION, rkey=parts[2]
        )
        self._call("deleteRecord", lambda: client.com.atproto.repo.delete_record(data))

    engagement_batch = BATCH

    def engagement(self, receipts: Sequence[Receipt]) -> Mapping[str, Engagement]:
        """Likes, reposts, replies and quotes from the AppView's public
        `app.bsky.feed.getPosts`, 25 posts a call, with no login and no token (see
        `socialsched_bluesky.engagement`)."""
        uris = [receipt.remote_id for receipt in receipts]
        if not any(uri.startswith("at://") for uri in uris):
            return {}
        if self._fetcher is None:
            try:
                self._fetcher = Fetcher(
                    user_agent="socialsched bluesky engagement", purpose="engagement"
                )
            except FetchRefused as error:  # SOCIALSCHED_ALLOWED_NETWORKS is not CIDRs
                raise PermanentError(f"bluesky engagement: {error}") from None
        return post_engagement(self, self._fetcher, uris)

    def close(self) -> None:
        if self._client is not None:
            self._client.request.close()
            self._client = None
        if self._fetcher is not None:
            self._fetcher.close()
            self._fetcher = None


def _describe(error: RequestErrorBase) -> str:
    return str(error) if error.response is not None else type(error).__name__


def _error_name(error: RequestErrorBase) -> str:
    """The XRPC error name of a failed request ("RecordNotFound", "ExpiredToken"...)."""
    content = getattr(error.response, "content", None)
    return str(getattr(content, "error", "") or "")


def _aspect(media: Media) -> Any:
    from atproto import models

    if not media.width or not media.height:
        return None
    return models.AppBskyEmbedDefs.AspectRatio(width=media.width, height=media.height)
