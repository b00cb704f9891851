"""The banned-words policy and the hashtag filter, through socialsched's planner."""

from __future__ import annotations

import pytest
import socialsched_example

from socialsched import Calendar, Channel, PlanError, Post, Segment, plugins
from socialsched.planning.planner import Planner


@pytest.fixture(autouse=True)
def example_registered():
    # Installed, the entry point registers it; registering by hand keeps the
    # tests independent of whether the package is installed.
    plugins.reset()
    if "example" not in {plugins.manager().get_name(p) for p in plugins.manager().get_plugins()}:
        plugins.register(socialsched_example, name="example")
    yield
    plugins.reset()


def calendar(text: str) -> Calendar:
    return Calendar(
        segments=[
            Segment(
                name="dz",
                locale="fr-DZ",
                timezone="Africa/Algiers",
                country="DZ",
                vars={"banned_words": ["vin"]},
            ),
            Segment(name="fr", locale="fr-FR", timezone="Europe/Paris", country="FR"),
        ],
        channels=[Channel(name="screen", adapter="console")],
        posts=[Post(id="p", text=text, dates=["2027-05-03"], at="10:00")],
    )


def test_banned_word_fails_the_plan_for_that_market():
    with pytest.raises(PlanError, match="contains 'vin', banned in dz"):
        Planner(calendar("Un verre de vin ?")).plan("2027-05-01", "2027-05-05")


def test_other_markets_are_planned_and_lint_lists_the_violation():
    problems: list = []
    deliveries = Planner(calendar("Un verre de vin ?")).plan(
        "2027-05-01", "2027-05-05", problems=problems
    )
    assert [d.segment for d in deliveries] == ["fr"]
    assert len(problems) == 1 and "banned in dz" in problems[0].message


def test_hashtag_filter():
    deliveries = Planner(calendar("{{ 'summer sale' | hashtag }}")).plan("2027-05-01", "2027-05-05")
    assert {d.text for d in deliveries} == {"#SummerSale"}
