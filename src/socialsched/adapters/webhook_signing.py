"""Standard Webhooks signatures (https://www.standardwebhooks.com), for the `webhook`
adapter and for the receivers of its requests.

Every request carries three headers:

- `webhook-id`: the message id; for a post, the delivery's idempotency key (a
  receiver drops an id it has seen: that is what makes a retry safe);
- `webhook-timestamp`: when it was signed, in whole seconds since the Unix epoch;
- `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` (the
  raw body bytes), keyed with the bytes of the signing key.

The signing key is written as the spec writes it: `whsec_` and the key's bytes in
base64. Signing the id and the time with the body is what stops a replay: a captured
request is refused once older than `TOLERANCE`, and within it the receiver has seen
its id. The official `standardwebhooks` packages (Python, JavaScript, Go, ...) verify
these requests as they are.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

from socialsched.errors import SocialschedError

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
KEY_PREFIX = "whsec_"
#: The signature scheme this module writes and accepts (HMAC-SHA256).
VERSION = "v1"
#: How far a request's timestamp may be from the receiver's clock, either way.
TOLERANCE = 5 * 60
#: The shortest signing key accepted, in bytes (the spec recommends 24 to 64).
MIN_KEY_BYTES = 16


class SigningKeyError(SocialschedError):
    """A signing key is not in the `whsec_<base64>` form, or too short. The message
    never holds the key."""


class SignatureError(SocialschedError):
    """A request's Standard Webhooks headers do not check out: missing, malformed,
    signed too long ago or too far ahead, or signed with another key or body."""


def key_bytes(key: str | bytes) -> bytes:
    """The HMAC key from a signing key: `whsec_<base64>` decoded (bytes are taken as
    the key itself). Raises `SigningKeyError` for another form or a key shorter than
    `MIN_KEY_BYTES`."""
    if isinstance(key, bytes):
        raw = key
    else:
        text = key.strip()
        if not text.startswith(KEY_PREFIX):
            raise SigningKeyError(
                f"is not a Standard Webhooks signing key: it must be {KEY_PREFIX} followed "
                "by the key's bytes in base64 (an existing key K keeps working as "
                f"{KEY_PREFIX} + base64(K) on both sides; see docs/security.md)"
            )
        encoded = text[len(KEY_PREFIX) :]
        try:
            # Unpadded base64 is common in the spec's examples: pad before decoding.
            raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise SigningKeyError(
                f"is not a Standard Webhooks signing key: the part after {KEY_PREFIX} is not base64"
            ) from None
    if len(raw) < MIN_KEY_BYTES:
        raise SigningKeyError(
            f"is too short a signing key: {len(raw)} bytes, at least {MIN_KEY_BYTES} "
            "(32 random bytes are usual)"
        )
    return raw


def signature(key: str | bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for `body` sent as `message_id` at `timestamp`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_bytes(key), signed, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode('ascii')}"


def sign(
    key: str | bytes, message_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for `body` sent as `message_id`, signed now
    (or at `timestamp`, seconds since the epoch)."""
    when = int(time.time()) if timestamp is None else int(timestamp)
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(when),
        SIGNATURE_HEADER: signature(key, message_id, when, body),
    }


def verify(
    body: bytes,
    headers: Mapping[str, str],
    key: str | bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE,
) -> str:
    """Check a request as a receiver: its headers (any letter case) carry a `v1`
    signature of `body` with `key`, and its timestamp is within `tolerance` seconds
    of `now` (default: the clock), either way. Returns the `webhook-id`, which the
    receiver should remember for the tolerance and refuse when seen again.

    Raises `SignatureError` saying what is wrong; compares in constant time."""
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get(ID_HEADER)
    stamp = lowered.get(TIMESTAMP_HEADER)
    signatures = lowered.get(SIGNATURE_HEADER)
    if not (message_id and stamp and signatures):
        raise SignatureError(
            f"missing header: {ID_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are needed"
        )
    if not stamp.isdigit():
        raise SignatureError(f"{TIMESTAMP_HEADER} is not a number of seconds")
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise SignatureError("signed too long ago (a replay, or a clock out of step)")
    if timestamp > current + tolerance:
        raise SignatureError("signed too far in the future (a clock out of step)")
    expected = signature(key, message_id, timestamp, body).encode()
    # The header may list several signatures (space-separated) during a key rotation.
    if not any(hmac.compare_digest(expected, given.encode()) for given in signatures.split()):
        raise SignatureError("no signature matches (another key, or the body was changed)")
    return message_id


def new_key() -> str:
    """A new random signing key in the `whsec_<base64>` form (32 bytes)."""
    import secrets

    return KEY_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


__all__ = [
    "ID_HEADER",
    "KEY_PREFIX",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE",
    "SignatureError",
    "SigningKeyError",
    "key_bytes",
    "new_key",
    "sign",
    "signature",
    "verify",
]
