"""Where a secret's value may come from (`socialsched.trust.grants`): only
`SOCIALSCHED_SECRET_<NAME>` or the file `<NAME>` in `$CREDENTIALS_DIRECTORY`."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from socialsched.adapters import Adapter, MissingSecretError
from socialsched.calendar.model import Channel
from socialsched.testing import grant
from socialsched.trust.grants import MAX_SECRET_BYTES, GrantError, read_secret

CHANNEL = Channel(name="masto", adapter="mastodon", secrets={"token": "MASTO_TOKEN"})


def test_the_granted_variable_is_read_and_no_other():
    assert read_secret("MASTO_TOKEN", {"SOCIALSCHED_SECRET_MASTO_TOKEN": "tok-1"}) == "tok-1"
    # The variable the calendar names is not a grant, whatever it holds.
    assert read_secret("MASTO_TOKEN", {"MASTO_TOKEN": "tok-1"}) is None
    assert read_secret("AWS_SECRET_ACCESS_KEY", {"AWS_SECRET_ACCESS_KEY": "cloud"}) is None
    assert grant(MASTO_TOKEN="t") == {"SOCIALSCHED_SECRET_MASTO_TOKEN": "t"}


def test_an_old_style_variable_gets_told_exactly_what_to_rename_never_its_value():
    adapter = Adapter(CHANNEL, environ={"MASTO_TOKEN": "tok-old-style-123"})
    with pytest.raises(MissingSecretError) as raised:
        adapter.secret("token")
    message = str(raised.value)
    assert "rename MASTO_TOKEN to SOCIALSCHED_SECRET_MASTO_TOKEN" in message
    assert "tok-old-style-123" not in message
    assert raised.value.variable == "SOCIALSCHED_SECRET_MASTO_TOKEN"


def test_a_systemd_credential_file_is_read_without_its_trailing_newline(tmp_path):
    (tmp_path / "MASTO_TOKEN").write_text("tok-from-file\n")
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert read_secret("MASTO_TOKEN", environ) == "tok-from-file"
    assert Adapter(CHANNEL, environ=environ).secret("token") == "tok-from-file"
    # The environment variable, when set, is the grant.
    both = {**environ, "SOCIALSCHED_SECRET_MASTO_TOKEN": "tok-from-env"}
    assert read_secret("MASTO_TOKEN", both) == "tok-from-env"
    assert read_secret("OTHER", environ) is None


def test_only_a_regular_file_of_bounded_size_is_a_credential(tmp_path):
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    (tmp_path / "BIG").write_bytes(b"x" * (MAX_SECRET_BYTES + 1))
    (tmp_path / "FOLDER").mkdir()
    (tmp_path / "elsewhere").write_text("secret of another service")
    (tmp_path / "LINK").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "BINARY").write_bytes(b"\xff\xfe\x00")
    for name, why in [
        ("BIG", "more than"),
        ("FOLDER", "not a regular file"),
        ("LINK", "symbolic link"),
        ("BINARY", "not UTF-8"),
    ]:
        with pytest.raises(GrantError, match=why) as raised:
            read_secret(name, environ)
        assert "another service" not in str(raised.value)
    # A name from a calendar never walks out of the credentials folder.
    with pytest.raises(GrantError, match="not a secret name"):
        read_secret("../elsewhere", environ)


def test_a_fifo_named_like_a_credential_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "FIFO")
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(read_secret("FIFO", environ))
        except GrantError as error:
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)
    if reader.is_alive():  # unblock the reader before failing
        with open(tmp_path / "FIFO", "w"):
            pass
        pytest.fail("reading a FIFO credential hung")
    [error] = outcome
    assert isinstance(error, GrantError) and "not a regular file" in str(error)


def test_an_unusable_credential_is_a_missing_secret_naming_it(tmp_path: Path):
    (tmp_path / "MASTO_TOKEN").mkdir()
    adapter = Adapter(CHANNEL, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    with pytest.raises(MissingSecretError, match="credential MASTO_TOKEN"):
        adapter.secret("token")
