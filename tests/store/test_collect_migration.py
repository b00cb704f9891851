"""Revision 0006 (engagement): a store of revision 0005 upgrades with its deliveries and
runner settings kept (collect_after: the default until the next schedule), and
downgrading drops the snapshots only."""

from __future__ import annotations

from datetime import timedelta

import attrs
from alembic import command
from test_store_migrations import alembic_config, current_revision, head_revision

from conftest import Recorder, calendar, post
from socialsched.calendar.model import DEFAULT_COLLECT_AFTER, RunnerSettings
from socialsched.runner import Runner
from socialsched.scheduling import schedule


def test_a_revision_0005_store_upgrades_and_collects(make_store, clock, recorder: Recorder):
    settings = RunnerSettings(alert_channels=(), collect_after=["2h"])
    cal = attrs.evolve(calendar([post("a", "05:30")]), runner=settings)
    store = make_store()
    schedule(store, cal, "2027-01-04", "2027-01-04")
    Runner(store, adapters=lambda channel: recorder, sleep=clock.sleep).run_until_idle()
    before = store.records()
    with store.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0005")
    assert current_revision(store) == "0005"
    store.close()

    upgraded = make_store()
    assert current_revision(upgraded) == head_revision()
    assert upgraded.records() == before
    # Settings stored before 0006 have no collect_after: the default applies.
    assert upgraded.runner_settings()["cal"].collect_after == DEFAULT_COLLECT_AFTER
    clock.advance(hours=1)
    assert {d.delivery_id for d in upgraded.engagement_due()} == {r.id for r in before}
    schedule(upgraded, cal, "2027-01-04", "2027-01-04")
    assert upgraded.runner_settings()["cal"].collect_after == (timedelta(hours=2),)
    assert upgraded.engagement_due() == []
