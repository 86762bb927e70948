"""optimization runs

Revision ID: 464b7537a8f8
Revises: 4f6847718b24
Create Date: 2026-11-25 02:59:23.344646
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import data.types

revision: str = '464b7537a8f8'
down_revision: str | None = '4f6847718b24'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('optimization_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('run_date', sa.Date(), nullable=False),
    sa.Column('trigger', sa.Enum('nightly', 'manual', name='runtrigger', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('running', 'succeeded', 'failed', 'skipped', name='runstatus', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('started_at', data.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', data.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('objective', sa.Float(), nullable=True),
    sa.Column('bound', sa.Float(), nullable=True),
    sa.Column('gap', sa.Float(), nullable=True),
    sa.Column('first_solution_seconds', sa.Float(), nullable=True),
    sa.Column('sessions_placed', sa.Integer(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_optimization_run_location_id_location'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_optimization_run'))
    )
    with op.batch_alter_table('optimization_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_optimization_run_location_id'), ['location_id'], unique=False)
        batch_op.create_index('uq_optimization_run_nightly', ['location_id', 'run_date'], unique=True, postgresql_where=sa.text("trigger = 'nightly'"), sqlite_where=sa.text("trigger = 'nightly'"))



def downgrade() -> None:
    with op.batch_alter_table('optimization_run', schema=None) as batch_op:
        batch_op.drop_index('uq_optimization_run_nightly', postgresql_where=sa.text("trigger = 'nightly'"), sqlite_where=sa.text("trigger = 'nightly'"))
        batch_op.drop_index(batch_op.f('ix_optimization_run_location_id'))

    op.drop_table('optimization_run')
