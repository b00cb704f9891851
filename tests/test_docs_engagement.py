"""Each network page's "Engagement" section matches its adapter: it names every count
the adapter declares (`Capabilities.engagement`) and only those, or says "None" for an
adapter that declares none."""

from __future__ import annotations

import re

import pytest
from test_docs_networks import page_text

from socialsched.adapters.engagement import COUNTS
from socialsched.adapters.registry import adapter_class

# The networks whose pages have the section so far (issue 23); the others join as their
# adapters learn engagement.
NETWORKS = ("mastodon", "bluesky", "telegram", "discord", "slack", "email", "matrix")


def engagement_section(name: str) -> str:
    found = re.search(r"^## Engagement\n(.*?)(?=^## |\Z)", page_text(name), re.M | re.S)
    assert found, f"the {name} page has no '## Engagement' section"
    return found[1].strip()


@pytest.mark.parametrize("name", NETWORKS)
def test_the_engagement_section_names_the_declared_counts(name: str) -> None:
    declared = adapter_class(name).capabilities.engagement
    section = engagement_section(name)
    named = [count for count in COUNTS if f"**{count}**" in section]
    if declared:
        assert named == list(declared)
        # It says how many requests collecting takes: "1,000 posts take N ...".
        assert re.search(r"1,000 posts take \d+", section), section
    else:
        assert section.startswith("None"), section
        assert named == []
