"""Stamping every catalog change, so cached copies of the catalog know when they are stale.

Any ORM flush that adds, changes or deletes a catalog row (from the API, the
demo loader, the CLI or a test) gives the catalog a new random token in the
same transaction. Writes that bypass the ORM must call :func:`bump` themselves.
"""

import uuid

from sqlalchemy import event, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from data.tables import CATALOG_TABLES, CatalogVersion


def current(session: Session) -> str:
    return session.exec(select(CatalogVersion.token).where(CatalogVersion.id == 1)).one()


def hold(session: Session) -> str:
    """The token, share-locked until the transaction ends, so no catalog change commits in between (PostgreSQL).

    A writer that picks clinicians, rooms or devices from the catalog holds it first: a catalog change waits for
    the writer to commit, and a writer arriving during a change waits for it and then reads the new catalog.
    SQLite serializes writers anyway.
    """
    return session.exec(select(CatalogVersion.token).where(CatalogVersion.id == 1).with_for_update(read=True)).one()


def take(session: Session) -> None:
    """The token, locked for a catalog change before the row it changes is (PostgreSQL).

    A booking share-locks the token (``hold``) and then reads clinicians, rooms and units under their locks; a change
    that locked its row first and reached the token only at its flush waited for the booking while the booking
    waited for the row, and PostgreSQL aborted one of them. In the booking's order the change waits for bookings in
    flight, and bookings after it wait for the change and read the new catalog.
    """
    session.exec(select(CatalogVersion.token).where(CatalogVersion.id == 1).with_for_update()).one()


def bump(connection_or_session) -> None:
    connection_or_session.execute(update(CatalogVersion).where(CatalogVersion.id == 1).values(token=uuid.uuid4().hex))


@event.listens_for(OrmSession, "before_flush")
def _stamp_catalog_changes(session: OrmSession, _context, _instances) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(row, CATALOG_TABLES) for row in touched):
        bump(session.connection())
