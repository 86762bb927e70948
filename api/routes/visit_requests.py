"""The front desk's side of public requests, and patients' own links."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from sqlmodel import Session

from api.deps import NowDep, SessionDep, SettingsDep, require_role
from api.schemas.common import Ident
from api.schemas.people import PatientPublic
from api.schemas.requests import ConfirmIn, DeclineIn, LinkOut, VisitRequestOut
from api.urls import absolute_url
from data.enums import Role
from data.errors import NotFound
from data.tables import Appointment, Patient, User, VisitRequest
from scheduler import visit_requests

router = APIRouter(tags=["requests"])
Desk = Annotated[User, Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]


def _out(request: VisitRequest, hold: Appointment, patient: Patient, matches: list[Patient]) -> VisitRequestOut:
    return VisitRequestOut(
        id=request.id, kind=request.kind, status=request.status, created_at=request.created_at,
        service_id=hold.service_id, location_id=hold.location_id, start=hold.starts_at, end=hold.ends_at,
        hold_expires_at=hold.hold_expires_at, reason=request.reason, new_patient=request.new_patient,
        patient=PatientPublic.model_validate(patient, from_attributes=True),
        moves_appointment_id=request.moves_appointment_id,
        possible_matches=[PatientPublic.model_validate(p, from_attributes=True) for p in matches],
    )


def _decided(session: Session, ident: int) -> VisitRequestOut:
    request = session.get(VisitRequest, ident)
    return _out(request, session.get(Appointment, request.hold_id), session.get(Patient, request.patient_id), [])


@router.get("/visit-requests", response_model=list[VisitRequestOut])
def waiting_requests(session: SessionDep, now: NowDep, _: Desk):
    """Requests waiting for an answer, oldest first, with possible matches; expired ones are gone (slots freed)."""
    return [_out(*row) for row in visit_requests.waiting(session, now=now)]


@router.post("/visit-requests/{ident}/confirm", response_model=VisitRequestOut)
def confirm_request(ident: Ident, body: ConfirmIn, session: SessionDep, settings: SettingsDep, now: NowDep,
                    user: Desk):
    """Book it: the hold becomes the appointment (of the matched patient, if one is named), or the session moves."""
    visit_requests.confirm(session, actor=user, request_id=ident, patient_id=body.patient_id, now=now,
                           settings=settings)
    session.commit()
    return _decided(session, ident)


@router.post("/visit-requests/{ident}/decline", response_model=VisitRequestOut)
def decline_request(ident: Ident, body: DeclineIn, session: SessionDep, now: NowDep, user: Desk):
    """Free the slot; the visitor's status page shows the reason."""
    visit_requests.decline(session, actor=user, request_id=ident, reason=body.reason, now=now)
    session.commit()
    return _decided(session, ident)


@router.post("/patients/{ident}/link", response_model=LinkOut, status_code=status.HTTP_201_CREATED)
def issue_patient_link(ident: Ident, request: Request, session: SessionDep, now: NowDep, _: Desk):
    """The patient's own page (upcoming sessions, asking to move one); a new link revokes the previous one."""
    token = visit_requests.issue_link(session, patient_id=ident, now=now)
    session.commit()
    return LinkOut(url=absolute_url(request, f"/me/{token}"))


@router.delete("/patients/{ident}/link", status_code=status.HTTP_204_NO_CONTENT)
def revoke_patient_link(ident: Ident, session: SessionDep, _: Desk):
    if not visit_requests.revoke_link(session, patient_id=ident):
        raise NotFound("link of patient", ident)
    session.commit()
