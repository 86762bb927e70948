"""row versions: appointments and patients count their changes

``version`` starts at 1 and grows with every update (SQLAlchemy's
``version_id_col``): FHIR's ``meta.versionId``, the ETag that ``If-Match`` is
checked against, and the calendar feed's SEQUENCE. Existing rows start at 1.
Columns are only added (no table rebuild), so SQLite keeps AUTOINCREMENT.

Revision ID: a8c3e5f7d9b1
Revises: f3a7d1e9b2c5
Create Date: 2026-11-29 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a8c3e5f7d9b1'
down_revision: str | None = 'f3a7d1e9b2c5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ('appointment', 'patient'):
        op.add_column(table, sa.Column('version', sa.Integer(), nullable=False, server_default='1'))


def downgrade() -> None:
    for table in ('patient', 'appointment'):
        op.drop_column(table, 'version')
