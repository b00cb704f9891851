"""The network adapter API: what an adapter declares, receives, returns and raises.

An adapter turns a rendered `Message` into a post on one network. It declares its
`Capabilities` (checked at plan time), validates messages, publishes with an
idempotency key and returns a `Receipt`, and may delete what it published. The only
exceptions it lets escape are `TransientError` (retry later) and `PermanentError`.

The API lives in modules by responsibility (`base`, `capabilities`, `messages`,
`errors`, `granted_secrets`, `webhook_audience`); the built-in adapters in `console`,
`jsonl` and `webhook`; plugin loading in `plugins` (public as `socialsched.plugins`).
Everything is importable from here, as before the split.
"""

from socialsched.calendar.audiences import Audience, resolve_audience
from socialsched.calendar.model import (
    ENV_VAR_NAME,
    Channel,
    Delivery,
    QuietWindow,
    Segment,
    quiet_windows,
)
from socialsched.errors import SocialschedError
from socialsched.media.model import NO_MEDIA, Media, MediaLimits
from socialsched.trust.destinations import ANY_SECRET, Destination
from socialsched.trust.grants import (
    GrantError,
    not_granted_message,
    read_secret,
    secret_variable,
)
from socialsched.trust.redaction import hide_secret

from .base import Adapter, in_doubt_guarantee, read_media
from .capabilities import Capabilities
from .console import ConsoleAdapter
from .engagement import Engagement, engagement_counts
from .errors import (
    AdapterError,
    CannotCheck,
    CredentialsRejected,
    MissingSecretError,
    PermanentError,
    QuotaReached,
    TransientError,
    retry_after_seconds,
)
from .granted_secrets import granted_secret
from .jsonl import JsonlAdapter
from .jsonl_log import LogRefused, check_line, open_log, record_key
from .messages import Message, Receipt
from .webhook_audience import WebhookAudienceAdapter

__all__ = [
    "ANY_SECRET",
    "ENV_VAR_NAME",
    "NO_MEDIA",
    "Adapter",
    "AdapterError",
    "Audience",
    "CannotCheck",
    "Capabilities",
    "Channel",
    "ConsoleAdapter",
    "CredentialsRejected",
    "Delivery",
    "Destination",
    "Engagement",
    "GrantError",
    "JsonlAdapter",
    "LogRefused",
    "Media",
    "MediaLimits",
    "Message",
    "MissingSecretError",
    "PermanentError",
    "QuietWindow",
    "QuotaReached",
    "Receipt",
    "Segment",
    "SocialschedError",
    "TransientError",
    "WebhookAudienceAdapter",
    "check_line",
    "engagement_counts",
    "granted_secret",
    "hide_secret",
    "in_doubt_guarantee",
    "not_granted_message",
    "open_log",
    "quiet_windows",
    "read_media",
    "read_secret",
    "record_key",
    "resolve_audience",
    "retry_after_seconds",
    "secret_variable",
]
