"""locations carry their address in parts, a phone number and a web page

A slot finder reading the SMART Scheduling Links publication needs each
clinic's street, city, state and postal code, and a phone number or web page.
The free-text ``address`` stays (it is the address as written); one that reads
as a US address ("44 East 30th Street, New York, NY 10016") is copied into the
parts. Columns are only added (no table rebuild), so SQLite keeps AUTOINCREMENT.

Revision ID: b9d4e6f8a0c2
Revises: a8c3e5f7d9b1
Create Date: 2026-12-01 10:00:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b9d4e6f8a0c2'
down_revision: str | None = 'a8c3e5f7d9b1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [('address_line', 120), ('city', 80), ('state', 3), ('postal_code', 12), ('phone', 40), ('website', 300)]
US_ADDRESS = re.compile(r"(?P<address_line>[^,]{1,120}),\s*(?P<city>[^,]{1,80}),\s*(?P<state>[A-Z]{2})\s+"
                        r"(?P<postal_code>[0-9]{5}(?:-[0-9]{4})?)")


def upgrade() -> None:
    for name, length in COLUMNS:
        op.add_column('location', sa.Column(name, sa.String(length=length), nullable=True))
    location = sa.table('location', sa.column('id'), sa.column('address'),
                        *(sa.column(name) for name in ('address_line', 'city', 'state', 'postal_code')))
    connection = op.get_bind()
    for ident, address in connection.execute(sa.select(location.c.id, location.c.address)).all():
        found = US_ADDRESS.fullmatch((address or "").strip())
        parts = {name: value.strip() for name, value in found.groupdict().items()} if found else {}
        if parts and all(value and value.isprintable() for value in parts.values()):  # what the admin API takes
            connection.execute(location.update().where(location.c.id == ident).values(**parts))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column('location', name)
