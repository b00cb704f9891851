"""Files a calendar names: kept inside the calendar's folder, regular files only,
sizes checked before reading.

A calendar is written by many hands (it lives in a git repository and is reviewed
like code), so a path in it is untrusted: `../../etc/passwd`, an absolute path or a
symlink leading out of the folder must not be read or written, a FIFO named `x.png`
must not hang the loader and a 3 GB sparse file must not be read whole. Every path a
calendar names (media files, the jsonl adapter's `path`, templates) goes through
`confined`: resolved, symlinks included, it must stay inside the calendar file's
folder or a folder the operator lists in `SOCIALSCHED_ALLOWED_PATHS`
(`os.pathsep`-separated). Files are then opened with `read_regular`, which refuses
anything but a regular file without blocking and checks the size before reading.

A refused path and a missing one get the same message, so that a calendar cannot
learn whether a file exists outside its folder.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ALLOWED_PATHS_VARIABLE = "SOCIALSCHED_ALLOWED_PATHS"
"""The environment variable listing further folders calendars may name files in."""

MAX_FILE_BYTES = 1024**3
"""The most socialsched reads of any one file a calendar names (1 GiB), whatever the
networks accept: larger files are refused before a byte is read."""

# Read in pieces: a file that grows while it is read cannot push past the limit.
_CHUNK = 1024 * 1024


class PathRefused(ValueError):
    """A calendar names a file it may not use: outside the allowed folders, missing,
    not a regular file, or too large. The message says which, never whether a file
    outside the allowed folders exists."""


class PathMissing(PathRefused):
    """The file does not exist (callers about calendar paths show `not_found` instead,
    the message of a refused path)."""


def allowed_folders(calendar_file: Path, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The folders files named by `calendar_file` may be in: its own folder, then each
    folder of `SOCIALSCHED_ALLOWED_PATHS` (resolved; empty entries ignored)."""
    environ = os.environ if environ is None else environ
    folders = [Path(calendar_file).absolute().parent.resolve()]
    for entry in environ.get(ALLOWED_PATHS_VARIABLE, "").split(os.pathsep):
        if entry.strip():
            folders.append(Path(entry.strip()).expanduser().absolute().resolve())
    return folders


def not_found(value: str, what: str, calendar_file: Path) -> str:
    """The one message for a file that is missing or outside the allowed folders."""
    folder = Path(calendar_file).absolute().parent.resolve()
    return (
        f"{what} {value!r} not found: it must be inside the calendar's folder {folder} "
        f"or a folder listed in {ALLOWED_PATHS_VARIABLE}"
    )


def confined(
    value: str,
    calendar_file: Path,
    what: str = "file",
    environ: Mapping[str, str] | None = None,
) -> Path:
    """`value` (as written in `calendar_file`: relative to its folder, or absolute) as
    an absolute path with every symlink resolved, inside one of `allowed_folders`.

    Raises `PathRefused` with the `not_found` message otherwise. The file need not
    exist (the jsonl adapter creates its log); callers that read it use
    `read_regular` or `regular_size`, which give the same message when it is missing.
    """
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(calendar_file).absolute().parent / path
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise PathRefused(not_found(value, what, calendar_file)) from None
    if not any(
        resolved.is_relative_to(folder) for folder in allowed_folders(calendar_file, environ)
    ):
        raise PathRefused(not_found(value, what, calendar_file))
    return resolved


def is_confined(path: Path, calendar_file: Path, environ: Mapping[str, str] | None = None) -> bool:
    """Whether `path` (absolute) resolves inside the folders `calendar_file` may use."""
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError):
        return False
    return any(
        resolved.is_relative_to(folder) for folder in allowed_folders(calendar_file, environ)
    )


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size_text(size: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def too_large(label: str, size: int, limit: int) -> str:
    """The message for a file or body of `size` bytes over `limit`."""
    return (
        f"{label} is {_size_text(size)} ({size} bytes), over the {limit} bytes socialsched "
        "reads of one media file (the most the calendar's networks accept)"
    )


def regular_size(path: Path, label: str, limit: int = MAX_FILE_BYTES) -> os.stat_result:
    """The `stat` of `path` when it is a regular file of at most `limit` bytes; raises
    `PathRefused` (`label` names it in the message) otherwise. Opens nothing, so a
    FIFO or device cannot block."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PathMissing(f"{label} not found") from None
    except OSError as error:
        raise PathRefused(f"cannot read {label}: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise PathRefused(f"{label} is {_kind(info.st_mode)}, not a file")
    if info.st_size > limit:
        raise PathRefused(too_large(label, info.st_size, limit))
    return info


def read_regular(
    path: Path, label: str, limit: int = MAX_FILE_BYTES, head: int | None = None
) -> bytes:
    """The bytes of the regular file at `path` (only the first `head` when given).

    The file is opened without following a final symlink and without blocking
    (O_NONBLOCK: a FIFO swapped in after a `stat` cannot hang the open), checked to be
    a regular file of at most `limit` bytes on the open descriptor, then read: never
    more than `limit` bytes. Raises `PathRefused`."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise PathMissing(f"{label} not found") from None
    except OSError as error:
        raise PathRefused(f"cannot read {label}: {error.strerror}") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise PathRefused(f"{label} is {_kind(info.st_mode)}, not a file")
        wanted = info.st_size if head is None else min(head, info.st_size)
        if head is None and info.st_size > limit:
            raise PathRefused(too_large(label, info.st_size, limit))
        pieces: list[bytes] = []
        got = 0
        while got < wanted:
            piece = os.read(descriptor, min(_CHUNK, wanted - got))
            if not piece:
                break  # shrank meanwhile
            pieces.append(piece)
            got += len(piece)
        return b"".join(pieces)
    except OSError as error:
        raise PathRefused(f"cannot read {label}: {error.strerror}") from None
    finally:
        os.close(descriptor)


def read_template(path: Path, folder: Path, limit: int, name: str) -> tuple[str, float]:
    """(text, mtime) of the template `name` at `path` when it resolves inside `folder`
    and is a regular UTF-8 file of at most `limit` bytes; raises `PathRefused`."""
    label = f"template {name!r}"
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        raise PathRefused(f"{label} not found in the templates folder {folder}") from None
    if not resolved.is_relative_to(folder.resolve()):
        raise PathRefused(f"{label} not found in the templates folder {folder}")
    data = read_regular(resolved, label, limit)
    try:
        return data.decode("utf-8"), os.stat(resolved).st_mtime
    except UnicodeDecodeError:
        raise PathRefused(f"{label} is not UTF-8 text") from None
    except OSError as error:
        raise PathRefused(f"cannot read {label}: {error.strerror}") from None


def confined_loader(folder: Path, limit: int = 1024 * 1024) -> Any:
    """A Jinja loader for the templates in `folder` that reads only regular files of
    at most `limit` bytes whose real path (symlinks resolved) is inside `folder`."""
    import jinja2

    class ConfinedLoader(jinja2.FileSystemLoader):
        """`FileSystemLoader` that refuses symlinks leaving its folder, FIFOs, devices
        and oversized files."""

        def get_source(
            self, environment: jinja2.Environment, template: str
        ) -> tuple[str, str, Any]:
            pieces = jinja2.loaders.split_template_path(template)
            path = Path(folder, *pieces)
            missing = f"template {template!r} not found in the templates folder {folder}"
            if not path.exists() and not path.is_symlink():
                raise jinja2.TemplateNotFound(template, missing)
            try:
                text, mtime = read_template(path, folder, limit, template)
            except PathRefused as error:
                raise jinja2.TemplateNotFound(template, str(error)) from None

            def uptodate() -> bool:
                try:
                    return os.stat(path).st_mtime == mtime
                except OSError:
                    return False

            return text, str(path), uptodate

    return ConfinedLoader(str(folder))


__all__ = [
    "ALLOWED_PATHS_VARIABLE",
    "MAX_FILE_BYTES",
    "PathMissing",
    "PathRefused",
    "allowed_folders",
    "confined",
    "confined_loader",
    "is_confined",
    "not_found",
    "read_regular",
    "read_template",
    "regular_size",
    "too_large",
]
