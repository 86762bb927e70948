"""The audit log, for administrators."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import select

from api.deps import SessionDep, require_role
from api.paging import PagingDep, one_page
from api.schemas.booking import AuditPublic
from api.schemas.common import IdentParam, Instant, Page, Text
from data.enums import Role
from data.tables import AuditEntry

router = APIRouter(tags=["audit"], dependencies=[Depends(require_role(Role.ADMIN))])


@router.get("/audit", response_model=Page[AuditPublic])
def audit_log(
    session: SessionDep,
    paging: PagingDep,
    appointment_id: IdentParam | None = None,
    actor: Annotated[Text | None, Query(max_length=64, description="Username, or 'system'")] = None,
    action: Annotated[Text | None, Query(max_length=32, description="e.g. hold, book, cancel, reschedule")] = None,
    since: Instant | None = None,
    until: Instant | None = None,
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
    return one_page(session, statement, paging, AuditEntry.at.desc(), AuditEntry.id.desc())
