"""catalog, patients and users

Revision ID: 5238231ed88d
Revises:
Create Date: 2026-11-25 01:36:07.762306
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import data.types

revision: str = '5238231ed88d'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('device_type',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_type')),
    sa.UniqueConstraint('code', name=op.f('uq_device_type_code'))
    )
    op.create_table('location',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('time_zone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location')),
    sa.UniqueConstraint('name', name=op.f('uq_location_name'))
    )
    op.create_table('patient',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('given_name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('family_name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient'))
    )
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_family_name'), ['family_name'], unique=False)

    op.create_table('service',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('required_certification', sa.Enum('msus', 'dry_needling', 'eswt', 'emtt', 'manual_therapy', 'dns', 'gait', 'physical_therapy', name='certification', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('room_kind', sa.Enum('treatment', 'gym', 'gait_lab', name='roomkind', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('buffer_before_minutes', sa.Integer(), nullable=False),
    sa.Column('buffer_after_minutes', sa.Integer(), nullable=False),
    sa.CheckConstraint('buffer_after_minutes >= 0', name=op.f('ck_service_buffer_after_non_negative')),
    sa.CheckConstraint('buffer_before_minutes >= 0', name=op.f('ck_service_buffer_before_non_negative')),
    sa.CheckConstraint('duration_minutes > 0', name=op.f('ck_service_duration_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service')),
    sa.UniqueConstraint('code', name=op.f('uq_service_code'))
    )
    op.create_table('clinician',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_clinician_location_id_location'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinician'))
    )
    with op.batch_alter_table('clinician', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinician_location_id'), ['location_id'], unique=False)

    op.create_table('device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('device_type_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('cleaning_minutes', sa.Integer(), nullable=False),
    sa.CheckConstraint('cleaning_minutes >= 0', name=op.f('ck_device_cleaning_minutes_non_negative')),
    sa.ForeignKeyConstraint(['device_type_id'], ['device_type.id'], name=op.f('fk_device_device_type_id_device_type'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_device_location_id_location'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device')),
    sa.UniqueConstraint('location_id', 'name', name='uq_device_location_name')
    )
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_device_type_id'), ['device_type_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_location_id'), ['location_id'], unique=False)

    op.create_table('location_hours',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('starts', sa.Time(), nullable=False),
    sa.Column('ends', sa.Time(), nullable=False),
    sa.CheckConstraint('ends > starts', name=op.f('ck_location_hours_ends_after_starts')),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_location_hours_weekday_range')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_location_hours_location_id_location'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location_hours'))
    )
    with op.batch_alter_table('location_hours', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_location_hours_location_id'), ['location_id'], unique=False)

    op.create_table('room',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('kind', sa.Enum('treatment', 'gym', 'gait_lab', name='roomkind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_room_location_id_location'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_room')),
    sa.UniqueConstraint('location_id', 'name', name='uq_room_location_name')
    )
    with op.batch_alter_table('room', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_room_location_id'), ['location_id'], unique=False)

    op.create_table('service_device',
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('device_type_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.CheckConstraint('count > 0', name=op.f('ck_service_device_count_positive')),
    sa.ForeignKeyConstraint(['device_type_id'], ['device_type.id'], name=op.f('fk_service_device_device_type_id_device_type'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_service_device_service_id_service'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('service_id', 'device_type_id', name=op.f('pk_service_device'))
    )
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('role', sa.Enum('admin', 'front_desk', 'clinician', name='role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.CheckConstraint("(role = 'clinician') = (clinician_id IS NOT NULL)", name=op.f('ck_app_user_clinician_role_has_clinician')),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinician.id'], name=op.f('fk_app_user_clinician_id_clinician'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username'))
    )
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_user_clinician_id'), ['clinician_id'], unique=False)

    op.create_table('clinician_certification',
    sa.Column('clinician_id', sa.Integer(), nullable=False),
    sa.Column('certification', sa.Enum('msus', 'dry_needling', 'eswt', 'emtt', 'manual_therapy', 'dns', 'gait', 'physical_therapy', name='certification', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinician.id'], name=op.f('fk_clinician_certification_clinician_id_clinician'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('clinician_id', 'certification', name=op.f('pk_clinician_certification'))
    )
    op.create_table('clinician_exception',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('time_off', 'extra_shift', name='exceptionkind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('starts_at', data.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', data.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_clinician_exception_ends_after_starts')),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinician.id'], name=op.f('fk_clinician_exception_clinician_id_clinician'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinician_exception'))
    )
    with op.batch_alter_table('clinician_exception', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinician_exception_clinician_id'), ['clinician_id'], unique=False)

    op.create_table('clinician_shift',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('starts', sa.Time(), nullable=False),
    sa.Column('ends', sa.Time(), nullable=False),
    sa.CheckConstraint('ends > starts', name=op.f('ck_clinician_shift_ends_after_starts')),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_clinician_shift_weekday_range')),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinician.id'], name=op.f('fk_clinician_shift_clinician_id_clinician'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinician_shift'))
    )
    with op.batch_alter_table('clinician_shift', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinician_shift_clinician_id'), ['clinician_id'], unique=False)

    op.create_table('device_maintenance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', data.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', data.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_device_maintenance_ends_after_starts')),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_device_maintenance_device_id_device'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_maintenance'))
    )
    with op.batch_alter_table('device_maintenance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_maintenance_device_id'), ['device_id'], unique=False)

    op.create_table('shift_break',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shift_id', sa.Integer(), nullable=False),
    sa.Column('starts', sa.Time(), nullable=False),
    sa.Column('ends', sa.Time(), nullable=False),
    sa.CheckConstraint('ends > starts', name=op.f('ck_shift_break_ends_after_starts')),
    sa.ForeignKeyConstraint(['shift_id'], ['clinician_shift.id'], name=op.f('fk_shift_break_shift_id_clinician_shift'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shift_break'))
    )
    with op.batch_alter_table('shift_break', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shift_break_shift_id'), ['shift_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('shift_break', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shift_break_shift_id'))

    op.drop_table('shift_break')
    with op.batch_alter_table('device_maintenance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_maintenance_device_id'))

    op.drop_table('device_maintenance')
    with op.batch_alter_table('clinician_shift', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinician_shift_clinician_id'))

    op.drop_table('clinician_shift')
    with op.batch_alter_table('clinician_exception', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinician_exception_clinician_id'))

    op.drop_table('clinician_exception')
    op.drop_table('clinician_certification')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_user_clinician_id'))

    op.drop_table('app_user')
    op.drop_table('service_device')
    with op.batch_alter_table('room', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_room_location_id'))

    op.drop_table('room')
    with op.batch_alter_table('location_hours', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_location_hours_location_id'))

    op.drop_table('location_hours')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_location_id'))
        batch_op.drop_index(batch_op.f('ix_device_device_type_id'))

    op.drop_table('device')
    with op.batch_alter_table('clinician', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinician_location_id'))

    op.drop_table('clinician')
    op.drop_table('service')
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_family_name'))

    op.drop_table('patient')
    op.drop_table('location')
    op.drop_table('device_type')
