"""Knowing, in each process and without asking the database, whether anything an answer depends on changed.

A process that keeps answers in memory (``api.availability_shortcut``) must
drop them when any process commits a change to the schedule, the catalog or a
staff account. PostgreSQL triggers send a notification on ``clinic_changes``
in the transaction that makes such a change (migration ``e1c5a7b3d9f2``), so
it is delivered at commit. A :class:`ChangeFeed` listens on its own connection
in a daemon thread and counts what it hears; a memory entry records the counts
it was made under and is good while they stand.

Three rules make this safe:

- A count is read *before* the answer is computed from the database. A change
  committed before that read is either already counted or counted later (the
  entry is then dropped); one committed after it is always counted later.
- While the feed is not listening (starting, or its connection lost) nothing is
  answered from memory, and each time it starts listening again ``resets``
  grows, so whatever was kept before a gap is never used after it.
- This process's own commits count at once (:func:`local_commits`), without
  waiting for the notification to come back: a desk that books and searches
  again on the same process never sees its own booking offered.

Between another process's commit and its notification arriving (a millisecond
on one network) an entry may still be served; the write path's own check and
the database's exclusion constraint refuse such a slot, as they refuse any
slot taken between a search and a booking.
"""

import itertools
import logging
import threading
import time

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session as OrmSession

from data.db import CONNECT_TIMEOUT_SECONDS

CHANNEL = "clinic_changes"
POLL_SECONDS = 0.5  # how often the listening thread looks up from the socket to see whether it must stop
PROBE_SECONDS = 5.0  # after this long without a notification the connection is asked a trivial query
RETRY_SECONDS = (0.2, 5.0)  # first and longest wait before listening again after the connection was lost
WROTE = "clinic_wrote"  # session.info: this transaction wrote something

log = logging.getLogger("clinic.change_feed")
_commits = itertools.count(1)
_last_commit = 0


def local_commits() -> int:
    """A mark that moves whenever a session of this process (any engine) flushed, wrote or committed a write."""
    return _last_commit


class ChangeFeed:
    """Counts of the changes heard on ``clinic_changes``, kept up to date by a listening thread."""

    def __init__(self, engine: Engine) -> None:
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        # as the engine's own connections, and keepalives so a peer gone without a word is noticed
        self.connect_args = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                             "tcp_user_timeout": 15_000,
                             **({} if "connect_timeout" in engine.url.query
                                else {"connect_timeout": CONNECT_TIMEOUT_SECONDS})}
        self.live = False
        self.resets = 0
        self.catalog = 0
        self.accounts = 0
        self.schedule: dict[int, int] = {}  # by location id
        self.schedule_anywhere = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: psycopg.Connection | None = None

    def answers_stamp(self, location_id: int | None) -> tuple:
        """What an availability answer for one location (None: every location) depends on."""
        schedule = self.schedule_anywhere if location_id is None else self.schedule.get(location_id, 0)
        return self.resets, self.catalog, schedule, local_commits()

    def callers_stamp(self) -> tuple:
        """What a signed-in caller's standing depends on."""
        return self.resets, self.accounts, local_commits()

    def start(self) -> "ChangeFeed":
        self._thread = threading.Thread(target=self._listen, name="clinic-change-feed", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; the thread closes its connection within ``POLL_SECONDS`` (not waited for)."""
        self._stop.set()
        self.live = False

    def listener_pid(self) -> int | None:
        """The server process id of the listening connection (operators and tests can end it)."""
        connection = self._connection
        return connection.info.backend_pid if connection is not None and self.live else None

    def _listen(self) -> None:
        wait = RETRY_SECONDS[0]
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, **self.connect_args) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._connection = connection
                    self.resets += 1  # before going live: nothing kept before the gap is used after it
                    self.live = True
                    wait = RETRY_SECONDS[0]
                    quiet_since = time.monotonic()
                    while not self._stop.is_set():
                        for notification in connection.notifies(timeout=POLL_SECONDS):
                            self._heard(notification.payload)
                            quiet_since = time.monotonic()
                        if time.monotonic() - quiet_since > PROBE_SECONDS:
                            connection.execute("SELECT 1")  # a silently dead connection fails here, not never
                            quiet_since = time.monotonic()
            except Exception as exc:  # whatever broke: stop answering from memory and listen again
                if self.live:
                    log.warning("change notifications lost (%s); answering from the database until they are back",
                                type(exc).__name__)
            finally:
                self.live = False
                self._connection = None
            self._stop.wait(wait)
            wait = min(wait * 2, RETRY_SECONDS[1])

    def _heard(self, payload: str) -> None:
        kind, _, location = payload.partition(":")
        if kind == "schedule" and location.isdigit():
            ident = int(location)
            self.schedule[ident] = self.schedule.get(ident, 0) + 1
            self.schedule_anywhere += 1
        elif kind == "catalog":
            self.catalog += 1
        elif kind == "accounts":
            self.accounts += 1
        else:  # not ours to read: take it as anything having changed
            self.resets += 1


def _count() -> None:
    global _last_commit
    _last_commit = next(_commits)


@event.listens_for(OrmSession, "after_flush")
def _note_write(session: OrmSession, _context) -> None:
    session.info[WROTE] = True
    _count()  # as well: a session shared by several requests (the tests' harness) sees what it flushed at once


@event.listens_for(OrmSession, "do_orm_execute")
def _note_bulk_write(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE] = True
        _count()


@event.listens_for(OrmSession, "after_commit")
def _count_commit(session: OrmSession) -> None:
    if session.info.pop(WROTE, False):
        _count()


@event.listens_for(OrmSession, "after_rollback")
def _forget_write(session: OrmSession) -> None:
    session.info.pop(WROTE, None)
