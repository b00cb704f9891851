"""Writing what a command shows: JSON on standard output, files, counts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click


def write_file(path: Path, content: bytes) -> None:
    """Write `content` to `path`; an error writing it is a message naming the file."""
    try:
        path.write_bytes(content)
    except OSError as error:
        raise click.FileError(str(path), hint=error.strerror) from None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def counts_text(counts: Mapping[str, int], *, skip_zero: bool = False) -> str:
    """ "published 3  retried 1": counts in the order given, as `status` prints them."""
    return "  ".join(f"{name} {count}" for name, count in counts.items() if count or not skip_zero)
