"""The front desk's side of public requests, and patients' own links."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from api.deps import NowDep, SessionDep, SettingsDep, require_role
from api.openapi import also_answers
from api.schemas.common import IdentParam
from api.schemas.requests import ConfirmIn, DeclineIn, LinkOut, VisitRequestOut
from api.urls import absolute_url
from data.enums import Role
from data.errors import NotFound
from data.tables import User
from scheduler import visit_requests, waitlist

router = APIRouter(tags=["requests"])
Desk = Annotated[User, Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]


@router.get("/visit-requests", response_model=list[VisitRequestOut])
def waiting_requests(session: SessionDep, now: NowDep, _: Desk):
    """Requests waiting for an answer, oldest first, with possible matches and times with the location's offset;
    expired ones are gone (their slots freed)."""
    return [VisitRequestOut.of(answer) for answer in visit_requests.waiting(session, now=now)]


@router.post("/visit-requests/{ident}/confirm", response_model=VisitRequestOut, responses=also_answers(410))
def confirm_request(ident: IdentParam, body: ConfirmIn, session: SessionDep, settings: SettingsDep, now: NowDep,
                    user: Desk):
    """Book it: the hold becomes the appointment (of the matched patient, if one is named), or the session moves."""
    request = waitlist.confirm_request(session, actor=user, request_id=ident, patient_id=body.patient_id, now=now,
                                       settings=settings)
    session.commit()
    return VisitRequestOut.of(visit_requests.answered(session, request))


@router.post("/visit-requests/{ident}/decline", response_model=VisitRequestOut)
def decline_request(ident: IdentParam, body: DeclineIn, session: SessionDep, now: NowDep, user: Desk):
    """Free the slot; the visitor's status page shows the reason."""
    request = visit_requests.decline(session, actor=user, request_id=ident, reason=body.reason, now=now)
    session.commit()
    return VisitRequestOut.of(visit_requests.answered(session, request))


@router.post("/patients/{ident}/link", response_model=LinkOut, status_code=status.HTTP_201_CREATED)
def issue_patient_link(ident: IdentParam, request: Request, session: SessionDep, now: NowDep, _: Desk):
    """The patient's own page (upcoming sessions, asking to move one); a new link revokes the previous one."""
    token = visit_requests.issue_link(session, patient_id=ident, now=now)
    session.commit()
    return LinkOut(url=absolute_url(request, f"/me/{token}"))


@router.delete("/patients/{ident}/link", status_code=status.HTTP_204_NO_CONTENT)
def revoke_patient_link(ident: IdentParam, session: SessionDep, _: Desk):
    if not visit_requests.revoke_link(session, patient_id=ident):
        raise NotFound("link of patient", ident)
    session.commit()
