"""The tables of collections and cook runs (docs/decisions/0014); part of the schema
(``core/schema.py`` re-exports every table)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from stationthis.core.schema_base import ID, TS, metadata

# Collections (issue #8): a user's kept images, shared with users or by link, and "cooked"
# from a master prompt with weighted traits. See docs/decisions/0014-collections-and-cook.md.
collections = Table(
    "collections",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=True),
    Column("cook", JSON, nullable=True),  # the cook configuration (master prompt, traits, …)
    Column("meta", JSON, nullable=False, default=dict),  # royalty, edition title, chain, …
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

collection_items = Table(
    "collection_items",
    metadata,
    Column("id", ID, primary_key=True),
    Column("collection_id", ID, ForeignKey("collections.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("media_id", ID, ForeignKey("media.id"), nullable=False),
    Column("name", String(200), nullable=True),
    Column("description", Text, nullable=True),
    Column("attributes", JSON, nullable=False, default=list),  # [{trait_type, value}]
    Column("piece_id", ID, nullable=True),  # the cook piece it was kept from
    Column("position", Integer, nullable=False),
    Column("added_by", ID, ForeignKey("accounts.id"), nullable=False),
    Column("created_at", TS, nullable=False),
)

collection_shares = Table(
    "collection_shares",
    metadata,
    Column("collection_id", ID, ForeignKey("collections.id", ondelete="CASCADE"),
           primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id"), primary_key=True),
    Column("permission", String(8), nullable=False),  # view | edit
    Column("created_at", TS, nullable=False),
)

collection_links = Table(
    "collection_links",
    metadata,
    Column("token", String(32), primary_key=True),
    Column("collection_id", ID, ForeignKey("collections.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("expires_at", TS, nullable=True),  # None: never
    Column("revoked_at", TS, nullable=True),
    Column("created_at", TS, nullable=False),
)

cook_runs = Table(
    "cook_runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("collection_id", ID, ForeignKey("collections.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("config", JSON, nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # running | paused | finished | cancelled
    Column("reason", Text, nullable=True),  # why it paused by itself (e.g. balance short)
    Column("reply", JSON, nullable=True),
    Column("total", Integer, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index("ix_cook_runs_state", "state"),
)

cook_pieces = Table(
    "cook_pieces",
    metadata,
    Column("id", ID, primary_key=True),
    Column("run_id", ID, ForeignKey("cook_runs.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("traits", JSON, nullable=False),  # [{trait_type, value}]
    Column("prompt", Text, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    # pending | claimed | running | done | failed | cancelled
    Column("state", String(16), nullable=False),
    Column("review", String(16), nullable=True),  # kept | rejected
    Column("job_id", ID, nullable=True, index=True),
    Column("media_id", ID, nullable=True),
    Column("error", Text, nullable=True),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("run_id", "number", name="uq_cook_pieces_run_number"),
)
