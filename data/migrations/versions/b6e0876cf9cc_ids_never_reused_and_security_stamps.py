"""ids are never reused; tokens carry the account's security stamp; records with history are archived

SQLite hands the highest id out again after that row is deleted, so a token,
a link or an allocation naming a deleted record would name the next one. The
tables whose ids leave the database or are referred to by other rows become
AUTOINCREMENT, which on SQLite means rebuilding them (PostgreSQL's sequences
never reuse an id). Every account gets a random security stamp that tokens
carry; existing tokens, which carry none, stop working. Clinicians, device
units, rooms and services get ``archived_at``: one with history is archived
instead of deleted, so who treated whom, where and with what is kept.

Revision ID: b6e0876cf9cc
Revises: 8d4f2a9c1e07
Create Date: 2026-11-29 15:00:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import data.types

revision: str = 'b6e0876cf9cc'
down_revision: str | None = '8d4f2a9c1e07'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEVER_REUSED = ('location', 'clinician', 'device_type', 'device', 'room', 'service', 'patient', 'app_user',
                'appointment', 'audit_entry', 'plan_template', 'treatment_plan', 'waitlist_request',
                'optimization_run', 'visit_request')
ARCHIVABLE = ('clinician', 'device', 'room', 'service')


def _rebuilt(table: str, *, autoincrement: bool):
    """A batch that rebuilds the table on SQLite with or without AUTOINCREMENT, and alters it in place elsewhere."""
    if op.get_bind().dialect.name != 'sqlite':
        return op.batch_alter_table(table)
    return op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement})


# Ids named without a foreign key: a deleted record's id may still be named here, so it is never handed out again.
NAMED_ELSEWHERE = {
    'clinician': "SELECT MAX(resource_id) FROM allocation WHERE resource_kind = 'clinician'",
    'room': "SELECT MAX(resource_id) FROM allocation WHERE resource_kind = 'room'",
    'device': "SELECT MAX(resource_id) FROM allocation WHERE resource_kind = 'device'",
    'patient': "SELECT MAX(resource_id) FROM allocation WHERE resource_kind = 'patient'",
    'appointment': "SELECT MAX(appointment_id) FROM audit_entry",
}


def _skip_ids_named_elsewhere() -> None:
    """Start SQLite's counters past every id still named, even where the record itself was deleted."""
    connection = op.get_bind()
    for table, query in NAMED_ELSEWHERE.items():
        named = connection.execute(sa.text(query)).scalar()
        counted = connection.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {'t': table}).scalar()
        if named is not None and named > (counted or 0):
            connection.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :t"), {'t': table})
            connection.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :seq)"),
                               {'t': table, 'seq': named})


def upgrade() -> None:
    op.add_column('app_user', sa.Column('security_stamp', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    users = sa.table('app_user', sa.column('id', sa.Integer()), sa.column('security_stamp', sa.String()))
    connection = op.get_bind()
    for (ident,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(users.update().where(users.c.id == ident).values(security_stamp=secrets.token_hex(16)))
    for table in NEVER_REUSED:
        with _rebuilt(table, autoincrement=True) as batch_op:
            if table == 'app_user':
                batch_op.alter_column('security_stamp', existing_type=sqlmodel.sql.sqltypes.AutoString(length=32),
                                      nullable=False)
            if table in ARCHIVABLE:
                batch_op.add_column(sa.Column('archived_at', data.types.UTCDateTime(timezone=True), nullable=True))
    if connection.dialect.name == 'sqlite':
        _skip_ids_named_elsewhere()


def downgrade() -> None:
    for table in NEVER_REUSED:
        with _rebuilt(table, autoincrement=False) as batch_op:
            if table == 'app_user':
                batch_op.drop_column('security_stamp')
            if table in ARCHIVABLE:
                batch_op.drop_column('archived_at')
