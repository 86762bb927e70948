"""plan and template lines can be spaced in hours as well as days

Some treatments are spaced by elapsed time rather than calendar days (ESWT: at
least 48 h between sessions). Lines get ``min_gap_hours`` and ``max_gap_hours``,
both optional, never negative, the least never above the most. Existing lines
keep their spacing in days and have none in hours.

Revision ID: f9c166e2d260
Revises: b6e0876cf9cc
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'f9c166e2d260'
down_revision: str | None = 'b6e0876cf9cc'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINE_TABLES = ('template_line', 'plan_line')
CHECKS = {
    'min_gap_hours_non_negative': 'min_gap_hours IS NULL OR min_gap_hours >= 0',
    'max_gap_hours_non_negative': 'max_gap_hours IS NULL OR max_gap_hours >= 0',
    'max_gap_hours_at_least_min': 'max_gap_hours IS NULL OR min_gap_hours IS NULL OR max_gap_hours >= min_gap_hours',
}


def upgrade() -> None:
    for table in LINE_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('min_gap_hours', sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column('max_gap_hours', sa.Integer(), nullable=True))
            for name, condition in CHECKS.items():
                batch_op.create_check_constraint(op.f(f'ck_{table}_{name}'), condition)


def downgrade() -> None:
    for table in LINE_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in CHECKS:
                batch_op.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
            batch_op.drop_column('max_gap_hours')
            batch_op.drop_column('min_gap_hours')
