"""One router shape for every catalog collection: list, get, create, update, delete (or archive, and restore).

The endpoints differ only in their schemas, roles and filters, so they are made
by :func:`catalog_router` rather than written out eight times.
"""

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, Field, ValidationError
from sqlmodel import select

from api.deps import CurrentUser, NowDep, SessionDep
from api.errors import validation_error_from
from api.paging import PagingDep, one_page
from api.schemas.common import MAX_IDENT, Page, in_digits
from data import catalog
from data.catalog import Entity

RecordId = Annotated[int, BeforeValidator(in_digits), Path(ge=1, le=MAX_IDENT, description="The record's id")]


def equal_columns(entity: Entity) -> Callable[[BaseModel], list]:
    """Filter by equality on every filter field that was given (field names are column names)."""

    def where(filters: BaseModel) -> list:
        given = filters.model_dump(exclude_none=True, exclude={"archived"})
        return [getattr(entity.table, name) == value for name, value in given.items()]

    return where


class NoFilters(BaseModel):
    pass


class InServiceFilter(BaseModel):
    """For records that are archived rather than deleted once they have history."""

    archived: bool = Field(default=False, description="true: list the archived records (kept for history) instead")


def catalog_router(
    *,
    entity: Entity,
    path: str,
    fields: type[BaseModel],
    create: type[BaseModel],
    update: type[BaseModel],
    public: type[BaseModel],
    read_access: Sequence[Any],
    write_access: Sequence[Any],
    filters: type[BaseModel] = NoFilters,
    where: Callable[[BaseModel], list] | None = None,
    before_delete: Callable[[Any, Any], None] | None = None,
) -> APIRouter:
    """Build the five endpoints of one collection, and a sixth (restore) for one whose records are archived.

    ``fields`` validates the whole record after an update is merged into it, so
    a partial update obeys exactly the rules a create does. ``filters`` of an
    archivable collection derive from :class:`InServiceFilter`.
    """
    router = APIRouter(prefix=path, tags=[path.strip("/")])
    where = where or equal_columns(entity)
    label = entity.label
    archivable = entity.history is not None

    def listed(query: BaseModel) -> list:
        clauses = where(query)
        if archivable:
            column = entity.table.archived_at
            clauses.append(column.is_not(None) if query.archived else column.is_(None))
        return clauses

    def values_of(body: BaseModel, base: dict) -> tuple[dict, set[str]]:
        given = body.model_dump(exclude_unset=True)
        try:
            merged = fields.model_validate({**base, **{k: v for k, v in given.items() if k in fields.model_fields}})
        except ValidationError as exc:
            raise validation_error_from(exc) from exc
        extra = {k: v for k, v in given.items() if k not in fields.model_fields}
        return {**merged.model_dump(), **extra}, set(given)

    @router.get("", response_model=Page[public], dependencies=list(read_access), summary=f"List {label}s")
    def list_records(
        session: SessionDep,
        query: Annotated[filters, Query()],
        paging: PagingDep,
    ):
        return one_page(session, select(entity.table).where(*listed(query)), paging, entity.table.id)

    @router.get("/{ident}", response_model=public, dependencies=list(read_access), summary=f"Get a {label}")
    def get_record(ident: RecordId, session: SessionDep):
        return catalog.get(session, entity, ident)

    @router.post(
        "", response_model=public, status_code=status.HTTP_201_CREATED, dependencies=list(write_access),
        summary=f"Create a {label}",
    )
    def create_record(body: create, session: SessionDep):
        values, changed = values_of(body, {})
        return catalog.save(session, entity, entity.table(), values, changed)

    @router.patch("/{ident}", response_model=public, dependencies=list(write_access), summary=f"Update a {label}")
    def update_record(ident: RecordId, body: update, session: SessionDep):
        record = catalog.locked(session, entity, ident)
        current = fields.model_validate(record).model_dump()
        values, changed = values_of(body, current)
        return catalog.save(session, entity, record, values, changed)

    archiving = {status.HTTP_200_OK: {"model": public, "description": (
        f"The {label} has history, so it was archived instead (or already was): hidden from lists, searches, "
        f"booking and the nightly run, while past sessions keep naming it")}} if archivable else {}

    @router.delete(
        "/{ident}", status_code=status.HTTP_204_NO_CONTENT, dependencies=list(write_access),
        summary=f"Delete a {label}" + (" (or archive one with history)" if archivable else ""),
        responses={status.HTTP_204_NO_CONTENT: {"description": f"The {label} is deleted"}, **archiving},
        description=(f"A {label} that any appointment, past or cancelled, ever used is archived rather than "
                     f"deleted (200 with the archived record; POST .../restore brings it back); one without "
                     f"history is deleted (204). Either is refused (409, naming them) while live appointments "
                     f"still to come depend on it.") if archivable else None,
    )
    def delete_record(ident: RecordId, session: SessionDep, user: CurrentUser, now: NowDep) -> Response:
        record = catalog.locked(session, entity, ident)
        if before_delete is not None:
            before_delete(user, record)
        archived = catalog.remove(session, entity, record, now=now)
        if archived is None:
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        return JSONResponse(public.model_validate(archived).model_dump(mode="json"))

    if archivable:
        @router.post("/{ident}/restore", response_model=public, dependencies=list(write_access),
                     summary=f"Restore an archived {label}")
        def restore_record(ident: RecordId, session: SessionDep):
            """Put it back into service: listed, searched and bookable again."""
            return catalog.restore(session, catalog.locked(session, entity, ident))

    return router
