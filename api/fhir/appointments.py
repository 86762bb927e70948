"""FHIR Appointments: read and search for the desk; create (book or hold a free Slot, conditionally with
If-None-Exist) and update: a status change or a move, versioned with If-Match.

Everything goes through ``scheduler.booking`` (database constraints, Idempotency-Key, audit log included). An
update either does what its body says or is refused: an element that cannot change must be what is stored, so a
200 never hides a change that was dropped (a lost update).
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import json_merge_patch
import jsonpatch
from fastapi import APIRouter, Body, Depends, HTTPException, Request, status
from fhir.resources.R4B.appointment import Appointment as FHIRAppointment
from pydantic import ValidationError
from sqlalchemy import func, not_
from sqlmodel import Session, select

from api.deps import NowDep, SessionDep, SettingsDep
from api.fhir import conditional, resources as fhir
from api.fhir.common import FHIR_JSON, Desk, documented, stored
from api.fhir.search import Cursor, Search, SearchError, SearchForm, instants, local_zone, reference_id
from api.idempotency import IdempotencyKey, respond_once
from api.openapi import also_answers
from api.schemas.booking import CancelRequest
from api.preconditions import IfMatch, require_version
from api.schemas.common import schedulable
from api.urls import absolute_url
from data.config import Settings
from data.enums import AppointmentStatus, ResourceKind
from data.errors import Conflict, Invalid, NotFound
from data.tables import Allocation, Appointment, Service, User
from scheduler import booking, waitlist
from scheduler.catalog_snapshot import catalog
from scheduler.clock import from_minute

router = APIRouter()
JSON_PATCH, MERGE_PATCH = "application/json-patch+json", "application/merge-patch+json"
PATCH_MEDIA_TYPES = (JSON_PATCH, MERGE_PATCH, FHIR_JSON, "application/json")  # the last two: the patch's shape says
APPOINTMENT_PARAMETERS = {"_id": "token", "patient": "reference", "practitioner": "reference", "date": "date",
                          "status": "token"}
APPOINTMENT_SORTS = ("date", "-date")


def appointment_resource(session: Session, record: Appointment) -> dict:
    snapshot = catalog(session)
    return fhir.appointment(record, session.get(Service, record.service_id),
                            snapshot.locations[record.location_id].zone)


@router.get("/Appointment",
            openapi_extra=documented(APPOINTMENT_PARAMETERS, paging="_cursor", sorts=APPOINTMENT_SORTS))
@router.post("/Appointment/_search",
             openapi_extra=documented(APPOINTMENT_PARAMETERS, paging="_cursor", sorts=APPOINTMENT_SORTS, form=True))
def search_appointments(request: Request, session: SessionDep, settings: SettingsDep, _: Desk,
                        form: SearchForm = None):
    """Appointments by ``_id``, ``patient``, ``practitioner``, ``date`` (``Appointment.start``, with prefixes) and
    ``status``: soonest first, or latest first with ``_sort=-date``; pages go on by ``_cursor`` (the next link)."""
    search = Search.read(request, form, "Appointment", APPOINTMENT_PARAMETERS, sorts=APPOINTMENT_SORTS,
                         paging="_cursor")
    params = search.params
    statement = select(Appointment)
    for value in params.get("_id", []):
        statement = statement.where(Appointment.id.in_([n for v in value.split(",") if (n := fhir.record_id(v))]))
    for value in params.get("patient", []):
        statement = statement.where(Appointment.patient_id == _number(reference_id(value, "Patient"), "patient"))
    practitioners = [_number(reference_id(value, "Practitioner"), "practitioner")
                     for value in params.get("practitioner", [])]
    for clinician in practitioners:
        statement = statement.where(Appointment.allocations.any(
            (Allocation.resource_kind == ResourceKind.CLINICIAN) & (Allocation.resource_id == clinician)))
    if "date" in params:
        starts = instants(params["date"], local_zone(session, settings, clinicians=practitioners))
        if starts.low is not None:
            statement = statement.where(Appointment.starts_at >= starts.low)
        if starts.high is not None:
            statement = statement.where(Appointment.starts_at < starts.high)
        for low, high in starts.holes:
            statement = statement.where(not_((Appointment.starts_at >= low) & (Appointment.starts_at < high)))
    for value in params.get("status", []):
        try:
            statuses = [AppointmentStatus(code) for code in value.split(",")]
        except ValueError:
            codes = ", ".join(s.value for s in AppointmentStatus)
            raise SearchError(f"status must be one of {codes}") from None
        statement = statement.where(Appointment.status.in_(statuses))
    latest_first = search.sort == "-date"
    rows = session.exec(_after(statement, search.cursor, latest_first).order_by(
        *((Appointment.starts_at.desc(), Appointment.id.desc()) if latest_first else
          (Appointment.starts_at, Appointment.id))).limit(search.count + 1)).all()
    page, more = rows[:search.count], len(rows) > search.count
    return search.bundle(
        [appointment_resource(session, row) for row in page], cheap=True,
        total=lambda: session.exec(select(func.count()).select_from(statement.subquery())).one(),
        following=Cursor(page[-1].starts_at, str(page[-1].id)) if more and page else None)


def _after(statement, cursor: Cursor | None, latest_first: bool):
    """The appointments listed after the cursor's (start, id), in the order asked for."""
    if cursor is None:
        return statement
    ident = fhir.record_id(cursor.ident)
    if ident is None:
        raise SearchError("_cursor is not one this server gave out; follow the Bundle's next link")
    if latest_first:
        return statement.where((Appointment.starts_at < cursor.at) | (
            (Appointment.starts_at == cursor.at) & (Appointment.id < ident)))
    return statement.where((Appointment.starts_at > cursor.at) | (
        (Appointment.starts_at == cursor.at) & (Appointment.id > ident)))


def _number(text: str, name: str) -> int:
    number = fhir.record_id(text)
    if number is None:
        raise SearchError(f"{name} must be a reference to a record id, like {name.title()}/12")
    return number


@router.get("/Appointment/{ident}", responses=conditional.NOT_MODIFIED)
def read_appointment(ident: str, session: SessionDep, _: Desk, if_none_match: conditional.IfNoneMatch = None):
    """The appointment, its version in ``meta.versionId`` and the ETag (304 to ``If-None-Match`` while current)."""
    return conditional.read(appointment_resource(session, stored(session, Appointment, ident)), if_none_match)


@router.get("/Appointment/{ident}/_history/{version_id}")
def read_appointment_version(ident: str, version_id: conditional.VersionId, session: SessionDep, _: Desk):
    """vread: the current version only (an older one is a 404 saying so)."""
    return conditional.version_read(appointment_resource(session, stored(session, Appointment, ident)), version_id)


def _parsed(body: dict) -> dict:
    """The body as a valid R4 Appointment (the fhir.resources model checks it), or a 400."""
    if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
        raise Invalid(("resourceType",), "the body must be a FHIR Appointment")
    try:
        FHIRAppointment.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Invalid(tuple(map(str, first["loc"])), f"not a valid FHIR Appointment: {first['msg']}") from None
    return body


PARTICIPANT_KINDS = ("Patient/", "Practitioner/", "Location/room-", "Device/", "Location/")  # rooms before clinics


@dataclass(frozen=True)
class Participants:
    """The body's participants by kind (record ids); ``others`` are references of kinds the clinic does not keep."""

    patients: list[int]
    practitioners: list[int]
    rooms: list[int]
    devices: list[int]
    clinics: list[int]
    others: list[str]


def _participants(body: dict) -> Participants:
    """The participants' references read as record ids; one naming no possible record is an error."""
    actors = [(p.get("actor") or {}).get("reference") or "" for p in body.get("participant") or []]
    ids: dict[str, list[int]] = {prefix: [] for prefix in PARTICIPANT_KINDS}
    others = []
    for actor in actors:
        prefix = next((prefix for prefix in PARTICIPANT_KINDS if actor.startswith(prefix)), None)
        if prefix is None:
            others.append(actor)
            continue
        number = fhir.record_id(actor.removeprefix(prefix))
        if number is None:
            raise Invalid(("participant",), f"a participant {prefix}<id> must name a record id, like {prefix}12")
        ids[prefix].append(number)
    return Participants(*(ids[prefix] for prefix in PARTICIPANT_KINDS), others)


def slot_choice(session: Session, body: dict) -> booking.SlotChoice:
    """The slot and the participants of a FHIR Appointment as the booking code's choice."""
    slots = [ref.get("reference") or "" for ref in body.get("slot") or []]
    if len(slots) != 1:
        raise Invalid(("slot",), "give exactly one slot, a free Slot from a search")
    free = fhir.FreeSlotId.parse(slots[0].rpartition("/")[2])
    if free is None or not slots[0].startswith("Slot/"):
        raise Invalid(("slot",), f"{slots[0]!r} is not a free Slot of a service schedule")
    location = catalog(session).locations.get(free.location_id)
    if location is None:
        raise Invalid(("slot",), f"{slots[0]!r} names no known location")
    named = _participants(body)
    if len(named.patients) != 1:
        raise Invalid(("participant",), "name exactly one participant Patient/<id>")
    if len(named.practitioners) > 1 or len(named.rooms) > 1:
        raise Invalid(("participant",), "name at most one Practitioner and one room")
    start = from_minute(free.minute, location.zone)
    _as_the_slot_says(body, start, catalog(session).services[free.service_id].duration)
    return booking.SlotChoice(free.service_id, named.patients[0], start,
                              named.practitioners[0] if named.practitioners else free.clinician_id,
                              named.rooms[0] if named.rooms else None, tuple(named.devices))


def _as_the_slot_says(body: dict, start: datetime, minutes: int) -> None:
    """A start, end or length given with the slot must be the slot's: they were ignored, and a client could believe
    it booked another time (or length) than the one stored (found by a probe)."""
    end = start + timedelta(minutes=minutes)
    for element, expected in (("start", start), ("end", end)):
        if element in body and _instant(body, element) != expected:
            raise Invalid((element,), f"the {element} follows from the slot: {expected.isoformat()} (leave it out, "
                                      "or choose the Slot that starts when you want)")
    _length_as_served(body, minutes)


@router.post("/Appointment", status_code=status.HTTP_201_CREATED, responses=conditional.PRECONDITION)
def create_appointment(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, user: Desk,
                       body: Annotated[dict, Body()], key: IdempotencyKey = None,
                       if_none_exist: conditional.IfNoneExist = None):
    """Book a free Slot (``status: booked``) or hold it (``status: pending``, its slots busy-tentative).

    With ``If-None-Exist`` (Appointment search parameters, e.g. ``patient=Patient/3&date=2027-03-03``) the
    appointment that matches is answered (200) and nothing is booked; several matches are a 412.
    """
    body = _parsed(body)
    if body.get("status") not in ("booked", "pending"):
        raise Invalid(("status",), "a new appointment is 'booked', or 'pending' to hold the slot")
    choice = slot_choice(session, body)
    if if_none_exist is not None:
        found = conditional.existing(request, session, if_none_exist, "Appointment",
                                     lambda query: search_appointments(query, session, settings, user))
        if found is not None:
            return conditional.answer(found)

    def produce() -> dict:
        if body["status"] == "pending":
            record = booking.place_hold(session, actor=user, choice=choice, minutes=settings.hold_minutes, now=now,
                                        settings=settings)
        else:
            record = booking.book(session, actor=user, choice=choice, now=now, settings=settings)
        return appointment_resource(session, record)

    answer = respond_once(session, user=user, key=key, request=request, body=body, now=now, status_code=201,
                          produce=produce, media_type=FHIR_JSON)
    made = json.loads(answer.body)
    answer.headers.update({**conditional.version_headers(made),
                           "Location": absolute_url(request, f"/fhir/Appointment/{made['id']}/_history/"
                                                             f"{made['meta']['versionId']}")})
    return answer


@dataclass(frozen=True)
class Move:
    """Where an update moves a booked appointment (through ``booking.reschedule``)."""

    start: datetime
    clinician_id: int | None
    room_id: int | None
    device_ids: tuple[int, ...]


# What an update may say: the status and the time and resources change; the rest must be what is stored.
UPDATABLE = ("status", "start", "end", "participant", "cancelationReason", "serviceType", "minutesDuration", "slot")
SERVER_KEPT = ("resourceType", "id", "meta", "text", "created")  # assigned by the server; an update leaves them
ATTENDANCE = {"arrived": "check_in", "fulfilled": "complete", "noshow": "no_show"}  # booking.TRANSITIONS


def _moved(session: Session, record: Appointment, body: dict) -> Move | None:
    """Where the body moves the appointment (another start, Practitioner, room or device units), None if nowhere.

    An element left out stays as it is; one given that cannot change must be what is stored (``_unchanged``).
    A move books the service as the catalog has it now (``booking.reschedule``), which may be longer or shorter
    than when the session was booked: the end and ``minutesDuration`` a move expects are those it will write. An
    end left as stored follows the new start (a merge patch of ``start`` alone keeps the old end in the merged
    resource, and a length cannot be chosen anyway); any other end must be the one the move writes.
    """
    named = _unchanged(session, record, body)
    clinicians, rooms = record.resource_ids(ResourceKind.CLINICIAN), record.resource_ids(ResourceKind.ROOM)
    devices = sorted(record.resource_ids(ResourceKind.DEVICE))
    start = _instant(body, "start") if "start" in body else record.starts_at
    current_clinician = clinicians[0] if clinicians else None
    clinician = named.practitioners[0] if named.practitioners else current_clinician
    other_room = named.rooms[0] if named.rooms and named.rooms != rooms else None
    other_devices = tuple(sorted(named.devices)) if named.devices and sorted(named.devices) != devices else ()
    moves = start != record.starts_at or clinician != current_clinician or other_room is not None or other_devices
    snapshot = catalog(session)
    length = (timedelta(minutes=snapshot.services[record.service_id].duration) if moves
              else record.ends_at - record.starts_at)
    if "end" in body and _instant(body, "end") not in (start + length, record.ends_at if moves else None):
        zone = snapshot.locations[record.location_id].zone
        raise Invalid(("end",), f"the end follows from the start and the session's length: "
                                f"{(start + length).astimezone(zone).isoformat()}")
    minutes = int(length.total_seconds() // 60)
    _length_as_served(body, minutes)
    return Move(start, clinician, other_room, other_devices) if moves else None


def _length_as_served(body: dict, minutes: int) -> None:
    """``minutesDuration``, where given, is the length the service gives: a JSON whole number, that number."""
    if "minutesDuration" in body and (type(body["minutesDuration"]) is not int or body["minutesDuration"] != minutes):
        raise Invalid(("minutesDuration",), f"the length follows from the service: {minutes} (a whole number of "
                                            f"minutes, not {json.dumps(body['minutesDuration'])[:40]})")


def _unchanged(session: Session, record: Appointment, body: dict) -> Participants:
    """The body's participants, once the elements that cannot change are found as stored (else a 422 naming one):
    the patient, the service, the clinic, what follows from the time (length, slot), and nothing not kept."""
    unknown = sorted(set(body) - set(UPDATABLE) - set(SERVER_KEPT))
    if unknown:
        raise Invalid((unknown[0],), f"Appointment.{unknown[0]} is not kept by this server; an update may give "
                                     f"{', '.join(UPDATABLE)}")
    current = appointment_resource(session, record)
    if "serviceType" in body and _codes(body["serviceType"]) != _codes(current["serviceType"]):
        raise Invalid(("serviceType",), f"an appointment's service cannot change (it is "
                                        f"{current['serviceType'][0]['text']}); book the other service and cancel "
                                        "this appointment")
    if "slot" in body and _references(body["slot"]) != _references(current.get("slot")):
        raise Invalid(("slot",), "the slot follows from the time and practitioner: to move the appointment, change "
                                 "its start (and Practitioner, room or Device participants)")
    named = _participants(body)
    if named.others:
        raise Invalid(("participant",), f"{named.others[0][:60]!r} is not a participant this server keeps: name "
                                        "Patient, Practitioner, Location and Device only")
    if set(named.patients) - {record.patient_id}:
        raise Invalid(("participant",), f"an appointment's patient cannot change (it is Patient/{record.patient_id})"
                                        "; book for the other patient and cancel this")
    if set(named.clinics) - {record.location_id}:
        raise Invalid(("participant",), f"the clinic (Location/{record.location_id}) follows from the "
                                        "Practitioner; name the Practitioner instead")
    if len(named.practitioners) > 1 or len(named.rooms) > 1:
        raise Invalid(("participant",), "name at most one Practitioner and one room")
    return named


def _instant(body: dict, element: str) -> datetime:
    """An instant of the body on the calendar the clinic keeps. The R4B model checked its form but also takes a JSON
    number (as seconds since 1970); FHIR's JSON writes an instant as a string only, and the body is read as given."""
    value = body[element]
    if not isinstance(value, str):
        raise Invalid((element,), f"an instant is a string with its offset, such as 2027-03-03T09:00:00-05:00, "
                                  f"not {json.dumps(value)[:40]}")
    try:
        return schedulable(datetime.fromisoformat(value))
    except ValueError as exc:
        raise Invalid((element,), str(exc)) from None


def _codes(concepts: list[dict]) -> set[tuple]:
    return {(coding.get("system"), coding.get("code")) for concept in concepts or [] for coding in
            concept.get("coding") or []}


def _references(references: list[dict] | None) -> list[str]:
    return [reference.get("reference") for reference in references or []]


def _changed_status(session: Session, record: Appointment, wanted: str, body: dict, user: User, now: datetime,
                    settings: Settings) -> Appointment:
    """The status change through the use case the REST API has for it (each checks the state it finds locked)."""
    if wanted == AppointmentStatus.BOOKED and record.status == AppointmentStatus.PENDING:
        return booking.book_hold(session, actor=user, hold_id=record.id, now=now, settings=settings)
    if wanted == AppointmentStatus.CANCELLED:
        text = (body.get("cancelationReason") or {}).get("text") or "cancelled through FHIR"
        try:  # the REST cancel's rules: a NUL was stored on SQLite, and 100,000 characters cut to 300 (a probe)
            reason = CancelRequest(reason=text).reason
        except ValidationError as exc:
            raise Invalid(("cancelationReason", "text"), exc.errors()[0]["msg"]) from None
        return waitlist.cancel(session, actor=user, appointment_id=record.id, reason=reason, now=now,
                               settings=settings)
    if wanted in ATTENDANCE:
        return booking.change_status(session, actor=user, appointment_id=record.id, action=ATTENDANCE[wanted],
                                     now=now)
    raise Conflict(f"appointment {record.id} is {record.status.value}; through FHIR it is booked from pending, "
                   "cancelled, arrived (checked in) from booked, fulfilled from arrived, or a noshow from booked")


@router.put("/Appointment/{ident}", responses={**conditional.PRECONDITION, **also_answers(410)})
def update_appointment(ident: str, session: SessionDep, settings: SettingsDep, now: NowDep, user: Desk,
                       body: Annotated[dict, Body()], if_match: IfMatch = None):
    """Change the status (book a hold, cancel, check in, complete, no-show) or move a booked appointment (another
    ``start``, Practitioner, room or Device participants: rescheduled, all or nothing); one at a time.

    Everything else the body gives must be what is stored (422 otherwise). ``If-Match: W/"<versionId>"`` makes
    the change only on that version: it is compared with the appointment as locked for the change, so one
    made meanwhile is a 412 and nothing is written.
    """
    body = _parsed(body)
    if (number := fhir.record_id(ident)) is None:
        raise NotFound("Appointment", ident)
    if body.get("id") != ident:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"the body's id must be the one in the URL, {ident!r}")
    wanted = body.get("status")
    if wanted not in set(AppointmentStatus):
        raise Invalid(("status",), f"status must be one of {', '.join(AppointmentStatus)}")
    record = booking.lock_appointment(session, number, "Appointment")
    require_version(if_match, record.version, f"Appointment/{ident}")
    move = _moved(session, record, body)
    if "cancelationReason" in body and wanted != AppointmentStatus.CANCELLED:
        raise Invalid(("cancelationReason",), "a cancelationReason goes with status 'cancelled'")
    if move is not None and wanted != record.status and record.status == AppointmentStatus.BOOKED:
        raise Invalid(("status",), f"change the status or move the appointment, one at a time: it is "
                                          f"{record.status.value} at {appointment_resource(session, record)['start']}")
    if move is not None:  # what is no longer booked (cancelled meanwhile, say) is refused there: a 409
        record = waitlist.reschedule(session, actor=user, appointment_id=record.id, start=move.start, now=now,
                                     settings=settings, clinician_id=move.clinician_id, room_id=move.room_id,
                                     device_ids=move.device_ids)
    elif wanted != record.status:
        record = _changed_status(session, record, wanted, body, user, now, settings)
    session.commit()
    return conditional.answer(appointment_resource(session, record))


def _patch_media_type(request: Request) -> None:
    """A patch is JSON: text or a form with a patch in it is refused as such, not read as a malformed patch."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind not in PATCH_MEDIA_TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"send a JSON Patch ({JSON_PATCH}) or a JSON merge patch ({MERGE_PATCH}), not "
                            f"{kind[:60] or 'a body without Content-Type'}")


@router.patch("/Appointment/{ident}", responses={**conditional.PRECONDITION, **also_answers(410, 415)},
              dependencies=[Depends(_patch_media_type)],
              openapi_extra={"requestBody": {"content": {MERGE_PATCH: {"schema": {"type": "object"}}}}})
def patch_appointment(ident: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                      user: Desk, body: Annotated[list[dict] | dict, Body(media_type=JSON_PATCH)],
                      if_match: IfMatch = None):
    """A JSON Patch (RFC 6902), e.g. ``[{"op": "replace", "path": "/status", "value": "cancelled"}]`` as the
    Argonaut Scheduling guide cancels, or a JSON merge patch (RFC 7396), e.g. ``{"status": "cancelled"}`` as
    fhirpy's ``patch()`` sends: applied to the current version, then made exactly as that update (PUT).
    FHIRPath Patch (a ``Parameters`` body) is not supported: 422."""
    if (number := fhir.record_id(ident)) is None:
        raise NotFound("Appointment", ident)
    # A JSON Patch is an array and a merge patch an object: `{}` sent as a JSON Patch (or `[]` as a merge patch)
    # was applied as the other kind, an empty change answered 200 (found by a probe).
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if (kind == JSON_PATCH and not isinstance(body, list)) or (kind == MERGE_PATCH and isinstance(body, list)):
        raise Invalid(("body",), f"a JSON Patch ({JSON_PATCH}) is an array of operations and a JSON merge patch "
                                 f"({MERGE_PATCH}) an object")
    current = appointment_resource(session, booking.lock_appointment(session, number, "Appointment"))
    return update_appointment(ident, session, settings, now, user, _patched(current, body, ident), if_match)


def _patched(current: dict, body: list[dict] | dict, ident: str) -> dict:
    """``current`` with ``body`` applied: a list is a JSON Patch, an object a merge patch."""
    if isinstance(body, list):
        try:
            return jsonpatch.apply_patch(current, body)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise Invalid(("body",), f"the JSON Patch cannot be applied to Appointment/{ident}: {exc}") from None
    if body.get("resourceType") == "Parameters":
        raise Invalid(("body",), f"FHIRPath Patch is not supported; send a JSON Patch ({JSON_PATCH}) or a JSON "
                                 f"merge patch ({MERGE_PATCH})")
    if body.get("resourceType", "Appointment") != "Appointment":
        raise Invalid(("body", "resourceType"), "a merge patch of an Appointment cannot change its resourceType")
    return json_merge_patch.merge(current, body)
