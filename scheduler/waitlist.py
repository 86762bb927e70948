"""The waitlist: patients waiting for a service, offered a freed slot as soon as one appears.

When a booked appointment is cancelled, the best waiting request that fits
the freed time (same service, within its dates and daily window; highest
priority, then longest waiting) gets a system hold on that start, placed by
the ordinary booking code and audit-logged, for the front desk to confirm
with the patient. The nightly run will place the rest.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from data.catalog import in_service
from data.config import Settings
from data.enums import AppointmentStatus, WaitlistStatus
from data.errors import Conflict, Invalid, NotFound
from data.tables import Appointment, Patient, Service, User, WaitlistRequest
from scheduler import booking, visit_requests


def add_request(session: Session, *, actor: User, values: dict, now: datetime) -> WaitlistRequest:
    if session.get(Patient, values["patient_id"]) is None:
        raise Invalid(("patient_id",), f"patient {values['patient_id']} does not exist")
    in_service(session, Service, values["service_id"], ("service_id",))
    request = WaitlistRequest(**values, created_by_id=actor.id, created_at=now)
    session.add(request)
    session.flush()
    return request


def close_request(session: Session, *, request_id: int) -> WaitlistRequest:
    request = session.get(WaitlistRequest, request_id)
    if request is None:
        raise NotFound("waitlist request", request_id)
    request.status = WaitlistStatus.CLOSED
    session.flush()
    return request


def cancel(session: Session, *, actor: User, appointment_id: int, reason: str, now: datetime,
           settings: Settings) -> Appointment:
    """Cancel an appointment; if it was booked, withdraw the patient's waiting moves of it and offer its time to
    the waitlist, all in the same transaction (the one cancellation of REST and FHIR alike)."""
    was_booked = booking.lock_appointment(session, appointment_id).status == AppointmentStatus.BOOKED
    appointment = booking.change_status(session, actor=actor, appointment_id=appointment_id, action="cancel",
                                        now=now, reason=reason)
    if was_booked:
        visit_requests.withdraw_moves(session, actor=actor, appointment_id=appointment_id, now=now)
        offer_freed_slot(session, freed=appointment, now=now, settings=settings)
    return appointment


def offer_freed_slot(session: Session, *, freed: Appointment, now: datetime,
                     settings: Settings) -> WaitlistRequest | None:
    """Hold the freed start for the best matching waiting request that can really take it."""
    zone = ZoneInfo(freed.location.time_zone)
    start, end = freed.starts_at.astimezone(zone), freed.ends_at.astimezone(zone)
    waiting = session.exec(
        select(WaitlistRequest)
        .where(WaitlistRequest.status == WaitlistStatus.WAITING, WaitlistRequest.service_id == freed.service_id,
               WaitlistRequest.earliest_day <= start.date(), WaitlistRequest.latest_day >= start.date(),
               WaitlistRequest.earliest_time <= start.time(), WaitlistRequest.latest_time >= end.time())
        .order_by(WaitlistRequest.priority.desc(), WaitlistRequest.created_at, WaitlistRequest.id)
    ).all()
    for request in waiting:
        choice = booking.SlotChoice(freed.service_id, request.patient_id, start)
        try:
            with session.begin_nested():
                hold = booking.place_hold(session, actor=None, choice=choice, minutes=settings.waitlist_hold_minutes,
                                          now=now, settings=settings)
        except Conflict:
            continue  # this patient cannot take it (e.g. busy then): the next one may
        request.status, request.appointment_id = WaitlistStatus.OFFERED, hold.id
        session.flush()
        return request
    return None
