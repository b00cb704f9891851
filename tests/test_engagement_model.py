"""The engagement model: counts, None where a network gives none, threads summed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from socialsched.adapters import Adapter, Capabilities
from socialsched.adapters.engagement import COUNTS, Engagement, engagement_counts, thread_engagement
from socialsched.calendar.model import Channel

AT = datetime(2027, 1, 20, 12, 0, tzinfo=UTC)


def test_a_count_the_network_does_not_give_is_none_not_zero():
    engagement = Engagement.of(AT, {"favourites": 3}, declared=["views", "likes"])
    assert engagement.counts() == {
        "likes": 0,
        "reposts": None,
        "replies": None,
        "quotes": None,
        "views": 0,
        "clicks": None,
    }


def test_counts_must_be_whole_and_not_negative():
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="likes must be a count"):
            Engagement(fetched_at=AT, likes=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        Engagement(fetched_at=datetime(2027, 1, 20))


def test_a_thread_sums_the_parts_that_give_a_count():
    first = Engagement(fetched_at=AT, likes=5, reposts=2, replies=None)
    second = Engagement(fetched_at=AT + timedelta(seconds=3), likes=1, replies=4)
    third = Engagement(fetched_at=AT, likes=0)
    total = thread_engagement([first, second, third])
    assert total is not None
    assert (total.likes, total.reposts, total.replies, total.views) == (6, 2, 4, None)
    assert total.fetched_at == AT + timedelta(seconds=3)
    assert thread_engagement([]) is None


def test_capabilities_declare_known_counts_in_report_order():
    assert Capabilities(engagement=["views", "likes"]).engagement == ("likes", "views")
    with pytest.raises(ValueError, match="unknown engagement count"):
        Capabilities(engagement=["hearts"])
    assert set(COUNTS) == {"likes", "reposts", "replies", "quotes", "views", "clicks"}
    assert engagement_counts([]) == ()


def test_an_adapter_without_engagement_answers_nothing():
    adapter = Adapter(Channel(name="c", adapter="x"))
    assert adapter.capabilities.engagement == ()
    assert adapter.engagement([]) == {}
