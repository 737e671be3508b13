"""The database schema. ``core`` owns it; the Alembic migrations follow it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from stationthis.core.schema_base import ID, TS, metadata
from stationthis.core.schema_collections import (
    collection_items,
    collection_links,
    collection_shares,
    collections,
    cook_pieces,
    cook_runs,
)
from stationthis.core.schema_operators import (
    audit_log,
    moderation_events,
    moderation_rules,
    payment_events,
    purchases,
)
from stationthis.core.schema_web import (
    api_keys,
    login_failures,
    login_links,
    seen_requests,
    throttle_counters,
    web_logins,
    web_sessions,
)

# The tables of schema_collections, schema_operators and schema_web are re-exported: every
# table is found here, and importing this module puts them all in ``metadata``.
__all__ = [  # noqa: RUF022
    "ID", "TS", "metadata", "collections", "collection_items", "collection_shares",
    "collection_links", "cook_runs", "cook_pieces", "moderation_rules", "moderation_events",
    "audit_log", "purchases", "payment_events", "web_logins", "web_sessions", "login_links",
    "api_keys", "login_failures", "throttle_counters", "seen_requests",
]  # the tables defined below are exported as well

# A user or a group (a Telegram group, a Discord guild): anything that can hold points.
accounts = Table(
    "accounts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(16), nullable=False),  # user | group
    Column("name", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    # Cached balances per bucket; always equal to the sum of the account's ledger rows.
    Column("allowance_balance", BigInteger, nullable=False, default=0),
    Column("credit_balance", BigInteger, nullable=False, default=0),
    # Index of the last allowance refill tick (epoch seconds // interval); None = never.
    Column("allowance_tick", BigInteger, nullable=True),
    Column("banned", Boolean, nullable=False, default=False),
    # Which limits apply (see Settings.tiers); groups use it for their members' requests.
    Column("tier", String(32), nullable=False, default="free", server_default="free"),
    # Set when this account was merged into another by a link code.
    Column("merged_into", ID, ForeignKey("accounts.id"), nullable=True),
    # May use the admin console (/admin): `stationthis users admin NAME`.
    Column("is_admin", Boolean, nullable=False, default=False, server_default=false()),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("platform", String(32), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("display_name", String(200), nullable=True),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("platform", "external_id", name="uq_identities_platform_external"),
)

link_codes = Table(
    "link_codes",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("used_at", TS, nullable=True),
)

# Append-only. amount = the row's effect on the spendable balance of its bucket.
ledger = Table(
    "ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False),
    # grant | purchase | allowance | hold | capture | release | refund | transfer
    Column("kind", String(16), nullable=False),
    Column("bucket", String(16), nullable=False),  # allowance | credit
    Column("amount", BigInteger, nullable=False),
    # On capture rows: the points actually charged against the hold (amount is 0 there,
    # because the hold already took them from the balance).
    Column("charged", BigInteger, nullable=True),
    # What the row belongs to (e.g. "job:<id>"): ties hold, capture and release together.
    Column("ref", String(80), nullable=True, index=True),
    Column("idem_key", String(160), nullable=False, unique=True),
    Column("memo", String(300), nullable=True),
    Column("created_at", TS, nullable=False),
    Index("ix_ledger_account_id_id", "account_id", "id"),
)

media = Table(
    "media",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # output | upload | model | preview
    Column("key", String(300), nullable=False, unique=True),
    Column("media_type", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("sha256", String(64), nullable=False),
    Column("thumb_key", String(300), nullable=True),
    Column("job_id", ID, nullable=True, index=True),
    Column("meta", JSON, nullable=False, default=dict),
    Column("created_at", TS, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("payer_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("tool", String(100), nullable=False),
    Column("category", String(32), nullable=False),
    Column("params", JSON, nullable=False),
    Column("inputs", JSON, nullable=False, default=dict),  # input name -> media id
    # queued | running | uploading | succeeded | failed | cancelled
    Column("state", String(16), nullable=False),
    Column("progress", JSON, nullable=False, default=dict),
    Column("engine", String(32), nullable=False),
    Column("run_id", String(100), nullable=True),
    Column("run_data", JSON, nullable=True),
    Column("quote", BigInteger, nullable=False),
    Column("cost", BigInteger, nullable=True),
    Column("outputs", JSON, nullable=False, default=list),  # media ids
    Column("error", Text, nullable=True),
    Column("error_code", String(40), nullable=True),
    Column("reply", JSON, nullable=True),  # a typed address, core/replies.py
    Column("cancel_requested", Boolean, nullable=False, default=False),
    # The group (Telegram group, Discord guild) the request came from, if any.
    Column("group_id", ID, ForeignKey("accounts.id"), nullable=True),
    # Lineage: regenerate / variation / tweak of an earlier job.
    Column("parent_id", ID, nullable=True),
    Column("origin", String(16), nullable=True),
    Column("tool_version", String(16), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("started_at", TS, nullable=True),
    Column("finished_at", TS, nullable=True),
    Column("updated_at", TS, nullable=False),
    # The worker that runs the job now, and until when (renewed by its heartbeat). Every
    # transition a worker makes is fenced on it: a worker that lost its lease changes nothing.
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", TS, nullable=True),
    Index("ix_jobs_owner_id_state", "owner_id", "state"),
    Index("ix_jobs_state", "state"),
)

# Events that must not be lost, written in the same transaction as the state change.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", ID, nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("published_at", TS, nullable=True, index=True),
    # A relay claims a batch before publishing it; a crashed relay's claim expires.
    Column("claimed_until", TS, nullable=True),
)

# The processes that run jobs (``stationthis worker`` or the embedded ``serve``).
workers = Table(
    "workers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("slots", Integer, nullable=False),
    Column("running", Integer, nullable=False, default=0),
    Column("started_at", TS, nullable=False),
    Column("heartbeat_at", TS, nullable=False),
    Column("stopped_at", TS, nullable=True),
)

# Periodic tasks run once per tick across all processes: the process that moves
# ``next_at`` forward runs the tick.
periodic_tasks = Table(
    "periodic_tasks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("next_at", TS, nullable=False),
    Column("owner", String(64), nullable=True),
)


# Per-account preferences: a user's settings, or a group's defaults for its members.
preferences = Table(
    "preferences",
    metadata,
    Column("account_id", ID, ForeignKey("accounts.id"), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", TS, nullable=False),
)

# Notifications already delivered: (event, target) pairs, so a re-published event is not
# delivered twice.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", ID, nullable=False),
    Column("target", String(300), nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("event_id", "target", name="uq_deliveries_event_target"),
)

# Training datasets: images with captions, owned by one account.
datasets = Table(
    "datasets",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("trigger", String(100), nullable=False),
    Column("base_model", String(100), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

dataset_images = Table(
    "dataset_images",
    metadata,
    Column("id", ID, primary_key=True),
    Column("dataset_id", ID, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("media_id", ID, ForeignKey("media.id"), nullable=False),
    Column("caption", Text, nullable=True),
    Column("position", Integer, nullable=False),
    Column("created_at", TS, nullable=False),
)

# Trained models (LoRA files or preview style profiles), usable by name or trigger word.
models = Table(
    "models",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("trigger", String(100), nullable=False),
    Column("base_model", String(100), nullable=False),
    Column("kind", String(16), nullable=False),  # lora | style
    Column("engine", String(32), nullable=False),
    Column("media_id", ID, ForeignKey("media.id"), nullable=False),
    Column("dataset_id", ID, nullable=True),
    Column("job_id", ID, nullable=True),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("owner_id", "name", name="uq_models_owner_name"),
)

# ----- styles and wildcard lists (core/styles.py; issue 20) ---------------------------------
# A saved style of a user or a group: a prompt template (``{prompt}`` marks where the prompt
# goes; without it the template is a prefix), a negative prompt and default inputs.
styles = Table(
    "styles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("name", String(40), nullable=False),  # lowercase
    Column("template", Text, nullable=False),
    Column("negative", Text, nullable=True),
    Column("defaults", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("account_id", "name", name="uq_styles_account_name"),
)

# A saved wildcard list (``__colours__`` in a prompt): weighted items of a user or a group.
wildcard_lists = Table(
    "wildcard_lists",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("name", String(40), nullable=False),  # lowercase
    Column("items", JSON, nullable=False),  # [{"value": str, "weight": float}]
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("account_id", "name", name="uq_wildcard_lists_account_name"),
)

# The LoRA files the ComfyUI servers have (``LoraLoader``'s list), as operators present them:
# a display name, trigger words, a preview (an https URL), a price factor in percent (150:
# ×1.5) and whether it is hidden. Keyed by the server's file name; a file nobody described
# has no row and is listed by its file name (core/server_loras.py).
server_loras = Table(
    "server_loras",
    metadata,
    Column("file_name", String(300), primary_key=True),
    Column("display_name", String(100), nullable=True, unique=True),
    Column("triggers", JSON, nullable=False),
    Column("preview", String(500), nullable=True),
    Column("price_percent", Integer, nullable=False, default=100, server_default="100"),
    Column("hidden", Boolean, nullable=False, default=False, server_default=false()),
    Column("updated_by", ID, nullable=True),
    Column("updated_at", TS, nullable=False),
)
