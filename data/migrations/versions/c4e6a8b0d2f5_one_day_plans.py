"""A treatment plan may be one day long

``latest_end`` is the last day a session may take place on, so a plan whose
sessions all fall on one day starts and ends that day. The check asked for
``latest_end`` after ``earliest_start``, and such a plan could not be made
(found by a probe, 2026-12-02).

Revision ID: c4e6a8b0d2f5
Revises: b2d4f6a8c0e3
Create Date: 2026-12-02 02:05:00
"""

from collections.abc import Sequence

from alembic import op

from data.migrate import altered_keeping_ids

revision: str = 'c4e6a8b0d2f5'
down_revision: str | None = 'b2d4f6a8c0e3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _dates_in_order(rule: str) -> None:
    with altered_keeping_ids('treatment_plan') as batch_op:
        batch_op.drop_constraint(op.f('ck_treatment_plan_ends_after_starts'), type_='check')
        batch_op.create_check_constraint(op.f('ck_treatment_plan_ends_after_starts'), rule)


def upgrade() -> None:
    _dates_in_order("latest_end >= earliest_start")


def downgrade() -> None:
    """One-day plans get a second day: the older check cannot hold them."""
    next_day = "date(earliest_start, '+1 day')" if op.get_bind().dialect.name == "sqlite" else "earliest_start + 1"
    op.execute(f"UPDATE treatment_plan SET latest_end = {next_day} WHERE latest_end = earliest_start")
    _dates_in_order("latest_end > earliest_start")
