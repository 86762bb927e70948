"""patient messages: an outbox, patients' channel consent and locations' quiet hours

Every change a patient must hear about writes its message in the same
transaction (``patient_message``); a delivery worker sends due rows. One
message per change and channel (unique ``change_key, channel``). Patients
may turn e-mail or text messages off; a location may keep quiet hours.
Columns are only added (no table rebuild), so SQLite keeps AUTOINCREMENT.

Revision ID: d7e3a9c4b1f0
Revises: c5d81f0e2a63
Create Date: 2026-11-29 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data.types import UTCDateTime

revision: str = 'd7e3a9c4b1f0'
down_revision: str | None = 'c5d81f0e2a63'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ('booked', 'rescheduled', 'cancelled', 'plan_confirmed', 'request_received', 'request_confirmed',
         'request_declined', 'waitlist_offer', 'nightly_move', 'reminder')
STATUSES = ('pending', 'sending', 'sent', 'failed', 'uncertain')


def upgrade() -> None:
    op.add_column('patient', sa.Column('email_messages', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column('patient', sa.Column('sms_messages', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column('location', sa.Column('quiet_from', sa.Time(), nullable=True))
    op.add_column('location', sa.Column('quiet_until', sa.Time(), nullable=True))
    op.create_table(
        'patient_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('appointment_id', sa.Integer(), nullable=True),
        sa.Column('location_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.Enum(*KINDS, name='messagekind', native_enum=False, create_constraint=True, length=32),
                  nullable=False),
        sa.Column('channel', sa.Enum('email', 'sms', name='channel', native_enum=False, create_constraint=True,
                                     length=32), nullable=False),
        sa.Column('recipient', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('body_text', sa.Text(), nullable=False),
        sa.Column('body_html', sa.Text(), nullable=True),
        sa.Column('calendar', sa.Text(), nullable=True),
        sa.Column('change_key', sa.String(length=120), nullable=False),
        sa.Column('link_hash', sa.String(length=64), nullable=True),
        sa.Column('status', sa.Enum(*STATUSES, name='messagestatus', native_enum=False, create_constraint=True,
                                    length=32), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('lease_until', UTCDateTime(), nullable=True),
        sa.Column('worker', sa.String(length=120), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=False),
        sa.Column('provider_ref', sa.String(length=120), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.CheckConstraint('attempts >= 0', name=op.f('ck_patient_message_attempts_not_negative')),
        sa.CheckConstraint("(status = 'sent') = (sent_at IS NOT NULL)", name=op.f('ck_patient_message_sent_when_sent')),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_patient_message_patient_id_patient'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'],
                                name=op.f('fk_patient_message_appointment_id_appointment'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_patient_message_location_id_location'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_message')),
        sa.UniqueConstraint('change_key', 'channel', name='uq_patient_message_change'),
        sa.UniqueConstraint('link_hash', name=op.f('uq_patient_message_link_hash')),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_patient_message_patient_id'), 'patient_message', ['patient_id'])
    op.create_index(op.f('ix_patient_message_appointment_id'), 'patient_message', ['appointment_id'])
    op.create_index('ix_patient_message_due', 'patient_message', ['status', 'next_attempt_at'])


def downgrade() -> None:
    op.drop_table('patient_message')
    op.drop_column('location', 'quiet_until')
    op.drop_column('location', 'quiet_from')
    op.drop_column('patient', 'sms_messages')
    op.drop_column('patient', 'email_messages')
