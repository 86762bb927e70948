"""optimization runs name the worker that owns them and count attempts

A run whose worker died must be recognised as dead (and its night retried),
so each run records who runs it (``host:pid``) and how many times it was
started.

Revision ID: 3b1d2c4e5f60
Revises: 199b65d9e6d8
Create Date: 2026-11-29 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '3b1d2c4e5f60'
down_revision: str | None = '199b65d9e6d8'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('optimization_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='1'))


def downgrade() -> None:
    with op.batch_alter_table('optimization_run', schema=None) as batch_op:
        batch_op.drop_column('attempts')
        batch_op.drop_column('owner')
