"""styles and wildcard lists

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'styles',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('account_id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('template', sa.Text(), nullable=False),
        sa.Column('negative', sa.Text(), nullable=True),
        sa.Column('defaults', sa.JSON(), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_styles_account_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_styles')),
        sa.UniqueConstraint('account_id', 'name', name='uq_styles_account_name'),
    )
    op.create_table(
        'wildcard_lists',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('account_id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('items', sa.JSON(), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_wildcard_lists_account_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_wildcard_lists')),
        sa.UniqueConstraint('account_id', 'name', name='uq_wildcard_lists_account_name'),
    )


def downgrade() -> None:
    op.drop_table('wildcard_lists')
    op.drop_table('styles')
