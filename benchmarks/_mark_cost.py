"""The cost of the sending mark, for benchmarks/dispatch.py: one runner publishes the
same number of due deliveries through the `jsonl` adapter with and without the mark
(`Store.mark_sending` replaced by a stand-in that writes nothing), both in one child
process, each variant twice in alternation, the best run of each kept; the ratio of
the two rates is printed. A third variant adds the receipt journal (fdatasync per
receipt, in the scratch folder: on /dev/shm when it exists, so a disk's flush latency
is left out; on a disk add about one flush per delivery)."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from socialsched.runner import Runner
from socialsched.runner.journal import Journal
from socialsched.store import Store

VARIANTS = ("without mark", "with mark", "mark + journal")


def _publish(db: str, variant: str, folder: Path) -> float:
    """Deliveries per second of one runner on `db` (all due) in `variant`."""
    store = Store(db)
    journal = Journal(folder / "state", store.url) if variant == "mark + journal" else None
    runner = Runner(store, batch=100, lease=timedelta(minutes=5), journal=journal)
    if variant == "without mark":
        store.mark_sending = lambda record, worker, lease=None: True  # type: ignore[method-assign]
    started = time.perf_counter()
    published = runner.run_until_idle()
    seconds = time.perf_counter() - started
    store.close()
    return published / seconds


def _child(
    databases: dict[str, list[str]],
    folder: Path,
    result: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    rates: dict[str, float] = {}
    # Alternating variants (two rounds) spreads the machine's drift over all of them.
    for round_dbs in zip(*(databases[v] for v in VARIANTS), strict=True):
        for variant, db in zip(VARIANTS, round_dbs, strict=True):
            rates[variant] = max(rates.get(variant, 0.0), _publish(db, variant, folder))
    result.put(rates)


def mark_rows(
    size: int,
    backends: list[tuple[str, Callable[[], tuple[str, str | None] | None]]],
    prepare: Callable[[str, Path, int], None],
    drop_schema: Callable[[str], None],
    folder: Path,
) -> dict[str, float]:
    """For each (backend name, database maker): the rates of the three variants and
    the ratio without / with the mark, printed; results `mark_ratio-<backend>`."""
    results: dict[str, float] = {}
    for backend, make in backends:
        databases: dict[str, list[str]] = {variant: [] for variant in VARIANTS}
        schemas: list[str] = []
        try:
            for _ in range(2):
                for variant in VARIANTS:
                    made = make()
                    if made is None:
                        return results
                    db, schema = made
                    if schema:
                        schemas.append(schema)
                    prepare(db, folder, size)
                    databases[variant].append(db)
            queue: multiprocessing.Queue[Any] = multiprocessing.Queue()
            child = multiprocessing.Process(target=_child, args=(databases, folder, queue))
            child.start()
            rates = queue.get()
            child.join()
        finally:
            for schema in schemas:
                drop_schema(schema)
        ratio = rates["without mark"] / rates["with mark"]
        journal = rates["with mark"] / rates["mark + journal"]
        results[f"mark_ratio-{backend}"] = ratio
        print(
            f"mark       {backend:10} 1 runner, one process: "
            f"without {rates['without mark']:,.0f}/s, "
            f"with {rates['with mark']:,.0f}/s: the mark costs {ratio:.2f}x "
            f"({(ratio - 1) * 100:+.0f}%); the journal another {journal:.2f}x "
            f"({rates['mark + journal']:,.0f}/s)"
        )
    return results
