"""Engagement of published Mastodon statuses: favourites, boosts, replies and quotes.

Mastodon 4.3 and later answer `GET /api/v1/statuses?id[]=...` with the statuses of up
to 20 ids at once (more is refused with 422), leaving out those that no longer exist
or that the token may not see. Older servers (and other software speaking the Mastodon
API without that method) answer 404 there: their statuses are then read one by one
(`GET /api/v1/statuses/:id`, 404 for a deleted one). `quotes_count` exists from
Mastodon 4.5 on; a server that does not send it gives no quote count (None, not 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from socialsched.adapters import TransientError
from socialsched.adapters.engagement import Engagement

if TYPE_CHECKING:
    from .adapter import MastodonAdapter

#: The counts the adapter declares (`Capabilities.engagement`).
ENGAGEMENT = ("likes", "reposts", "replies", "quotes")
#: Mastodon's DEFAULT_STATUSES_LIMIT: the most ids one `GET /api/v1/statuses` takes.
BATCH = 20
# Our count names -> the Status entity's attributes.
FIELDS = {
    "likes": "favourites_count",
    "reposts": "reblogs_count",
    "replies": "replies_count",
    "quotes": "quotes_count",
}
# What a server without `GET /api/v1/statuses` (before 4.3) answers there.
_NO_BATCH = (404, 405)


def status_engagement(adapter: MastodonAdapter, ids: Sequence[str]) -> dict[str, Engagement]:
    """The engagement of the statuses `ids` (published through `adapter`), by id;
    deleted statuses are left out. Rate limits and server errors raise
    `TransientError` (with `retry_after`), as `MastodonAdapter._request` does."""
    wanted = list(dict.fromkeys(status_id for status_id in ids if status_id))
    found: dict[str, Engagement] = {}
    index = 0
    while index < len(wanted) and adapter.batch_statuses is not False:
        chunk = wanted[index : index + BATCH]
        statuses = _batch(adapter, chunk)
        if statuses is None:
            adapter.batch_statuses = False  # an older server: never ask it again
            break
        adapter.batch_statuses = True
        found.update(_engagements(adapter, statuses, chunk))
        index += BATCH
    for status_id in wanted[index:]:
        status = _single(adapter, status_id)
        if status is not None:
            found.update(_engagements(adapter, [status], [status_id]))
    return found


def status_counts(status: Mapping[str, Any]) -> dict[str, int]:
    """The counts a Status entity gives, by our names (quotes only when it has them)."""
    counts = {}
    for name, field in FIELDS.items():
        value = status.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            counts[name] = max(0, value)
        elif name != "quotes":
            counts[name] = 0  # a server that lists the status gives its counts
    return counts


def _engagements(
    adapter: MastodonAdapter, statuses: Iterable[Mapping[str, Any]], asked: Sequence[str]
) -> dict[str, Engagement]:
    fetched_at = adapter.clock()
    found = {}
    for status in statuses:
        status_id = str(status.get("id", ""))
        if status_id not in asked:
            continue  # never ours to report
        counts = status_counts(status)
        found[status_id] = Engagement.of(fetched_at, counts, declared=counts)
    return found


def _batch(adapter: MastodonAdapter, ids: Sequence[str]) -> list[Mapping[str, Any]] | None:
    """The statuses of `ids` in one request; None when the server has no such method."""
    response = adapter._request("GET", "/api/v1/statuses", params=[("id[]", i) for i in ids])
    if response.status_code in _NO_BATCH:
        return None
    if response.status_code >= 400:
        raise adapter._refused(response, "refused to show statuses")
    return _statuses(adapter, _document(response))


def _single(adapter: MastodonAdapter, status_id: str) -> Mapping[str, Any] | None:
    """One status; None when the server no longer has it (404)."""
    response = adapter._request("GET", f"/api/v1/statuses/{status_id}")
    if response.status_code == 404:
        return None
    if response.status_code >= 400:
        raise adapter._refused(response, f"refused to show status {status_id}")
    return _statuses(adapter, [_document(response)])[0]


def _document(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _statuses(adapter: MastodonAdapter, document: Any) -> list[Mapping[str, Any]]:
    if not isinstance(document, list) or not all(isinstance(s, dict) for s in document):
        # A proxy's error page or a truncated answer: ask again later.
        raise TransientError(f"mastodon {adapter.instance} showed statuses unreadably")
    return document


__all__ = ["BATCH", "ENGAGEMENT", "status_counts", "status_engagement"]
