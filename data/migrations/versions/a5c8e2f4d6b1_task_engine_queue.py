"""task engine queue: procrastinate's tables, types and functions (PostgreSQL only)

Background work on PostgreSQL goes through procrastinate (``scheduler.task_engine``), whose queue lives in the
service's own database. Its schema is procrastinate's own SQL, read from the installed package
(``SchemaManager.get_schema()``), not a copy: this creates the schema of the procrastinate version installed.
A later procrastinate release that changes its schema needs a migration of ours applying its migration files.
On SQLite (one process, no engine) this does nothing.

Revision ID: a5c8e2f4d6b1
Revises: c7e2f4a6b8d1
Create Date: 2026-11-30 02:35:00
"""

from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager

revision: str = 'a5c8e2f4d6b1'
down_revision: str | None = 'c7e2f4a6b8d1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs", "procrastinate_workers")
TYPES = ("procrastinate_job_to_defer_v1", "procrastinate_job_event_type", "procrastinate_job_status")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _postgresql():
        # Straight to psycopg: many statements in one, and '%' in its messages is no placeholder.
        op.get_bind().connection.driver_connection.execute(SchemaManager.get_schema())


def downgrade() -> None:
    if not _postgresql():
        return
    op.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")
    op.execute(r"""
        DO $$
        DECLARE function regprocedure;
        BEGIN
            FOR function IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                            WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\_%' LOOP
                EXECUTE 'DROP FUNCTION ' || function || ' CASCADE';
            END LOOP;
        END $$""")
    op.execute(f"DROP TYPE IF EXISTS {', '.join(TYPES)} CASCADE")
