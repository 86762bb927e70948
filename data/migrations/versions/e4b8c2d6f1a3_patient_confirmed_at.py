"""patients confirm their sessions: when, on the appointment

A reminder's link opens the patient's page, where they confirm an upcoming
session; ``patient_confirmed_at`` records when (null: not confirmed, and a
move clears it). The column is only added (no table rebuild), so SQLite keeps
AUTOINCREMENT.

Revision ID: e4b8c2d6f1a3
Revises: d7e3a9c4b1f0
Create Date: 2026-11-29 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data.types import UTCDateTime

revision: str = 'e4b8c2d6f1a3'
down_revision: str | None = 'd7e3a9c4b1f0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('appointment', sa.Column('patient_confirmed_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('appointment', 'patient_confirmed_at')
