"""PostgreSQL tells every listening process when the schedule, the catalog or an account changed

Each process keeps availability answers and signed-in callers in memory
(``api.availability_shortcut``); it must learn of changes other processes
commit without asking the database on every request. Triggers send a
notification on channel ``clinic_changes`` in the transaction that makes the
change, so it is delivered at commit, never before and never for a rolled-back
change:

- ``schedule:<location id>`` when a day's schedule token of that location is
  bumped (``schedule_version``, bumped with every allocation change);
- ``catalog`` when the catalog's token is bumped (any catalog change);
- ``accounts`` when a staff account is deleted or its status or security stamp
  changes (what decides whether its tokens still open the API).

SQLite has no notifications: the shortcut is off there.

Revision ID: e1c5a7b3d9f2
Revises: d2f6b8a4c1e9
Create Date: 2026-11-30 12:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'e1c5a7b3d9f2'
down_revision: str | None = 'd2f6b8a4c1e9'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = 'clinic_changes'
TRIGGERS = {
    'schedule_version_changed': "AFTER INSERT OR UPDATE ON schedule_version FOR EACH ROW "
                                "EXECUTE FUNCTION clinic_notify_change('schedule')",
    'catalog_version_changed': "AFTER UPDATE ON catalog_version FOR EACH STATEMENT "
                               "EXECUTE FUNCTION clinic_notify_change('catalog')",
    'app_user_access_changed': "AFTER UPDATE OF is_active, security_stamp OR DELETE ON app_user FOR EACH STATEMENT "
                               "EXECUTE FUNCTION clinic_notify_change('accounts')",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(f"""
        CREATE FUNCTION clinic_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_ARGV[0] = 'schedule' THEN
                PERFORM pg_notify('{CHANNEL}', 'schedule:' || NEW.location_id);
            ELSE
                PERFORM pg_notify('{CHANNEL}', TG_ARGV[0]);
            END IF;
            RETURN NULL;
        END $$""")
    for name, definition in TRIGGERS.items():
        op.execute(f'CREATE TRIGGER {name} {definition}')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name, definition in TRIGGERS.items():
        table = definition.split(' ON ', 1)[1].split()[0]
        op.execute(f'DROP TRIGGER {name} ON {table}')
    op.execute('DROP FUNCTION clinic_notify_change()')
