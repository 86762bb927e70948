"""Loading rows to change them: locked and fresh, so a write acts on what the database holds now.

A write must read what it changes under its lock. ``SELECT ... FOR UPDATE``
alone is not enough: when the session already holds the row (read a moment
earlier, before the lock), SQLAlchemy keeps the object in its identity map
as it was and the locked SELECT does not overwrite it. ``populate_existing``
does, so the state checked after the lock is the state a concurrent writer
left behind. On SQLite every write transaction is serialized from its first
statement (``BEGIN IMMEDIATE``), which is the lock.
"""

import hashlib
from typing import TypeVar

from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

Row = TypeVar("Row", bound=SQLModel)

ADVISORY_KEYS = 4243  # first key of pg_advisory_xact_lock(namespace, key) for serialize_on


def locked(session: Session, table: type[Row], ident: int) -> Row | None:
    """The row with this id, locked until the transaction ends and re-read from the database.

    The lock is taken on the bare row first, then the row is read with everything it eagerly loads:
    a locking query that joins (an appointment's location) finds no row at all on PostgreSQL when
    a concurrent writer changed the joined key meanwhile. The lock is ``FOR NO KEY UPDATE``: our
    writes never change a key, so rows that merely reference this one (a request naming the
    appointment) can still be inserted meanwhile instead of deadlocking against it.
    """
    if session.exec(select(table.id).where(table.id == ident).with_for_update(key_share=True)).first() is None:
        return None
    return session.exec(select(table).where(table.id == ident).execution_options(populate_existing=True)).one()


def serialize_on(session: Session, key: str) -> None:
    """Make transactions that name the same ``key`` run one after another (count-then-insert limits).

    PostgreSQL: a transaction-scoped advisory lock on a hash of the key.
    SQLite: nothing to do, its write transactions are serialized already.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
                    {"namespace": ADVISORY_KEYS, "key": number})
