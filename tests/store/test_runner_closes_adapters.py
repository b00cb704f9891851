"""The runner closes the adapters it set up (their HTTP clients) when it stops: at the
end of `run_until_idle`, when `run` is stopped, and when SIGHUP sets them up again."""

from __future__ import annotations

import random
import threading
from typing import Any

from conftest import Recorder, calendar, post
from socialsched.calendar.model import Channel
from socialsched.runner import Runner
from socialsched.scheduling import schedule


class Closing(Recorder):
    """A recorder that counts its `close()` calls."""

    def __init__(self, channel: Channel, environ: Any = None) -> None:
        super().__init__(channel, environ)
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def _built(store: Any, clock: Any, **kwargs: Any) -> tuple[Runner, list[Closing]]:
    built: list[Closing] = []

    def factory(channel: Channel) -> Closing:
        adapter = Closing(channel)
        built.append(adapter)
        return adapter

    runner = Runner(store, adapters=factory, sleep=clock.sleep, rng=random.Random(7), **kwargs)
    return runner, built


def test_run_until_idle_closes_each_adapter_once_and_the_next_run_builds_anew(store, clock):
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    runner, built = _built(store, clock)
    assert runner.run_until_idle() == 2
    assert [adapter.closed for adapter in built] == [1]  # one channel, one adapter
    assert len(built[0].published) == 2
    schedule(store, calendar([post("a", "05:30"), post("b", "05:40")]), "2027-01-04", "2027-01-04")
    assert runner.run_until_idle() == 2
    assert [adapter.closed for adapter in built] == [1, 1]  # a new one, closed in turn


def test_a_stopped_run_closes_its_adapters(store, clock):
    schedule(store, calendar([post("a", "05:30")]), "2027-01-04", "2027-01-04")
    runner, built = _built(store, clock)
    done = threading.Event()

    def wait_then_stop() -> None:
        # Stop once both deliveries are out (the run's first pass).
        for _ in range(400):
            if built and len(built[0].published) == 2:
                break
            done.wait(0.05)
        runner.stop()

    stopper = threading.Thread(target=wait_then_stop)
    stopper.start()
    runner.run(handle_signals=False)
    stopper.join()
    assert [adapter.closed for adapter in built] == [1]
    assert len(built[0].published) == 2
