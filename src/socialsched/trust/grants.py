"""Secrets the operator grants: where a secret's value may come from.

A calendar names a secret (`secrets = { token = "MASTO_TOKEN" }`); its value is read
only from where the operator puts socialsched's secrets:

- the environment variable `SOCIALSCHED_SECRET_<NAME>` (`SOCIALSCHED_SECRET_MASTO_TOKEN`),
- else the file `<NAME>` in `$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential=`): a
  regular file of at most `MAX_SECRET_BYTES`, its trailing newline stripped.

Nothing else in the environment is reachable: a calendar is written by many hands, and
naming `AWS_SECRET_ACCESS_KEY` in one must not hand that key to an adapter. A calendar
that still names a variable set the old way (`MASTO_TOKEN` itself) gets an error that
says what to rename, never the value.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping

from socialsched.calendar.model import ENV_VAR_NAME
from socialsched.errors import SocialschedError

SECRET_PREFIX = "SOCIALSCHED_SECRET_"
"""The prefix of the environment variables that grant socialsched a secret."""

CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"
"""The environment variable systemd sets to the folder of a unit's credentials."""

MAX_SECRET_BYTES = 64 * 1024
"""The largest credential file read (a token or key is far smaller; this bounds a
mistake such as pointing a credential at a log file)."""


class GrantError(SocialschedError):
    """A granted secret cannot be read (a credential file that is not a regular file,
    too large, unreadable or not UTF-8). The message names the secret, never a value."""


def secret_variable(name: str) -> str:
    """The environment variable that grants secret `name`: `SOCIALSCHED_SECRET_<name>`."""
    return SECRET_PREFIX + name


def read_secret(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value granted for secret `name`, or None when the operator granted none.

    `environ` is the environment to read (default: the process's); its
    `CREDENTIALS_DIRECTORY`, when set, is the folder of credential files. Raises
    `GrantError` for a credential file that exists but cannot be used.
    """
    env = os.environ if environ is None else environ
    if not ENV_VAR_NAME.match(name):
        # Names come from the calendar: never let one walk out of the credentials folder.
        raise GrantError(f"{name!r} is not a secret name (letters, digits and _ only)")
    value = env.get(secret_variable(name))
    if value:
        return value
    folder = env.get(CREDENTIALS_DIRECTORY)
    if folder:
        return _read_credential(os.path.join(folder, name), name)
    return None


def _read_credential(path: str, name: str) -> str | None:
    where = f"credential {name} in ${CREDENTIALS_DIRECTORY}"
    try:
        # O_NONBLOCK: a FIFO named like a secret must not hang the runner; O_NOFOLLOW:
        # systemd writes plain files, so a symlink there is not one of its credentials.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        reason = "it is a symbolic link" if error.errno == errno.ELOOP else error.strerror
        raise GrantError(f"cannot read {where}: {reason}") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise GrantError(f"cannot read {where}: it is not a regular file")
        if info.st_size > MAX_SECRET_BYTES:
            raise GrantError(
                f"cannot read {where}: {info.st_size} bytes, more than {MAX_SECRET_BYTES}"
            )
        data = os.read(descriptor, MAX_SECRET_BYTES + 1)
    except OSError as error:
        raise GrantError(f"cannot read {where}: {error.strerror}") from None
    finally:
        os.close(descriptor)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise GrantError(f"cannot read {where}: it is not UTF-8 text") from None
    # `echo token > file` and editors add a newline that is no part of the secret.
    return text.rstrip("\r\n") or None


def not_granted_message(name: str, environ: Mapping[str, str] | None = None) -> str:
    """Why secret `name` has no value, and what the operator should do: when the old
    variable `name` itself is set, exactly which variable to rename (never its value)."""
    env = os.environ if environ is None else environ
    granted = secret_variable(name)
    if env.get(name):
        return f"{name} is set but socialsched no longer reads it: rename {name} to {granted}"
    return f"it is not granted (set {granted}, or put the file {name} in ${CREDENTIALS_DIRECTORY})"


__all__ = [
    "CREDENTIALS_DIRECTORY",
    "MAX_SECRET_BYTES",
    "SECRET_PREFIX",
    "GrantError",
    "not_granted_message",
    "read_secret",
    "secret_variable",
]
