"""collections

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

ID = sa.String(length=32)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'collections',
        sa.Column('id', ID, nullable=False),
        sa.Column('owner_id', ID, nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('cook', sa.JSON(), nullable=True),
        sa.Column('meta', sa.JSON(), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['accounts.id'],
                                name=op.f('fk_collections_owner_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_collections')),
    )
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collections_owner_id'), ['owner_id'], unique=False)

    op.create_table(
        'collection_items',
        sa.Column('id', ID, nullable=False),
        sa.Column('collection_id', ID, nullable=False),
        sa.Column('media_id', ID, nullable=False),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('attributes', sa.JSON(), nullable=False),
        sa.Column('piece_id', ID, nullable=True),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('added_by', ID, nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['added_by'], ['accounts.id'],
                                name=op.f('fk_collection_items_added_by_accounts')),
        sa.ForeignKeyConstraint(['collection_id'], ['collections.id'],
                                name=op.f('fk_collection_items_collection_id_collections'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['media_id'], ['media.id'],
                                name=op.f('fk_collection_items_media_id_media')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_collection_items')),
    )
    with op.batch_alter_table('collection_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collection_items_collection_id'),
                              ['collection_id'], unique=False)

    op.create_table(
        'collection_shares',
        sa.Column('collection_id', ID, nullable=False),
        sa.Column('account_id', ID, nullable=False),
        sa.Column('permission', sa.String(length=8), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_collection_shares_account_id_accounts')),
        sa.ForeignKeyConstraint(['collection_id'], ['collections.id'],
                                name=op.f('fk_collection_shares_collection_id_collections'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('collection_id', 'account_id',
                                name=op.f('pk_collection_shares')),
    )

    op.create_table(
        'collection_links',
        sa.Column('token', sa.String(length=32), nullable=False),
        sa.Column('collection_id', ID, nullable=False),
        sa.Column('expires_at', TS, nullable=True),
        sa.Column('revoked_at', TS, nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['collection_id'], ['collections.id'],
                                name=op.f('fk_collection_links_collection_id_collections'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token', name=op.f('pk_collection_links')),
    )
    with op.batch_alter_table('collection_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collection_links_collection_id'),
                              ['collection_id'], unique=False)

    op.create_table(
        'cook_runs',
        sa.Column('id', ID, nullable=False),
        sa.Column('collection_id', ID, nullable=False),
        sa.Column('config', sa.JSON(), nullable=False),
        sa.Column('config_hash', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('reply', sa.JSON(), nullable=True),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['collection_id'], ['collections.id'],
                                name=op.f('fk_cook_runs_collection_id_collections'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cook_runs')),
    )
    with op.batch_alter_table('cook_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cook_runs_collection_id'),
                              ['collection_id'], unique=False)
        batch_op.create_index('ix_cook_runs_state', ['state'], unique=False)

    op.create_table(
        'cook_pieces',
        sa.Column('id', ID, nullable=False),
        sa.Column('run_id', ID, nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('traits', sa.JSON(), nullable=False),
        sa.Column('prompt', sa.Text(), nullable=False),
        sa.Column('seed', sa.BigInteger(), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('review', sa.String(length=16), nullable=True),
        sa.Column('job_id', ID, nullable=True),
        sa.Column('media_id', ID, nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('updated_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['cook_runs.id'],
                                name=op.f('fk_cook_pieces_run_id_cook_runs'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cook_pieces')),
        sa.UniqueConstraint('run_id', 'number', name='uq_cook_pieces_run_number'),
    )
    with op.batch_alter_table('cook_pieces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cook_pieces_job_id'), ['job_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cook_pieces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cook_pieces_job_id'))
    op.drop_table('cook_pieces')
    with op.batch_alter_table('cook_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_cook_runs_state')
        batch_op.drop_index(batch_op.f('ix_cook_runs_collection_id'))
    op.drop_table('cook_runs')
    with op.batch_alter_table('collection_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collection_links_collection_id'))
    op.drop_table('collection_links')
    op.drop_table('collection_shares')
    with op.batch_alter_table('collection_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collection_items_collection_id'))
    op.drop_table('collection_items')
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collections_owner_id'))
    op.drop_table('collections')
