"""Engine and sessions for the embedded SQLite default and for PostgreSQL.

SQLite gets foreign keys switched on, WAL journaling, a busy timeout and
explicit ``BEGIN`` statements (the driver's implicit transactions break
savepoints). Sessions from :func:`serialized` begin with ``BEGIN IMMEDIATE``
there: one writer at a time, so a booking's check-then-insert cannot
interleave with another's. That is SQLite's stand-in for PostgreSQL's
exclusion constraint.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, make_url
from sqlmodel import Session

import data.accounts  # noqa: F401  (renews security stamps on every flush)
import data.catalog_version  # noqa: F401  (stamps catalog changes on every flush)
import data.schedule_version  # noqa: F401  (stamps allocation changes on every commit)

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long an SQLite writer waits for the write lock. 10 s was not enough on a slow machine (2026-11-30, CI):
four workers claiming one night at once, one waited out the night's write and failed 'database is locked'."""
# PostgreSQL: how long a request may wait for a new connection, and for one of the pool's, before it is answered
# 503 with Retry-After. Both stay well below what a client waits for an answer (typically 30 s): while the server
# restarts, a connection attempt must fail fast rather than leave the caller with no answer at all.
CONNECT_TIMEOUT_SECONDS = 5
POOL_TIMEOUT_SECONDS = 10
SERIALIZED = "clinic_serialized"


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "isolation_level": None},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_timeout", POOL_TIMEOUT_SECONDS)
    connect_args = kwargs.pop("connect_args", {})
    if "connect_timeout" not in make_url(url).query:  # one given in the URL wins
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, **connect_args}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        immediate = connection.get_execution_options().get(SERIALIZED, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def serialized(engine: Engine) -> Engine:
    """The same engine, whose SQLite transactions take the write lock at BEGIN (a no-op elsewhere)."""
    return engine.execution_options(**{SERIALIZED: True})


def session_capacity(engine: Engine) -> int:
    """How many sessions can work at once: one writer on SQLite, the pool's size on PostgreSQL."""
    if engine.dialect.name == "sqlite":
        return 1
    pool = engine.pool
    return pool.size() + max(getattr(pool, "_max_overflow", 0), 0)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
