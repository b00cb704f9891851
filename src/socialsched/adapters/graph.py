"""Meta's Graph APIs (Facebook Pages, Instagram, Threads), for the adapters that use
them: a request and the error its reply carries, the API's time format, and the
container-then-publish flow that Instagram and Threads share.

Every Graph API error reply is a JSON object `{"error": {"code", "error_subcode",
"is_transient", "message"}}`; what an adapter makes of it (retry, defer, ask for new
credentials, give up) follows the same rules on all three networks, with each
network's own list of transient codes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from socialsched.calendar.model import Channel
from socialsched.media.hosts import MediaHostError, hosted
from socialsched.trust.http_client import ChannelClient

from .base import Adapter
from .errors import (
    AdapterError,
    CannotCheck,
    CredentialsRejected,
    PermanentError,
    QuotaReached,
    TransientError,
    retry_after_seconds,
)
from .messages import Message, Receipt

#: Error codes of a token that was revoked, expired or never valid.
REJECTED_TOKEN_CODES = frozenset({102, 190})
#: (code, subcode) of a request naming an object that does not exist (any more).
MISSING_OBJECT = (100, 33)

log = logging.getLogger(__name__)


class ObjectMissing(PermanentError):
    """The object a request names does not exist (deleted), or the token may not see it."""


class ReplyLost(TransientError):
    """The request may have reached the network, but no answer came back: the post may
    exist, so a retry looks it up before posting again."""


def graph_time(value: Any) -> datetime | None:
    """A Graph API time ("2027-03-01T12:00:00+0000"), or None."""
    if not value:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def retry_after_header(response: httpx.Response) -> float | None:
    """The seconds a reply's `Retry-After` header asks for, or None."""
    return retry_after_seconds(response.headers)


def graph_request(
    method: str,
    url: str,
    *,
    token: str,
    where: str,
    timeout: float,
    client: ChannelClient,
    **kwargs: Any,
) -> tuple[httpx.Response, dict[str, Any]]:
    """Send a Graph API request with `token` through the channel's `client`; the
    response and its body (an empty dict when it is not a JSON object). `ReplyLost`
    (naming `where`) when no answer came."""
    try:
        response = client.request(
            method, url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout, **kwargs
        )
    except httpx.TimeoutException:
        raise ReplyLost(f"{where}: timed out after {timeout:g}s") from None
    except httpx.HTTPError as error:
        raise ReplyLost(f"{where}: {type(error).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    return response, body if isinstance(body, dict) else {}


def graph_failed(response: httpx.Response, body: Mapping[str, Any]) -> bool:
    """Whether a reply is an error (by status or by an `error` object in its body)."""
    return response.status_code >= 400 or "error" in body


def error_codes(body: Mapping[str, Any]) -> tuple[Any, Any]:
    """(code, subcode) of an error reply's body."""
    graph_error = body.get("error") or {}
    return graph_error.get("code"), graph_error.get("error_subcode")


def graph_error(
    response: httpx.Response,
    body: Mapping[str, Any],
    *,
    token: str,
    where: str,
    transient_codes: Collection[int],
    quota_subcodes: Collection[int] = (),
    retry_after: Callable[[httpx.Response], float | None] = retry_after_header,
) -> AdapterError:
    """The error to raise for a failed reply: `QuotaReached` for a quota subcode,
    `TransientError` for 429, 5xx and transient codes, `CredentialsRejected` for a
    rejected token, `ObjectMissing` for an object that does not exist, else
    `PermanentError`. Its text names `where`, the status, code and
    subcode and the network's message, with the token masked."""
    graph_error = body.get("error") or {}
    code, subcode = error_codes(body)
    # Never trust an error text to leave the token out.
    text = str(graph_error.get("message") or response.reason_phrase).replace(token, "***")
    detail = f"{where}: {response.status_code} (code {code}"
    detail += f"/{subcode}) {text}" if subcode else f") {text}"
    if subcode in quota_subcodes:
        return QuotaReached(detail, retry_after=retry_after(response))
    status = response.status_code
    if status == 429 or status >= 500 or graph_error.get("is_transient"):
        return TransientError(detail, retry_after=retry_after(response))
    if code in transient_codes:
        return TransientError(detail, retry_after=retry_after(response))
    if code in REJECTED_TOKEN_CODES:
        return CredentialsRejected(detail)
    if (code, subcode) == MISSING_OBJECT or status == 404:
        return ObjectMissing(detail)
    return PermanentError(detail)


class ContainerPublisher(Adapter):
    """Base of adapters for networks that publish in two steps, as Instagram and
    Threads do: create a container for the post (its text and media, which the network
    fetches from public URLs served by the channel's `settings.media_host`), wait until
    it is processed, then publish it.

    Settings: `user_id` (required), the API's address (the setting `api_url_setting`
    names), `api_version`, `timeout` (seconds, default 30), `poll_interval` and
    `poll_timeout` (seconds between and in all of the checks of a container's
    processing). Secret `access_token`.

    Before each post the account's publishing quota is read; when it is used up the
    delivery is deferred (`QuotaReached`), not failed. A publish request that got no
    answer is looked up (`find`, by text and time) before it is sent again.
    """

    #: How messages name the account: "{account} {user_id}".
    account: ClassVar[str]
    #: The setting holding the API's address, and its default.
    api_url_setting: ClassVar[str]
    default_api_url: ClassVar[str]
    default_api_version: ClassVar[str]
    default_poll_interval: ClassVar[float] = 5.0
    #: The account's edges: containers are created at `create_edge` and published at
    #: `publish_edge`; `quota_edge` tells the publishing quota.
    create_edge: ClassVar[str]
    publish_edge: ClassVar[str]
    quota_edge: ClassVar[str]
    #: The field holding a post's text (in containers and in the account's posts).
    text_field: ClassVar[str]
    #: A container's status field and the field explaining an ERROR status.
    status_field: ClassVar[str]
    status_detail_field: ClassVar[str]
    transient_codes: ClassVar[frozenset[int]] = frozenset({1, 2, 4, 17, 32, 341, 613})
    quota_subcodes: ClassVar[frozenset[int]] = frozenset()
    #: How long before its planned time an in-doubt post may have been created, and how
    #: many of the account's latest posts are searched for it.
    find_slack: ClassVar[timedelta] = timedelta(hours=1)
    find_limit: ClassVar[int] = 50

    media_by_url = True
    required_secrets = ("access_token",)
    required_settings = ("user_id",)

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
                f"channel {channel.name!r}: the {self.name} adapter needs settings.user_id"
            )
        self.user_id = str(user_id)
        self.api_version = str(settings.get("api_version", self.default_api_version))
        self.api_url = str(settings.get(self.api_url_setting, self.default_api_url)).rstrip("/")
        self.timeout = float(settings.get("timeout", 30.0))
        self.poll_interval = float(settings.get("poll_interval", self.default_poll_interval))
        self.poll_timeout = float(settings.get("poll_timeout", 600.0))
        self.sleep = sleep
        self._http = ChannelClient(timeout=self.timeout)
        self._published: dict[str, Receipt] = {}
        # Keys whose publish request got no answer: a retry looks the post up first.
        self._unanswered: set[str] = set()

    @property
    def where(self) -> str:
        """The account, as messages name it."""
        return f"{self.account} {self.user_id}"

    def close(self) -> None:
        """Close the channel's HTTP connections."""
        self._http.close()

    # ---- the API ----

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        token = self.secret("access_token")
        response, body = graph_request(
            method,
            f"{self.api_url}/{self.api_version}/{path}",
            token=token,
            where=self.where,
            timeout=self.timeout,
            client=self._http,
            **kwargs,
        )
        if not graph_failed(response, body):
            return body  # empty when unreadable: the caller decides what that means
        if method == "DELETE" and self._already_gone(response, body):
            return {"success": True}  # what retract wants
        raise graph_error(
            response,
            body,
            token=token,
            where=self.where,
            transient_codes=self.transient_codes,
            quota_subcodes=self.quota_subcodes,
        )

    def _already_gone(self, response: httpx.Response, body: Mapping[str, Any]) -> bool:
        """Whether a failed DELETE says the post does not exist (any more)."""
        return response.status_code == 404

    def quota(self) -> tuple[int, int, int]:
        """The account's publishing quota: (posts used, posts allowed, window seconds)."""
        body = self._request(
            "GET",
            f"{self.user_id}/{self.quota_edge}",
            params={"fields": "quota_usage,config"},
        )
        data = (body.get("data") or [{}])[0]
        config = data.get("config") or {}
        return (
            int(data.get("quota_usage") or 0),
            int(config.get("quota_total") or 0),
            int(config.get("quota_duration") or 86_400),
        )

    # ---- publishing ----

    def check_publishable(self, message: Message) -> None:
        """Raise `PermanentError` for a message the network would refuse outright
        (before anything is sent); the default sends everything."""

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        if idempotency_key in self._unanswered:
            found = self.find(message, idempotency_key)
            if found is not None:
                self._published[idempotency_key] = found
                return found
        self.check_publishable(message)
        used, allowed, window = self.quota()
        if allowed and used >= allowed:
            # A rolling window: on average one post's worth of it frees per allowed post.
            raise QuotaReached(
                f"{self.where}: {used} of {allowed} posts in the last {window // 3600} hours used",
                retry_after=window / allowed,
            )
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
                container = self.container(message, urls)
                try:
                    body = self._request(
                        "POST",
                        f"{self.user_id}/{self.publish_edge}",
                        data={"creation_id": container},
                    )
                except ReplyLost:
                    self._unanswered.add(idempotency_key)
                    raise
        except MediaHostError as error:
            raise TransientError(f"channel {self.channel.name!r}: {error}") from None
        # The post exists now: nothing below may raise.
        self._unanswered.discard(idempotency_key)
        post_id = body.get("id")
        if not post_id:
            log.warning("%s: the reply carries no post id", self.where)
            post_id = f"unknown:{idempotency_key}"
        receipt = Receipt(remote_id=str(post_id), extra={"container": container})
        self._published[idempotency_key] = receipt
        return receipt

    def container(self, message: Message, urls: Sequence[str]) -> str:
        """The processed container to publish for `message`, whose media the network
        fetches from `urls` (built with `create`)."""
        raise NotImplementedError

    def create(self, fields: Mapping[str, str], *, wait: bool) -> str:
        """Create a container with `fields`; its id, once processed when `wait`."""
        body = self._request("POST", f"{self.user_id}/{self.create_edge}", data=dict(fields))
        container = body.get("id")
        if not container:
            raise TransientError(f"{self.where}: a container without an id")
        if wait:
            self._wait_until_processed(str(container))
        return str(container)

    def _wait_until_processed(self, container: str) -> None:
        """Poll a container until the network has fetched and processed its files."""
        waited = 0.0
        fields = f"{self.status_field},{self.status_detail_field}"
        while True:
            body = self._request("GET", container, params={"fields": fields})
            status = body.get(self.status_field)
            if status in ("FINISHED", "PUBLISHED"):
                return
            if status in ("ERROR", "EXPIRED"):
                raise PermanentError(
                    f"{self.name} container {container}: {status} "
                    f"({body.get(self.status_detail_field) or 'no detail given'})"
                )
            if waited >= self.poll_timeout:
                raise TransientError(
                    f"{self.name} container {container}: still {status} after {waited:g}s"
                )
            self.sleep(self.poll_interval)
            waited += max(self.poll_interval, 0.001)

    # ---- lookups ----

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """The account's post with this text, published from `find_slack` before the
        message's time on; None when there is none."""
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        body = self._request(
            "GET",
            f"{self.user_id}/{self.create_edge}",
            params={
                "fields": f"id,{self.text_field},timestamp,permalink",
                "limit": str(self.find_limit),
            },
        )
        since = message.utc - self.find_slack
        matches = [
            item
            for item in body.get("data") or []
            if item.get(self.text_field) == message.text
            and (graph_time(item.get("timestamp")) or since) >= since
        ]
        if len(matches) > 1:
            raise CannotCheck(
                f"{self.where}: {len(matches)} posts have this {self.text_field} around "
                "this time; cannot tell which is this delivery's"
            )
        if not matches:
            return None
        found = matches[0]
        return Receipt(
            remote_id=str(found["id"]), url=found.get("permalink"), extra={"found": True}
        )


__all__ = [
    "MISSING_OBJECT",
    "REJECTED_TOKEN_CODES",
    "ContainerPublisher",
    "ObjectMissing",
    "ReplyLost",
    "error_codes",
    "graph_error",
    "graph_failed",
    "graph_request",
    "graph_time",
    "retry_after_header",
]
