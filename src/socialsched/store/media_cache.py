"""Media kept in the store: bytes content-addressed by SHA-256 digest in the database,
so that a runner on any machine needs only the database URL to attach them.

`StoreMediaCache` is the store's `MediaCache`: the planner asks it whether a file was
seen before at the same size and modification time (then nothing is read or hashed)
and whether a fitted variant exists. A delivery keeps its media as a compact JSON list
(`media_json`); `media_from_json` turns it back into `Media` whose bytes are read from
the database when an adapter asks for them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from socialsched.errors import SocialschedError
from socialsched.media.model import Media, digest_of, kind_of

from .tables import media, media_sources, media_variants

# The `media` columns that describe a blob (all but its bytes).
_DESCRIPTION = (
    media.c.digest,
    media.c.mime_type,
    media.c.size,
    media.c.width,
    media.c.height,
    media.c.animated,
)


class MediaMissing(SocialschedError):
    """Media a delivery names are not in the store, or their bytes are damaged."""


def read_media(engine: Engine, digest: str) -> bytes:
    """The bytes of media `digest`, checked against the digest."""
    with engine.connect() as connection:
        data = connection.execute(select(media.c.data).where(media.c.digest == digest)).scalar()
    if data is None:
        raise MediaMissing(f"media {digest} is not in the store (schedule the calendar again)")
    data = bytes(data)
    if digest_of(data) != digest:
        raise MediaMissing(f"media {digest} in the store is damaged (its bytes do not match)")
    return data


def _described(row: Any, reader: Callable[[str], bytes], **fields: Any) -> Media:
    """A `Media` from a row of `_DESCRIPTION` columns (or another `Media`), its bytes
    read by `reader(digest)`."""
    return Media(
        kind=kind_of(row.mime_type),
        mime_type=row.mime_type,
        size=row.size,
        digest=row.digest,
        width=row.width,
        height=row.height,
        animated=bool(row.animated),
        reader=functools.partial(reader, row.digest),
        **fields,
    )


def _in_memory(item: Media, **fields: Any) -> Media:
    """`item` described as the store would keep it, its bytes held in memory."""
    data = item.read()
    return _described(item, lambda digest: data, **fields)


def dialect_insert(connection: Connection, table: Any) -> Any:
    """An INSERT that can take ON CONFLICT clauses, for this database."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def stored_digests(connection: Connection, digests: Iterable[str]) -> set[str]:
    """Which of `digests` the store holds."""
    wanted = sorted(set(digests))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(
            connection.execute(select(media.c.digest).where(media.c.digest.in_(chunk))).scalars()
        )
    return found


def store_media(connection: Connection, items: Iterable[Media], now: datetime) -> int:
    """Keep the bytes of each of `items` the store does not hold yet (read only for
    those); returns how many blobs were added."""
    by_digest = {item.digest: item for item in items}
    known = stored_digests(connection, by_digest)
    missing = [item for digest, item in by_digest.items() if digest not in known]
    added = 0
    for item in missing:
        data = item.read()
        if digest_of(data) != item.digest:
            raise MediaMissing(
                f"media {item.filename or item.source or item.digest}: its bytes do not match "
                f"its digest {item.digest}"
            )
        connection.execute(
            dialect_insert(connection, media)
            .values(
                digest=item.digest,
                kind=item.kind,
                mime_type=item.mime_type,
                size=len(data),
                width=item.width,
                height=item.height,
                animated=item.animated,
                data=data,
                stored_at=now,
            )
            .on_conflict_do_nothing(index_elements=["digest"])
        )
        added += 1
    return added


class StoreMediaCache:
    """The store's `MediaCache` (see `socialsched.media.model.MediaCache`): files, URLs and
    fitted variants remembered in the database with their bytes.

    What the store knows is read once, at the first question, for the life of the
    object (one `Store.schedule`): asking about a file costs no query. A `read_only`
    cache writes nothing: what it is asked to remember it keeps in memory (dry runs)."""

    def __init__(
        self, engine: Engine, clock: Callable[[], datetime], *, read_only: bool = False
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._read_only = read_only
        self._reader = functools.partial(read_media, engine)
        self._sources: dict[tuple[str, int, int], Media] = {}
        self._variants: dict[tuple[str, str], Media] = {}
        self._loaded = False

    def _load(self) -> None:
        """Read what the store knows of files and variants (descriptions, not bytes)
        at the first question: two queries, however many files a calendar names."""
        if self._loaded:
            return
        self._loaded = True
        sources = (
            select(
                *_DESCRIPTION,
                media_sources.c.source,
                media_sources.c.size.label("source_size"),
                media_sources.c.mtime_ns,
                media_sources.c.filename,
            )
            .select_from(media_sources)
            .join(media, media.c.digest == media_sources.c.digest)
        )
        variants = (
            select(
                *_DESCRIPTION,
                media_variants.c.digest.label("original"),
                media_variants.c.limits_key,
                media_variants.c.filename,
            )
            .select_from(media_variants)
            .join(media, media.c.digest == media_variants.c.variant)
        )
        with self._engine.connect() as connection:
            for row in connection.execute(sources):
                key = (row.source, row.source_size, row.mtime_ns)
                self._sources.setdefault(
                    key, _described(row, self._reader, filename=row.filename, source=row.source)
                )
            for fitted in connection.execute(variants):
                self._variants.setdefault(
                    (fitted.original, fitted.limits_key),
                    _described(fitted, self._reader, filename=fitted.filename),
                )

    def known_source(self, source: str, size: int, mtime_ns: int) -> Media | None:
        """The media last stored from `source` at this size and modification time."""
        self._load()
        return self._sources.get((source, size, mtime_ns))

    def remember_source(self, source: str, size: int, mtime_ns: int, media: Media) -> Media:
        """Keep `media` (read from `source`) and return a copy reading from the store."""
        if self._read_only:
            kept = _in_memory(media, filename=media.filename, source=source)
            self._sources[source, size, mtime_ns] = kept
            return kept
        with self._engine.begin() as connection:
            store_media(connection, [media], self._clock())
            values = {
                "size": size,
                "mtime_ns": mtime_ns,
                "digest": media.digest,
                "filename": media.filename,
            }
            connection.execute(
                dialect_insert(connection, media_sources)
                .values(source=source, **values)
                .on_conflict_do_update(index_elements=["source"], set_=values)
            )
        kept = _described(media, self._reader, filename=media.filename, source=source)
        self._sources[source, size, mtime_ns] = kept
        return kept

    def known_variant(self, digest: str, limits_key: str) -> Media | None:
        """The variant of media `digest` fitted to `limits_key`, if kept."""
        self._load()
        return self._variants.get((digest, limits_key))

    def remember_variant(self, digest: str, limits_key: str, variant: Media) -> Media:
        """Keep `variant` as the fit of `digest` to `limits_key`."""
        if self._read_only:
            kept = _in_memory(variant, filename=variant.filename)
            self._variants[digest, limits_key] = kept
            return kept
        with self._engine.begin() as connection:
            store_media(connection, [variant], self._clock())
            values = {"variant": variant.digest, "filename": variant.filename}
            connection.execute(
                dialect_insert(connection, media_variants)
                .values(digest=digest, limits_key=limits_key, **values)
                .on_conflict_do_update(index_elements=["digest", "limits_key"], set_=values)
            )
        # What `known_variant` will answer later: no source (the caller sets it).
        kept = _described(variant, self._reader, filename=variant.filename)
        self._variants[digest, limits_key] = kept
        return kept


def media_json(items: Sequence[Media]) -> str | None:
    """The `deliveries.media` value for `items` (None: no media): compact JSON with
    what an adapter needs to know of each besides its bytes."""
    if not items:
        return None
    return json.dumps(
        [
            {
                "digest": item.digest,
                "alt": item.alt,
                "mime_type": item.mime_type,
                "size": item.size,
                "width": item.width,
                "height": item.height,
                "animated": item.animated,
                "filename": item.filename,
                "source": item.source,
            }
            for item in items
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def media_from_json(text: str | None, reader: Callable[[str], bytes] | None) -> tuple[Media, ...]:
    """The media a `deliveries.media` value describes, reading their bytes with
    `reader(digest)` (None: descriptions only, `read()` fails)."""
    if not text:
        return ()
    return tuple(
        Media(
            kind=kind_of(entry["mime_type"]),
            mime_type=entry["mime_type"],
            size=entry["size"],
            digest=entry["digest"],
            width=entry.get("width"),
            height=entry.get("height"),
            alt=entry.get("alt", ""),
            filename=entry.get("filename", ""),
            animated=entry.get("animated", False),
            source=entry.get("source", ""),
            reader=None if reader is None else functools.partial(reader, entry["digest"]),
        )
        for entry in json.loads(text)
    )


def sent_media_json(items: Sequence[Media]) -> str | None:
    """What the activity log keeps of the media a delivery sent: digest, file, alt."""
    if not items:
        return None
    return json.dumps(
        [{"digest": m.digest, "filename": m.filename, "alt": m.alt} for m in items],
        ensure_ascii=False,
    )


__all__ = [
    "MediaMissing",
    "StoreMediaCache",
    "dialect_insert",
    "media_from_json",
    "media_json",
    "read_media",
    "sent_media_json",
    "store_media",
    "stored_digests",
]
