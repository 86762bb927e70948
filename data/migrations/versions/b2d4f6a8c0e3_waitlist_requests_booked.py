"""A waitlist request whose offer was booked is "booked"

Until 2026-12-02 a request kept "offered" for good once its offer was booked:
the waitlist page, which lists the waiting and offered requests, showed
patients served weeks ago as still waiting, and a request whose booked offer
was later cancelled read as an offer that lapsed. Such requests are "booked"
now, and stay so when the appointment is cancelled or moved (the desk adds
the patient again if they want another time).

Revision ID: b2d4f6a8c0e3
Revises: f3a7c9e1b5d2
Create Date: 2026-12-02 01:30:00
"""

from collections.abc import Sequence

from alembic import op

from data.migrate import altered_keeping_ids

revision: str = 'b2d4f6a8c0e3'
down_revision: str | None = 'f3a7c9e1b5d2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ('waiting', 'offered', 'closed')
AFTER = ('waiting', 'offered', 'booked', 'closed')
# The offer became the patient's appointment: the audit log records every booking.
EVER_BOOKED = ("EXISTS (SELECT 1 FROM audit_entry WHERE audit_entry.appointment_id = waitlist_request.appointment_id "
               "AND audit_entry.action = 'book')")


def _statuses(allowed: tuple[str, ...]) -> None:
    with altered_keeping_ids('waitlist_request') as batch_op:
        batch_op.drop_constraint(op.f('ck_waitlist_request_waitliststatus'), type_='check')
        batch_op.create_check_constraint(op.f('ck_waitlist_request_waitliststatus'),
                                         f"status IN ({', '.join(repr(status) for status in allowed)})")


def upgrade() -> None:
    _statuses(AFTER)
    op.execute(f"UPDATE waitlist_request SET status = 'booked' WHERE status = 'offered' AND {EVER_BOOKED}")


def downgrade() -> None:
    op.execute("UPDATE waitlist_request SET status = 'offered' WHERE status = 'booked'")
    _statuses(BEFORE)
