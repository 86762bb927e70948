"""One router shape for every catalog collection: list, get, create, update, delete.

The endpoints differ only in their schemas, roles and filters, so they are made
by :func:`catalog_router` rather than written out eight times.
"""

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ValidationError
from sqlmodel import select

from api.deps import CurrentUser, SessionDep
from api.errors import validation_error_from
from api.paging import PagingDep, one_page
from api.schemas.common import Page
from data import catalog
from data.catalog import Entity


RecordId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The record's id")]


def equal_columns(entity: Entity) -> Callable[[BaseModel], list]:
    """Filter by equality on every filter field that was given (field names are column names)."""

    def where(filters: BaseModel) -> list:
        return [getattr(entity.table, name) == value for name, value in filters.model_dump(exclude_none=True).items()]

    return where


class NoFilters(BaseModel):
    pass


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
    """Build the five endpoints of one collection.

    ``fields`` validates the whole record after an update is merged into it, so
    a partial update obeys exactly the rules a create does.
    """
    router = APIRouter(prefix=path, tags=[path.strip("/")])
    where = where or equal_columns(entity)
    label = entity.label

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
        return one_page(session, select(entity.table).where(*where(query)), paging, entity.table.id)

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
        record = catalog.get(session, entity, ident)
        current = fields.model_validate(record).model_dump()
        values, changed = values_of(body, current)
        return catalog.save(session, entity, record, values, changed)

    @router.delete(
        "/{ident}", status_code=status.HTTP_204_NO_CONTENT, dependencies=list(write_access),
        summary=f"Delete a {label}",
    )
    def delete_record(ident: RecordId, session: SessionDep, user: CurrentUser) -> Response:
        record = catalog.get(session, entity, ident)
        if before_delete is not None:
            before_delete(user, record)
        catalog.delete(session, entity, record)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
