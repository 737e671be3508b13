"""server LoRAs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'server_loras',
        sa.Column('file_name', sa.String(length=300), nullable=False),
        sa.Column('display_name', sa.String(length=100), nullable=True),
        sa.Column('triggers', sa.JSON(), nullable=False),
        sa.Column('preview', sa.String(length=500), nullable=True),
        sa.Column('price_percent', sa.Integer(), nullable=False, server_default='100'),
        sa.Column('hidden', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('updated_by', sa.String(length=32), nullable=True),
        sa.Column('updated_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('file_name', name=op.f('pk_server_loras')),
        sa.UniqueConstraint('display_name', name='uq_server_loras_display_name'),
    )


def downgrade() -> None:
    op.drop_table('server_loras')
