"""patient messages: the desk dismisses a failed or uncertain message

A message given up or uncertain stays on the front desk's list until someone
retries or dismisses it; ``dismissed_at`` / ``dismissed_by`` record who took it
off (the status stays what happened). Columns are only added (no table
rebuild), so SQLite keeps AUTOINCREMENT.

Revision ID: f3a7d1e9b2c5
Revises: e4b8c2d6f1a3
Create Date: 2026-11-29 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data.types import UTCDateTime

revision: str = 'f3a7d1e9b2c5'
down_revision: str | None = 'e4b8c2d6f1a3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('patient_message', sa.Column('dismissed_at', UTCDateTime(), nullable=True))
    op.add_column('patient_message', sa.Column('dismissed_by', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('patient_message', 'dismissed_by')
    op.drop_column('patient_message', 'dismissed_at')
