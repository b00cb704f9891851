"""`Plan.positions()` and `Plan.gather()` give the plan's order without building
deliveries: each must name, delivery by delivery, the route and slot of the delivery
that iterating the plan builds."""

from __future__ import annotations

from hypothesis import given
from test_planner_properties import PROPERTY_SETTINGS, _calendar, scenarios

from socialsched import Planner


@PROPERTY_SETTINGS
@given(scenarios())
def test_positions_and_gather_follow_the_plan_order(scenario):
    calendar = _calendar(scenario)
    plan = Planner(calendar).plan(scenario["start"], scenario["end"], render=False)
    deliveries = list(plan)
    positions = list(plan.positions())
    assert len(positions) == len(deliveries)
    for (index, slot), delivery in zip(positions, deliveries, strict=True):
        route = plan.routes[index]
        assert (route.post, route.segment, route.channel) == (
            delivery.post,
            delivery.segment,
            delivery.channel,
        )
        assert route.timing.slots[slot].utc == delivery.utc
    per_route = [
        [(index, slot) for slot in range(len(route.timing.slots))]
        for index, route in enumerate(plan.routes)
    ]
    assert plan.gather(per_route) == positions
    ids = [
        [route.delivery_id(slot) for slot in range(len(route.timing.slots))]
        for route in plan.routes
    ]
    assert plan.gather(ids) == [delivery.id for delivery in deliveries]
