"""backend clients: systems (EHRs) that connect through SMART Backend Services

``backend_client`` holds each registered client: its client_id, its public keys (an inline JWK Set or the URL
of one, exactly one of them), the scopes an administrator allowed it, when it was disabled and the security
stamp its tokens carry. ``client_assertion`` remembers each sign-in JWT's ``jti`` until the JWT expires, so an
assertion cannot be used twice. New tables only.

Revision ID: c7e2f4a6b8d1
Revises: b9d4e6f8a0c2
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data.types import UTCDateTime

revision: str = 'c7e2f4a6b8d1'
down_revision: str | None = 'b9d4e6f8a0c2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'backend_client',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('client_name', sa.String(length=120), nullable=False),
        sa.Column('jwks', sa.JSON(none_as_null=True), nullable=True),
        sa.Column('jwks_uri', sa.String(length=300), nullable=True),
        sa.Column('scope', sa.String(length=2000), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('disabled_at', UTCDateTime(), nullable=True),
        sa.Column('security_stamp', sa.String(length=32), nullable=False),
        sa.CheckConstraint('(jwks IS NULL) != (jwks_uri IS NULL)', name=op.f('ck_backend_client_one_key_source')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_backend_client')),
        sa.UniqueConstraint('client_id', name=op.f('uq_backend_client_client_id')),
        sqlite_autoincrement=True,
    )
    op.create_table(
        'client_assertion',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('jti', sa.String(length=255), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['client_id'], ['backend_client.id'],
                                name=op.f('fk_client_assertion_client_id_backend_client'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_client_assertion')),
        sa.UniqueConstraint('client_id', 'jti', name='uq_client_assertion_jti'),
    )
    op.create_index(op.f('ix_client_assertion_expires_at'), 'client_assertion', ['expires_at'])


def downgrade() -> None:
    op.drop_index(op.f('ix_client_assertion_expires_at'), table_name='client_assertion')
    op.drop_table('client_assertion')
    op.drop_table('backend_client')
