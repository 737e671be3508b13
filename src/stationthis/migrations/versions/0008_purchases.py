"""purchases and payment events (buying points: Telegram Stars, Stripe Checkout)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(length=32)


def upgrade() -> None:
    op.create_table(
        'purchases',
        sa.Column('id', ID, nullable=False),
        sa.Column('account_id', ID, nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('package', sa.String(length=64), nullable=False),
        sa.Column('points', sa.BigInteger(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('provider_payment_id', sa.String(length=200), nullable=True),
        sa.Column('checkout_id', sa.String(length=200), nullable=True),
        sa.Column('payer_ref', sa.String(length=200), nullable=True),
        sa.Column('refunded_points', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('refunded_amount', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('note', sa.String(length=300), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.Column('paid_at', TS, nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_purchases_account_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_purchases')),
        sa.UniqueConstraint('provider_payment_id', name=op.f('uq_purchases_provider_payment_id')),
        sa.UniqueConstraint('checkout_id', name=op.f('uq_purchases_checkout_id')),
    )
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.create_index('ix_purchases_account_id_created_at',
                              ['account_id', 'created_at'], unique=False)
    op.create_table(
        'payment_events',
        sa.Column('provider', sa.String(length=16), nullable=False),
        sa.Column('event_id', sa.String(length=200), nullable=False),
        sa.Column('type', sa.String(length=64), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('provider', 'event_id', name=op.f('pk_payment_events')),
    )


def downgrade() -> None:
    op.drop_table('payment_events')
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.drop_index('ix_purchases_account_id_created_at')
    op.drop_table('purchases')
