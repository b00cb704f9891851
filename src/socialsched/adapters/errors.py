"""The errors an adapter raises: `TransientError` (retry later), `PermanentError` and
their refinements, and reading a `Retry-After` header for the former."""

from __future__ import annotations

from collections.abc import Mapping

from socialsched.errors import SocialschedError


class AdapterError(SocialschedError):
    """Base of the two errors an adapter may raise."""


class TransientError(AdapterError):
    """A failure worth retrying (rate limit, 5xx, timeout); `retry_after` in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QuotaReached(TransientError):
    """The network's own publishing quota for the account is used up (e.g. Instagram's
    posts per day). Not a failed attempt: the runner gives the delivery back, due again
    `retry_after` seconds from now, without counting an attempt."""


class PermanentError(AdapterError):
    """A failure that retrying will not fix (bad credentials, rejected content)."""


class MissingSecretError(PermanentError):
    """A channel's secret is not granted (see `socialsched.trust.grants`).

    `variable` is the environment variable that would grant it,
    `SOCIALSCHED_SECRET_<NAME>` (None when the channel does not declare the secret at
    all); never its value."""

    def __init__(self, message: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class CredentialsRejected(PermanentError):
    """The network refused the channel's credentials (expired or revoked token, wrong
    password). The runner holds the channel until an operator resumes it, rather than
    failing every delivery in turn."""


class CannotCheck(AdapterError):
    """Raised by `Adapter.verify` or `Adapter.find` where the network offers no way to
    check without posting."""


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The seconds a `Retry-After` header in `headers` asks a client to wait (never
    negative); None when there is none or it is not a number of seconds."""
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
