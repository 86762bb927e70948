"""waitlist requests

Revision ID: 4f6847718b24
Revises: afcecef34f90
Create Date: 2026-11-25 02:40:59.763441
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import data.types

revision: str = '4f6847718b24'
down_revision: str | None = 'afcecef34f90'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('waitlist_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('earliest_day', sa.Date(), nullable=False),
    sa.Column('latest_day', sa.Date(), nullable=False),
    sa.Column('earliest_time', sa.Time(), nullable=False),
    sa.Column('latest_time', sa.Time(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('waiting', 'offered', 'closed', name='waitliststatus', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', data.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('latest_day >= earliest_day', name=op.f('ck_waitlist_request_days_in_order')),
    sa.CheckConstraint('latest_time > earliest_time', name=op.f('ck_waitlist_request_times_in_order')),
    sa.CheckConstraint('priority BETWEEN 1 AND 5', name=op.f('ck_waitlist_request_priority_range')),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], name=op.f('fk_waitlist_request_appointment_id_appointment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], name=op.f('fk_waitlist_request_created_by_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_waitlist_request_patient_id_patient'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_waitlist_request_service_id_service'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_request'))
    )
    with op.batch_alter_table('waitlist_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_waitlist_request_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_waitlist_request_service_id'), ['service_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_waitlist_request_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('waitlist_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_waitlist_request_status'))
        batch_op.drop_index(batch_op.f('ix_waitlist_request_service_id'))
        batch_op.drop_index(batch_op.f('ix_waitlist_request_patient_id'))

    op.drop_table('waitlist_request')
