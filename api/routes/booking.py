"""The front desk's loop: find a slot, hold it, book it, change it."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from sqlmodel import select

from api.availability_shortcut import GOOD_UNTIL
from api.catalog import RecordId
from api.deps import CurrentUser, NowDep, SessionDep, SettingsDep, require_role
from api.idempotency import IdempotencyKey, respond_once
from api.openapi import also_answers
from api.paging import PagingDep, one_page
from api.preconditions import CONDITIONAL, IfMatch, require_version
from api.schemas.booking import (
    AppointmentCreate,
    AppointmentPublic,
    AvailabilityPublic,
    CancelRequest,
    HoldCreate,
    Named,
    RescheduleRequest,
    SlotPublic,
)
from api.schemas.common import IdentParam, Instant, Page, WallClock
from data.enums import AppointmentStatus, ResourceKind, Role
from data.errors import Forbidden, NotFound
from data.tables import Allocation, Appointment, User
from scheduler import booking, waitlist
from scheduler.availability import SlotQuery, find_availability
from scheduler.booking import SlotChoice
from scheduler.metrics import AVAILABILITY_SECONDS

router = APIRouter(tags=["booking"])
Desk = Annotated[User, Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]


@router.get("/availability", response_model=AvailabilityPublic)
def availability(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    now: NowDep,
    service_id: IdentParam,
    start: Annotated[Instant, Query(description="Earliest slot start, with offset")],
    end: Annotated[Instant, Query(description="Latest slot start (exclusive), with offset; at most 90 days on")],
    clinician_id: Annotated[IdentParam | None, Query(description="Only this clinician's slots")] = None,
    prefer_clinician_id: Annotated[IdentParam | None,
                                   Query(description="This clinician's slots first, others after")] = None,
    patient_id: Annotated[IdentParam | None, Query(description=(
        "Skip the patient's other appointments; ranks the clinician they saw last first (admins and front desk)"
    ))] = None,
    location_id: IdentParam | None = None,
    earliest: Annotated[WallClock | None, Query(description="Local time of day a slot may start from")] = None,
    latest: Annotated[WallClock | None, Query(description="Local time of day a slot must end by")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
):
    """Bookable slots, best first; when there are none, the reasons why."""
    if patient_id is not None and user.role == Role.CLINICIAN:
        raise Forbidden("patient_id is for the front desk: searching with it would tell a clinician when any patient "
                        "is busy; search without it")
    query = SlotQuery(service_id=service_id, start=start, end=end, location_id=location_id,
                      clinician_id=clinician_id, prefer_clinician_id=prefer_clinician_id, patient_id=patient_id,
                      earliest=earliest, latest=latest, limit=limit)
    with AVAILABILITY_SECONDS.labels(surface="api").time():
        found = find_availability(session, query, now=now, settings=settings)
    setattr(request.state, GOOD_UNTIL, found.good_until)  # how long api.availability_shortcut may keep the answer
    slots = [
        SlotPublic(
            start=offer.start, end=offer.end, location_id=offer.location_id,
            clinician=Named(id=offer.slot.clinician.id, name=offer.slot.clinician.name),
            room=Named(id=offer.slot.room.id, name=offer.slot.room.name) if offer.slot.room else None,
            devices=[Named(id=unit.id, name=unit.name) for unit in offer.slot.devices],
        )
        for offer in found.offers
    ]
    return AvailabilityPublic(slots=slots, reasons=[{"code": r.code, "message": r.message} for r in found.reasons])


def _choice(body) -> SlotChoice:
    return SlotChoice(body.service_id, body.patient_id, body.start, body.clinician_id, body.room_id,
                      tuple(body.device_ids))


@router.post("/holds", response_model=AppointmentPublic, status_code=status.HTTP_201_CREATED)
def place_hold(body: HoldCreate, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
               user: Desk, key: IdempotencyKey = None):
    """Reserve a slot's exact resources while the patient decides (default 10 minutes)."""
    minutes = body.minutes or settings.hold_minutes
    return respond_once(session, user=user, key=key, request=request, body=body, now=now, status_code=201,
                        produce=lambda: AppointmentPublic.of(booking.place_hold(
                            session, actor=user, choice=_choice(body), minutes=minutes, now=now, settings=settings)))


@router.delete("/holds/{ident}", response_model=AppointmentPublic, responses=CONDITIONAL)
def release_hold(ident: RecordId, session: SessionDep, now: NowDep, user: Desk, if_match: IfMatch = None):
    """Give a hold up before it expires (409 if it was booked or released meanwhile)."""
    _still_as_read(session, ident, if_match)
    released = booking.change_status(session, actor=user, appointment_id=ident, action="release", now=now,
                                     reason="hold released")
    session.commit()
    return AppointmentPublic.of(released)


@router.post("/appointments", response_model=AppointmentPublic, status_code=status.HTTP_201_CREATED,
              responses={**also_answers(404, 410), **CONDITIONAL})
def book(body: AppointmentCreate, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
         user: Desk, key: IdempotencyKey = None, if_match: IfMatch = None):
    """Book one's hold (``hold_id``; ``If-Match`` names the hold's version) or a slot directly."""
    def produce():
        if body.hold_id is not None:
            _still_as_read(session, body.hold_id, if_match)
            return AppointmentPublic.of(booking.book_hold(session, actor=user, hold_id=body.hold_id, now=now,
                                                          settings=settings))
        return AppointmentPublic.of(booking.book(session, actor=user, choice=_choice(body.slot()), now=now,
                                                 settings=settings))

    return respond_once(session, user=user, key=key, request=request, body=body, now=now, status_code=201,
                        produce=produce)


@router.get("/appointments", response_model=Page[AppointmentPublic], dependencies=[Depends(
    require_role(Role.ADMIN, Role.FRONT_DESK))])
def list_appointments(
    session: SessionDep,
    paging: PagingDep,
    patient_id: IdentParam | None = None,
    clinician_id: IdentParam | None = None,
    location_id: IdentParam | None = None,
    status_is: Annotated[list[AppointmentStatus] | None, Query(alias="status")] = None,
    start: Annotated[Instant | None, Query(description="Appointments ending after this")] = None,
    end: Annotated[Instant | None, Query(description="Appointments starting before this")] = None,
):
    """Appointments and holds in start order, filtered."""
    statement = select(Appointment)
    if patient_id is not None:
        statement = statement.where(Appointment.patient_id == patient_id)
    if location_id is not None:
        statement = statement.where(Appointment.location_id == location_id)
    if clinician_id is not None:
        statement = statement.where(Appointment.allocations.any(
            (Allocation.resource_kind == ResourceKind.CLINICIAN) & (Allocation.resource_id == clinician_id)))
    if status_is:
        statement = statement.where(Appointment.status.in_(status_is))
    if start is not None:
        statement = statement.where(Appointment.ends_at > start)
    if end is not None:
        statement = statement.where(Appointment.starts_at < end)
    return one_page(session, statement, paging, Appointment.starts_at, Appointment.id, convert=AppointmentPublic.of)


@router.get("/appointments/{ident}", response_model=AppointmentPublic,
            dependencies=[Depends(require_role(Role.ADMIN, Role.FRONT_DESK))])
def get_appointment(ident: RecordId, session: SessionDep):
    appointment = session.get(Appointment, ident)
    if appointment is None:
        raise NotFound("appointment", ident)
    return AppointmentPublic.of(appointment)


@router.post("/appointments/{ident}/cancel", response_model=AppointmentPublic, responses=CONDITIONAL)
def cancel(ident: RecordId, body: CancelRequest, request: Request, session: SessionDep, settings: SettingsDep,
           now: NowDep, user: Desk, key: IdempotencyKey = None, if_match: IfMatch = None):
    """Cancel with a reason; the resources are free at once and the waitlist is offered the time."""
    def produce():
        _still_as_read(session, ident, if_match)
        return AppointmentPublic.of(waitlist.cancel(session, actor=user, appointment_id=ident, reason=body.reason,
                                                    now=now, settings=settings))

    return respond_once(session, user=user, key=key, request=request, body=body, now=now, status_code=200,
                        produce=produce)


@router.post("/appointments/{ident}/reschedule", response_model=AppointmentPublic, responses=CONDITIONAL)
def reschedule(ident: RecordId, body: RescheduleRequest, request: Request, session: SessionDep,
               settings: SettingsDep, now: NowDep, user: Desk, key: IdempotencyKey = None, if_match: IfMatch = None):
    """Move to another time (and resources) atomically: if the new slot is not free, nothing changes."""
    def produce():
        _still_as_read(session, ident, if_match)
        return AppointmentPublic.of(waitlist.reschedule(
            session, actor=user, appointment_id=ident, start=body.start, clinician_id=body.clinician_id,
            room_id=body.room_id, device_ids=tuple(body.device_ids), outside_plan=body.outside_plan, now=now,
            settings=settings))

    return respond_once(session, user=user, key=key, request=request, body=body, now=now, status_code=200,
                        produce=produce)


def _still_as_read(session: SessionDep, ident: int, if_match: str | None) -> None:
    """With ``If-Match``, the appointment locked and still the version the client read, else 412: a schedule left
    open cancelled a session a colleague had just moved to another time (found by a probe)."""
    if if_match is not None:
        require_version(if_match, booking.lock_appointment(session, ident, "appointment").version,
                        f"appointment {ident}")


def _status_route(action: str, path: str, summary: str) -> None:
    @router.post(f"/appointments/{{ident}}/{path}", response_model=AppointmentPublic, summary=summary,
                 name=action, responses=CONDITIONAL)
    def change(ident: RecordId, session: SessionDep, now: NowDep, user: Desk, if_match: IfMatch = None):
        _still_as_read(session, ident, if_match)
        appointment = booking.change_status(session, actor=user, appointment_id=ident, action=action, now=now)
        session.commit()
        return AppointmentPublic.of(appointment)


_status_route("check_in", "check-in", "The patient has arrived")
_status_route("complete", "complete", "The session took place")
_status_route("no_show", "no-show", "The patient did not come; frees the resources")
