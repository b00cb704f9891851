"""The `x` adapter: posts and reply-chain threads through X API v2."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import oauthlib.oauth1

from socialsched.adapters import (
    Adapter,
    Capabilities,
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.adapters.engagement import Engagement
from socialsched.calendar.model import Channel
from socialsched.media import Media
from socialsched.trust.destinations import ANY_SECRET, Destination, declare
from socialsched.trust.http_client import ChannelClient
from socialsched.trust.redaction import hide_secret

from . import engagement as _engagement
from .length import MAX_LENGTH, weighted_length
from .media import IMAGES, MAX_ALT_LENGTH, VIDEOS, upload

API_URL = "https://api.x.com"
DEFAULT_TIMEOUT = 20.0
FIND_LIMIT = 100

log = logging.getLogger(__name__)


def _retry_after(response: httpx.Response) -> float | None:
    # X sends the end of the rate-limit window as epoch seconds.
    reset = response.headers.get("x-rate-limit-reset")
    try:
        return max(0.0, float(reset) - time.time()) if reset else None
    except ValueError:
        return None


class DuplicateContent(PermanentError):
    """X refused the post because the account already posted the same text."""


class XAdapter(Adapter):
    """Posts to X through API v2 with an OAuth 2.0 user-context access token.

    Secret `access_token` (scopes tweet.read, tweet.write, users.read). With secret
    `refresh_token` (scope offline.access) and setting `client_id` (secret
    `client_secret` too for a confidential client), a refused access token is refreshed
    once and the new pair written to the file `token_store` (mode 0600), which is read
    first from then on. Settings: `api_url` (default https://api.x.com), `timeout`
    (seconds, default 20). A thread
    goes out as a reply chain, one `POST /2/tweets` per part, each replying to the
    previous part. Text length is X's weighted count (URLs 23, CJK and emoji 2).

    OAuth 1.0a user context instead: secrets `api_key`, `api_secret` (the app's consumer
    key and secret), `access_token` and `access_token_secret`; each request is signed
    (HMAC-SHA1).

    Images (up to four) and a video go up through the chunked media upload, with their
    alt text, before the post names them (`media.media_ids`); the token needs the
    media.write scope too. `sleep` waits between checks of a video's processing.

    Engagement: likes, reposts, replies, quotes and views (`public_metrics`) of up to
    100 posts a call (`GET /2/tweets`, scope tweet.read).
    """

    name = "x"
    #: Where each secret is sent (the origin the operator approves).
    secret_destinations = declare({ANY_SECRET: Destination("api_url", API_URL)})
    capabilities = Capabilities(
        max_length=MAX_LENGTH,
        delete=True,
        threads=True,
        images=IMAGES,
        videos=VIDEOS,
        max_alt_length=MAX_ALT_LENGTH,
        engagement=_engagement.COUNTS,
    )
    required_secrets = ("access_token",)
    path_settings = ("token_store",)
    doubt_guarantee = "checked (the account's recent posts, by exact text)"

    def __init__(
        self,
        channel: Channel,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(channel, environ)
        self.sleep = sleep
        settings = channel.settings
        self.api_url = str(settings.get("api_url", API_URL)).rstrip("/")
        self.timeout = float(settings.get("timeout", DEFAULT_TIMEOUT))
        self._http = ChannelClient(timeout=self.timeout)
        store = settings.get("token_store")
        self.token_store = Path(str(store)) if store else None
        self.client_id = str(settings["client_id"]) if settings.get("client_id") else None
        # OAuth 1.0a user context when the channel names the app's consumer key.
        self.oauth1 = "api_key" in channel.secrets
        self._tokens: dict[str, str] | None = None
        self._user_id: str | None = None
        self._published: dict[str, Receipt] = {}
        # Media uploaded for a key: a retry names them again instead of uploading again.
        self._uploaded: dict[tuple[str, str], str] = {}

    def text_length(self, text: str) -> int:
        return weighted_length(text)

    def _current_tokens(self) -> dict[str, str]:
        """The access and refresh tokens: the stored pair when refreshed before, else
        the channel's secrets."""
        if self._tokens is None:
            tokens: dict[str, str] = {}
            if self.token_store is not None and self.token_store.exists():
                try:
                    tokens = json.loads(self.token_store.read_text())
                except (OSError, ValueError):
                    tokens = {}
            if not tokens.get("access_token"):
                tokens = {"access_token": self.secret("access_token")}
                refresh = self.secret("refresh_token", None)
                if refresh:
                    tokens["refresh_token"] = refresh
            for label, value in tokens.items():
                hide_secret(value, f"<x {label}>")
            self._tokens = tokens
        return self._tokens

    def _refresh(self) -> bool:
        """Trade the refresh token for a new pair (`POST /2/oauth2/token`) and store
        it; False when this channel cannot refresh."""
        tokens = self._current_tokens()
        refresh = tokens.get("refresh_token")
        if not refresh or not self.client_id:
            return False
        where = f"x channel {self.channel.name!r}"
        client_secret = self.secret("client_secret", None)
        auth = (self.client_id, client_secret) if client_secret else None
        data = {"grant_type": "refresh_token", "refresh_token": refresh}
        if auth is None:
            data["client_id"] = self.client_id
        try:
            response = self._http.client().post(
                f"{self.api_url}/2/oauth2/token",
                data=data,
                timeout=self.timeout,
                # No client-wide auth: the default is none, as with httpx.post.
                auth=httpx.USE_CLIENT_DEFAULT if auth is None else auth,
            )
        except httpx.HTTPError as error:
            raise TransientError(f"{where}: token refresh: {type(error).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"{where}: token refresh: {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or not body.get("access_token"):
            raise CredentialsRejected(
                f"{where}: the refresh token was refused ({response.status_code}); "
                "authorise the app again"
            )
        new = {"access_token": str(body["access_token"])}
        new["refresh_token"] = str(body.get("refresh_token") or refresh)
        for label, value in new.items():
            hide_secret(value, f"<x {label}>")
        self._tokens = new
        if self.token_store is not None:
            self._store(new)
        return True

    def _store(self, tokens: dict[str, str]) -> None:
        # Written whole to a private temporary file, then moved over the old one.
        assert self.token_store is not None
        temporary = self.token_store.with_name(self.token_store.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(tokens, file)
        os.replace(temporary, self.token_store)

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return self._send(method, path, **kwargs)
        except CredentialsRejected:
            if not self._refresh():
                raise
        return self._send(method, path, **kwargs)

    def _authorization(self, method: str, url: httpx.URL) -> tuple[str, str]:
        """The Authorization header for a request, and the token it carries (to keep
        out of error texts)."""
        if not self.oauth1:
            token = self._current_tokens()["access_token"]
            return f"Bearer {token}", token
        token = self.secret("access_token")
        client = oauthlib.oauth1.Client(
            self.secret("api_key"),
            client_secret=self.secret("api_secret"),
            resource_owner_key=token,
            resource_owner_secret=self.secret("access_token_secret"),
        )
        # Only form-encoded bodies are signed (RFC 5849 3.4.1.3): JSON and multipart not.
        _, headers, _ = client.sign(str(url), method)
        return headers["Authorization"], token

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = httpx.URL(f"{self.api_url}{path}", params=kwargs.pop("params", None))
        authorization, token = self._authorization(method, url)
        where = f"x channel {self.channel.name!r}"
        try:
            response = self._http.request(
                method,
                url,
                headers={"Authorization": authorization},
                timeout=self.timeout,
                **kwargs,
            )
        except httpx.TimeoutException:
            raise TransientError(f"{where}: timed out after {self.timeout:g}s") from None
        except httpx.HTTPError as error:
            raise TransientError(f"{where}: {type(error).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if response.status_code < 400:
            return body
        text = str(body.get("detail") or body.get("title") or response.reason_phrase)
        detail = f"{where}: {response.status_code} {text.replace(token, '***')}"
        if response.status_code == 429:
            raise TransientError(detail, retry_after=_retry_after(response))
        if response.status_code >= 500:
            raise TransientError(detail)
        if response.status_code == 401:
            raise CredentialsRejected(detail)
        if response.status_code == 403 and "duplicate" in text.lower():
            raise DuplicateContent(detail)
        raise PermanentError(detail)

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        payload: dict[str, Any] = {"text": message.text}
        if message.attachments:
            payload["media"] = {
                "media_ids": [self._upload(media, idempotency_key) for media in message.attachments]
            }
        if message.reply_to is not None:
            payload["reply"] = {"in_reply_to_tweet_id": message.reply_to.remote_id}
        try:
            body = self._request("POST", "/2/tweets", json=payload)
        except DuplicateContent:
            # X refuses the same text twice: a retry after a lost reply lands here,
            # and the post it made is this delivery's.
            found = self.find(message, idempotency_key)
            if found is None:
                raise
            self._published[idempotency_key] = found
            return found
        # The post exists now: nothing below may raise.
        data = body.get("data") or {}
        post_id = data.get("id")
        if not post_id:
            log.warning("x channel %r: the reply carries no post id", self.channel.name)
            receipt = Receipt(remote_id=f"unknown:{idempotency_key}")
        else:
            receipt = Receipt(remote_id=str(post_id), url=f"https://x.com/i/web/status/{post_id}")
        self._published[idempotency_key] = receipt
        return receipt

    def _upload(self, media: Media, idempotency_key: str) -> str:
        known = self._uploaded.get((idempotency_key, media.digest))
        if known is None:
            known = upload(self._request, media, sleep=self.sleep)
            self._uploaded[(idempotency_key, media.digest)] = known
        return known

    def user_id(self) -> str:
        """The id of the account the token belongs to (`GET /2/users/me`)."""
        if self._user_id is None:
            data = self._request("GET", "/2/users/me").get("data") or {}
            if not data.get("id"):
                raise TransientError(f"x channel {self.channel.name!r}: /2/users/me has no id")
            self._user_id = str(data["id"])
        return self._user_id

    def verify(self) -> str:
        """The access token works: the account it posts as."""
        data = self._request("GET", "/2/users/me").get("data") or {}
        self._user_id = str(data.get("id"))
        return f"@{data.get('username')} ({data.get('id')})"

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """The account's recent post with exactly this message's text (X refuses the
        same text twice, so there is at most one); None when there is none."""
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        params = {"max_results": str(FIND_LIMIT), "tweet.fields": "text"}
        body = self._request("GET", f"/2/users/{self.user_id()}/tweets", params=params)
        for item in body.get("data") or []:
            if item.get("text") == message.text:
                post_id = str(item["id"])
                return Receipt(
                    remote_id=post_id,
                    url=f"https://x.com/i/web/status/{post_id}",
                    extra={"found": True},
                )
        return None

    engagement_batch = _engagement.BATCH

    def engagement(self, receipts: Sequence[Receipt]) -> Mapping[str, Engagement]:
        """Likes, reposts, replies, quotes and views of the posts, 100 a call; a
        deleted post is left out."""
        return _engagement.engagement(self._request, receipts)

    def delete(self, receipt: Receipt) -> None:
        """Delete (retract) a post by its id."""
        self._request("DELETE", f"/2/tweets/{receipt.remote_id}")

    def close(self) -> None:
        """Close the channel's HTTP connections."""
        self._http.close()
