"""optimization runs record each level of the objective, first-fit's values, both gaps and who was left waiting

A run's record shows how good the night is against what is provably
possible (CP-SAT's bound and an independent relaxation, for each level of the
lexicographic objective), how it compares with first-fit, and every session
it left waiting with the reason, so the front desk can act on it. Runs
recorded before have none of these: empty lists, no gaps, no points.

Revision ID: 5e7a1c3b9d24
Revises: f9c166e2d260
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5e7a1c3b9d24'
down_revision: str | None = 'f9c166e2d260'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('optimization_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stages', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('greedy', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('solver_gap', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('relaxation_gap', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('points_waiting', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('waiting', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('optimization_run', schema=None) as batch_op:
        for column in ('waiting', 'points_waiting', 'relaxation_gap', 'solver_gap', 'greedy', 'stages'):
            batch_op.drop_column(column)
