"""Reading and writing catalog records, one generic path for every entity.

An :class:`Entity` says what is special about a table (its unique keys, the
records it refers to, its child rows, the checks that need the database, what
blocks its removal, whether it has history); :func:`save` and :func:`remove` do
the rest the same way for all of them. Values arrive as plain dicts already
validated by the API's schemas.

Clinicians, device units, rooms and services with history are archived rather
than deleted: their past sessions keep naming them, nothing new may use them.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel, select

from data import catalog_version
from data.errors import Conflict, Invalid, NotFound
from data.tables import CATALOG_TABLES


@dataclass(frozen=True)
class Children:
    """A list field of the input stored as child rows through a relationship."""

    relationship: str
    make: Callable[[Any], SQLModel]


@dataclass(frozen=True)
class Entity:
    label: str
    table: type[SQLModel]
    unique: Sequence[tuple[str, ...]] = ()
    references: dict[str, type[SQLModel]] = field(default_factory=dict)
    children: dict[str, Children] = field(default_factory=dict)
    check: Callable[[Session, dict], None] | None = None
    blockers: Callable[[Session, SQLModel, datetime], list[str]] | None = None
    history: Callable[[Session, SQLModel], bool] | None = None
    """True when other records tell the record's past: it is then archived, not deleted (archivable tables only)."""
    write_extra: Callable[[SQLModel, dict], None] | None = None
    guard: Callable[[Session, SQLModel, dict | None], None] | None = None
    """Refuses a change of a stored record (its new values, or None for a delete) that would break a rule."""


def get(session: Session, entity: Entity, ident: int) -> SQLModel:
    record = session.get(entity.table, ident)
    if record is None:
        raise NotFound(entity.label, ident)
    return record


def locked(session: Session, entity: Entity, ident: int) -> SQLModel:
    """The record to change, read fresh under its row lock (PostgreSQL's ``FOR UPDATE``; on SQLite the write
    session holds the database's write lock already).

    An update writes the record's whole state (what it read, plus the change); read without the lock, two
    changes of different fields made at once would each write the other's field back as it was.
    """
    table = entity.table
    if table in CATALOG_TABLES:
        catalog_version.take(session)
    record = session.exec(select(table).where(table.id == ident).with_for_update()
                          .execution_options(populate_existing=True)).first()
    if record is None:
        raise NotFound(entity.label, ident)
    return record


def in_service(session: Session, table: type[SQLModel], ident: int, loc: tuple, *, source: str = "body") -> SQLModel:
    """The record something new is to use: 422 when it does not exist or is archived."""
    record = session.get(table, ident)
    label = table.__tablename__.replace("_", " ")
    if record is None:
        raise Invalid(loc, f"{label} {ident} does not exist", source=source)
    if getattr(record, "archived_at", None) is not None:
        raise Invalid(loc, f"{label} {ident} ({record.name}) is archived: kept for history, no longer booked",
                      source=source)
    return record


def save(session: Session, entity: Entity, record: SQLModel, values: dict, changed: set[str]) -> SQLModel:
    """Write ``values`` (the full validated state) into ``record``; only ``changed`` children are rebuilt."""
    _check_references(session, entity, values, changed)
    _check_unique(session, entity, record, values)
    if entity.check is not None:
        entity.check(session, values)
    if entity.guard is not None:
        entity.guard(session, record, values)
    for name, value in values.items():
        if name in entity.children:
            if name in changed:
                child = entity.children[name]
                setattr(record, child.relationship, [child.make(item) for item in value])
        elif name in entity.table.model_fields:
            setattr(record, name, value)
    if entity.write_extra is not None:
        entity.write_extra(record, values)
    session.add(record)
    session.flush()
    session.refresh(record)  # what was written, read in the transaction that holds the record's lock
    session.expire_on_commit = False  # so the answer is that state: re-read after the commit, a record another
    session.commit()  # request deleted meanwhile would fail the answer (a 500) though the change was made
    return record


def remove(session: Session, entity: Entity, record: SQLModel, *, now: datetime) -> SQLModel | None:
    """Delete the record, or archive it when it has history: the archived record, or None once deleted.

    Before an archivable record's blockers are read the catalog is locked (see ``catalog_version.hold``): a
    booking in flight commits first and is named among them, or waits and then finds the record archived.
    """
    if entity.guard is not None:
        entity.guard(session, record, None)
    if entity.history is not None:
        catalog_version.bump(session)
    archive = entity.history is not None and entity.history(session, record)
    blockers = entity.blockers(session, record, now) if entity.blockers else []
    if blockers:
        raise Conflict(f"{entity.label} {record.id} cannot be {'archived' if archive else 'deleted'} while other "
                       f"records depend on it", blockers)
    if not archive:
        session.delete(record)
        session.commit()
        return None
    record.archived_at = record.archived_at or now
    session.commit()
    session.refresh(record)
    return record


def restore(session: Session, record: SQLModel) -> SQLModel:
    """Bring an archived record back into service."""
    record.archived_at = None
    session.commit()
    session.refresh(record)
    return record


def _check_references(session: Session, entity: Entity, values: dict, changed: set[str]) -> None:
    """A newly given reference names a record in service; one left as it was may stay (even if since archived)."""
    for name, table in entity.references.items():
        if name in changed and values.get(name) is not None:
            in_service(session, table, values[name], (name,))


def _check_unique(session: Session, entity: Entity, record: SQLModel, values: dict) -> None:
    for key in entity.unique:
        query = select(entity.table).where(*(getattr(entity.table, name) == values[name] for name in key))
        if record.id is not None:
            query = query.where(entity.table.id != record.id)
        existing = session.exec(query).first()
        if existing is not None:
            described = ", ".join(f"{name} {values[name]!r}" for name in key)
            archived = getattr(existing, "archived_at", None) is not None
            raise Conflict(f"a {entity.label} with {described} already exists"
                           + (f" (archived: restore {entity.label} {existing.id} or choose another)" if archived else ""))
