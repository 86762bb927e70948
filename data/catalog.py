"""Reading and writing catalog records, one generic path for every entity.

An :class:`Entity` says what is special about a table (its unique keys, the
records it refers to, its child rows, the checks that need the database, what
blocks its deletion); :func:`save` and :func:`delete` do the rest the same way
for all of them. Values arrive as plain dicts already validated by the API's
schemas.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, SQLModel, select

from data.errors import Conflict, Invalid, NotFound


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
    blockers: Callable[[Session, SQLModel], list[str]] | None = None
    write_extra: Callable[[SQLModel, dict], None] | None = None
    guard: Callable[[Session, SQLModel, dict | None], None] | None = None
    """Refuses a change of a stored record (its new values, or None for a delete) that would break a rule."""


def get(session: Session, entity: Entity, ident: int) -> SQLModel:
    record = session.get(entity.table, ident)
    if record is None:
        raise NotFound(entity.label, ident)
    return record


def save(session: Session, entity: Entity, record: SQLModel, values: dict, changed: set[str]) -> SQLModel:
    """Write ``values`` (the full validated state) into ``record``; only ``changed`` children are rebuilt."""
    _check_references(session, entity, values)
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
    session.commit()
    session.refresh(record)
    return record


def delete(session: Session, entity: Entity, record: SQLModel) -> None:
    if entity.guard is not None:
        entity.guard(session, record, None)
    blockers = entity.blockers(session, record) if entity.blockers else []
    if blockers:
        raise Conflict(f"{entity.label} {record.id} cannot be deleted while other records depend on it", blockers)
    session.delete(record)
    session.commit()


def _check_references(session: Session, entity: Entity, values: dict) -> None:
    for name, table in entity.references.items():
        ident = values.get(name)
        if ident is not None and session.get(table, ident) is None:
            raise Invalid((name,), f"{table.__tablename__.replace('_', ' ')} {ident} does not exist")


def _check_unique(session: Session, entity: Entity, record: SQLModel, values: dict) -> None:
    for key in entity.unique:
        query = select(entity.table.id).where(*(getattr(entity.table, name) == values[name] for name in key))
        if record.id is not None:
            query = query.where(entity.table.id != record.id)
        if session.exec(query).first() is not None:
            described = ", ".join(f"{name} {values[name]!r}" for name in key)
            raise Conflict(f"a {entity.label} with {described} already exists")
