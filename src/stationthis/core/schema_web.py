"""The tables of web accounts (core/auth.py), throttles and replay protection; part of
the schema (``core/schema.py`` re-exports every table)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
)

from stationthis.core.schema_base import ID, TS, metadata

# ----- web accounts (core/auth.py) ----------------------------------------------------------
# A web sign-in: the password of the identity ``web:<username>`` (the account is found through
# ``identities``, so it follows the identity when accounts are linked).
web_logins = Table(
    "web_logins",
    metadata,
    Column("username", String(32), primary_key=True),
    Column("email", String(254), nullable=True, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
)

# Browser sessions, one-time sign-in links and API keys: only a SHA-256 of each secret is kept.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("revoked_at", TS, nullable=True),
)

login_links = Table(
    "login_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("used_at", TS, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("last_used_at", TS, nullable=True),
    Column("revoked_at", TS, nullable=True),
)

# Failed sign-ins per (username, client address): the backoff against password guessing.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 of "username|address"
    Column("failures", Integer, nullable=False),
    Column("last_failed_at", TS, nullable=False),
    Column("locked_until", TS, nullable=True),
)


# Atomic throttles (core/throttle.py): hits per key in a fixed window, e.g. sign-ups per
# address, wrong link codes per account.
throttle_counters = Table(
    "throttle_counters",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("hits", Integer, nullable=False),
    Column("resets_at", TS, nullable=False, index=True),
)

# Replay protection (core/replay.py): ids of signed requests already accepted (Discord
# interactions), kept while a replay of them could still pass the freshness check.
seen_requests = Table(
    "seen_requests",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("expires_at", TS, nullable=False, index=True),
)
