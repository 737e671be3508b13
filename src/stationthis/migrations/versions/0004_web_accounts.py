"""web accounts, sessions and API keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(length=32)


def upgrade() -> None:
    op.create_table('web_logins',
    sa.Column('username', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_web_logins')),
    sa.UniqueConstraint('email', name=op.f('uq_web_logins_email'))
    )
    op.create_table('web_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('expires_at', TS, nullable=False),
    sa.Column('revoked_at', TS, nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_web_sessions_account_id_accounts')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_web_sessions'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_account_id'), ['account_id'], unique=False)

    op.create_table('login_links',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('expires_at', TS, nullable=False),
    sa.Column('used_at', TS, nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_login_links_account_id_accounts')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_login_links'))
    )
    op.create_table('api_keys',
    sa.Column('id', ID, nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('last_used_at', TS, nullable=True),
    sa.Column('revoked_at', TS, nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_api_keys_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_account_id'), ['account_id'], unique=False)

    op.create_table('login_failures',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', TS, nullable=False),
    sa.Column('locked_until', TS, nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_failures'))
    )


def downgrade() -> None:
    op.drop_table('login_failures')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_account_id'))
    op.drop_table('api_keys')
    op.drop_table('login_links')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_account_id'))
    op.drop_table('web_sessions')
    op.drop_table('web_logins')
