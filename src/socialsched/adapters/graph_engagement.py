"""Reading engagement from Meta's Graph APIs (Facebook Pages, Instagram, Threads).

The Graph API answers for many objects at once (`GET /?ids=a,b,...&fields=...`, up to
50 ids), but refuses the whole call when one of them no longer exists. A batch refused
that way is asked again one object at a time, and the missing ones are left out, as
`Adapter.engagement` wants for deleted posts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .graph import ObjectMissing
from .messages import Receipt

#: Most ids one Graph API multi-id lookup takes.
GRAPH_BATCH = 50

#: `get(path, params)`: the adapter's Graph API `GET` (its token, client and errors).
Get = Callable[[str, Mapping[str, str]], dict[str, Any]]


def graph_ids(receipts: Sequence[Receipt]) -> list[str]:
    """The distinct object ids of `receipts`, in order, without those a reply never
    named (`unknown:...`): one of those would make the network refuse the whole batch."""
    seen: dict[str, None] = {}
    for receipt in receipts:
        if receipt.remote_id and not receipt.remote_id.startswith("unknown:"):
            seen.setdefault(receipt.remote_id)
    return list(seen)


def lookup_many(
    get: Get, ids: Sequence[str], fields: str, size: int = GRAPH_BATCH
) -> dict[str, dict[str, Any]]:
    """`fields` of each object of `ids`, by id: one `GET /?ids=...&fields=...` per
    `size` ids. A batch refused because an object is missing is asked again one id at
    a time (`GET /{id}?fields=...`); the missing objects are left out."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), size):
        batch = list(ids[start : start + size])
        try:
            body = get("", {"ids": ",".join(batch), "fields": fields})
        except ObjectMissing:
            body = {}
            for one in batch:
                try:
                    body[one] = get(one, {"fields": fields})
                except ObjectMissing:
                    continue
        for one in batch:
            item = body.get(one)
            if isinstance(item, dict):
                found[one] = item
    return found


def lookup_each(
    get: Get, ids: Iterable[str], edge: str, params: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """The answer of `GET /{id}/{edge}` with `params` for each of `ids` (a network
    without multi-id lookups for that edge), by id; missing objects are left out."""
    found: dict[str, dict[str, Any]] = {}
    for one in ids:
        try:
            found[one] = get(f"{one}/{edge}", params)
        except ObjectMissing:
            continue
    return found


def summary_total(value: Any) -> int | None:
    """The `summary.total_count` of an edge read with `.summary(total_count)` (e.g.
    reactions, comments), or None when the answer has none."""
    if not isinstance(value, Mapping):
        return None
    total = (value.get("summary") or {}).get("total_count")
    return int(total) if isinstance(total, int | float) else None


def insight_values(value: Any) -> dict[str, int]:
    """Metric name -> value of an insights answer (`{"data": [{"name", "values":
    [{"value"}]}]}`, or `total_value.value`); metrics without a number left out."""
    found: dict[str, int] = {}
    if not isinstance(value, Mapping):
        return found
    for metric in value.get("data") or []:
        if not isinstance(metric, Mapping) or not metric.get("name"):
            continue
        values = metric.get("values") or []
        number = values[-1].get("value") if values and isinstance(values[-1], Mapping) else None
        if number is None:
            number = (metric.get("total_value") or {}).get("value")
        if isinstance(number, int | float) and not isinstance(number, bool):
            found[str(metric["name"])] = int(number)
    return found


__all__ = [
    "GRAPH_BATCH",
    "Get",
    "graph_ids",
    "insight_values",
    "lookup_each",
    "lookup_many",
    "summary_total",
]
