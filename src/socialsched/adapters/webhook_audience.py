"""The base of adapters reached through incoming webhooks, whose audiences name them."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import ENV_VAR_NAME, Channel
from socialsched.trust import destinations as _destinations
from socialsched.trust.destinations import ANY_SECRET, Destination
from socialsched.trust.redaction import hide_secret

from .base import Adapter, reads_no_time
from .errors import PermanentError
from .granted_secrets import granted_secret
from .messages import Message


class WebhookAudienceAdapter(Adapter):
    """Base for networks reached through incoming webhooks (Slack, Discord, ...).

    A webhook URL is a credential, so a segment's audience is `webhook:NAME`, where NAME
    is a key of the channel's `secrets` table or else a secret granted under that name
    (`SOCIALSCHED_SECRET_NAME`) holding the URL; with no audience, the channel's
    `webhook` secret is used. The URL itself is never accepted inline, echoed in errors
    or shown in HTTP client logs. Each webhook's destination is its URL's origin.
    """

    # Every secret of such a channel is a webhook URL unless a subclass says otherwise.
    secret_destinations: ClassVar[Mapping[str, Destination | tuple[Destination, ...]]] = (
        _destinations.declare({ANY_SECRET: Destination(in_value=True)})
    )

    @classmethod
    def destinations(
        cls, channel: Channel, environ: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The base's, plus the origin of each `webhook:NAME` audience that names a
        granted secret directly (keyed by NAME)."""
        found = super().destinations(channel, environ)
        webhook = Destination(in_value=True)
        env = os.environ if environ is None else environ
        for raw in channel.audiences.values():
            try:
                audience = Audience.parse(raw)
            except ValueError:
                continue  # reported by lint and validate, with its segment
            name = str(audience.id or "")
            if audience.kind != "webhook" or not ENV_VAR_NAME.match(name):
                continue
            if name in channel.secrets or name in found:
                continue
            try:
                found[name] = _destinations.resolve(
                    webhook,
                    channel.settings,
                    functools.partial(granted_secret, channel, name, "webhook audience", env),
                )
            except _destinations.DestinationError as error:
                raise PermanentError(
                    f"channel {channel.name!r}: cannot tell where webhook {name} is sent: {error}"
                ) from None
        return dict(sorted(found.items()))

    @reads_no_time
    def validate(self, message: Message) -> list[str]:
        return [*super().validate(message), *self.webhook_audience_problems(message.audience)]

    def webhook_audience_problems(self, audience: Any) -> list[str]:
        """What is wrong with a `webhook:NAME` audience (other kinds: the base checks)."""
        if getattr(audience, "kind", None) != "webhook":
            return []
        if not ENV_VAR_NAME.match(audience.id or ""):
            # Never echo the value: it is probably the webhook URL pasted in.
            example = f"{self.name.upper()}_WEBHOOK_FR"
            return [
                "a webhook audience must name a granted secret holding "
                f"the webhook URL (e.g. webhook:{example}), not the URL itself"
            ]
        return []

    def webhook_name(self, audience: Any) -> str:
        """The secret key or environment variable naming the webhook for `audience`."""
        if audience is None:
            return "webhook"
        kind = getattr(audience, "kind", None)
        if kind != "webhook":
            raise PermanentError(
                f"channel {self.channel.name!r}: {self.name} cannot target a {kind!r} "
                "audience (write webhook:NAME)"
            )
        problems = self.webhook_audience_problems(audience)
        if problems:
            raise PermanentError(f"channel {self.channel.name!r}: {problems[0]}")
        return str(audience.id)

    def webhook_names(self) -> list[str]:
        """Every webhook the channel names, in order: its `webhook` secret (when it
        declares one), then each distinct `webhook:NAME` audience; for `verify`."""
        names = ["webhook"] if "webhook" in self.channel.secrets else []
        for raw in self.channel.audiences.values():
            try:
                audience = Audience.parse(raw)
            except ValueError:
                continue  # reported by lint and validate, with its segment
            if audience.kind == "webhook" and not self.webhook_audience_problems(audience):
                name = str(audience.id)
                if name not in names:
                    names.append(name)
        return names

    def webhook_url(self, name: str) -> str:
        """The webhook URL `name` stands for; a credential that only `name` may show."""
        if name in self.channel.secrets or name == "webhook":
            url = self.secret(name)
        else:
            url = self.env_secret(name, "the segment's webhook URL")
        hide_secret(url, f"webhook {name}")
        return url
