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
import functools
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

import attrs
from sqlalchemy.exc import SQLAlchemyError

from socialsched.adapters import (
    Adapter,
    AdapterError,
    CredentialsRejected,
    Message,
    PermanentError,
    QuotaReached,
    Receipt,
    TransientError,
)
from socialsched.adapters.registry import adapter_class
from socialsched.analytics.collect_runner import AgeCollection
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.calendar.policy import Rate, retry_delay
from socialsched.errors import SocialschedError
from socialsched.store import (
    CREDENTIALS_REJECTED,
    DESTINATION_NOT_APPROVED,
    Outcomes,
    Record,
    Store,
    _emit,
)
from socialsched.trust.approval_checks import ApprovalGate, DestinationNotApproved
from socialsched.trust.redaction import redact

from . import loops
from .alerts import Alert, Alerter
from .doubts import settle_doubts
from .journal import Journal
from .receipts import Receipts
from .threads import publish_thread, receipt_data

logger = logging.getLogger("socialsched.runner")

QUOTA_RECHECK = 3600.0
"""Seconds before a delivery deferred by a network quota that named no time is tried again."""

AdapterFactory = Callable[[Channel], Adapter]


def _default_adapter(channel: Channel) -> Adapter:
    return adapter_class(channel.adapter)(channel)


def worker_name() -> str:
    """A name for this worker, unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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
            wait=functools.partial(loops.sleep_unless_stopped, self),
            stopping=self._stopping.is_set,
        )
        self._database_failures = 0
        self._database_retry_at = 0.0  # time.monotonic() of the next try after a loss
        self._pass_lock = threading.Lock()
        self._scheduler: Any = None  # while `run` runs: its APScheduler, and the next wake-up
        self._wake_job: Any = None
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
        handled = settle_doubts(self)
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
                threaded = publish_thread(self, record, adapter, message)
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
            adapter.delete(Receipt.from_stored(part))
        return self.store.mark_retracted(delivery_id)

    # ---- loops (socialsched.runner.loops) ----

    def run_until_idle(self, max_wait: float = 1.0, *, handle_signals: bool = False) -> int:
        """Publish until nothing is due and nothing is in flight (for cron and tests);
        waits for other workers' claims to finish or their leases to expire. With
        `handle_signals`, SIGTERM and SIGINT stop it after the delivery in flight (the
        previous handlers are put back when it returns)."""
        return loops.run_until_idle(self, max_wait, handle_signals=handle_signals)

    def run(self, *, handle_signals: bool = True) -> int:
        """Run until stopped (SIGTERM or SIGINT with `handle_signals`), woken by one
        APScheduler job at the next due time plus a safety poll; SIGHUP re-reads the
        channel table (`reload`). Returns how many deliveries this process published."""
        return loops.run(self, handle_signals=handle_signals)

    # APScheduler's jobs and the signal handlers call these (their names show in logs).

    def _wake(self) -> None:
        loops.wake(self)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        loops.on_signal(self, signum, frame)

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        loops.on_hangup(self, signum, frame)
