"""schedule versions: a token per location and UTC day, bumped with every allocation change

Availability caches busy time per location and day in each process (``scheduler.free_time``) and checks
these tokens before using it (``data.schedule_version``). A new table only; no row means the day has not
changed since, so existing schedules need no backfill.

Revision ID: d2f6b8a4c1e9
Revises: a5c8e2f4d6b1
Create Date: 2026-11-30 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'd2f6b8a4c1e9'
down_revision: str | None = 'a5c8e2f4d6b1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('schedule_version',
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_schedule_version_location_id_location'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('location_id', 'day', name=op.f('pk_schedule_version'))
    )


def downgrade() -> None:
    op.drop_table('schedule_version')
