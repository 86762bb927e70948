"""FHIR Appointments: read and search for the desk; create (book or hold a free Slot) and update (book, cancel).

Everything goes through ``scheduler.booking`` (database constraints, Idempotency-Key, audit log included).
"""

import json
from typing import Annotated

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Request, status
from fhir.resources.R4B.appointment import Appointment as FHIRAppointment
from pydantic import ValidationError
from sqlmodel import Session, select

from api.deps import NowDep, SessionDep, SettingsDep
from api.fhir import resources as fhir
from api.fhir.common import FHIR_JSON, Desk, documented
from api.fhir.search import SearchError, bundle, date_range, parameters, reference_id
from api.idempotency import IdempotencyKey, respond_once
from api.urls import absolute_url
from data.enums import AppointmentStatus, ResourceKind
from data.errors import Conflict, Invalid, NotFound
from data.tables import Allocation, Appointment, Service
from scheduler import booking, waitlist
from scheduler.catalog_snapshot import catalog
from scheduler.clock import from_minute

router = APIRouter()
APPOINTMENT_PARAMETERS = {"patient": "reference", "practitioner": "reference", "date": "date", "status": "token"}


def _appointment(session: Session, record: Appointment) -> dict:
    snapshot = catalog(session)
    return fhir.appointment(record, session.get(Service, record.service_id),
                            snapshot.locations[record.location_id].zone)


@router.get("/Appointment", openapi_extra=documented(APPOINTMENT_PARAMETERS))
def search_appointments(request: Request, session: SessionDep, settings: SettingsDep, _: Desk):
    """Appointments by ``patient``, ``practitioner``, ``date`` (with prefixes) and ``status``."""
    params = parameters(request, set(APPOINTMENT_PARAMETERS))
    statement = select(Appointment)
    for value in params.get("patient", []):
        statement = statement.where(Appointment.patient_id == _number(reference_id(value, "Patient"), "patient"))
    for value in params.get("practitioner", []):
        clinician = _number(reference_id(value, "Practitioner"), "practitioner")
        statement = statement.where(Appointment.allocations.any(
            (Allocation.resource_kind == ResourceKind.CLINICIAN) & (Allocation.resource_id == clinician)))
    if "date" in params:
        low, high = date_range(params["date"], ZoneInfo(settings.time_zone))
        if low is not None:
            statement = statement.where(Appointment.ends_at > low)
        if high is not None:
            statement = statement.where(Appointment.starts_at < high)
    for value in params.get("status", []):
        try:
            statuses = [AppointmentStatus(code) for code in value.split(",")]
        except ValueError:
            codes = ", ".join(s.value for s in AppointmentStatus)
            raise SearchError(f"status must be one of {codes}") from None
        statement = statement.where(Appointment.status.in_(statuses))
    rows = session.exec(statement.order_by(Appointment.starts_at, Appointment.id).limit(2000)).all()
    return bundle(request, [_appointment(session, row) for row in rows], params)


def _number(text: str, name: str) -> int:
    number = fhir.record_id(text)
    if number is None:
        raise SearchError(f"{name} must be a reference to a record id, like {name.title()}/12")
    return number


@router.get("/Appointment/{ident}")
def read_appointment(ident: str, session: SessionDep, _: Desk):
    number = fhir.record_id(ident)
    record = session.get(Appointment, number) if number else None
    if record is None:
        raise NotFound("Appointment", ident)
    return _appointment(session, record)


def _parsed(body: dict) -> dict:
    """The body as a valid R4 Appointment (the fhir.resources model checks it), or a 400."""
    if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
        raise Invalid(("body", "resourceType"), "the body must be a FHIR Appointment")
    try:
        FHIRAppointment.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Invalid(("body", *map(str, first["loc"])), f"not a valid FHIR Appointment: {first['msg']}") from None
    return body


def _referenced(actors: list[str], prefix: str) -> list[int]:
    """The ids of the participants referenced as ``prefix<id>``; a reference naming no possible record is an error."""
    ids = [fhir.record_id(actor.removeprefix(prefix)) for actor in actors if actor.startswith(prefix)]
    if None in ids:
        raise Invalid(("body", "participant"), f"a participant {prefix}<id> must name a record id, like {prefix}12")
    return ids


def _choice(session: Session, body: dict) -> booking.SlotChoice:
    """The slot and the participants of a FHIR Appointment as the booking code's choice."""
    slots = [ref.get("reference") or "" for ref in body.get("slot") or []]
    if len(slots) != 1:
        raise Invalid(("body", "slot"), "give exactly one slot, a free Slot from a search")
    free = fhir.FreeSlotId.parse(slots[0].rpartition("/")[2])
    if free is None or not slots[0].startswith("Slot/"):
        raise Invalid(("body", "slot"), f"{slots[0]!r} is not a free Slot of a service schedule")
    location = catalog(session).locations.get(free.location_id)
    if location is None:
        raise Invalid(("body", "slot"), f"{slots[0]!r} names no known location")
    actors = [(p.get("actor") or {}).get("reference") or "" for p in body.get("participant") or []]
    patients = _referenced(actors, "Patient/")
    if len(patients) != 1:
        raise Invalid(("body", "participant"), "name exactly one participant Patient/<id>")
    practitioners = _referenced(actors, "Practitioner/")
    rooms = _referenced(actors, "Location/room-")
    devices = tuple(_referenced(actors, "Device/"))
    if len(practitioners) > 1 or len(rooms) > 1:
        raise Invalid(("body", "participant"), "name at most one Practitioner and one room")
    return booking.SlotChoice(free.service_id, patients[0], from_minute(free.minute, location.zone),
                              practitioners[0] if practitioners else free.clinician_id,
                              rooms[0] if rooms else None, devices)


@router.post("/Appointment", status_code=status.HTTP_201_CREATED)
def create_appointment(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, user: Desk,
                       body: Annotated[dict, Body()], key: IdempotencyKey = None):
    """Book a free Slot (``status: booked``) or hold it (``status: pending``, its slots busy-tentative)."""
    body = _parsed(body)
    if body.get("status") not in ("booked", "pending"):
        raise Invalid(("body", "status"), "a new appointment is 'booked', or 'pending' to hold the slot")
    choice = _choice(session, body)

    def produce() -> dict:
        if body["status"] == "pending":
            record = booking.place_hold(session, actor=user, choice=choice, minutes=settings.hold_minutes, now=now,
                                        settings=settings)
        else:
            record = booking.book(session, actor=user, choice=choice, now=now, settings=settings)
        return _appointment(session, record)

    answer = respond_once(session, user=user, key=key, request=request, body=body, now=now, status_code=201,
                          produce=produce, media_type=FHIR_JSON)
    answer.headers["Location"] = absolute_url(request, f"/fhir/Appointment/{json.loads(answer.body)['id']}")
    return answer


@router.put("/Appointment/{ident}")
def update_appointment(ident: str, session: SessionDep, settings: SettingsDep, now: NowDep, user: Desk,
                       body: Annotated[dict, Body()]):
    """Book a held appointment (``pending`` -> ``booked``) or cancel one (-> ``cancelled``); nothing else changes."""
    body = _parsed(body)
    if (number := fhir.record_id(ident)) is None:
        raise NotFound("Appointment", ident)
    record = booking.lock_appointment(session, number, "Appointment")
    if body.get("id") not in (None, ident):
        raise Invalid(("body", "id"), f"the body's id {body.get('id')!r} is not {ident!r}")
    wanted = body.get("status")
    if wanted == record.status.value:
        return _appointment(session, record)
    if wanted == "booked" and record.status == AppointmentStatus.PENDING:
        record = booking.book_hold(session, actor=user, hold_id=record.id, now=now)
    elif wanted == "cancelled":
        reason = (body.get("cancelationReason") or {}).get("text") or "cancelled through FHIR"
        record = waitlist.cancel(session, actor=user, appointment_id=record.id, reason=reason[:300], now=now,
                                 settings=settings)
    else:
        raise Conflict(f"appointment {ident} is {record.status.value}; through FHIR it can only be booked from "
                       "pending or cancelled")
    session.commit()
    return _appointment(session, record)

