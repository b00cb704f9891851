"""Publishing a thread: each part a reply to the one before, each receipt recorded
as it comes back, so that a runner taking over after a crash goes on with the next
part rather than starting the thread again."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import attrs

from socialsched.adapters import Adapter, Message, Receipt
from socialsched.store import Record

if TYPE_CHECKING:
    from .core import Runner

logger = logging.getLogger("socialsched.runner")


def receipt_data(receipt: Any, idempotency_key: str) -> dict[str, Any]:
    """What the store keeps of an adapter's receipt. An adapter that returned something
    other than a `Receipt` still published: keep the key as the remote id."""
    if isinstance(receipt, Receipt):
        return attrs.asdict(receipt)
    logger.warning(
        "the adapter returned %s, not a Receipt, for %s", type(receipt).__name__, idempotency_key
    )
    return {"remote_id": idempotency_key, "url": None, "extra": {}}


def thread_part(record: Record, first: Message, done: list[Receipt]) -> tuple[Message, str]:
    """The message and idempotency key of the thread part after the `done` ones."""
    number = len(done) + 1
    message = attrs.evolve(
        first,
        text=record.parts[number - 1],
        part=number,
        parts=len(record.parts),
        reply_to=done[-1] if done else None,
        thread_root=done[0] if done else None,
        attachments=first.attachments if number == 1 else (),
    )
    return message, record.id if number == 1 else f"{record.id}#{number}"


def publish_thread(
    runner: Runner, record: Record, adapter: Adapter, first: Message
) -> Receipt | None:
    """Publish the parts of a thread not yet out, each a reply to the one before,
    recording each receipt as it comes back: a runner taking over after a crash goes
    on with the next part. Returns part 1's receipt with every part's receipt in
    `extra["parts"]`, or None when another worker took the claim over meanwhile."""
    done = [Receipt.from_stored(part) for part in runner.store.thread_receipts(record.id)]
    total = len(record.parts)
    for number in range(len(done) + 1, total + 1):
        message, key = thread_part(record, first, done)
        if not runner.store.mark_sending(record, runner.worker, runner.lease):
            return None  # the claim was lost before this part went out
        data = receipt_data(adapter.publish(message, idempotency_key=key), key)
        done.append(Receipt.from_stored(data))
        held = runner.receipts.thread_part(record, number, data)
        if held is None:
            return None  # stopping with the part in the journal
        if not held and number < total:
            logger.warning(
                "delivery %s: claim lost after part %d of %d; leaving the rest to its new owner",
                record.id,
                number,
                total,
            )
            return None
    root = done[0]
    return Receipt(
        remote_id=root.remote_id,
        url=root.url,
        extra={**root.extra, "parts": [attrs.asdict(part) for part in done]},
    )
