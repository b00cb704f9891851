"""The shared Graph API engagement helpers (socialsched.adapters.graph_engagement) and the error
a missing object gets (socialsched.adapters.graph.ObjectMissing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from socialsched.adapters import PermanentError, Receipt
from socialsched.adapters.graph import ObjectMissing, graph_error
from socialsched.adapters.graph_engagement import (
    graph_ids,
    insight_values,
    lookup_each,
    lookup_many,
    summary_total,
)


class FakeGraph:
    """A `get` over a dict of objects: a multi-id lookup naming one that is not there
    is refused whole, as the Graph API does."""

    def __init__(self, objects: Mapping[str, dict[str, Any]]) -> None:
        self.objects = objects
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        self.calls.append((path, dict(params)))
        wanted = params["ids"].split(",") if path == "" else [path.split("/")[0]]
        if any(one not in self.objects for one in wanted):
            raise ObjectMissing("gone")
        if path == "":
            return {one: self.objects[one] for one in wanted}
        return self.objects[wanted[0]]


def test_a_missing_object_is_object_missing_and_other_refusals_are_not():
    missing = {"error": {"message": "does not exist", "code": 100, "error_subcode": 33}}
    error = graph_error(httpx.Response(400), missing, token="t", where="w", transient_codes=())
    assert isinstance(error, ObjectMissing) and isinstance(error, PermanentError)
    assert isinstance(
        graph_error(httpx.Response(404), {}, token="t", where="w", transient_codes=()),
        ObjectMissing,
    )
    invalid = {"error": {"message": "Invalid parameter", "code": 100}}
    other = graph_error(httpx.Response(400), invalid, token="t", where="w", transient_codes=())
    assert type(other) is PermanentError


def test_graph_ids_are_distinct_in_order_without_unknown_ones():
    receipts = [Receipt("b"), Receipt("unknown:k"), Receipt("a"), Receipt("b")]
    assert graph_ids(receipts) == ["b", "a"]


def test_lookup_many_asks_in_batches_and_leaves_missing_objects_out():
    objects = {str(n): {"id": str(n)} for n in range(7) if n != 4}
    get = FakeGraph(objects)
    found = lookup_many(get, [str(n) for n in range(7)], "f", size=3)
    assert set(found) == set(objects)
    batches = [params["ids"] for path, params in get.calls if path == ""]
    assert batches == ["0,1,2", "3,4,5", "6"]
    # The refused batch was asked again one object at a time.
    singles = [path for path, _params in get.calls if path]
    assert singles == ["3", "4", "5"]
    assert {params["fields"] for _path, params in get.calls} == {"f"}


def test_lookup_each_asks_every_object_and_leaves_missing_ones_out():
    get = FakeGraph({"1": {"data": []}})
    assert lookup_each(get, ["1", "2"], "insights", {"metric": "likes"}) == {"1": {"data": []}}
    assert get.calls == [("1/insights", {"metric": "likes"}), ("2/insights", {"metric": "likes"})]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"data": [{"name": "views", "values": [{"value": 7}]}]}, {"views": 7}),
        ({"data": [{"name": "likes", "total_value": {"value": 3}}]}, {"likes": 3}),
        ({"data": [{"name": "views", "values": [{"value": 1}, {"value": 9}]}]}, {"views": 9}),
        ({"data": [{"name": "views", "values": []}]}, {}),
        ({"data": [{"name": "views", "values": [{"value": {"a": 1}}]}]}, {}),
        ({"data": []}, {}),
        (None, {}),
    ],
)
def test_insight_values_read_numbers_only(answer, expected):
    assert insight_values(answer) == expected


def test_summary_total_reads_the_total_count_or_none():
    assert summary_total({"data": [], "summary": {"total_count": 5}}) == 5
    assert summary_total({"data": []}) is None
    assert summary_total(None) is None
