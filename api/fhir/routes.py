"""FHIR R4 endpoints under ``/fhir``: directory, schedules and slots, appointments, SMART Scheduling Links.

Everything goes through the same code as the REST API: slots come from the
availability search, bookings, holds and cancellations from
``scheduler.booking`` (database constraints, Idempotency-Key, audit log
included). Errors are OperationOutcomes (``api.errors``).
"""

import json
from urllib.parse import urlencode
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, Request, status
from fhir.resources.R4B.appointment import Appointment as FHIRAppointment
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, select

from api.deps import NowDep, SessionDep, SettingsDep, get_current_user, require_role
from api.fhir import resources as fhir
from api.fhir.search import SearchError, bundle, date_range, parameters, reference_id
from api.idempotency import IdempotencyKey, respond_once
from api.urls import absolute_url
from data.config import Settings
from data.enums import AppointmentStatus, ResourceKind, Role
from data.errors import Conflict, Invalid, NotFound
from data.tables import Allocation, Appointment, Clinician, Device, DeviceType, Location, Room, Service, User
from scheduler import booking, waitlist
from scheduler.visit_requests import PUBLIC_SERVICES
from scheduler.availability import SlotQuery, find_availability
from scheduler.catalog_snapshot import catalog
from scheduler.clock import from_minute, to_minute

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
SLOT_WINDOW, LONGEST_SLOT_WINDOW = timedelta(days=7), timedelta(days=31)
DEEP_LINK = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"
Desk = Annotated[User, Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]


class FHIRResponse(JSONResponse):
    media_type = FHIR_JSON


OUTCOME = {"description": "An OperationOutcome saying what is wrong", "content": {FHIR_JSON: {"schema": {
    "type": "object", "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}}}}}}
router = APIRouter(prefix="/fhir", tags=["fhir"], default_response_class=FHIRResponse,
                   responses={code: OUTCOME for code in (400, 401, 403, 404, 409, 410, 422, 429)})
SLOT_PARAMETERS = {"schedule": "reference", "service-type": "token", "start": "date", "status": "token"}
APPOINTMENT_PARAMETERS = {"patient": "reference", "practitioner": "reference", "date": "date", "status": "token"}
DIRECTORY_TYPES = {"name": "string", "specialty": "token", "type": "token", "service-type": "token"}


def _directory_parameters(filters) -> dict[str, str]:
    return {name: DIRECTORY_TYPES.get(name, "reference") for name in filters}


def _documented(search_parameters: dict[str, str]) -> dict:
    """OpenAPI entries for search parameters, read from the query string by ``parameters`` (so fuzzers see them)."""
    every = search_parameters | {"_count": "number", "_offset": "number"}
    return {"parameters": [{"name": name, "in": "query", "required": False, "schema": {"type": "string"},
                            "description": f"FHIR {kind} search parameter"} for name, kind in every.items()]}


# --- the directory: small, so built whole and filtered in memory ---------------------------------


def _clinicians(session: Session) -> list[Clinician]:
    return list(session.exec(select(Clinician).order_by(Clinician.id)))


def _locations(session: Session) -> list[dict]:
    clinics = [fhir.clinic(location) for location in session.exec(select(Location).order_by(Location.id))]
    return clinics + [fhir.room(room) for room in session.exec(select(Room).order_by(Room.id))]


def _devices(session: Session) -> list[dict]:
    types = {t.id: t for t in session.exec(select(DeviceType))}
    return [fhir.device(unit, types[unit.device_type_id]) for unit in session.exec(select(Device).order_by(Device.id))]


def _services(session: Session) -> list[dict]:
    locations = sorted(catalog(session).locations)
    return [fhir.healthcare_service(service, locations) for service in session.exec(select(Service).order_by(Service.id))]


def _schedules(session: Session) -> list[dict]:
    result = [fhir.schedule("practitioner", c.id, c.name, location_ids=[c.location_id], active=fhir.in_service(c))
              for c in _clinicians(session)]
    result += [fhir.schedule("device", d.id, d.name, location_ids=[d.location_id], active=fhir.in_service(d))
               for d in session.exec(select(Device).order_by(Device.id))]
    result += [fhir.schedule("room", r.id, r.name, location_ids=[r.location_id], active=fhir.in_service(r))
               for r in session.exec(select(Room).order_by(Room.id))]
    locations = sorted(catalog(session).locations)
    result += [fhir.schedule("service", s.id, s.name, location_ids=locations, service=s, active=fhir.in_service(s))
               for s in session.exec(select(Service).order_by(Service.id))]
    return result


def _refers(field: str, resource_type: str) -> Callable[[dict, str], bool]:
    """A reference search parameter over ``field`` (one reference or a list of them)."""
    def matches(resource: dict, value: str) -> bool:
        wanted = f"{resource_type}/{reference_id(value, resource_type)}"
        found = resource.get(field) or []
        return any(ref.get("reference") == wanted for ref in (found if isinstance(found, list) else [found]))
    return matches


def _coded(field: str) -> Callable[[dict, str], bool]:
    """A token parameter: ``code`` or ``system|code``."""
    def matches(resource: dict, value: str) -> bool:
        system, _, code = value.rpartition("|")
        concepts = resource.get(field) or []
        return any(c["code"] == code and (not system or c["system"] == system)
                   for concept in (concepts if isinstance(concepts, list) else [concepts]) for c in concept["coding"])
    return matches


def _named(resource: dict, value: str) -> bool:
    names = [resource.get("name")] if isinstance(resource.get("name"), str) else [
        n.get("text", "") for n in resource.get("name", [])]
    return any(value.lower() in (name or "").lower() for name in names)


def _actor(resource: dict, value: str) -> bool:
    return any(ref["reference"] == value or ref["reference"].endswith(f"/{value}") for ref in resource["actor"])


DIRECTORY: dict[str, tuple[Callable[[Session], list[dict]], dict[str, Callable[[dict, str], bool]]]] = {
    "Practitioner": (lambda s: [fhir.practitioner(c) for c in _clinicians(s)], {"name": _named}),
    "PractitionerRole": (lambda s: [fhir.practitioner_role(c) for c in _clinicians(s)],
                         {"practitioner": _refers("practitioner", "Practitioner"),
                          "location": _refers("location", "Location"), "specialty": _coded("specialty")}),
    "Location": (_locations, {"name": _named, "partof": _refers("partOf", "Location")}),
    "Device": (_devices, {"location": _refers("location", "Location"), "type": _coded("type")}),
    "HealthcareService": (_services, {"location": _refers("location", "Location"), "service-type": _coded("type"),
                                      "name": _named}),
    "Schedule": (_schedules, {"actor": _actor, "service-type": _coded("serviceType")}),
}


def _in_service(resource: dict) -> bool:
    """Archived clinicians, rooms, devices and services (inactive) are left out of searches; a read still finds them."""
    return resource.get("active", True) and resource.get("status", "active") == "active"


def _directory_search(resource_type: str):
    build, filters = DIRECTORY[resource_type]

    def search(request: Request, session: SessionDep):
        params = parameters(request, set(filters) | {"_id"})
        found = [resource for resource in build(session) if _in_service(resource)]
        for name, values in params.items():
            if name == "_id":
                found = [r for r in found if r["id"] in values[-1].split(",")]
            elif name in filters:
                found = [r for r in found if any(filters[name](r, v) for v in values[-1].split(","))]
        return bundle(request, found, params)

    def read(ident: str, session: SessionDep):
        match = next((r for r in build(session) if r["id"] == ident), None)
        if match is None:
            raise NotFound(resource_type, ident)
        return match

    search.__doc__ = f"Search {resource_type} resources (a searchset Bundle)."
    read.__doc__ = f"Read one {resource_type}."
    return search, read


for _type in DIRECTORY:
    _search, _read = _directory_search(_type)
    router.add_api_route(f"/{_type}", _search, methods=["GET"], name=f"search {_type}",
                         dependencies=[Depends(get_current_user)],
                         openapi_extra=_documented(_directory_parameters(DIRECTORY[_type][1]) | {"_id": "token"}))
    router.add_api_route(f"/{_type}/{{ident}}", _read, methods=["GET"], name=f"read {_type}",
                         dependencies=[Depends(get_current_user)])


# --- slots ---------------------------------------------------------------------------


def _free_slots(session: Session, service: Service, start: datetime, end: datetime, *, now: datetime,
                settings: Settings, limit: int = 200, location_id: int | None = None,
                clinician_id: int | None = None) -> list[dict]:
    found = find_availability(session, SlotQuery(service_id=service.id, start=start, end=end, location_id=location_id,
                                                 clinician_id=clinician_id, limit=limit), now=now, settings=settings)
    slots = [fhir.free_slot(fhir.FreeSlotId(service.id, offer.location_id, offer.slot.clinician.id,
                                            to_minute(offer.start)), service, offer.start, offer.end)
             for offer in found.offers]
    return sorted(slots, key=lambda slot: (slot["start"], slot["id"]))


def _busy_slots(session: Session, kind: str, ident: int, start: datetime, end: datetime, now: datetime) -> list[dict]:
    resource_kind = {"practitioner": ResourceKind.CLINICIAN, "device": ResourceKind.DEVICE,
                     "room": ResourceKind.ROOM}[kind]
    rows = session.exec(
        select(Allocation, Appointment).join(Appointment)
        .where(Allocation.live, Allocation.resource_kind == resource_kind, Allocation.resource_id == ident,
               Allocation.starts_at < end, Allocation.ends_at > start,
               (Allocation.hold_expires_at.is_(None)) | (Allocation.hold_expires_at > now))
        .order_by(Allocation.starts_at)
    ).all()
    locations = catalog(session).locations
    return [fhir.busy_slot(allocation, f"{kind}-{ident}", appointment, locations[appointment.location_id].zone)
            for allocation, appointment in rows]


@router.get("/Slot", dependencies=[Depends(get_current_user)], openapi_extra=_documented(SLOT_PARAMETERS))
def search_slots(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep):
    """Slots of a schedule or service type: free ones of service schedules, busy ones of clinicians, units, rooms.

    ``start`` takes ``ge``/``gt``/``le``/``lt`` prefixes (default: the coming 7 days; at most 31 days).
    """
    params = parameters(request, set(SLOT_PARAMETERS))
    zone = ZoneInfo(settings.time_zone)
    low, high = date_range(params.get("start", []), zone)
    low = low or now
    high = high or low + SLOT_WINDOW
    if high <= low:
        raise SearchError("the start range is empty")
    if high - low > LONGEST_SLOT_WINDOW:
        raise SearchError(f"search slots {LONGEST_SLOT_WINDOW.days} days at a time at most")
    schedules = [reference_id(v, "Schedule") for value in params.get("schedule", []) for v in value.split(",")]
    for value in params.get("service-type", []):
        code = value.rpartition("|")[2]
        service = session.exec(select(Service).where(Service.code == code)).first()
        if service is None:
            raise SearchError(f"no service has the code {code!r}")
        schedules.append(f"service-{service.id}")
    if not schedules:
        raise SearchError("search Slots by schedule (e.g. Schedule/service-3) or service-type")
    slots = []
    for schedule_id in schedules:
        match = fhir.SCHEDULE.fullmatch(schedule_id)
        ident = fhir.record_id(match.group(2)) if match else None
        if ident is None:
            raise SearchError(f"there is no Schedule {schedule_id[:60]!r}")
        kind = match.group(1)
        if kind == "service":
            service = session.get(Service, ident)
            if service is None:
                raise SearchError(f"there is no Schedule {schedule_id!r}")
            slots += _free_slots(session, service, low, high, now=now, settings=settings)
        else:
            slots += _busy_slots(session, kind, ident, low, high, now)
    wanted = {s for value in params.get("status", []) for s in value.split(",")}
    if wanted:
        slots = [slot for slot in slots if slot["status"] in wanted]
    return bundle(request, slots, params)


@router.get("/Slot/{ident}", dependencies=[Depends(get_current_user)])
def read_slot(ident: str, session: SessionDep, settings: SettingsDep, now: NowDep):
    """A free slot while it is still free (it is computed, not stored), or a busy one."""
    if (free := fhir.FreeSlotId.parse(ident)) is not None:
        service = session.get(Service, free.service_id)
        if service is not None and free.location_id in catalog(session).locations:
            zone = catalog(session).locations[free.location_id].zone
            start = from_minute(free.minute, zone)
            slots = _free_slots(session, service, start, start + timedelta(minutes=1), now=now, settings=settings,
                                location_id=free.location_id, clinician_id=free.clinician_id)
            if any(slot["id"] == ident for slot in slots):
                return next(slot for slot in slots if slot["id"] == ident)
        raise NotFound("free Slot", f"{ident} (it may have been taken)")
    if (busy := fhir.BUSY_SLOT.fullmatch(ident)) is not None and (number := fhir.record_id(busy.group(1))):
        allocation = session.get(Allocation, number)
        kinds = {ResourceKind.CLINICIAN: "practitioner", ResourceKind.DEVICE: "device", ResourceKind.ROOM: "room"}
        if allocation is not None and allocation.live and allocation.resource_kind in kinds:
            appointment = session.get(Appointment, allocation.appointment_id)
            zone = catalog(session).locations[appointment.location_id].zone
            return fhir.busy_slot(allocation, f"{kinds[allocation.resource_kind]}-{allocation.resource_id}",
                                  appointment, zone)
    raise NotFound("Slot", ident)


# --- appointments ----------------------------------------------------------------------


def _appointment(session: Session, record: Appointment) -> dict:
    snapshot = catalog(session)
    return fhir.appointment(record, session.get(Service, record.service_id),
                            snapshot.locations[record.location_id].zone)


@router.get("/Appointment", openapi_extra=_documented(APPOINTMENT_PARAMETERS))
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


# --- SMART Scheduling Links ----------------------------------------------------------------


@router.get("/$bulk-publish")
def bulk_publish(request: Request, now: NowDep):
    """The SMART Scheduling Links manifest: where the Location, Schedule and Slot files are (no sign-in)."""
    base = absolute_url(request, "")
    return {"transactionTime": now.isoformat(), "request": f"{base}/fhir/$bulk-publish",
            "output": [{"type": kind, "url": f"{base}/fhir/bulk/{kind}.ndjson"} for kind in ("Location", "Schedule",
                                                                                             "Slot")],
            "error": []}


def _ndjson(resources: list[dict]) -> Response:
    text = "".join(json.dumps(resource, separators=(",", ":")) + "\n" for resource in resources)
    return Response(text, media_type=FHIR_NDJSON)


def _published(session: Session, settings: Settings) -> dict[int, str]:
    """The services the public may request, by id, with their request kind (the bulk publication's scope)."""
    kinds = {getattr(settings, setting): kind.value for kind, setting in PUBLIC_SERVICES.items()}
    offered = select(Service).where(Service.code.in_(kinds), Service.archived_at.is_(None)).order_by(Service.id)
    return {service.id: kinds[service.code] for service in session.exec(offered)}


@router.get("/bulk/{kind}.ndjson", response_class=Response)
def bulk_file(kind: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep):
    """Clinics, the schedules of the publicly requestable services and their free slots, one JSON per line.

    Each slot carries the booking deep link that opens the public request page at it.
    """
    published = _published(session, settings)
    if kind == "Location":
        return _ndjson([r for r in _locations(session) if not r["id"].startswith("room-")])
    if kind == "Schedule":
        return _ndjson([r for r in _schedules(session) if r["id"] in {f"service-{i}" for i in published}])
    if kind != "Slot":
        raise NotFound("bulk file", f"{kind}.ndjson")
    slots = []
    for service_id, request_kind in published.items():
        service = session.get(Service, service_id)
        for slot in _free_slots(session, service, now, now + timedelta(days=settings.public_days), now=now,
                                settings=settings, limit=2000):
            free = fhir.FreeSlotId.parse(slot["id"])
            query = urlencode({"kind": request_kind, "location_id": free.location_id, "start": slot["start"]})
            slot["extension"] = [{"url": DEEP_LINK, "valueUrl": absolute_url(request, "/request", query)}]
            slots.append(slot)
    return _ndjson(slots)


# --- what the server supports ---------------------------------------------------------------


@router.get("/metadata")
def capability_statement(request: Request, now: NowDep):
    """The CapabilityStatement: FHIR 4.0.1, JSON, what can be read, searched and written (no sign-in)."""

    def described(resource_type: str, parameters: dict[str, str], interactions: list[str]) -> dict:
        return {"type": resource_type, "interaction": [{"code": code} for code in interactions],
                "searchParam": [{"name": name, "type": kind} for name, kind in parameters.items()]}

    resources = [described(t, _directory_parameters(filters), ["read", "search-type"])
                 for t, (_, filters) in DIRECTORY.items()]
    resources.append(described("Slot", SLOT_PARAMETERS, ["read", "search-type"]))
    resources.append(described("Appointment", APPOINTMENT_PARAMETERS, ["read", "search-type", "create", "update"]))
    return {
        "resourceType": "CapabilityStatement", "status": "active", "date": now.date().isoformat(),
        "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
        "software": {"name": "clinic-scheduler", "version": request.app.version},
        "implementation": {"description": "Clinic scheduling", "url": absolute_url(request, "/fhir")},
        "rest": [{
            "mode": "server",
            "documentation": ("Sign in with POST /api/v1/auth/token and send the bearer token; metadata and the "
                              "bulk publication are public. Free Slots exist for service schedules (Schedule/"
                              "service-<id>); clinician, device and room schedules list busy Slots. Appointment "
                              "update only books a pending appointment or cancels one."),
            "security": {"service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                                  "code": "OAuth", "display": "OAuth"}]}]},
            "resource": resources,
            "operation": [{"name": "bulk-publish",
                           "definition": "http://fhir-registry.smarthealthit.org/OperationDefinition/bulk-publish"}],
        }],
    }
