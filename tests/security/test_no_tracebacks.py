"""Issue 20, no tracebacks: whatever a calendar holds, `plan` and `lint` end with a
message and exit 0 or 1, never a traceback.

A hypothesis fuzz test mutates the example calendars' TOML text (byte flips, deletions,
duplications, deep nesting, huge numbers) and runs the CLI in process (click's
CliRunner, for speed); subprocess probes from another folder, under a 2 GiB
address-space limit, check the cases the issue found (a 5,000-deep inline array was a
RecursionError traceback) and how unexpected errors (MemoryError, OSError, an image
library's error) are reported."""

from __future__ import annotations

import random
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialsched import failures
from socialsched.cli import main
from socialsched.cli import plan as plan_commands

from .probe import assert_no_traceback, run_probe

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_NAMES = sorted(path.parent.name for path in EXAMPLES.glob("*/calendar.toml"))
RANGE = ["--start", "2027-03-01", "--end", "2027-03-07", "--max-deliveries", "20000"]


# ---- mutations of a calendar's text ----


@st.composite
def mutated(draw: Any, text: bytes) -> bytes:
    """`text` with one to three mutations."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["flip", "delete", "duplicate", "nest", "number", "insert"]))
        if kind == "flip" and text:
            at = min(at, len(text) - 1)
            bit = draw(st.integers(0, 7))
            text = text[:at] + bytes([text[at] ^ (1 << bit)]) + text[at + 1 :]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 200)) :]
        elif kind == "duplicate":
            length = draw(st.integers(1, 400))
            text = text[:at] + text[at : at + length] * draw(st.integers(2, 50)) + text[at:]
        elif kind == "nest":
            # A new key holding an inline array nested thousands deep, at a line start.
            depth = draw(st.integers(100, 6000))
            line = text.rfind(b"\n", 0, at) + 1
            nested = b"deep = " + b"[" * depth + b"]" * depth + b"\n"
            text = text[:line] + nested + text[line:]
        elif kind == "number":
            digits = draw(st.sampled_from([b"9" * 5000, b"1e999", b"-0", b"99999999999999999999"]))
            text = text[:at] + digits + text[at:]
        else:
            text = text[:at] + draw(st.binary(min_size=1, max_size=20)) + text[at:]
    return text


@contextmanager
def only_loopback() -> Any:
    """No connection leaves the machine while a mutated calendar runs."""
    real = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost") and not isinstance(address, str):
            raise OSError(f"test: no connection to {host}")
        return real(self, address)

    with mock.patch.object(socket.socket, "connect", connect):
        yield


def run_in_process(folder: Path, command: str) -> Any:
    return CliRunner().invoke(main, [command, str(folder / "calendar.toml"), *RANGE])


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_mutated_examples_never_end_in_a_traceback(example, data):
    source = EXAMPLES / example
    text = data.draw(mutated((source / "calendar.toml").read_bytes()))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / example
        shutil.copytree(source, folder)
        (folder / "calendar.toml").write_bytes(text)
        with only_loopback():
            for command in ("lint", "plan"):
                result = run_in_process(folder, command)
                output = result.output + (result.stderr if result.stderr_bytes else "")
                assert "Traceback" not in output, output[-3000:]
                # An exception the CLI did not turn into a message is a failure.
                assert result.exception is None or isinstance(result.exception, SystemExit), (
                    command,
                    repr(result.exception),
                )
                assert result.exit_code in (0, 1), (command, result.exit_code, output[-2000:])


# ---- subprocess probes, as users run the CLI ----


def copy_example(tmp_path: Path, name: str = "hello") -> Path:
    folder = tmp_path / "cal"
    shutil.copytree(EXAMPLES / name, folder)
    (tmp_path / "elsewhere").mkdir()
    return folder / "calendar.toml"


@pytest.mark.parametrize("command", ["plan", "lint"])
def test_a_5000_deep_inline_array_is_a_message_with_its_line(tmp_path, command):
    calendar = copy_example(tmp_path)
    text = calendar.read_text(encoding="utf-8")
    calendar.write_text(text + "\nnested = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    line = text.count("\n") + 2  # after the text, a blank line, then the array
    result = run_probe(command, "../cal/calendar.toml", cwd=tmp_path / "elsewhere")
    assert_no_traceback(result)
    assert result.returncode == 1
    assert f"../cal/calendar.toml:{line}: error: invalid TOML: arrays or tables nested too" in (
        result.stderr
    )


def test_a_number_too_long_for_python_is_a_message_with_its_line(tmp_path):
    calendar = copy_example(tmp_path)
    text = calendar.read_text(encoding="utf-8")
    calendar.write_text("[calendar]\nmax_gap_days = " + "9" * 5000 + "\n" + text, encoding="utf-8")
    result = run_probe("lint", "../cal/calendar.toml", cwd=tmp_path / "elsewhere")
    assert_no_traceback(result)
    assert result.returncode == 1
    assert "../cal/calendar.toml:2: error: invalid TOML: a number too long" in result.stderr


def test_a_calendar_that_is_not_utf8_is_a_message(tmp_path):
    calendar = copy_example(tmp_path)
    calendar.write_bytes(b"\xff\xfe" + calendar.read_bytes())
    result = run_probe("plan", "../cal/calendar.toml", cwd=tmp_path / "elsewhere")
    assert_no_traceback(result)
    assert result.returncode == 1
    assert "../cal/calendar.toml" in result.stderr


def seeded_mutation(text: bytes, seed: int) -> bytes:
    """A fixed mutation of `text`: a flip and a duplication, and with an odd seed a
    deep nesting too."""
    generator = random.Random(seed)
    at = generator.randrange(len(text))
    text = text[:at] + bytes([text[at] ^ (1 << generator.randrange(8))]) + text[at + 1 :]
    at = generator.randrange(len(text))
    text = text[:at] + text[at : at + 300] * 20 + text[at:]
    if not seed % 2:
        return text
    line = text.rfind(b"\n", 0, generator.randrange(len(text))) + 1
    return text[:line] + b"deep = " + b"[" * 3000 + b"]" * 3000 + b"\n" + text[line:]


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_mutated_examples_from_another_folder_end_in_a_message(tmp_path, example):
    calendar = copy_example(tmp_path, example)
    for seed, command in enumerate(("lint", "plan")):
        calendar.write_bytes(
            seeded_mutation((EXAMPLES / example / "calendar.toml").read_bytes(), seed)
        )
        result = run_probe(command, "../cal/calendar.toml", *RANGE, cwd=tmp_path / "elsewhere")
        assert_no_traceback(result)
        assert result.returncode in (0, 1), result.stderr[-2000:]


# ---- unexpected errors: a message and exit 1, in process ----


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (MemoryError(), "error: out of memory: the command needed more memory"),
        (RecursionError("maximum recursion depth exceeded"), "error: input nested too deeply"),
        (PermissionError(13, "Permission denied", "/srv/x"), "error: operating-system error "
         "(/srv/x): Permission denied"),
        (ValueError("boom"), "error: unexpected ValueError: boom (set SOCIALSCHED_DEBUG=1"),
    ],
)  # fmt: skip
def test_unexpected_errors_are_one_line_and_exit_1(tmp_path, monkeypatch, error, message):
    calendar = copy_example(tmp_path)
    monkeypatch.delenv(failures.DEBUG_VARIABLE, raising=False)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(plan_commands, "load", fail)
    result = CliRunner().invoke(main, ["plan", str(calendar)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_image_library_error_is_named(tmp_path, monkeypatch):
    from PIL import UnidentifiedImageError

    calendar = copy_example(tmp_path)
    monkeypatch.delenv(failures.DEBUG_VARIABLE, raising=False)
    monkeypatch.setattr(
        plan_commands, "load", mock.Mock(side_effect=UnidentifiedImageError("bad.png"))
    )
    result = CliRunner().invoke(main, ["plan", str(calendar)])
    assert result.exit_code == 1
    assert "error: image error: bad.png" in result.stderr


def test_debug_variable_gives_the_traceback_back(tmp_path, monkeypatch):
    calendar = copy_example(tmp_path)
    monkeypatch.setenv(failures.DEBUG_VARIABLE, "1")
    monkeypatch.setattr(plan_commands, "load", mock.Mock(side_effect=ValueError("boom")))
    result = CliRunner().invoke(main, ["plan", str(calendar)])
    assert isinstance(result.exception, ValueError)


def test_errors_from_input_are_messages_in_json_logs_too(tmp_path, monkeypatch):
    import json

    calendar = copy_example(tmp_path)
    monkeypatch.delenv(failures.DEBUG_VARIABLE, raising=False)
    monkeypatch.setattr(plan_commands, "load", mock.Mock(side_effect=MemoryError()))
    result = CliRunner().invoke(main, ["--log-format", "json", "plan", str(calendar)])
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["level"] == "error"
    assert line["error"].startswith("out of memory")
