"""throttle counters and seen signed requests

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'throttle_counters',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.Column('resets_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_throttle_counters')),
    )
    with op.batch_alter_table('throttle_counters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_throttle_counters_resets_at'), ['resets_at'],
                              unique=False)

    op.create_table(
        'seen_requests',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('expires_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_seen_requests')),
    )
    with op.batch_alter_table('seen_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seen_requests_expires_at'), ['expires_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('seen_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seen_requests_expires_at'))
    op.drop_table('seen_requests')
    with op.batch_alter_table('throttle_counters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_throttle_counters_resets_at'))
    op.drop_table('throttle_counters')
