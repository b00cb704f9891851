"""The root conftest.py's ordering of slow tests on pytest-xdist workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from module_files import load_module

ROOT_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"


class FakeItem:
    def __init__(self, name: str, slow: bool, group: str | None = None) -> None:
        self.name, self.slow, self.group = name, slow, group

    def get_closest_marker(self, name: str) -> Any:
        if name == "slow" and self.slow:
            return pytest.mark.slow.mark
        if name == "worker_group" and self.group:
            return pytest.mark.worker_group(self.group).mark
        return None

    def __repr__(self) -> str:
        return self.name


@pytest.fixture
def order() -> Any:
    return load_module("root_conftest_for_test", ROOT_CONFTEST).pytest_collection_modifyitems


def xdist_shares(items: list[Any], workers: int) -> list[list[Any]]:
    """How pytest-xdist's worksteal scheduler first splits a collection: in order, each
    worker in turn taking an equal part of what is left."""
    shares, start = [], 0
    for worker in range(workers):
        size = (len(items) - start) // (workers - worker)
        shares.append(items[start : start + size])
        start += size
    return shares


def test_each_worker_starts_with_its_share_of_the_slow_tests(order, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    items = [FakeItem(f"r{i}", False) for i in range(10)]
    slow = [FakeItem(f"s{i}", True) for i in range(3)]
    items[2:2], items[9:9] = slow[:2], slow[2:]
    before = list(items)
    order(None, items)
    assert sorted(items, key=id) == sorted(before, key=id)  # nothing lost or added
    assert [i for i in items if not i.slow] == [i for i in before if not i.slow]
    for share, first in zip(xdist_shares(items, 3), slow, strict=True):
        assert share[0] is first
        assert [i for i in share if i.slow] == [first]


def test_without_workers_the_order_is_the_collections(order, monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    items = [FakeItem("r0", False), FakeItem("s0", True), FakeItem("r1", False)]
    before = list(items)
    order(None, items)
    assert items == before


def test_each_worker_group_goes_to_the_front_of_one_share(order, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    items = [FakeItem(f"r{i}", False) for i in range(20)]
    pds = [FakeItem(f"p{i}", False, "pds") for i in range(3)]
    network = [FakeItem(f"n{i}", False, "network") for i in range(2)]
    slow = [FakeItem("s0", True)]
    items[1:1], items[5:5], items[8:8], items[15:15] = pds[:2], network[:1], slow, pds[2:]
    items.append(network[1])
    before = list(items)
    order(None, items)
    assert sorted(items, key=id) == sorted(before, key=id)
    shares = xdist_shares(items, 4)
    assert shares[3][:3] == pds  # the first group met, at the front of the last share
    assert shares[2][:2] == network  # the next, of the one before
    assert shares[0][0] is slow[0]
    for share in shares[:2]:
        assert not any(item.group for item in share)
