"""The audit log, for administrators."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime
from sqlalchemy import func
from sqlmodel import select

from api.deps import SessionDep, require_role
from api.schemas.booking import AuditPublic
from api.schemas.common import Ident, Page, Text
from data.enums import Role
from data.tables import AuditEntry

router = APIRouter(tags=["audit"], dependencies=[Depends(require_role(Role.ADMIN))])


@router.get("/audit", response_model=Page[AuditPublic])
def audit_log(
    session: SessionDep,
    appointment_id: Ident | None = None,
    actor: Annotated[Text | None, Query(max_length=64, description="Username, or 'system'")] = None,
    action: Annotated[Text | None, Query(max_length=32, description="e.g. hold, book, cancel, reschedule")] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    """Every appointment change, newest first: who, when, what, before and after."""
    statement = select(AuditEntry)
    for column, value in ((AuditEntry.appointment_id, appointment_id), (AuditEntry.actor, actor),
                          (AuditEntry.action, action)):
        if value is not None:
            statement = statement.where(column == value)
    if since is not None:
        statement = statement.where(AuditEntry.at >= since)
    if until is not None:
        statement = statement.where(AuditEntry.at < until)
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows = session.exec(statement.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).offset(offset).limit(limit))
    return {"items": list(rows), "total": total, "offset": offset, "limit": limit}
