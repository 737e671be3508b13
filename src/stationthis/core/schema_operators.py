"""The tables operators look after: moderation rules and events, the audit log, purchases
and payment events; part of the schema (``core/schema.py`` re-exports every table)."""

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
