"""`socialsched run` whose adapter stops for good at one part of a thread, so a test can
SIGKILL the runner at a known point in the middle of a thread.

    python thread_stop_runner.py run --db ... [run options]

Environment: STOP_PART (the part number), STOP_WHEN ("before": before that part is
sent; "after": once it is sent, before the runner records its receipt), STOP_MARK (a
file written when the runner stops there) and STOP_ADAPTER (the adapter class to stop,
"module:Class"; the built-in jsonl adapter by default, so that a plugin's tests can
stop their own network's adapter the same way).
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Any

from socialsched.adapters import Message, Receipt
from socialsched.cli import main

STOP_PART = int(os.environ["STOP_PART"])
STOP_WHEN = os.environ["STOP_WHEN"]
STOP_MARK = Path(os.environ["STOP_MARK"])
STOP_ADAPTER = os.environ.get("STOP_ADAPTER", "socialsched.adapters:JsonlAdapter")
_MODULE, _, _CLASS = STOP_ADAPTER.partition(":")
ADAPTER = getattr(importlib.import_module(_MODULE), _CLASS)
_publish = ADAPTER.publish


def _stop() -> None:
    STOP_MARK.write_text("stopped", encoding="utf-8")
    time.sleep(3600)  # until the test kills this process


def publish(self: Any, message: Message, idempotency_key: str) -> Receipt:
    if message.part == STOP_PART and STOP_WHEN == "before":
        _stop()
    receipt = _publish(self, message, idempotency_key)
    if message.part == STOP_PART and STOP_WHEN == "after":
        _stop()
    return receipt


ADAPTER.publish = publish

if __name__ == "__main__":
    main()
