"""One way to page through any list: ``offset``/``limit`` in, ``{items, total, offset, limit}`` out."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy import func
from sqlmodel import Session, select


class Paging:
    def __init__(
        self,
        offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Items to skip")] = 0,
        limit: Annotated[int, Query(ge=1, le=200, description="Items to return")] = 50,
    ):
        self.offset, self.limit = offset, limit


PagingDep = Annotated[Paging, Depends()]


def one_page(session: Session, statement, paging: Paging, *order_by, convert: Callable[[Any], Any] = lambda row: row
             ) -> dict:
    """The page of ``statement``'s rows in ``order_by`` order, and how many rows there are in all."""
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows = session.exec(statement.order_by(*order_by).offset(paging.offset).limit(paging.limit)).all()
    return {"items": [convert(row) for row in rows], "total": total, "offset": paging.offset, "limit": paging.limit}
