"""The adapter conformance kit's engagement cases (`Adapter.engagement`).

`socialsched.testing.AdapterContract` includes these cases; they run against the same
`adapter` and `remote` fixtures. Counts are checked against what the remote says it
holds, so a remote that can set counts implements the optional method::

    def set_engagement(self, key: str, counts: Mapping[str, int]) -> bool:
        '''Give the post published under `key` these counts (names from
        `socialsched.engagement.COUNTS`; the network's own where it has more). False
        when this remote cannot; the count checks are then skipped.'''
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest

from .base import Adapter
from .engagement import COUNTS, Engagement
from .messages import Message


class EngagementContract:
    """Engagement cases of `AdapterContract` (a mixin: it provides `make_message`)."""

    def make_message(self, adapter: Adapter, key: str) -> Message:  # pragma: no cover
        raise NotImplementedError

    def test_declares_known_engagement_counts(self, adapter: Adapter) -> None:
        declared = adapter.capabilities.engagement
        assert all(name in COUNTS for name in declared), declared
        if not declared:
            assert type(adapter).engagement is Adapter.engagement or adapter.engagement([]) == {}

    def test_engagement_of_no_receipts_asks_nothing(self, adapter: Adapter) -> None:
        assert adapter.engagement([]) == {}

    def test_engagement_gives_declared_counts_and_none_for_the_others(
        self, adapter: Adapter, remote: Any
    ) -> None:
        declared = adapter.capabilities.engagement
        if not declared:
            pytest.skip("the adapter declares no engagement counts")
        set_engagement = getattr(remote, "set_engagement", None)
        receipts = []
        expected: dict[str, Mapping[str, int]] = {}
        for number in range(3):
            key = f"key-engagement-{number}"
            receipt = adapter.publish(self.make_message(adapter, key), key)
            receipts.append(receipt)
            counts = {name: 10 * number + index + 1 for index, name in enumerate(COUNTS)}
            if set_engagement is None or not set_engagement(key, counts):
                pytest.skip("the remote cannot set engagement counts")
            expected[receipt.remote_id] = counts
        found = adapter.engagement(receipts)
        assert set(found) == set(expected), "engagement() must answer for every receipt"
        for remote_id, engagement in found.items():
            assert isinstance(engagement, Engagement)
            assert isinstance(engagement.fetched_at, datetime)
            assert engagement.fetched_at.utcoffset() is not None
            for name in COUNTS:
                value = getattr(engagement, name)
                if name in declared:
                    assert value == expected[remote_id][name], (remote_id, name)
                else:
                    assert value is None, f"{name} is not declared, so it must be None"
