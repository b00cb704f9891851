"""Deliveries in doubt: taking over what a dead worker was sending, and settling it.

A worker that dies while sending leaves a delivery with a sending mark and a lease
that expires. The next pass takes it over and asks the network (`Adapter.find`)
before publishing again under the same key; where the network cannot tell, the
channel's `on_doubt` says whether to send again or hold it for an operator
(`Store.resolve`). Claimed deliveries a dead worker never started are not in doubt:
the store gives them back as scheduled.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import attrs

from socialsched.adapters import Adapter, AdapterError, CannotCheck, PermanentError, Receipt
from socialsched.calendar.model import Channel
from socialsched.store import Record
from socialsched.trust.redaction import redact

from .alerts import Alert
from .threads import receipt_data, thread_part

if TYPE_CHECKING:
    from .core import Runner

logger = logging.getLogger("socialsched.runner")

#: The activity log's reason for a delivery in doubt found on its network.
FOUND = "found on the network: it went out before its worker died"


def settle_doubts(runner: Runner) -> int:
    """Take over deliveries whose worker died while publishing them and settle each:
    found on the network (recorded, not sent again), certainly absent (sent again),
    or, where the network cannot tell, the channel's `on_doubt` decides. Returns
    how many were taken over."""
    settled = 0
    # Receipts a dead runner journaled first: those deliveries are not in doubt.
    runner.receipts.replay()
    while True:
        records = runner.store.take_over_expired(
            runner.worker, lease=runner.lease, limit=runner.batch
        )
        for record in records:
            settle(runner, record)
        settled += len(records)
        if len(records) < runner.batch or runner.stopping:
            return settled


def settle(runner: Runner, record: Record) -> None:
    channel = runner._channels.get((record.calendar, record.channel))
    if channel is None:
        doubt(runner, record, "in doubt: its channel is no longer in the store")
        return
    message, key = runner._message(record), record.id
    if len(record.parts) > 1:
        # A thread: the parts recorded are out; the next one is in doubt.
        done = [Receipt.from_stored(part) for part in runner.store.thread_receipts(record.id)]
        if len(done) == len(record.parts):
            runner._publish(record, channel)  # every part is out: record it
            return
        message, key = thread_part(record, message, done)
    elif record.parts:
        message = attrs.evolve(message, text=record.parts[0])
    adapter: Adapter | None = None
    try:
        adapter = runner._adapter(record.calendar, channel)
        receipt = adapter.find(message, key)
    except CannotCheck as error:
        why = redact(str(error))
    except AdapterError as error:
        why = f"cannot check: {redact(str(error))}"
    except Exception as error:  # an adapter bug: as good as no answer
        why = f"cannot check: {type(error).__name__}: {redact(str(error))}"
    else:
        if receipt is None:
            resend(runner, record, channel, "not found on the network")
        elif len(record.parts) > 1:
            # That part is out: record it and go on with the rest of the thread.
            data = receipt_data(receipt, key)
            runner.store.record_thread_part(record, runner.worker, message.part, data, runner.lease)
            runner._publish(record, channel)
        else:
            fields = {
                "delivery": record.to_delivery(),
                "channel": channel,
                "attempt": record.attempts,
            }
            runner._record_published(record, receipt, fields, FOUND)
        return
    if on_doubt(channel, adapter) == "resend":
        resend(runner, record, channel, f"{why}; on_doubt = resend")
        return
    doubt(
        runner,
        record,
        f"in doubt: {why}; held (on_doubt = hold) until `socialsched resolve "
        f"{record.id} --sent` or `--resend`",
    )


def doubt(runner: Runner, record: Record, why: str) -> None:
    logger.warning(
        "delivery %s %s",
        record.id,
        why,
        extra=runner._fields(record, event="in_doubt", error=why),
    )
    if runner.store.record_doubt(record, runner.worker, why):
        runner.alerts.report(Alert("doubt", record.calendar, record.channel, why, record.id))


def resend(runner: Runner, record: Record, channel: Channel, why: str) -> None:
    logger.info(
        "delivery %s in doubt: %s; sending again",
        record.id,
        why,
        extra=runner._fields(record, event="resend"),
    )
    if record.attempts > channel.max_attempts:
        runner._fail(
            record,
            PermanentError(why),
            f"gave up after {record.attempts} attempts (its worker died while "
            f"publishing it): {why}",
            {"delivery": record.to_delivery(), "channel": channel, "attempt": record.attempts},
        )
    elif runner.store.held(record):
        runner.store.record_paused(record, runner.worker, f"in doubt, {why}; paused meanwhile")
    else:
        runner._publish(record, channel)


def on_doubt(channel: Channel, adapter: Adapter | None) -> str:
    """What to do with a delivery in doubt the network cannot check: the channel's
    `on_doubt`, else "resend" where the adapter declares its publishing idempotent
    (sending again under the same key cannot post twice), else "hold"."""
    if channel.on_doubt is not None:
        return channel.on_doubt
    return "resend" if adapter is not None and adapter.capabilities.idempotent else "hold"
