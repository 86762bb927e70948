"""location ids are never reused again on SQLite

Adding the locale column (a41c7e5b9d20) rebuilt the location table on SQLite
without AUTOINCREMENT, so the highest location id was handed out again after
that location was deleted: a link or a token naming it would name the next
one. The table is rebuilt with AUTOINCREMENT; its counter starts at the
highest id still there. PostgreSQL's sequences never reuse an id: nothing to do.

Revision ID: c5d81f0e2a63
Revises: a41c7e5b9d20
Create Date: 2026-11-29 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'c5d81f0e2a63'
down_revision: str | None = 'a41c7e5b9d20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('location', recreate='always', table_kwargs={'sqlite_autoincrement': True}):
            pass


def downgrade() -> None:
    """Nothing: the previous revision lacked AUTOINCREMENT only by accident, and keeping it harms nothing."""
