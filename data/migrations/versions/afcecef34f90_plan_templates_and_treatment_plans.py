"""plan templates and treatment plans

Revision ID: afcecef34f90
Revises: c82e1211c1b6
Create Date: 2026-11-25 02:29:36.304234
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import data.types

revision: str = 'afcecef34f90'
down_revision: str | None = 'c82e1211c1b6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('plan_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_template')),
    sa.UniqueConstraint('code', name=op.f('uq_plan_template_code'))
    )
    op.create_table('template_line',
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('min_gap_days', sa.Integer(), nullable=True),
    sa.Column('max_gap_days', sa.Integer(), nullable=True),
    sa.Column('same_clinician', sa.Enum('none', 'preferred', 'required', name='sameclinicianrule', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('count BETWEEN 1 AND 30', name=op.f('ck_template_line_count_range')),
    sa.CheckConstraint('max_gap_days IS NULL OR min_gap_days IS NULL OR max_gap_days >= min_gap_days', name=op.f('ck_template_line_max_gap_at_least_min_gap')),
    sa.CheckConstraint('min_gap_days IS NULL OR min_gap_days >= 0', name=op.f('ck_template_line_min_gap_non_negative')),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_template_line_service_id_service'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['template_id'], ['plan_template.id'], name=op.f('fk_template_line_template_id_plan_template'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_line')),
    sa.UniqueConstraint('template_id', 'service_id', name='uq_template_line_service')
    )
    with op.batch_alter_table('template_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_template_line_template_id'), ['template_id'], unique=False)

    op.create_table('template_link',
    sa.Column('kind', sa.Enum('same_visit', 'before', name='linkkind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('first_service_id', sa.Integer(), nullable=False),
    sa.Column('then_service_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('first_service_id <> then_service_id', name=op.f('ck_template_link_links_two_services')),
    sa.ForeignKeyConstraint(['first_service_id'], ['service.id'], name=op.f('fk_template_link_first_service_id_service'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['template_id'], ['plan_template.id'], name=op.f('fk_template_link_template_id_plan_template'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['then_service_id'], ['service.id'], name=op.f('fk_template_link_then_service_id_service'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_link'))
    )
    with op.batch_alter_table('template_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_template_link_template_id'), ['template_id'], unique=False)

    op.create_table('treatment_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('draft', 'proposed', 'confirmed', name='planstatus', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('earliest_start', sa.Date(), nullable=False),
    sa.Column('latest_end', sa.Date(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', data.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', data.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('latest_end > earliest_start', name=op.f('ck_treatment_plan_ends_after_starts')),
    sa.CheckConstraint('priority BETWEEN 1 AND 5', name=op.f('ck_treatment_plan_priority_range')),
    sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], name=op.f('fk_treatment_plan_created_by_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_treatment_plan_location_id_location'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_treatment_plan_patient_id_patient'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['template_id'], ['plan_template.id'], name=op.f('fk_treatment_plan_template_id_plan_template'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_treatment_plan'))
    )
    with op.batch_alter_table('treatment_plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_treatment_plan_patient_id'), ['patient_id'], unique=False)

    op.create_table('plan_blackout',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['treatment_plan.id'], name=op.f('fk_plan_blackout_plan_id_treatment_plan'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_blackout')),
    sa.UniqueConstraint('plan_id', 'day', name='uq_plan_blackout_day')
    )
    with op.batch_alter_table('plan_blackout', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_blackout_plan_id'), ['plan_id'], unique=False)

    op.create_table('plan_line',
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('min_gap_days', sa.Integer(), nullable=True),
    sa.Column('max_gap_days', sa.Integer(), nullable=True),
    sa.Column('same_clinician', sa.Enum('none', 'preferred', 'required', name='sameclinicianrule', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('count BETWEEN 1 AND 30', name=op.f('ck_plan_line_count_range')),
    sa.CheckConstraint('max_gap_days IS NULL OR min_gap_days IS NULL OR max_gap_days >= min_gap_days', name=op.f('ck_plan_line_max_gap_at_least_min_gap')),
    sa.CheckConstraint('min_gap_days IS NULL OR min_gap_days >= 0', name=op.f('ck_plan_line_min_gap_non_negative')),
    sa.ForeignKeyConstraint(['plan_id'], ['treatment_plan.id'], name=op.f('fk_plan_line_plan_id_treatment_plan'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_plan_line_service_id_service'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_line')),
    sa.UniqueConstraint('plan_id', 'service_id', name='uq_plan_line_service')
    )
    with op.batch_alter_table('plan_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_line_plan_id'), ['plan_id'], unique=False)

    op.create_table('plan_link',
    sa.Column('kind', sa.Enum('same_visit', 'before', name='linkkind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('first_service_id', sa.Integer(), nullable=False),
    sa.Column('then_service_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('first_service_id <> then_service_id', name=op.f('ck_plan_link_links_two_services')),
    sa.ForeignKeyConstraint(['first_service_id'], ['service.id'], name=op.f('fk_plan_link_first_service_id_service'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['plan_id'], ['treatment_plan.id'], name=op.f('fk_plan_link_plan_id_treatment_plan'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['then_service_id'], ['service.id'], name=op.f('fk_plan_link_then_service_id_service'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_link'))
    )
    with op.batch_alter_table('plan_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_link_plan_id'), ['plan_id'], unique=False)

    op.create_table('plan_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('unplaced_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], name=op.f('fk_plan_session_appointment_id_appointment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_id'], ['treatment_plan.id'], name=op.f('fk_plan_session_plan_id_treatment_plan'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_plan_session_service_id_service'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_session')),
    sa.UniqueConstraint('plan_id', 'service_id', 'sequence', name='uq_plan_session_sequence')
    )
    with op.batch_alter_table('plan_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_session_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_session_plan_id'), ['plan_id'], unique=False)

    op.create_table('plan_window',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('starts', sa.Time(), nullable=False),
    sa.Column('ends', sa.Time(), nullable=False),
    sa.Column('preferred', sa.Boolean(), nullable=False),
    sa.CheckConstraint('ends > starts', name=op.f('ck_plan_window_ends_after_starts')),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_plan_window_weekday_range')),
    sa.ForeignKeyConstraint(['plan_id'], ['treatment_plan.id'], name=op.f('fk_plan_window_plan_id_treatment_plan'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_window'))
    )
    with op.batch_alter_table('plan_window', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_window_plan_id'), ['plan_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('plan_window', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_window_plan_id'))

    op.drop_table('plan_window')
    with op.batch_alter_table('plan_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_session_plan_id'))
        batch_op.drop_index(batch_op.f('ix_plan_session_appointment_id'))

    op.drop_table('plan_session')
    with op.batch_alter_table('plan_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_link_plan_id'))

    op.drop_table('plan_link')
    with op.batch_alter_table('plan_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_line_plan_id'))

    op.drop_table('plan_line')
    with op.batch_alter_table('plan_blackout', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_blackout_plan_id'))

    op.drop_table('plan_blackout')
    with op.batch_alter_table('treatment_plan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_treatment_plan_patient_id'))

    op.drop_table('treatment_plan')
    with op.batch_alter_table('template_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_template_link_template_id'))

    op.drop_table('template_link')
    with op.batch_alter_table('template_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_template_line_template_id'))

    op.drop_table('template_line')
    op.drop_table('plan_template')
