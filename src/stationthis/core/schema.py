"""The database schema. ``core`` owns it; the Alembic migrations follow it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(32)  # uuid4 hex
TS = DateTime(timezone=True)

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
    Column("reply", JSON, nullable=True),  # {"platform": ..., "address": {...}}
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

# Operators (workflows/operators.py) --------------------------------------------------------

# Blocked words and patterns added at runtime from the admin console (merged with the
# settings' STATIONTHIS_BLOCKED_WORDS / _PATTERNS; core/moderation_rules.py).
moderation_rules = Table(
    "moderation_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # word | pattern
    Column("value", String(300), nullable=False),
    Column("created_by", ID, nullable=True),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("kind", "value", name="uq_moderation_rules_kind_value"),
)

# Refused prompts and flagged outputs: who, when, which rule, what. A flagged output's
# ``status`` is its review: held | released | rejected (refusals have none).
moderation_events = Table(
    "moderation_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # refused | flagged
    Column("account_id", ID, nullable=True, index=True),
    Column("job_id", ID, nullable=True, index=True),
    Column("rule", String(300), nullable=False),
    Column("text", Text, nullable=True),  # the prompt (refused) or the classifier's note
    Column("outputs", JSON, nullable=True),  # a held job's outputs (media ids), until released
    Column("status", String(16), nullable=True),
    Column("reviewed_by", ID, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("reviewed_at", TS, nullable=True),
    Index("ix_moderation_events_kind_id", "kind", "id"),
)

# Every admin action: who, what, on what, before and after. Append-only (nothing updates or
# deletes a row; core/audit.py has no such method).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("actor_id", ID, nullable=True),
    Column("actor", String(200), nullable=False),  # the admin's name as it was then
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=True),  # e.g. "account:<id>", "job:<id>"
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("reason", Text, nullable=True),
    Column("created_at", TS, nullable=False),
)

# ----- purchases (core/purchases.py; issue 18) ----------------------------------------------
# Points bought with Telegram Stars or a card (Stripe Checkout). A purchase is ``pending`` until
# the provider confirms the payment (a signed webhook, Telegram's successful_payment); its
# points are then a ``purchase`` ledger row keyed by the provider's payment id, and refunds or
# chargebacks are ``refund`` rows (core/refunds.py).
purchases = Table(
    "purchases",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("channel", String(16), nullable=False),  # telegram | stripe
    Column("package", String(64), nullable=False),
    Column("points", BigInteger, nullable=False),  # bonus included
    Column("amount", BigInteger, nullable=False),  # minor units (cents), or Stars
    Column("currency", String(8), nullable=False),  # XTR for Stars
    # pending | paid | failed | refunded | disputed
    Column("status", String(16), nullable=False),
    # The provider's id of the money movement: Telegram's telegram_payment_charge_id, Stripe's
    # PaymentIntent id. Unique: one payment is one purchase.
    Column("provider_payment_id", String(200), nullable=True, unique=True),
    Column("checkout_id", String(200), nullable=True, unique=True),  # Stripe Checkout Session
    Column("payer_ref", String(200), nullable=True),  # who paid there (a Telegram user id)
    Column("refunded_points", BigInteger, nullable=False, default=0, server_default="0"),
    Column("refunded_amount", BigInteger, nullable=False, default=0, server_default="0"),
    Column("note", String(300), nullable=True),  # why it failed, what the operator did
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("paid_at", TS, nullable=True),
    Index("ix_purchases_account_id_created_at", "account_id", "created_at"),
)

# Provider events already handled (Stripe event ids): a replayed webhook is answered and
# changes nothing. (Each effect is idempotent by itself as well; this is the record.)
payment_events = Table(
    "payment_events",
    metadata,
    Column("provider", String(16), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
)
