"""The outbox schema as SQLAlchemy Core tables (the migrations create exactly these)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

STATES = (
    "scheduled",
    "paused",
    "claimed",
    "published",
    "failed",
    "cancelled",
    "missed",
    "doubt",
)
"""Every state a delivery can be in ("doubt": its worker died while publishing it, the
network could not say whether it went out, and an operator must `resolve` it)."""

metadata = MetaData()

# BIGINT autoincrement on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")

_SENT = text("sent_at IS NOT NULL")

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("calendar", String(200), nullable=False),
    Column("post", String(200), nullable=False),
    Column("segment", String(200), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("adapter", String(100), nullable=False),
    Column("locale", String(35), nullable=False),
    Column("utc", DateTime(), nullable=False),
    Column("local", String(40), nullable=False),
    Column("local_day", String(10), nullable=False),
    Column("text", Text()),
    Column("audience", Text()),
    Column("tags", Text(), nullable=False, server_default="[]"),
    Column("holiday", String(200)),
    Column("shifted_from", String(40)),
    Column("reason", String(200)),
    # The segment's quiet hours, a JSON list of "HH:MM-HH:MM" (NULL: none).
    Column("quiet_hours", Text()),
    # The media to attach, a JSON list of {digest, alt, mime_type, size, ...} (NULL: none;
    # the bytes are in `media`), and a thread's parts, a JSON list of texts (NULL: a
    # single post).
    Column("media", Text()),
    Column("parts", Text()),
    Column("state", String(12), nullable=False),
    Column("state_actor", String(100)),
    Column("due", DateTime(), nullable=False),
    Column("deadline", DateTime()),
    Column("grace_s", Integer()),
    Column("requires_approval", Boolean(), nullable=False, server_default="0"),
    Column("approved", Boolean(), nullable=False, server_default="0"),
    Column("attempts", Integer(), nullable=False, server_default="0"),
    Column("claimed_by", String(100)),
    Column("lease_until", DateTime()),
    Column("sent_at", DateTime()),
    # Set just before the network is called: only a delivery with this mark can have
    # been in flight when its runner died.
    Column("sending_at", DateTime()),
    Column("receipt", Text()),
    Column("last_error", Text()),
    Column("updated_at", DateTime(), nullable=False),
    Index("ix_deliveries_state_due", "state", "due"),
    Index("ix_deliveries_calendar_day", "calendar", "local_day"),
    # Rate limits count a channel's sent deliveries: unsent ones need no entry.
    Index(
        "ix_deliveries_channel_sent",
        "channel",
        "sent_at",
        sqlite_where=_SENT,
        postgresql_where=_SENT,
    ),
)

activity = Table(
    "activity",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("at", DateTime(), nullable=False),
    Column("delivery_id", String(40), nullable=False),
    Column("post", String(200), nullable=False),
    Column("segment", String(200), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("from_state", String(12)),
    Column("to_state", String(12), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("reason", Text()),
    Column("attempt", Integer(), nullable=False, server_default="0"),
    Column("receipt", Text()),
    # On "published" entries: the media that went out, a JSON list of
    # {digest, filename, alt} (NULL otherwise).
    Column("media", Text()),
    Index("ix_activity_delivery", "delivery_id"),
    Index("ix_activity_at", "at"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("segment", String(200)),
    Column("channel", String(200)),
    Column("tag", String(200)),
    Column("post", String(200)),
    Column("reason", Text()),
    Column("actor", String(100), nullable=False),
    Column("at", DateTime(), nullable=False),
)

channels = Table(
    "channels",
    metadata,
    Column("calendar", String(200), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("adapter", String(100), nullable=False),
    Column("settings", Text(), nullable=False),
    Column("secrets", Text(), nullable=False),
    Column("audiences", Text(), nullable=False),
    Column("rate", String(40)),
    Column("max_attempts", Integer(), nullable=False),
    Column("on_doubt", String(10)),
)

destination_approvals = Table(
    "destination_approvals",
    metadata,
    Column("calendar", String(200), primary_key=True),
    Column("channel", String(200), primary_key=True),
    Column("adapter", String(100), nullable=False),
    # JSON object: {secret name: destination origin}, as the operator approved it.
    Column("destinations", Text(), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("at", DateTime(), nullable=False),
)
"""Where each channel's secrets may be sent, as approved by `socialsched channels approve`."""

runner_settings = Table(
    "runner_settings",
    metadata,
    Column("calendar", String(200), primary_key=True),
    # JSON list of channel names.
    Column("alert_channels", Text(), nullable=False),
    Column("alert_window_s", Integer(), nullable=False),
    # JSON list of ages in seconds (NULL: the default, `model.DEFAULT_COLLECT_AFTER`).
    Column("collect_after", Text()),
)

media = Table(
    "media",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("mime_type", String(100), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("width", Integer()),
    Column("height", Integer()),
    Column("animated", Boolean(), nullable=False, server_default="0"),
    Column("data", LargeBinary(), nullable=False),
    Column("stored_at", DateTime(), nullable=False),
)
"""Media bytes, content-addressed by their SHA-256 digest (hex): each once."""

media_sources = Table(
    "media_sources",
    metadata,
    Column("source", Text(), primary_key=True),
    Column("size", BigInteger(), nullable=False),
    Column("mtime_ns", BigInteger(), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("filename", Text(), nullable=False, server_default=""),
)
"""The digest last read from each file (or URL) at that size and modification time: a
file seen before is neither read nor hashed again."""

media_variants = Table(
    "media_variants",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("limits_key", String(200), primary_key=True),
    Column("variant", String(64), nullable=False),
    Column("filename", Text(), nullable=False, server_default=""),
)
"""The fitted variant (its digest in `media`) of media `digest` for `MediaLimits.key()`."""

thread_parts = Table(
    "thread_parts",
    metadata,
    Column("delivery_id", String(40), primary_key=True),
    Column("part", Integer(), primary_key=True, autoincrement=False),
    Column("receipt", Text(), nullable=False),
    Column("at", DateTime(), nullable=False),
)
"""The receipt of each part of a thread already out, recorded as soon as the network
returns it: a runner that takes over a half-posted thread goes on with the next part."""

engagement = Table(
    "engagement",
    metadata,
    Column("delivery_id", String(40), primary_key=True),
    Column("fetched_at", DateTime(), primary_key=True),
    # The age this snapshot answers: the largest `collect_after` age (seconds) the
    # delivery had reached when it was fetched.
    Column("age_s", Integer(), nullable=False),
    # Each count NULL where the network does not give it (never 0 for "not given").
    Column("likes", BigInteger()),
    Column("reposts", BigInteger()),
    Column("replies", BigInteger()),
    Column("quotes", BigInteger()),
    Column("views", BigInteger()),
    Column("clicks", BigInteger()),
    # A thread: how many of its parts the counts sum (1 for a single post).
    Column("parts", Integer(), nullable=False, server_default="1"),
    Column("recorded_at", DateTime(), nullable=False),
    Index("ix_engagement_fetched_at", "fetched_at"),
)
"""Engagement snapshots, a time series: one row per published delivery and fetch."""

engagement_progress = Table(
    "engagement_progress",
    metadata,
    Column("delivery_id", String(40), primary_key=True),
    Column("channel", String(200), nullable=False),
    # The largest `collect_after` age (seconds) collected: the delivery is due again
    # once it reaches a larger one.
    Column("age_s", Integer(), nullable=False),
    Column("collected_at", DateTime(), nullable=False),
    # Whether the network had the post at the last collection (deleted: false; NULL:
    # its network gives no counts, so it was not asked).
    Column("found", Boolean()),
    # The latest snapshot's fetched_at (NULL: none yet).
    Column("fetched_at", DateTime()),
    Column("snapshots", Integer(), nullable=False, server_default="0"),
    # The collection run that collected it last (what `collect` reports it did).
    Column("collected_by", String(100), nullable=False),
    Index("ix_engagement_progress_collected_by", "collected_by"),
)
"""Where collection stands per delivery: what makes it resumable and "due" computable."""

engagement_calls = Table(
    "engagement_calls",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("calendar", String(200), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("at", DateTime(), nullable=False),
    Column("receipts", Integer(), nullable=False),
    Index("ix_engagement_calls_channel_at", "channel", "at"),
)
"""Each `Adapter.engagement` call made, counted against the channel's rate."""

engagement_leases = Table(
    "engagement_leases",
    metadata,
    Column("calendar", String(200), primary_key=True),
    Column("channel", String(200), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("until", DateTime(), nullable=False),
)
"""Which collector is collecting a channel now: two runners never ask one network for
the same posts at once."""

segment_markets = Table(
    "segment_markets",
    metadata,
    Column("calendar", String(200), primary_key=True),
    Column("segment", String(200), primary_key=True),
    # IANA name (e.g. "Europe/Madrid"): reports read local hours in it.
    Column("timezone", String(100), nullable=False),
    Column("country", String(10), nullable=False),
)
"""Each scheduled segment's market (time zone, country), for engagement reports."""
