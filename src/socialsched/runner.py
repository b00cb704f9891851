"""The dispatcher: claims due deliveries from the store and publishes them.

One APScheduler (3.x) job wakes the runner when the next delivery falls due and an
interval job polls as a safety net (for deliveries added by another process); there is
never one APScheduler job per delivery. Each pass claims due deliveries in batches under
a lease, publishes them through their channel's adapter with the delivery id as the
idempotency key, and records the receipt. A worker that dies leaves leases that expire;
another pass takes those deliveries over *in doubt* (they may have gone out) and asks
the network (`Adapter.find`) before publishing again under the same key; where the
network cannot tell, the channel's `on_doubt` says whether to send again or hold the
delivery for an operator (`Store.resolve`). A network that rejects a channel's
credentials gets the channel held (`Store.hold_channel`) rather than every delivery
failed in turn.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import attrs
from apscheduler.jobstores.base import JobLookupError
from sqlalchemy.exc import SQLAlchemyError

from socialsched.adapters.receipts import Receipts
from socialsched.adapters.registry import adapter_class

from .adapters import (
    Adapter,
    AdapterError,
    CannotCheck,
    CredentialsRejected,
    Message,
    PermanentError,
    QuotaReached,
    Receipt,
    TransientError,
)
from .alerts import Alert, Alerter
from .approval_checks import ApprovalGate, DestinationNotApproved
from .audiences import Audience
from .collect_runner import AgeCollection
from .errors import SocialschedError
from .journal import Journal
from .model import Channel
from .policy import Rate, retry_delay
from .redaction import redact
from .signal_safe import nap
from .store import (
    CREDENTIALS_REJECTED,
    DESTINATION_NOT_APPROVED,
    Outcomes,
    Record,
    Store,
    _emit,
    describe_database_error,
)

logger = logging.getLogger("socialsched.runner")

# Waits between attempts to reach a lost database: 1 s, 2 s, 4 s, ... at most this.
DATABASE_RETRY_MAX = 60.0
QUOTA_RECHECK = 3600.0
"""Seconds before a delivery deferred by a network quota that named no time is tried again."""

AdapterFactory = Callable[[Channel], Adapter]


def _default_adapter(channel: Channel) -> Adapter:
    return adapter_class(channel.adapter)(channel)


#: The activity log's reason for a delivery in doubt found on its network.
FOUND = "found on the network: it went out before its worker died"


def receipt_data(receipt: Any, idempotency_key: str) -> dict[str, Any]:
    """What the store keeps of an adapter's receipt. An adapter that returned something
    other than a `Receipt` still published: keep the key as the remote id."""
    if isinstance(receipt, Receipt):
        return attrs.asdict(receipt)
    logger.warning(
        "the adapter returned %s, not a Receipt, for %s", type(receipt).__name__, idempotency_key
    )
    return {"remote_id": idempotency_key, "url": None, "extra": {}}


def _thread_part(record: Record, first: Message, done: list[Receipt]) -> tuple[Message, str]:
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


def worker_name() -> str:
    """A name for this worker, unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _receipt(stored: Mapping[str, Any]) -> Receipt:
    """A `Receipt` from the dict the store keeps of it."""
    return Receipt(
        remote_id=str(stored.get("remote_id")),
        url=stored.get("url"),
        extra=stored.get("extra") or {},
    )


class Runner:
    """Publishes due deliveries of `store`.

    `batch`: deliveries claimed at once per channel; `lease`: how long a claim lasts
    before another worker may take it over (longer than a batch takes to publish);
    `poll`: the safety poll interval. `adapters` builds an adapter for a channel
    (default: the installed adapter the channel names). `rng` drives retry jitter;
    `sleep` waits in `run_until_idle` (tests pass one that advances their clock).
    `journal`: where receipts are kept until the store records them (`Receipts`)."""

    def __init__(
        self,
        store: Store,
        *,
        worker: str | None = None,
        batch: int = 50,
        lease: timedelta = timedelta(minutes=2),
        poll: timedelta = timedelta(seconds=30),
        adapters: AdapterFactory | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        journal: Journal | None = None,
    ) -> None:
        if batch < 1:
            raise SocialschedError(f"batch must be at least 1, not {batch}")
        self.store = store
        self.worker = worker or worker_name()
        self.batch = batch
        self.lease = lease
        self.poll = poll
        self._make_adapter = adapters or _default_adapter
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._adapters: dict[tuple[str, str], Adapter | PermanentError] = {}
        self._channels: dict[tuple[str, str], Channel] = {}
        self._stopping = threading.Event()
        self._reload = threading.Event()
        self._started = threading.Event()
        self.receipts = Receipts(
            store,
            self.worker,
            journal,
            lease=lease,
            wait=self._sleep_unless_stopped,
            stopping=self._stopping.is_set,
        )
        self._database_failures = 0
        self._database_retry_at = 0.0  # time.monotonic() of the next try after a loss
        self._pass_lock = threading.Lock()
        self._blocked_until: datetime | None = None
        # Channels held during this pass (rejected credentials, destination not
        # approved), with which: the rest of their claimed batch goes back unattempted.
        self._held: dict[tuple[str, str], str] = {}
        # Secrets go only to destinations the operator approved (channels approve).
        self.approvals = ApprovalGate(store)
        self.alerts = Alerter(self._adapter, store.clock, self.worker)
        self.published = 0
        # What `outcomes` counts: the log entries this runner writes from now on.
        self._log_start = store.last_activity_id()
        # Engagement by age, in steps taken only when nothing is due to publish.
        self.collection = AgeCollection(self)

    def outcomes(self) -> Outcomes:
        """What the store recorded of this runner's work since it was created, per
        channel: published, retried, failed, deferred, missed, held (read from the activity
        log, so it is what `socialsched log` shows, whatever happened in between)."""
        return self.store.outcomes(self.worker, after=self._log_start)

    # ---- one pass ----

    def stop(self) -> None:
        """Ask the runner to finish the delivery in flight, give back the rest, and stop."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        """Whether `stop` was called."""
        return self._stopping.is_set()

    @property
    def running(self) -> bool:
        """Whether the runner's loop is running (started and not stopping)."""
        return self._started.is_set() and not self.stopping

    def reload(self) -> None:
        """Re-read the channel table and set up the adapters again before the next
        delivery, even mid-batch (SIGHUP): after `schedule` changed a channel's settings."""
        self._reload.set()

    def _fields(self, record: Record | None = None, **fields: Any) -> dict[str, Any]:
        """The structured fields of a log line (see `socialsched.logs`)."""
        if record is not None:
            fields.setdefault("delivery", record.id)
            fields.setdefault("channel", record.channel)
        return {"worker": self.worker, **fields}

    def close_adapters(self) -> None:
        """Close every adapter set up so far (their HTTP clients, files); the next
        delivery sets its channel's adapter up again. Called when the runner stops."""
        adapters, self._adapters = list(self._adapters.values()), {}
        for adapter in adapters:
            if isinstance(adapter, Adapter):
                with contextlib.suppress(Exception):  # a plugin's bug must not stop a stop
                    adapter.close()

    def _reload_channels(self) -> None:
        self._reload.clear()
        self.close_adapters()
        self._channels = self.store.channels()
        logger.info(
            "channel table re-read: %d channel(s); adapters set up again",
            len(self._channels),
            extra=self._fields(event="channels_reloaded"),
        )

    def _database_lost(self, error: SQLAlchemyError) -> float:
        """Say that the database cannot be reached; the seconds to wait before trying
        again (doubling from 1 s up to DATABASE_RETRY_MAX)."""
        self._database_failures += 1
        delay = min(DATABASE_RETRY_MAX, 2.0 ** (self._database_failures - 1))
        self._database_retry_at = time.monotonic() + delay
        described = describe_database_error(error)
        # Sent now: no pass ends while the database is away.
        self.alerts.report(Alert("database", detail=described))
        self.alerts.flush()
        logger.warning(
            "database unreachable (%s); retrying in %.0fs",
            described,
            delay,
            extra=self._fields(event="database_unreachable", error=described),
        )
        return delay

    def _database_back(self) -> None:
        if self._database_failures:
            logger.warning(
                "database reachable again after %d failed attempt(s)",
                self._database_failures,
                extra=self._fields(event="database_reachable"),
            )
            self._database_failures = 0
            if self.alerts.recovered("database"):
                self.alerts.flush()  # now: a pending "unreachable" would no longer be true

    def dispatch(self, ids: list[str] | None = None) -> int:
        """One pass: settle deliveries in doubt (expired leases), mark misfires missed,
        then claim and publish what is due, channel by channel within its rate. Returns
        deliveries handled."""
        if self._reload.is_set():
            self._reload_channels()
        self._channels = self.store.channels()
        self._blocked_until = None
        self._held.clear()
        self.approvals.refresh()
        self.alerts.configure(self.store.runner_settings(), self._channels)
        if self.alerts.troubles("held"):  # a held channel resumed says "recovered"
            self.alerts.holds_in_force(self.store.hold_entries())
        handled = self._settle_doubts()
        missed = self.store.mark_missed(self.worker)
        if missed and self.alerts.configured:
            for delivery_id, (calendar, channel_name) in self.store.locate(missed).items():
                self.alerts.report(Alert("missed", calendar, channel_name, delivery=delivery_id))
        for calendar, channel_name in self.store.due_channels():
            if self.stopping:
                break
            channel = self._channels.get((calendar, channel_name))
            if channel is None:
                continue
            limit = self._budget(channel)
            if limit <= 0:
                continue
            records = self.store.claim(
                self.worker,
                limit=limit,
                lease=self.lease,
                calendar=calendar,
                channel=channel_name,
                ids=ids,
            )
            for index, record in enumerate(records):
                if self.stopping:
                    self._give_back(records[index:])
                    break
                if (calendar, channel_name) in self._held:
                    for rest in records[index:]:
                        held = self._held[calendar, channel_name]
                        why = f"channel {channel_name} held: {held}"
                        self.store.record_paused(rest, self.worker, why)
                    break
                if self._reload.is_set():  # SIGHUP applies before the next delivery
                    self._reload_channels()
                    channel = self._channels.get((calendar, channel_name), channel)
                self._publish(record, channel)
                handled += 1
        self.alerts.flush()
        return handled

    def _give_back(self, records: list[Record]) -> None:
        """Release claims not yet attempted at once, rather than at lease expiry."""
        given = sum(
            self.store.record_deferred(record, self.worker, record.due, "runner stopping")
            for record in records
        )
        logger.info(
            "stopping: gave back %d claimed deliveries unattempted",
            given,
            extra=self._fields(event="claims_released", channel=records[0].channel),
        )

    def _budget(self, channel: Channel) -> int:
        if not channel.rate:
            return self.batch
        rate = Rate.parse(channel.rate, channel.name)
        now = self.store.clock()
        used, oldest = self.store.sent_since(channel.name, now - rate.period)
        left = rate.count - used
        if left <= 0 and oldest is not None:
            # Deferred, not failed: the deliveries stay scheduled until the window frees.
            free_at = oldest + rate.period
            if self._blocked_until is None or free_at < self._blocked_until:
                self._blocked_until = free_at
            logger.info(
                "channel %s: rate %s reached; waiting",
                channel.name,
                channel.rate,
                extra=self._fields(event="rate_limited", channel=channel.name),
            )
        return min(self.batch, left)

    def _adapter(self, calendar: str, channel: Channel) -> Adapter:
        key = (calendar, channel.name)
        if key not in self._adapters:
            try:
                self._adapters[key] = self._make_adapter(channel)
            except Exception as error:  # a broken plugin must not stop other channels
                self._adapters[key] = PermanentError(
                    f"channel {channel.name!r}: cannot set up adapter {channel.adapter!r}: {error}"
                )
        adapter = self._adapters[key]
        if isinstance(adapter, PermanentError):
            raise adapter
        problem = self.approvals.problem(calendar, channel, adapter)
        if problem is not None:
            raise DestinationNotApproved(problem)
        return adapter

    def _publish(self, record: Record, channel: Channel) -> None:
        # What lifecycle observers get: the hookspecs' keyword arguments.
        fields: dict[str, Any] = {
            "delivery": record.to_delivery(),
            "channel": channel,
            "attempt": record.attempts,
        }
        try:
            adapter = self._adapter(record.calendar, channel)
            message = self._message(record)
            if len(record.parts) > 1:
                threaded = self._publish_thread(record, adapter, message)
                if threaded is None:
                    return  # the claim was lost: its new owner finishes the thread
                receipt = threaded
            else:
                if record.parts:
                    message = attrs.evolve(message, text=record.parts[0])
                # The sending mark, committed before the network is called: after a
                # crash only a marked delivery is in doubt.
                if not self.store.mark_sending(record, self.worker, self.lease):
                    return  # the claim was lost: its new owner sends it
                receipt = adapter.publish(message, idempotency_key=record.id)
        except SQLAlchemyError:
            raise  # the store, not the adapter: the pass ends and the database is retried
        except CredentialsRejected as error:
            self._hold(record, channel, error)
        except QuotaReached as error:
            self._defer(record, redact(str(error)), error.retry_after)
        except PermanentError as error:
            self._fail(record, error, redact(str(error)), fields)
        except TransientError as error:
            self._retry(record, channel, error, redact(str(error)), error.retry_after, fields)
        except Exception as error:  # an adapter bug: retry, bounded by max_attempts
            described = redact(f"{type(error).__name__}: {error}")
            self._retry(record, channel, TransientError(described), described, None, fields)
        else:
            self._record_published(record, receipt, fields)

    def _record_published(
        self, record: Record, receipt: Any, fields: dict[str, Any], reason: str = "published"
    ) -> None:
        """Record a publication. The post is out: nothing that fails from here on may
        count as a failed attempt, or the delivery would be sent again."""
        data = receipt_data(receipt, record.id)
        # Journaled, then recorded, retried until the store takes it (see Receipts).
        if not self.receipts.published(record, data, reason):
            return
        self.published += 1
        logger.info(
            "delivery %s published", record.id, extra=self._fields(record, event="published")
        )
        try:
            _emit("delivery_published", receipt=receipt, **fields)
        except Exception:  # an observer's bug must not touch a recorded publication
            logger.exception("a delivery_published listener failed for %s", record.id)

    @staticmethod
    def _message(record: Record) -> Message:
        return Message(
            delivery_id=record.id,
            post=record.post,
            segment=record.segment,
            channel=record.channel,
            locale=record.locale,
            text=record.text or "",
            utc=record.utc,
            local=record.local,
            audience=None if record.audience is None else Audience.parse(record.audience),
            tags=record.tags,
            quiet_hours=record.quiet_hours,
            attachments=record.media,
        )

    # ---- deliveries in doubt ----

    def _settle_doubts(self) -> int:
        """Take over deliveries whose worker died while publishing them and settle each:
        found on the network (recorded, not sent again), certainly absent (sent again),
        or, where the network cannot tell, the channel's `on_doubt` decides. Returns
        how many were taken over."""
        settled = 0
        # Receipts a dead runner journaled first: those deliveries are not in doubt.
        self.receipts.replay()
        while True:
            records = self.store.take_over_expired(self.worker, lease=self.lease, limit=self.batch)
            for record in records:
                self._settle(record)
            settled += len(records)
            if len(records) < self.batch or self.stopping:
                return settled

    def _settle(self, record: Record) -> None:
        channel = self._channels.get((record.calendar, record.channel))
        if channel is None:
            self._doubt(record, "in doubt: its channel is no longer in the store")
            return
        message, key = self._message(record), record.id
        if len(record.parts) > 1:
            # A thread: the parts recorded are out; the next one is in doubt.
            done = [_receipt(part) for part in self.store.thread_receipts(record.id)]
            if len(done) == len(record.parts):
                self._publish(record, channel)  # every part is out: record it
                return
            message, key = _thread_part(record, message, done)
        elif record.parts:
            message = attrs.evolve(message, text=record.parts[0])
        adapter: Adapter | None = None
        try:
            adapter = self._adapter(record.calendar, channel)
            receipt = adapter.find(message, key)
        except CannotCheck as error:
            why = redact(str(error))
        except AdapterError as error:
            why = f"cannot check: {redact(str(error))}"
        except Exception as error:  # an adapter bug: as good as no answer
            why = f"cannot check: {type(error).__name__}: {redact(str(error))}"
        else:
            if receipt is None:
                self._resend(record, channel, "not found on the network")
            elif len(record.parts) > 1:
                # That part is out: record it and go on with the rest of the thread.
                data = receipt_data(receipt, key)
                self.store.record_thread_part(record, self.worker, message.part, data, self.lease)
                self._publish(record, channel)
            else:
                fields = {
                    "delivery": record.to_delivery(),
                    "channel": channel,
                    "attempt": record.attempts,
                }
                self._record_published(record, receipt, fields, FOUND)
            return
        if on_doubt(channel, adapter) == "resend":
            self._resend(record, channel, f"{why}; on_doubt = resend")
            return
        self._doubt(
            record,
            f"in doubt: {why}; held (on_doubt = hold) until `socialsched resolve "
            f"{record.id} --sent` or `--resend`",
        )

    def _doubt(self, record: Record, why: str) -> None:
        logger.warning(
            "delivery %s %s",
            record.id,
            why,
            extra=self._fields(record, event="in_doubt", error=why),
        )
        if self.store.record_doubt(record, self.worker, why):
            self.alerts.report(Alert("doubt", record.calendar, record.channel, why, record.id))

    def _resend(self, record: Record, channel: Channel, why: str) -> None:
        logger.info(
            "delivery %s in doubt: %s; sending again",
            record.id,
            why,
            extra=self._fields(record, event="resend"),
        )
        if record.attempts > channel.max_attempts:
            self._fail(
                record,
                PermanentError(why),
                f"gave up after {record.attempts} attempts (its worker died while "
                f"publishing it): {why}",
                {"delivery": record.to_delivery(), "channel": channel, "attempt": record.attempts},
            )
        elif self.store.held(record):
            self.store.record_paused(record, self.worker, f"in doubt, {why}; paused meanwhile")
        else:
            self._publish(record, channel)

    # ---- credential holds ----

    def _hold(self, record: Record, channel: Channel, error: CredentialsRejected) -> None:
        """Hold the channel instead of failing each delivery in turn: the delivery goes
        back (its attempt not counted) and waits, with the rest of the channel, for
        `resume --channel`."""
        label = CREDENTIALS_REJECTED
        reason = f"{CREDENTIALS_REJECTED}: {redact(str(error))}"
        if isinstance(error, DestinationNotApproved):
            label, reason = DESTINATION_NOT_APPROVED, redact(str(error))
        logger.warning(
            "channel %s held: %s",
            channel.name,
            reason,
            extra=self._fields(record, event="channel_held", error=reason),
        )
        self.store.hold_channel(channel.name, reason=reason)
        self.store.record_paused(record, self.worker, reason)
        self._held[record.calendar, channel.name] = label
        self.alerts.report(Alert("held", record.calendar, channel.name, reason, record.id))

    def _publish_thread(self, record: Record, adapter: Adapter, first: Message) -> Receipt | None:
        """Publish the parts of a thread not yet out, each a reply to the one before,
        recording each receipt as it comes back: a runner taking over after a crash goes
        on with the next part. Returns part 1's receipt with every part's receipt in
        `extra["parts"]`, or None when another worker took the claim over meanwhile."""
        done = [_receipt(part) for part in self.store.thread_receipts(record.id)]
        total = len(record.parts)
        for number in range(len(done) + 1, total + 1):
            message, key = _thread_part(record, first, done)
            if not self.store.mark_sending(record, self.worker, self.lease):
                return None  # the claim was lost before this part went out
            data = receipt_data(adapter.publish(message, idempotency_key=key), key)
            done.append(_receipt(data))
            held = self.receipts.thread_part(record, number, data)
            if held is None:
                return None  # stopping with the part in the journal
            if not held and number < total:
                logger.warning(
                    "delivery %s: claim lost after part %d of %d; leaving the rest to its "
                    "new owner",
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

    def _retry(
        self,
        record: Record,
        channel: Channel,
        error: AdapterError,
        description: str,
        retry_after: float | None,
        fields: dict[str, Any],
    ) -> None:
        if record.attempts >= channel.max_attempts:
            description = f"gave up after {record.attempts} attempts: {description}"
            self._fail(record, error, description, fields)
            return
        delay = retry_delay(record.attempts, retry_after, rng=self._rng)
        due = self.store.clock() + timedelta(seconds=delay)
        logger.info(
            "delivery %s: %s; retry in %.0fs",
            record.id,
            description,
            delay,
            extra=self._fields(record, event="retry", error=description),
        )
        self.store.record_retry(record, self.worker, due, description)
        _emit("delivery_failed", error=error, final=False, **fields)

    def _defer(self, record: Record, description: str, retry_after: float | None) -> None:
        delay = retry_after if retry_after is not None and retry_after > 0 else QUOTA_RECHECK
        due = self.store.clock() + timedelta(seconds=delay)
        logger.info(
            "delivery %s: %s; deferred %.0fs",
            record.id,
            description,
            delay,
            extra=self._fields(record, event="quota_reached", error=description),
        )
        self.store.record_deferred(record, self.worker, due, description)

    def _fail(
        self, record: Record, error: AdapterError, description: str, fields: dict[str, Any]
    ) -> None:
        logger.warning(
            "delivery %s failed: %s",
            record.id,
            description,
            extra=self._fields(record, event="failed", error=description),
        )
        if self.store.record_failed(record, self.worker, description):
            self.alerts.report(
                Alert("failed", record.calendar, record.channel, description, record.id)
            )
            _emit("delivery_failed", error=error, final=True, **fields)

    def publish_now(self, delivery_id: str) -> Record:
        """Make one delivery due now and publish it in this process; returns its record."""
        self.store.publish_now(delivery_id)
        self.dispatch(ids=[delivery_id])
        return self.store.get(delivery_id)

    def retract(self, delivery_id: str) -> Record:
        """Delete a published delivery from its network and record it (state cancelled)."""
        record = self.store.get(delivery_id)
        if record.state != "published" or record.receipt is None:
            raise SocialschedError(
                f"delivery {delivery_id} is {record.state}; only published ones can be retracted"
            )
        channel = self.store.channels().get((record.calendar, record.channel))
        if channel is None:
            raise SocialschedError(f"channel {record.channel!r} is no longer in the store")
        self.approvals.refresh()
        adapter = self._adapter(record.calendar, channel)
        # A thread: every part, the last first, so no part is left replying to nothing.
        parts = (record.receipt.get("extra") or {}).get("parts") or [record.receipt]
        for part in reversed(parts):
            adapter.delete(_receipt(part))
        return self.store.mark_retracted(delivery_id)

    # ---- loops ----

    def run_until_idle(self, max_wait: float = 1.0) -> int:
        """Publish until nothing is due and nothing is in flight (for cron and tests);
        waits for other workers' claims to finish or their leases to expire."""
        self._started.set()
        try:
            return self._until_idle(max_wait)
        finally:
            self._started.clear()
            self.receipts.close()
            # Exiting: what the alert window still held back goes out now.
            self.alerts.flush(final=True)
            self.close_adapters()

    def _until_idle(self, max_wait: float) -> int:
        total = 0
        while not self.stopping:
            try:
                handled = self.dispatch()
                self._database_back()
                total += handled
                if handled or self.collection.step():
                    continue
                now = self.store.clock()
                waits = []
                # Check again soon while other workers hold claims; a rate window is
                # waited out in one go (at most one poll interval).
                cap = self.poll.total_seconds()
                if self._blocked_until is not None:
                    waits.append(self._blocked_until)
                if self.store.in_flight():
                    next_due = self.store.next_due()
                    waits.append(next_due if next_due is not None else now)
                    cap = max_wait
            except SQLAlchemyError as error:
                self._sleep_unless_stopped(self._database_lost(error))
                continue
            if not waits:
                break
            self._sleep(min(cap, max(0.05, (min(waits) - now).total_seconds())))
        return total

    def _sleep_unless_stopped(self, seconds: float) -> None:
        if self._sleep is time.sleep:
            nap(self._stopping, seconds)  # not Event.wait: see socialsched.signal_safe
        else:
            self._sleep(seconds)

    def run(self, *, handle_signals: bool = True) -> int:
        """Run until stopped (SIGTERM or SIGINT with `handle_signals`), woken by one
        APScheduler job at the next due time plus a safety poll; SIGHUP re-reads the
        channel table (`reload`). Returns how many deliveries this process published."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._scheduler = scheduler
        self._wake_job: Any = None
        previous: dict[int, Any] = {}
        if handle_signals:
            for stop_signal in (signal.SIGTERM, signal.SIGINT):
                previous[stop_signal] = signal.signal(stop_signal, self._on_signal)
            if hasattr(signal, "SIGHUP"):
                previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)
        scheduler.add_job(self._wake, "interval", seconds=self.poll.total_seconds(), id="poll")
        self._wake_job = scheduler.add_job(self._wake, "date", run_date=datetime.now(UTC))
        scheduler.start()
        self._started.set()
        logger.info("runner %s started", self.worker, extra=self._fields(event="started"))
        try:
            while not nap(self._stopping, 0.5):  # not Event.wait: see signal_safe
                if self._reload.is_set():
                    # Not from the signal handler: it may interrupt the scheduler's locks.
                    self._wake_soon(0.0)
        finally:
            self._started.clear()
            scheduler.shutdown(wait=True)
            self.receipts.close()
            self.alerts.flush(final=True)
            self.close_adapters()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        logger.info(
            "runner %s stopped after publishing %d",
            self.worker,
            self.published,
            extra=self._fields(event="stopped"),
        )
        return self.published

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info(
            "signal %d: finishing the delivery in flight, then stopping",
            signum,
            extra=self._fields(event="stopping"),
        )
        self.stop()

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        self.reload()  # first: what the line says holds once it is written
        logger.info(
            "SIGHUP: re-reading the channel table", extra=self._fields(event="reload_requested")
        )

    def _wake_soon(self, delay: float) -> None:
        """Replace the pending wake-up by one `delay` seconds from now (real time)."""
        if self._wake_job is not None:
            with contextlib.suppress(JobLookupError):
                self._wake_job.remove()
        self._wake_job = self._scheduler.add_job(
            self._wake, "date", run_date=datetime.now(UTC) + timedelta(seconds=delay + 0.01)
        )

    def _wake(self) -> None:
        if not self._pass_lock.acquire(blocking=False):
            return
        try:
            if self._database_failures and time.monotonic() < self._database_retry_at:
                return  # backing off: the wake-up set for the retry time tries again
            while not self.stopping and (self.dispatch() or self.collection.step()):
                pass
            if self.stopping:
                return
            wake_at = self.store.next_due()
            self._database_back()
            if self._blocked_until is not None:
                wake_at = min(wake_at or self._blocked_until, self._blocked_until)
            if wake_at is not None:
                # The store's clock may be injected; APScheduler runs on real time.
                self._wake_soon(max(0.0, (wake_at - self.store.clock()).total_seconds()))
        except SQLAlchemyError as error:
            # Lost the database: try again with backoff, not only at the next poll.
            self._wake_soon(self._database_lost(error))
        except Exception:
            # A database hiccup must not kill the loop; the safety poll tries again.
            logger.exception("dispatch pass failed; retrying at the next poll")
        finally:
            self._pass_lock.release()


def on_doubt(channel: Channel, adapter: Adapter | None) -> str:
    """What to do with a delivery in doubt the network cannot check: the channel's
    `on_doubt`, else "resend" where the adapter declares its publishing idempotent
    (sending again under the same key cannot post twice), else "hold"."""
    if channel.on_doubt is not None:
        return channel.on_doubt
    return "resend" if adapter is not None and adapter.capabilities.idempotent else "hold"


__all__ = ["DATABASE_RETRY_MAX", "Runner", "on_doubt", "worker_name"]
