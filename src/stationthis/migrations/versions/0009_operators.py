"""operators: admin flag, moderation rules and events, audit log

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-12
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_admin', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table(
        'moderation_rules',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('value', sa.String(length=300), nullable=False),
        sa.Column('created_by', sa.String(length=32), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_rules')),
        sa.UniqueConstraint('kind', 'value', name='uq_moderation_rules_kind_value'),
    )
    op.create_table(
        'moderation_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('account_id', sa.String(length=32), nullable=True),
        sa.Column('job_id', sa.String(length=32), nullable=True),
        sa.Column('rule', sa.String(length=300), nullable=False),
        sa.Column('text', sa.Text(), nullable=True),
        sa.Column('outputs', sa.JSON(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=True),
        sa.Column('reviewed_by', sa.String(length=32), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('reviewed_at', TS, nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_events')),
    )
    with op.batch_alter_table('moderation_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moderation_events_account_id'), ['account_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_moderation_events_job_id'), ['job_id'],
                              unique=False)
        batch_op.create_index('ix_moderation_events_kind_id', ['kind', 'id'], unique=False)
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('actor_id', sa.String(length=32), nullable=True),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('target', sa.String(length=200), nullable=True),
        sa.Column('before', sa.JSON(), nullable=True),
        sa.Column('after', sa.JSON(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )


def downgrade() -> None:
    op.drop_table('audit_log')
    with op.batch_alter_table('moderation_events', schema=None) as batch_op:
        batch_op.drop_index('ix_moderation_events_kind_id')
        batch_op.drop_index(batch_op.f('ix_moderation_events_job_id'))
        batch_op.drop_index(batch_op.f('ix_moderation_events_account_id'))
    op.drop_table('moderation_events')
    op.drop_table('moderation_rules')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('is_admin')
