"""`socialsched run` whose jsonl adapter stops for good at one part of a thread, so a
test can SIGKILL the runner at a known point in the middle of a thread.

    python thread_stop_runner.py run --db ... [run options]

Environment: STOP_PART (the part number), STOP_WHEN ("before": before that part is
written; "after": once it is written, before the runner records its receipt) and
STOP_MARK (a file written when the runner stops there).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from socialsched.adapters import JsonlAdapter, Message, Receipt
from socialsched.cli import main

STOP_PART = int(os.environ["STOP_PART"])
STOP_WHEN = os.environ["STOP_WHEN"]
STOP_MARK = Path(os.environ["STOP_MARK"])
_publish = JsonlAdapter.publish


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


JsonlAdapter.publish = publish  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
