"""Waiting in the main thread for an event a signal handler sets.

`threading.Event.wait` holds the event's (non-reentrant) lock for a moment each time
it wakes; a signal handler runs in the main thread, and one that calls `Event.set`
while the main thread is in that moment waits for a lock its own thread holds: the
process never stops. `nap` sleeps in short slices and only reads the event's flag,
which takes no lock, so SIGTERM always gets through.
"""

from __future__ import annotations

import threading
import time

SLICE = 0.1
"""Seconds between looks at the event: how late a stop can be noticed."""


def nap(event: threading.Event, seconds: float) -> bool:
    """Sleep up to `seconds`, less once `event` is set; whether it is set. For the main
    thread, instead of `event.wait(seconds)` (see the module docs)."""
    end = time.monotonic() + seconds
    while not event.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(SLICE, left))
    return True


__all__ = ["SLICE", "nap"]
