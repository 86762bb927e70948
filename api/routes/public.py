"""The public pages' API (no sign-in): free times, requests and their status, a patient's own page.

Answers carry no patient data beyond what the holder of a link already gave
or owns; every write is limited per client address and per contact.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from api.deps import NowDep, SessionDep, SettingsDep, client_key
from api.openapi import also_answers
from api.schemas.common import IdentParam
from api.schemas.requests import (
    MoveIn,
    OfferOut,
    PublicLocationOut,
    PublicServiceOut,
    PublicSlotOut,
    RequestCreated,
    RequestStatusOut,
    UpcomingOut,
    VisitRequestIn,
)
from api.urls import absolute_url
from data.enums import RequestKind
from data.errors import Gone
from scheduler import patient_page, visit_requests, waitlist

router = APIRouter(prefix="/public", tags=["public"])
Token = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


def status_url(request: Request, token: str) -> str:
    return absolute_url(request, f"/request/{token}")


@router.get("/services", response_model=list[PublicServiceOut], responses=also_answers(404))
def public_services(session: SessionDep, settings: SettingsDep):
    """What can be requested: a telehealth consultation and an in-office evaluation."""
    found = []
    for kind in visit_requests.PUBLIC_SERVICES:
        service = visit_requests.public_service(session, kind, settings)
        found.append(PublicServiceOut(kind=kind, name=service.name, minutes=service.duration_minutes))
    return found


@router.get("/locations", response_model=list[PublicLocationOut])
def public_locations(session: SessionDep):
    """Where the clinic is, with the time zone and locale its times are written in."""
    return visit_requests.public_locations(session)


@router.get("/slots", response_model=list[PublicSlotOut], responses=also_answers(404))
def public_slots(kind: Annotated[RequestKind, Query()], session: SessionDep, settings: SettingsDep, now: NowDep):
    """Every free time of the requested kind over the coming days (``public_days``), one per location and start,
    with the location's offset."""
    service = visit_requests.public_service(session, kind, settings)
    return visit_requests.public_slots(session, service=service, now=now, settings=settings)


@router.post("/requests", response_model=RequestCreated, status_code=status.HTTP_201_CREATED,
             responses=also_answers(404, 429))
def request_visit(body: VisitRequestIn, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep):
    """Hold the chosen time until the front desk answers; the answer's status link is the visitor's to keep."""
    visitor = visit_requests.Visitor(body.given_name, body.family_name, body.birth_date, body.phone,
                                     str(body.email) if body.email else None)
    _, token = visit_requests.request_visit(
        session, kind=body.kind, location_id=body.location_id, start=body.start, visitor=visitor,
        reason=body.reason, client_key=client_key(request), now=now, settings=settings)
    session.commit()
    return RequestCreated(**vars(visit_requests.view(session, token=token, now=now)),
                          status_url=status_url(request, token))


@router.get("/requests/{token}", response_model=RequestStatusOut)
def request_status(token: Token, session: SessionDep, now: NowDep):
    return visit_requests.view(session, token=token, now=now)


@router.get("/patients/{token}/sessions", response_model=list[UpcomingOut])
def my_sessions(token: Token, session: SessionDep, settings: SettingsDep, now: NowDep):
    """The patient's upcoming sessions, plan progress, whether they confirmed each and until when they may cancel."""
    return visit_requests.upcoming(session, token=token, now=now, settings=settings)


@router.post("/patients/{token}/sessions/{appointment_id}/confirm", response_model=UpcomingOut)
def confirm_session(token: Token, appointment_id: IdentParam, session: SessionDep, settings: SettingsDep, now: NowDep):
    """The patient will come (from the link in a reminder); the schedule and the roster show it."""
    patient_page.confirm(session, token=token, appointment_id=appointment_id, now=now)
    session.commit()
    shown = visit_requests.upcoming(session, token=token, now=now, settings=settings)
    return next(item for item in shown if item.appointment_id == appointment_id)


@router.post("/patients/{token}/sessions/{appointment_id}/cancel", status_code=status.HTTP_204_NO_CONTENT)
def cancel_session(token: Token, appointment_id: IdentParam, session: SessionDep, settings: SettingsDep, now: NowDep):
    """The patient will not come: cancelled until ``patient_cancel_hours`` before (later: 409 asking them to call);
    the time goes to the waitlist and the patient is sent the cancellation."""
    patient_page.cancel(session, token=token, appointment_id=appointment_id, now=now, settings=settings)
    session.commit()


@router.get("/patients/{token}/sessions/{appointment_id}/slots", response_model=list[PublicSlotOut])
def my_move_options(token: Token, appointment_id: IdentParam, session: SessionDep, settings: SettingsDep, now: NowDep):
    return visit_requests.move_slots(session, token=token, appointment_id=appointment_id, now=now, settings=settings)


@router.post("/patients/{token}/moves", response_model=RequestCreated, status_code=status.HTTP_201_CREATED,
             responses=also_answers(429))
def ask_to_move(token: Token, body: MoveIn, request: Request, session: SessionDep, settings: SettingsDep,
                now: NowDep):
    """Hold the new time for one of the patient's sessions until the front desk confirms the move."""
    _, secret = visit_requests.request_move(session, token=token, appointment_id=body.appointment_id,
                                            location_id=body.location_id, start=body.start,
                                            client_key=client_key(request), now=now, settings=settings)
    session.commit()
    return RequestCreated(**vars(visit_requests.view(session, token=secret, now=now)),
                          status_url=status_url(request, secret))


@router.get("/patients/{token}/offers", response_model=list[OfferOut])
def my_offers(token: Token, session: SessionDep, now: NowDep):
    """Times offered to the patient from the waitlist that are still open to accept, soonest first."""
    return waitlist.open_offers(session, token=token, now=now)


@router.get("/patients/{token}/offers/{appointment_id}", response_model=OfferOut)
def my_offer(token: Token, appointment_id: IdentParam, session: SessionDep, now: NowDep):
    """One offer, as its message's accept link opens it: open, booked (accepted) or gone."""
    return waitlist.view_offer(session, token=token, appointment_id=appointment_id, now=now)


@router.post("/patients/{token}/offers/{appointment_id}/accept", response_model=OfferOut,
             responses=also_answers(410))
def accept_offer(token: Token, appointment_id: IdentParam, session: SessionDep, settings: SettingsDep, now: NowDep):
    """Book the offered time (accepting twice answers the same). 410 when it is gone: the patient waits again and
    the time goes to the next patient, which is kept even though the answer is a refusal."""
    booked = waitlist.accept_offer(session, token=token, appointment_id=appointment_id, now=now, settings=settings)
    session.commit()
    if booked is None:
        raise Gone(waitlist.gone_words(session, appointment_id))
    return waitlist.view_offer(session, token=token, appointment_id=appointment_id, now=now)
