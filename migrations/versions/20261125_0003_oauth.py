"""OAuth 2: clients and their brands, authorization codes, consents, refresh tokens in
families; browser sessions and sign-in backoff.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 19:23:17.687762
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('oauth_clients',
    sa.Column('agency_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('first_party', sa.Boolean(), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=True),
    sa.Column('secret_prefix', sa.String(length=16), nullable=True),
    sa.Column('redirect_uris', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_oauth_clients_agency_id_agencies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_clients'))
    )
    op.create_index('ix_oauth_clients_agency_id', 'oauth_clients', ['agency_id'])

    op.create_table('web_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_sessions_token_hash'))
    )
    op.create_index('ix_web_sessions_user_id', 'web_sessions', ['user_id'])

    op.create_table('oauth_authorization_codes',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('redirect_uri', sa.Text(), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=False),
    sa.Column('code_challenge_method', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['oauth_clients.id'], name=op.f('fk_oauth_authorization_codes_client_id_oauth_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oauth_authorization_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_authorization_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_oauth_authorization_codes_code_hash'))
    )
    op.create_table('oauth_client_brands',
    sa.Column('client_id', sa.Uuid(), nullable=False),
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_oauth_client_brands_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['client_id'], ['oauth_clients.id'], name=op.f('fk_oauth_client_brands_client_id_oauth_clients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('client_id', 'brand_id', name=op.f('pk_oauth_client_brands'))
    )
    op.create_index('ix_oauth_client_brands_brand_id', 'oauth_client_brands', ['brand_id'])

    op.create_table('oauth_consents',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('client_id', sa.Uuid(), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['oauth_clients.id'], name=op.f('fk_oauth_consents_client_id_oauth_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oauth_consents_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_consents')),
    sa.UniqueConstraint('user_id', 'client_id', name=op.f('uq_oauth_consents_user_id_client_id'))
    )
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('refresh_token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('refresh_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('family_id', sa.Uuid(), nullable=True))
        batch_op.alter_column('user_id',
               existing_type=sa.Uuid(),
               nullable=True)
        batch_op.create_index('ix_access_tokens_client_id', ['client_id'], unique=False)
        batch_op.create_index('ix_access_tokens_family_id', ['family_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_access_tokens_refresh_token_hash'), ['refresh_token_hash'])
        batch_op.create_foreign_key(batch_op.f('fk_access_tokens_client_id_oauth_clients'), 'oauth_clients', ['client_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('password_changed_at')
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')

    # Tokens of clients alone have no user: they cannot outlive the clients.
    op.execute(sa.text('DELETE FROM access_tokens WHERE user_id IS NULL'))
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_access_tokens_client_id_oauth_clients'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_access_tokens_refresh_token_hash'), type_='unique')
        batch_op.drop_index('ix_access_tokens_family_id')
        batch_op.drop_index('ix_access_tokens_client_id')
        batch_op.alter_column('user_id',
               existing_type=sa.Uuid(),
               nullable=False)
        batch_op.drop_column('family_id')
        batch_op.drop_column('rotated_at')
        batch_op.drop_column('refresh_expires_at')
        batch_op.drop_column('refresh_token_hash')
        batch_op.drop_column('client_id')

    op.drop_table('oauth_consents')
    op.drop_index('ix_oauth_client_brands_brand_id', table_name='oauth_client_brands')

    op.drop_table('oauth_client_brands')
    op.drop_table('oauth_authorization_codes')
    op.drop_index('ix_web_sessions_user_id', table_name='web_sessions')

    op.drop_table('web_sessions')
    op.drop_index('ix_oauth_clients_agency_id', table_name='oauth_clients')

    op.drop_table('oauth_clients')
