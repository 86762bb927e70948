"""patients can be erased: the record stays, pseudonymous, stamped with when

Erasure overwrites a patient's personal data in place, so every reference
(appointments, plans, the audit trail) stays valid; ``erased_at`` says it
happened, makes a second erasure a no-op and lets feeds show no initials.

Revision ID: 8d4f2a9c1e07
Revises: 3b1d2c4e5f60
Create Date: 2026-11-29 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import data.types

revision: str = '8d4f2a9c1e07'
down_revision: str | None = '3b1d2c4e5f60'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', data.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
