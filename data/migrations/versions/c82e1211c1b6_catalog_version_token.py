"""catalog version token

One row whose token changes with every catalog write (see data/catalog_version.py),
so each process can cache the catalog and notice when it changed.

Revision ID: c82e1211c1b6
Revises: 6ef8152f6717
Create Date: 2026-11-25 02:16:42.497837
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import data.types

revision: str = 'c82e1211c1b6'
down_revision: str | None = '6ef8152f6717'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('catalog_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_version')),
    sa.CheckConstraint('id = 1', name=op.f('ck_catalog_version_single_row'))
    )
    op.execute("INSERT INTO catalog_version (id, token) VALUES (1, 'initial')")


def downgrade() -> None:
    op.drop_table('catalog_version')
