"""Alerts: the runner reports trouble through ordinary channels (any adapter).

A calendar's `[runner] alert_channels` name the channels that receive alerts. The
runner reports failed and missed deliveries, channels held because the network
rejected their credentials, deliveries held in doubt and a database it cannot reach.
Alerts are grouped per (calendar, kind, channel): the first of a group goes out at the
end of the runner's pass (one message however many deliveries that pass touched), and
the rest of the window is counted and sent as one summary once the window has passed,
so an outage sends a few messages, not one per delivery. Grouping lives in the runner
process: each runner sends its own.

A database out of reach and a channel held are states, not events: when one ends the
runner says `recovered` (once it had said anything about it), and what was still held
back about it is not sent, since it would describe a state that has ended: the
`recovered` message says how long it lasted instead. A `recovered` message still waiting
for its window is dropped if the trouble comes back meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

import attrs

from socialsched.adapters import Adapter, Message
from socialsched.calendar.model import Channel, RunnerSettings
from socialsched.store.approvals import DESTINATION_NOT_APPROVED
from socialsched.store.records import HoldEntry
from socialsched.trust.redaction import redact

logger = logging.getLogger("socialsched.alerts")

KINDS = ("failed", "missed", "held", "doubt", "database", "recovered")
"""What an alert can be about."""
STATES = ("database", "held")
"""The kinds that describe a state, which ends with a `recovered` alert."""

_SAMPLE = 5  # delivery ids named in one message


@attrs.frozen
class Alert:
    """Something an operator should hear about. `calendar` and `channel` say where
    (None for the database, which concerns every calendar); `detail` is the error or
    reason; `delivery` the delivery concerned, if one."""

    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    calendar: str | None = None
    channel: str | None = None
    detail: str = ""
    delivery: str | None = None


@attrs.define
class _Group:
    """The alerts of one (calendar, kind, channel) not sent yet, and when the group
    last sent a message."""

    pending: int = 0
    since: datetime | None = None
    detail: str = ""
    deliveries: list[str] = attrs.field(factory=list)
    last_sent: datetime | None = None


@attrs.define
class _Trouble:
    """A state in force (database out of reach, channel held): since when, and how
    many times it was reported."""

    since: datetime
    reports: int = 0
    told: bool = False  # a message about it went out


AdapterLookup = Callable[[str, Channel], Adapter]


class Alerter:
    """Collects alerts and sends them, grouped and rate-limited, through the alert
    channels of each calendar (see the module docs).

    `adapter` returns the adapter for (calendar, channel); `clock` the current time;
    `worker` names the runner in messages."""

    def __init__(
        self, adapter: AdapterLookup, clock: Callable[[], datetime], worker: str = "runner"
    ) -> None:
        self._adapter = adapter
        self._clock = clock
        self._worker = worker
        self._settings: dict[str, RunnerSettings] = {}
        self._channels: dict[tuple[str, str], Channel] = {}
        self._groups: dict[tuple[str | None, str, str | None], _Group] = {}
        # States in force, by (calendar, kind, channel) with kind in STATES.
        self._troubles: dict[tuple[str | None, str, str | None], _Trouble] = {}
        self.sent: int = 0

    def configure(
        self,
        settings: Mapping[str, RunnerSettings],
        channels: Mapping[tuple[str, str], Channel],
    ) -> None:
        """Take each calendar's `[runner]` settings and the channel table (as the store
        has them); kept for when the database cannot be reached."""
        self._settings = dict(settings)
        self._channels = dict(channels)

    @property
    def configured(self) -> bool:
        """Whether any calendar names an alert channel."""
        return any(s.alert_channels for s in self._settings.values())

    def report(self, alert: Alert) -> None:
        """Count `alert` in its group; `flush` sends it."""
        if not self._targets(alert.calendar):
            return
        if alert.kind in STATES:
            subject = (alert.calendar, alert.kind, alert.channel)
            trouble = self._troubles.setdefault(subject, _Trouble(self._clock()))
            trouble.reports += 1
            # The trouble is back: a "recovered" not sent yet would be out of date.
            recovered = self._groups.get((alert.calendar, "recovered", alert.channel))
            if recovered is not None:
                recovered.pending, recovered.deliveries = 0, []
        group = self._groups.setdefault((alert.calendar, alert.kind, alert.channel), _Group())
        if not group.pending:
            group.since = self._clock()
        group.pending += 1
        group.detail = alert.detail or group.detail
        if alert.delivery is not None and len(group.deliveries) < _SAMPLE:
            group.deliveries.append(alert.delivery)

    def recovered(self, kind: str, calendar: str | None = None, channel: str | None = None) -> bool:
        """The state `kind` ("database", or "held" for a channel of a calendar) has
        ended. What was held back about it is dropped, and a `recovered` alert is
        counted (`flush` sends it) when an alert about it was sent or pending. Returns
        whether one was."""
        trouble = self._troubles.pop((calendar, kind, channel), None)
        if trouble is None:
            return False
        group = self._groups.get((calendar, kind, channel))
        told = trouble.told or (group is not None and group.pending > 0)
        if group is not None:
            group.pending, group.deliveries = 0, []
        if not told:
            return False
        now = self._clock()
        lasted = f"from {trouble.since:%Y-%m-%d %H:%M:%S} to {now:%H:%M:%S} UTC"
        if kind == "database":
            detail = (
                f"runner {self._worker} reaches its database again (unreachable {lasted}, "
                f"{trouble.reports} failed attempt(s))"
            )
        else:
            detail = (
                f"channel {channel} of calendar {calendar} is no longer held (held {lasted}); "
                "its deliveries go out again"
            )
        self.report(Alert("recovered", calendar, channel, detail))
        return True

    def holds_in_force(self, entries: Iterable[HoldEntry]) -> None:
        """Say `recovered` for each channel held (an alert "held") that no pause of the
        whole channel holds any longer (`resume --channel` lifted it)."""
        channels = {
            entry.hold.channel
            for entry in entries
            if entry.hold.channel is not None
            and (entry.hold.segment, entry.hold.tag, entry.hold.post) == (None, None, None)
        }
        for calendar, channel in self.troubles("held"):
            if channel not in channels:
                self.recovered("held", calendar, channel)

    def troubles(self, kind: str) -> list[tuple[str | None, str | None]]:
        """The (calendar, channel) of each state `kind` in force (see `recovered`)."""
        return [(calendar, channel) for calendar, k, channel in self._troubles if k == kind]

    def flush(self, *, final: bool = False) -> int:
        """Send one message per group with alerts pending whose window allows it (a
        group's first message at once, then at most one per window); `final` sends
        every pending group (the runner is exiting). Returns messages sent."""
        now = self._clock()
        sent = 0
        for key, group in list(self._groups.items()):
            calendar, kind, channel = key
            window = self._window(calendar)
            if not group.pending:
                if group.last_sent is None or now - group.last_sent >= window:
                    del self._groups[key]  # quiet for a whole window: start afresh
                continue
            if not final and group.last_sent is not None and now - group.last_sent < window:
                continue
            text = self._text(kind, calendar, channel, group)
            for target_calendar, target in self._targets(calendar):
                sent += self._send(target_calendar, target, kind, channel, text, now)
            group.pending, group.deliveries, group.last_sent = 0, [], now
            if key in self._troubles:
                self._troubles[key].told = True
        self.sent += sent
        return sent

    def _window(self, calendar: str | None) -> timedelta:
        windows = [
            s.alert_window
            for name, s in self._settings.items()
            if calendar is None or name == calendar
        ]
        return min(windows, default=RunnerSettings().alert_window)

    def _targets(self, calendar: str | None) -> list[tuple[str, Channel]]:
        """The alert channels for a calendar's alerts (every calendar's for None)."""
        targets = []
        for name, settings in sorted(self._settings.items()):
            if calendar is not None and name != calendar:
                continue
            for channel_name in settings.alert_channels:
                channel = self._channels.get((name, channel_name))
                if channel is not None:
                    targets.append((name, channel))
        return targets

    def _text(self, kind: str, calendar: str | None, channel: str | None, group: _Group) -> str:
        count = group.pending
        since = f"{group.since:%Y-%m-%d %H:%M} UTC" if group.since else "now"
        where = f"channel {channel} of calendar {calendar}" if channel else "every calendar"
        some = ", ".join(group.deliveries) + (", ..." if count > len(group.deliveries) else "")
        detail = f" Last error: {group.detail}" if group.detail else ""
        if kind == "failed":
            text = f"{count} deliveries failed on {where} since {since} ({some}).{detail}"
        elif kind == "missed":
            text = (
                f"{count} deliveries were missed (later than their misfire grace) on "
                f"{where} since {since} ({some})."
            )
        elif kind == "held" and group.detail.startswith(DESTINATION_NOT_APPROVED):
            text = (
                f"{where} is held: {group.detail}. Nothing goes out on it until an operator "
                f"checks the destination and runs `socialsched channels approve {channel}`."
            )
        elif kind == "held":
            text = (
                f"{where} is held: {group.detail}. Nothing more goes out on it until the "
                f"credentials are fixed and `socialsched resume --channel {channel}` runs."
            )
        elif kind == "doubt":
            text = (
                f"{count} deliveries on {where} are in doubt (their runner died while "
                f"publishing them and the network cannot say whether they went out) "
                f"since {since}: {some}. Settle each with `socialsched resolve ID --sent` "
                "or `--resend`."
            )
        elif kind == "recovered":
            text = f"recovered: {group.detail}."
        else:
            text = (
                f"runner {self._worker} cannot reach its database ({count} failed "
                f"attempt(s) since {since}); it keeps retrying.{detail}"
            )
        return redact(f"socialsched alert: {text}")

    def _send(
        self,
        calendar: str,
        target: Channel,
        kind: str,
        channel: str | None,
        text: str,
        now: datetime,
    ) -> int:
        key = f"alert-{kind}-{channel or 'runner'}-{now:%Y%m%dT%H%M%S%f}"
        message = Message(
            delivery_id=key,
            post="socialsched-alert",
            segment=kind,
            channel=target.name,
            locale="en",
            text=text,
            utc=now,
            local=now,
            tags=("alert", kind),
        )
        try:
            self._adapter(calendar, target).publish(message, key)
        except Exception as error:  # an alert must never stop the runner
            logger.warning(
                "cannot send a %s alert through channel %s: %s",
                kind,
                target.name,
                redact(f"{type(error).__name__}: {error}"),
            )
            return 0
        return 1


__all__ = ["KINDS", "Alert", "Alerter"]
