"""Stamping every change to who is busy when, so cached busy time knows when it is stale.

Availability keeps each location's busy time per UTC day in process memory
(``scheduler.free_time``) and compares it with a token per location and day
(table ``schedule_version``) before using it. Any ORM flush that adds, changes
or deletes an allocation row is noted here; when the transaction commits, the
tokens of the days those allocations start on, at the locations of their
clinicians, rooms and device units, get new random values in that same
transaction. A cache can therefore never take a committed change for the old
schedule: the change and the new token become visible together.

Tokens are bumped at commit, in sorted order and all at once, rather than at
each flush: a transaction that books several days (a plan's series) then locks
its version rows in one go and in one order, so two such transactions cannot
deadlock on them. Until it commits, a transaction that changed allocations
reads busy time from the database (:func:`changed`), so it sees its own
changes. Patients' allocations are not cached and not stamped.

Allocations block while ``live`` and, for holds, until ``hold_expires_at``: a
hold stops blocking by the clock, not by a write, so the cache keeps the expiry
and filters at read time. Releasing expired holds (``booking.release_expired_
holds``, a bulk UPDATE that bypasses the ORM) therefore changes nothing any
cache could have offered. Other writes that bypass the ORM must call
:func:`bump` themselves.
"""

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy import and_, event, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as OrmSession

from data.enums import ResourceKind
from data.tables import (
    Allocation,
    CatalogVersion,
    Clinician,
    Device,
    Room,
    ScheduleVersion,
)

CHANGES = "schedule_changes"  # session.info: (resource kind, resource id, UTC day) changed in this transaction
RESOURCE_TABLES = {ResourceKind.CLINICIAN: Clinician, ResourceKind.ROOM: Room, ResourceKind.DEVICE: Device}

Change = tuple[ResourceKind, int, date]


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def read(session, first: date, last: date, location_id: int | None = None) -> tuple[str, dict]:
    """The catalog's token and the token of each (location, day) in ``[first, last]`` that ever changed.

    One query for both, as a search needs both before anything else; days that never changed have no token.
    Reading through the ORM flushes the session's pending changes first, so :func:`changed` then knows them.
    """
    on = and_(ScheduleVersion.day >= first, ScheduleVersion.day <= last)
    if location_id is not None:
        on = and_(on, ScheduleVersion.location_id == location_id)
    rows = session.execute(
        select(CatalogVersion.token, ScheduleVersion.location_id, ScheduleVersion.day, ScheduleVersion.token)
        .select_from(CatalogVersion).outerjoin(ScheduleVersion, on).where(CatalogVersion.id == 1)
    ).all()
    return rows[0][0], {(location, day): token for _, location, day, token in rows if location is not None}


def changed(session) -> bool:
    """Whether this session's transaction changed allocations it has not committed yet."""
    return bool(session.info.get(CHANGES))


def bump(connection, changes: Iterable[Change]) -> None:
    """New tokens for the days the changed allocations start on, at their resources' locations."""
    changes = set(changes)
    location_of: dict[tuple[ResourceKind, int], int] = {}
    for kind, table in RESOURCE_TABLES.items():
        ids = sorted({ident for changed_kind, ident, _ in changes if changed_kind == kind})
        if ids:
            rows = connection.execute(  # shared lock: a move of the resource to another location waits, or we do
                select(table.id, table.location_id).where(table.id.in_(ids)).with_for_update(read=True))
            location_of.update(((kind, ident), location_id) for ident, location_id in rows)
    keys = sorted({(location_of[kind, ident], day) for kind, ident, day in changes if (kind, ident) in location_of})
    if not keys:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(ScheduleVersion.__table__).values(
        [{"location_id": location_id, "day": day, "token": uuid.uuid4().hex} for location_id, day in keys])
    connection.execute(statement.on_conflict_do_update(index_elements=["location_id", "day"],
                                                       set_={"token": statement.excluded.token}))


def _noted(row: Allocation) -> set[Change]:
    """The (kind, resource, day) the row blocks now and blocked before this flush (a moved or reassigned row)."""
    if row.resource_kind == ResourceKind.PATIENT:
        return set()
    attributes = inspect(row).attrs
    idents = {row.resource_id, *attributes.resource_id.history.deleted}
    starts = {row.starts_at, *attributes.starts_at.history.deleted}
    return {(row.resource_kind, ident, day_of(start)) for ident in idents if ident is not None
            for start in starts if start is not None}


@event.listens_for(OrmSession, "after_flush")
def _note_schedule_changes(session: OrmSession, _context) -> None:
    """Remember what this flush changed (the pre-flush lists and attribute history are still readable here)."""
    noted = set()
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, Allocation):
            noted |= _noted(row)
    if noted:
        session.info.setdefault(CHANGES, set()).update(noted)


@event.listens_for(OrmSession, "before_commit")
def _stamp_schedule_changes(session: OrmSession) -> None:
    if session.in_nested_transaction():
        return
    session.flush()  # the commit's own flush comes after this hook: note what it would write first
    noted = session.info.pop(CHANGES, None)
    if noted:
        bump(session.connection(), noted)


@event.listens_for(OrmSession, "after_transaction_end")
def _forget_schedule_changes(session: OrmSession, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(CHANGES, None)
