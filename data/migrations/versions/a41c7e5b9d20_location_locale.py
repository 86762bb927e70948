"""locations carry the locale their dates and times are shown in

A New York clinic reads "Tue, Dec 1", a London one "Tue 1 Dec": the web app
formats every date and time with the location's BCP 47 tag. Existing
locations get en-US, the product's default.

Revision ID: a41c7e5b9d20
Revises: 5e7a1c3b9d24
Create Date: 2026-11-29 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a41c7e5b9d20'
down_revision: str | None = '5e7a1c3b9d24'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=35), nullable=False, server_default='en-US'))
        batch_op.create_check_constraint(op.f('ck_location_locale_not_blank'), "length(locale) >= 2")


def downgrade() -> None:
    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_location_locale_not_blank'), type_='check')
        batch_op.drop_column('locale')
