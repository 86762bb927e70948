"""The waitlist: patients waiting for a freed slot."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from sqlmodel import Session, select

from api.catalog import RecordId
from api.deps import NowDep, SessionDep, SettingsDep, require_role
from api.paging import PagingDep, one_page
from api.schemas.common import IdentParam, Page
from api.schemas.plans import WaitlistCreate, WaitlistPublic
from data.enums import Role, WaitlistStatus
from data.errors import NotFound
from data.tables import Appointment, User, WaitlistRequest
from scheduler import waitlist

router = APIRouter(prefix="/waitlist", tags=["waitlist"])
Desk = Annotated[User, Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]


def _public(session: Session, request: WaitlistRequest) -> WaitlistPublic:
    offer = session.get(Appointment, request.appointment_id) if request.appointment_id is not None else None
    return WaitlistPublic.of(request, offer)


@router.post("", response_model=WaitlistPublic, status_code=status.HTTP_201_CREATED)
def add(body: WaitlistCreate, session: SessionDep, now: NowDep, user: Desk):
    request = waitlist.add_request(session, actor=user, values=body.model_dump(), now=now)
    session.commit()
    return _public(session, request)


@router.get("", response_model=Page[WaitlistPublic], dependencies=[Depends(require_role(Role.ADMIN, Role.FRONT_DESK))])
def list_requests(
    session: SessionDep,
    paging: PagingDep,
    patient_id: IdentParam | None = None,
    service_id: IdentParam | None = None,
    status_is: Annotated[list[WaitlistStatus] | None, Query(alias="status", description=(
        "Any of these (repeat it: status=waiting&status=offered for the open ones)"))] = None,
):
    """Requests, highest priority and longest waiting first, each with the hold it was offered."""
    statement = select(WaitlistRequest)
    for column, value in ((WaitlistRequest.patient_id, patient_id), (WaitlistRequest.service_id, service_id)):
        if value is not None:
            statement = statement.where(column == value)
    if status_is:
        statement = statement.where(WaitlistRequest.status.in_(status_is))
    return one_page(session, statement, paging, WaitlistRequest.priority.desc(), WaitlistRequest.created_at,
                    WaitlistRequest.id, convert=lambda request: _public(session, request))


@router.get("/{ident}", response_model=WaitlistPublic,
            dependencies=[Depends(require_role(Role.ADMIN, Role.FRONT_DESK))])
def read(ident: RecordId, session: SessionDep):
    """One request, with the hold it was offered."""
    request = session.get(WaitlistRequest, ident)
    if request is None:
        raise NotFound("waitlist request", ident)
    return _public(session, request)


@router.delete("/{ident}", response_model=WaitlistPublic)
def close(ident: RecordId, session: SessionDep, now: NowDep, settings: SettingsDep, user: Desk):
    """The patient no longer waits: a live offer is released and its time offered to the next matching patient.
    A booked request is not closed (409): its appointment is cancelled on its own."""
    request = waitlist.close_request(session, actor=user, request_id=ident, now=now, settings=settings)
    session.commit()
    return _public(session, request)
