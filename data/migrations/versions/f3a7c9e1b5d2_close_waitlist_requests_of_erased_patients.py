"""Close waiting waitlist requests of erased patients

Until 2026-12-01 a request could be added for a patient already erased (the
check looked only for the patient's row). Such a request made the location's
nightly run fail ("patient N was erased") and refused every cancellation whose
freed time it matched. Adding one is refused now; this closes those already
there. An erasure itself refuses while the patient has waiting requests, so no
other path leaves one.

Revision ID: f3a7c9e1b5d2
Revises: e1c5a7b3d9f2
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'f3a7c9e1b5d2'
down_revision: str | None = 'e1c5a7b3d9f2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE waitlist_request SET status = 'closed' WHERE status = 'waiting' AND patient_id IN "
               "(SELECT id FROM patient WHERE erased_at IS NOT NULL)")


def downgrade() -> None:
    """Nothing to undo: the requests closed could not be served."""
