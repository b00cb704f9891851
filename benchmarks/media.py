"""Scheduling with media: the same calendar with and without an image on every post.

Two calendars are identical but for media: in one, each of its posts carries its own
JPEG (one file per post, alt text rendered per segment). Each is scheduled with
`Store.schedule` (planning included, with the store's media cache) into its own new
SQLite outbox, first for one day (for the media calendar this reads, hashes and
stores every file), then, timed, for the following `--days` days: the files are
stored by then, so the media calendar must read and hash none of them again (checked:
the script counts file reads and SHA-256 digests during the timed run and fails if
there is one). The ratio of the two timed runs is printed (the target: at most 2x).
The median of `--repeat` runs is reported.

    python benchmarks/media.py               # 100 segments x 20 posts x 30 days
    python benchmarks/media.py --days 3      # quick check
"""

from __future__ import annotations

import argparse
import io
import pathlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import calendar

from socialsched.calendar.model import Calendar
from socialsched.media import model as media_module
from socialsched.media.model import MediaItem
from socialsched.scheduling import schedule
from socialsched.store import Store
from socialsched.store import media_cache as media_store

SEGMENTS = 100
POSTS = 20
FIRST_DAY = date(2030, 1, 1)


def write_images(folder: Path, count: int) -> list[Path]:
    """`count` different 1200x800 JPEG files (noise: no two alike)."""
    from PIL import Image

    folder.mkdir()
    paths = []
    for index in range(count):
        buffer = io.BytesIO()
        Image.effect_noise((1200, 800), 40).convert("RGB").save(buffer, "JPEG", quality=85)
        path = folder / f"photo{index}.jpg"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def with_media(cal: Calendar, images: list[Path]) -> Calendar:
    """`cal` with image `i` on post `i`, its alt text naming the segment."""
    posts = [
        attrs.evolve(
            post,
            media=(MediaItem(path=str(image), alt="A photo for {{ segment.name }}"),),
        )
        for post, image in zip(cal.posts, images, strict=True)
    ]
    return attrs.evolve(cal, posts=posts)


@contextmanager
def counted(owner: Any, name: str, counts: dict[str, int], key: str) -> Iterator[None]:
    """Count the calls of `owner.name` in `counts[key]` for the duration."""
    original: Callable[..., Any] = getattr(owner, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        counts[key] += 1
        return original(*args, **kwargs)

    setattr(owner, name, counting)
    try:
        yield
    finally:
        setattr(owner, name, original)


@attrs.frozen
class Run:
    """One schedule of a calendar into a new outbox (seconds)."""

    first: float  # the first day
    timed: float  # the next days, wall time
    timed_cpu: float  # the same, this process's CPU time (SQLite runs in it)
    unchanged: float  # those days again: nothing changes
    added: int
    counts: dict[str, int]


def run(folder: Path, cal: Calendar, days: int) -> Run:
    """Into a new outbox: schedule the first day, then the next `days` days (timed,
    with file reads and digests counted), then those days again (nothing changes)."""
    for leftover in folder.glob("outbox.db*"):
        leftover.unlink()
    last = FIRST_DAY + timedelta(days=days)
    counts = {"files read": 0, "digests": 0}
    with Store(folder / "outbox.db") as store:
        started = time.perf_counter()
        schedule(store, cal, FIRST_DAY, FIRST_DAY)
        first = time.perf_counter() - started
        with (
            counted(pathlib.Path, "read_bytes", counts, "files read"),
            counted(media_module, "digest_of", counts, "digests"),
            counted(media_store, "digest_of", counts, "digests"),
        ):
            started, cpu = time.perf_counter(), time.process_time()
            result = schedule(store, cal, FIRST_DAY + timedelta(days=1), last)
            timed, timed_cpu = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        again = schedule(store, cal, FIRST_DAY + timedelta(days=1), last)
        unchanged = time.perf_counter() - started
    assert not again.changed
    return Run(first, timed, timed_cpu, unchanged, len(result.added), counts)


def main(argv: list[str] | None = None) -> float:
    """Run the benchmark, print the times and return the wall-time ratio (with media /
    without)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=SEGMENTS)
    parser.add_argument("--days", type=int, default=30, help="days in the timed schedule")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median)")
    args = parser.parse_args(argv)
    results: dict[str, list[Run]] = {"without media": [], "with media": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain = calendar(args.segments, POSTS, str(folder / "out.jsonl"), days=args.days + 1)
        illustrated = with_media(plain, write_images(folder / "images", POSTS))
        run(folder, plain, 1)  # warm-up: imports, holiday tables, compiled templates
        for _ in range(max(1, args.repeat)):
            for label, cal in (("without media", plain), ("with media", illustrated)):
                results[label].append(run(folder, cal, args.days))
    size = results["without media"][0].added
    assert all(r.added == size for runs in results.values() for r in runs)
    for r in results["with media"]:
        assert r.counts == {"files read": 0, "digests": 0}, r.counts
    print(
        f"deliveries: {size:,} per timed run ({args.segments} segments x {POSTS} posts x "
        f"{args.days} days, SQLite), {POSTS} JPEG files of 1200x800"
    )
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for label, runs in results.items():
        wall[label] = statistics.median(r.timed for r in runs)
        cpu[label] = statistics.median(r.timed_cpu for r in runs)
        each = ", ".join(f"{r.timed:.2f}" for r in runs)
        first = statistics.median(r.first for r in runs)
        unchanged = statistics.median(r.unchanged for r in runs)
        print(f"{label}:")
        for name, seconds in (
            ("first day", first),
            (f"next {args.days} days, wall", wall[label]),
            (f"next {args.days} days, CPU", cpu[label]),
            ("the same again, nothing to change", unchanged),
        ):
            print(f"  {name + ':':<36}{seconds:8.2f} s")
        print(f"  (wall time of each run: {each} s)")
    print("with media, timed runs: 0 files read, 0 digests computed (checked)")
    ratio = wall["with media"] / wall["without media"]
    print(
        f"ratio, with / without media: {ratio:.2f}x wall, "
        f"{cpu['with media'] / cpu['without media']:.2f}x CPU (target: at most 2x)"
    )
    return ratio


if __name__ == "__main__":
    main()
