"""Collecting engagement: snapshots of what the networks say of published deliveries.

`Collector.collect` asks the store which published deliveries are due (they reached
an age of their calendar's `[runner] collect_after`, 1 h, 24 h and 7 d by default,
with no snapshot for it yet), groups them per channel, and hands each channel's
adapter many receipts per `Adapter.engagement` call (`CALL_SIZE`; the adapter splits
them as its API allows). Each call's findings are recorded in one transaction
(`Store.record_engagement`) before the next call, and `engagement_collected` is
announced per snapshot: a crash loses nothing already recorded, and the next run goes
on with what is still due. A thread's engagement is its first part's plus the other
parts' the network gives (`thread_engagement`); a post the network no longer has gets
no snapshot and is asked again only at its next age.

Requests count against the channel's `rate` (`ceil(receipts / engagement_batch)` per
call, the adapter's batch), together with what the runner published in the same
window. A `TransientError` (or a network that refuses) stops that channel for now with
a message; the other channels go on.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from socialsched.adapters import Adapter, PermanentError, Receipt, TransientError
from socialsched.adapters.engagement import Engagement, thread_engagement
from socialsched.calendar.model import Channel
from socialsched.calendar.policy import Rate
from socialsched.store import Store, _emit
from socialsched.store.engagement_records import Collected, CollectedCounts, DueEngagement

logger = logging.getLogger("socialsched.analytics.collect")

CALL_SIZE = 100
"""Receipts handed to one `Adapter.engagement` call: a multiple of what one request
takes on Mastodon (20), Bluesky (25) and X (100), so the adapter's batches are full."""

LEASE = timedelta(minutes=10)
"""How long a collector holds a channel without a call ending (then another may take it)."""

AdapterFor = Callable[[str, Channel], Adapter]
"""Builds (or returns) the adapter of a calendar's channel; raises when it cannot."""


@attrs.frozen
class ChannelStop:
    """A channel whose collection stopped before everything due was collected:
    `reason` says why; `error` is true for a failure (not for a rate window or a
    network that gives no counts)."""

    calendar: str
    channel: str
    reason: str
    error: bool = True
    left: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


@attrs.frozen
class CollectResult:
    """What one collection `run` did: `calls` made, the channels that `stopped` early,
    and what the store `recorded` of the run per channel; `left`: still due after it."""

    run: str
    calls: int
    stopped: tuple[ChannelStop, ...]
    recorded: Mapping[str, CollectedCounts]
    left: int = 0

    @property
    def totals(self) -> CollectedCounts:
        """The recorded counts summed over channels."""
        counts = list(self.recorded.values())
        return CollectedCounts(
            collected=sum(c.collected for c in counts),
            snapshots=sum(c.snapshots for c in counts),
            not_found=sum(c.not_found for c in counts),
            skipped=sum(c.skipped for c in counts),
        )

    @property
    def failed(self) -> bool:
        """Whether a channel stopped on an error."""
        return any(stop.error for stop in self.stopped)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the totals, per channel, stopped channels, calls, left."""
        return {
            **self.totals.to_dict(),
            "calls": self.calls,
            "left": self.left,
            "per_channel": {
                name: counts.to_dict() for name, counts in sorted(self.recorded.items())
            },
            "stopped": [stop.to_dict() for stop in self.stopped],
        }


class Collector:
    """Collects due engagement snapshots of `store`'s published deliveries through
    the adapters `adapters` gives, `call_size` receipts per call at most."""

    def __init__(self, store: Store, adapters: AdapterFor, *, call_size: int = CALL_SIZE) -> None:
        if call_size < 1:
            raise ValueError(f"call_size must be at least 1, not {call_size}")
        self.store = store
        self.adapters = adapters
        self.call_size = call_size

    def collect(
        self,
        *,
        since: datetime | None = None,
        max_calls: int | None = None,
        progress: Callable[[int], None] | None = None,
        stopping: Callable[[], bool] | None = None,
        skip: Collection[tuple[str, str]] = (),
    ) -> CollectResult:
        """Collect what is due now (of deliveries published at or after `since`),
        channel by channel; at most `max_calls` adapter calls per channel (the runner
        collects in small steps). `progress(n)` is told of each n deliveries
        collected; `stopping()` true ends the run after the call in flight. The
        (calendar, channel) pairs in `skip` are left for later."""
        run = f"collect:{uuid.uuid4().hex[:12]}"
        due = self.store.engagement_due_counts(since=since)
        channels = self.store.channels()
        calls = 0
        stopped: list[ChannelStop] = []
        for (calendar, name), count in sorted(due.items()):
            if stopping is not None and stopping():
                break
            if (calendar, name) in skip:
                continue
            channel = channels.get((calendar, name))
            if channel is None:
                stopped.append(ChannelStop(calendar, name, "no longer in the store", False, count))
                continue
            made, stop = self._channel(run, calendar, channel, since, max_calls, progress, stopping)
            calls += made
            if stop is not None:
                stopped.append(stop)
        left = sum(self.store.engagement_due_counts(since=since).values()) if due else 0
        return CollectResult(
            run=run,
            calls=calls,
            stopped=tuple(stopped),
            recorded=self.store.engagement_recorded(run),
            left=left,
        )

    def _channel(
        self,
        run: str,
        calendar: str,
        channel: Channel,
        since: datetime | None,
        max_calls: int | None,
        progress: Callable[[int], None] | None,
        stopping: Callable[[], bool] | None,
    ) -> tuple[int, ChannelStop | None]:
        """Collect one channel's due deliveries under its lease (another collector
        holding it: left to that one): the calls made, and why it stopped early."""
        if not self.store.lease_engagement(calendar, channel.name, run, LEASE):
            left = self.store.engagement_due_counts(since=since).get((calendar, channel.name), 0)
            reason = "another collector is collecting it now"
            return 0, ChannelStop(calendar, channel.name, reason, False, left)
        try:
            return self._collect_channel(
                run, calendar, channel, since, max_calls, progress, stopping
            )
        finally:
            self.store.release_engagement(calendar, channel.name, run)

    def _collect_channel(
        self,
        run: str,
        calendar: str,
        channel: Channel,
        since: datetime | None,
        max_calls: int | None,
        progress: Callable[[int], None] | None,
        stopping: Callable[[], bool] | None,
    ) -> tuple[int, ChannelStop | None]:
        """Collect one channel's due deliveries: the calls made, and why it stopped
        early (None when nothing due is left)."""

        def stop(reason: str, error: bool = True) -> ChannelStop:
            left = self.store.engagement_due_counts(since=since).get((calendar, name), 0)
            return ChannelStop(calendar, name, reason, error, left)

        name = channel.name
        try:
            adapter = self.adapters(calendar, channel)
            declared = adapter.capabilities.engagement
        except Exception as error:  # a broken plugin or a secret not granted: this channel only
            return 0, stop(f"cannot set up its adapter: {_describe(error)}")
        if not declared:
            return 0, self._skip(run, calendar, channel, since, progress)
        budget, keep = self._budget(channel)
        batch = max(1, adapter.engagement_batch)
        calls = requests = 0
        asked: set[str] = set()  # a delivery collected is not due again in this run
        while budget > requests and (max_calls is None or calls < max_calls):
            if stopping is not None and stopping():
                return calls, None
            # No more receipts than the requests the rate still allows can ask about.
            room = min(self.call_size, int(min(budget - requests, self.call_size) * batch))
            chunk = self._chunk(
                self.store.engagement_due(since=since, calendar=calendar, channel=name, limit=room),
                room,
            )
            if not chunk:
                return calls, None
            if any(due.delivery_id in asked for due in chunk):
                return calls, stop("deliveries still due after being collected; stopped")
            asked.update(due.delivery_id for due in chunk)
            try:
                receipts = [Receipt.from_stored(r) for due in chunk for r in due.receipts]
                found = adapter.engagement(receipts)
            except TransientError as error:
                later = f" (retry after {error.retry_after:.0f} s)" if error.retry_after else ""
                return calls, stop(f"{_describe(error)}; try again later{later}")
            except PermanentError as error:
                return calls, stop(f"refused: {_describe(error)}")
            except Exception as error:  # a plugin's bug stops its channel, not the run
                logger.warning("channel %s: engagement failed", name, exc_info=True)
                return calls, stop(f"adapter failed: {_describe(error)}")
            calls += 1
            made = math.ceil(sum(len(due.receipts) for due in chunk) / batch)
            requests += made
            if not isinstance(found, Mapping):
                return calls, stop(f"adapter answered {type(found).__name__}, not a mapping")
            collected = [_collected(due, found) for due in chunk]
            self.store.record_engagement(
                calendar, name, collected, run=run, calls=made, keep_calls=keep
            )
            self.store.lease_engagement(calendar, name, run, LEASE)  # still collecting
            for item in collected:
                if item.engagement is not None:
                    _emit(
                        "engagement_collected",
                        delivery_id=item.due.delivery_id,
                        post=item.due.post,
                        segment=item.due.segment,
                        channel=name,
                        engagement=item.engagement,
                    )
            if progress is not None:
                progress(len(chunk))
        if max_calls is not None and calls >= max_calls:
            return calls, None
        if self.store.engagement_due(since=since, calendar=calendar, channel=name, limit=1):
            return calls, stop(f"rate {channel.rate} reached; the rest waits", error=False)
        return calls, None

    def _skip(
        self,
        run: str,
        calendar: str,
        channel: Channel,
        since: datetime | None,
        progress: Callable[[int], None] | None,
    ) -> ChannelStop:
        """Record the due deliveries of a channel whose network gives no counts as
        collected for their age, without asking it (so they are not due again until
        their next age), and say so."""
        skipped = 0
        while due := self.store.engagement_due(
            since=since, calendar=calendar, channel=channel.name, limit=1000
        ):
            skipped += len(due)
            collected = [Collected(item, None, 0, asked=False) for item in due]
            self.store.record_engagement(calendar, channel.name, collected, run=run, calls=0)
            if progress is not None:
                progress(len(due))
        reason = f"{channel.adapter} gives no engagement counts; {skipped} skipped"
        return ChannelStop(calendar, channel.name, reason, error=False)

    def _budget(self, channel: Channel) -> tuple[float, timedelta]:
        """How many requests the channel's rate leaves now (publishing counts too), and
        how long calls must be remembered for it."""
        if not channel.rate:
            return math.inf, timedelta(days=1)
        rate = Rate.parse(channel.rate, channel.name)
        window = self.store.clock() - rate.period
        used = self.store.sent_since(channel.name, window)[0]
        used += self.store.engagement_calls_since(channel.name, window)
        return rate.count - used, max(rate.period, timedelta(days=1))

    def _chunk(self, due: Sequence[DueEngagement], room: int) -> list[DueEngagement]:
        """The first deliveries of `due` whose receipts fit one call of at most `room`
        receipts (at least one delivery)."""
        chunk: list[DueEngagement] = []
        size = 0
        for item in due:
            size += len(item.receipts)
            if chunk and size > room:
                break
            chunk.append(item)
        return chunk


def _collected(due: DueEngagement, found: Mapping[str, Engagement]) -> Collected:
    """A due delivery's engagement from what the adapter answered: its first part's
    counts plus the other parts' the network gave (none: the post is gone). Each part
    of a thread is a reply to the part before it, which networks count among that
    part's replies: those replies are the thread's own, not its audience's, and are
    taken out."""
    answers = [found.get(str(receipt.get("remote_id"))) for receipt in due.receipts]
    if not isinstance(answers[0], Engagement):
        return Collected(due, None, 0)
    parts = [
        _without_own_reply(answer) if isinstance(after, Engagement) else answer
        for answer, after in zip(answers, [*answers[1:], None], strict=True)
        if isinstance(answer, Engagement)
    ]
    return Collected(due, thread_engagement(parts), len(parts))


def _without_own_reply(part: Engagement) -> Engagement:
    """A thread part's counts less the next part, which replies to it."""
    if not part.replies:
        return part
    return attrs.evolve(part, replies=part.replies - 1)


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def store_adapters(store: Store) -> tuple[AdapterFor, Callable[[], None]]:
    """An adapter factory for `Collector` outside the runner: each channel's installed
    adapter, built once, used only where the operator approved its destinations (as
    the runner does); and a function closing them all."""
    from socialsched.adapters.registry import adapter_class
    from socialsched.trust.approval_checks import ApprovalGate, DestinationNotApproved

    gate = ApprovalGate(store)
    built: dict[tuple[str, str], Adapter] = {}

    def adapter_for(calendar: str, channel: Channel) -> Adapter:
        key = (calendar, channel.name)
        if key not in built:
            built[key] = adapter_class(channel.adapter)(channel)
        problem = gate.problem(calendar, channel, built[key])
        if problem is not None:
            raise DestinationNotApproved(problem)
        return built[key]

    def close() -> None:
        for adapter in built.values():
            try:
                adapter.close()
            except Exception:  # a plugin's bug must not hide what was collected
                logger.warning("closing adapter %s failed", adapter.name, exc_info=True)

    return adapter_for, close


__all__ = ["CALL_SIZE", "ChannelStop", "CollectResult", "Collector", "store_adapters"]
