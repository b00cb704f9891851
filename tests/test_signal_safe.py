"""`nap`: the main thread waits for an event a signal handler sets without ever holding
the event's lock, so a signal cannot deadlock it (as it can `Event.wait`: a runner
then never stopped on SIGTERM)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from socialsched.runner.signal_safe import nap

STORM = textwrap.dedent(
    """
    import os, signal, threading, time
    from socialsched.runner.signal_safe import nap

    event = threading.Event()
    def handler(signum, frame):
        event.set()
        event.clear()
    signal.signal(signal.SIGUSR1, handler)

    def storm():
        for _ in range(20000):
            os.kill(os.getpid(), signal.SIGUSR1)
    sender = threading.Thread(target=storm)
    sender.start()
    naps = 0
    while sender.is_alive():
        nap(event, 0.0005)
        naps += 1
    sender.join()
    print("survived", naps)
    """
)


def test_a_storm_of_signals_setting_the_event_never_deadlocks_a_nap():
    # In a child process: a deadlock would hang it, and the timeout says so.
    result = subprocess.run(
        [sys.executable, "-c", STORM], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("survived ")


def test_nap_returns_at_once_when_set_and_after_its_time_when_not():
    event = threading.Event()
    assert nap(event, 0.01) is False
    event.set()
    assert nap(event, 3600) is True  # would take an hour if it did not look
    later = threading.Event()
    threading.Timer(0.05, later.set).start()
    assert nap(later, 3600) is True
