"""Argonaut Scheduling operations: ``Appointment/$find``, ``$hold`` and ``$book``.

A provider or patient scheduling client asks ``$find`` for proposed
appointments (a service, dates, preferred practitioners and locations), then
holds one and books it, or books it directly. A proposed appointment is not
stored: its id ``proposed-<free slot id>[-p<patient>]`` says the slot and, when
``$find`` was told the patient, whose it is, so ``$hold`` and ``$book`` need
nothing kept between the calls. ``$book`` with ``cancelled-appt-id`` is the
guide's reschedule: the old appointment is cancelled and the new one booked in
one transaction (``scheduler.waitlist.cancel_and_rebook``).

Inputs come as a FHIR ``Parameters`` body (validated with the R4B model) or, for
``$find``, as a query string too. Answers are searchset Bundles, as the guide
describes; errors are OperationOutcomes (a taken time is a 409).
Argonaut Scheduling IG 1.0.0 (STU3-era, served here on R4 resources).
"""

import json
import re
from datetime import datetime
from email.utils import format_datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.parameters import Parameters
from pydantic import ValidationError
from sqlmodel import Session, select

from api.deps import NowDep, SessionDep, SettingsDep
from api.fhir import resources as fhir
from api.fhir.appointments import appointment_resource, slot_choice
from api.fhir.common import FHIR_JSON, Desk, FHIRResponse, operation_inputs
from api.fhir.search import SearchError, date_range, local_zone, reference_id
from api.fhir.slots import LONGEST_SLOT_WINDOW, SLOT_WINDOW
from api.idempotency import IdempotencyKey, respond_once
from api.openapi import also_answers
from api.urls import absolute_url
from data.config import Settings
from data.enums import AppointmentStatus
from data.errors import Invalid, NotFound
from data.tables import Appointment, Clinician, Location, Service
from scheduler import booking, waitlist
from scheduler.availability import SlotQuery, find_availability
from scheduler.catalog_snapshot import catalog
from scheduler.clock import from_minute, to_minute
from scheduler.metrics import AVAILABILITY_SECONDS

router = APIRouter()
PROPOSED = re.compile(r"proposed-(s[0-9]+-l[0-9]+-c[0-9]+-t[0-9]{1,12})(?:-p([0-9]+))?")
DEFAULT_PROPOSALS, MOST_PROPOSALS = 20, 200
FIND_PARAMETERS = {"start": "dateTime", "end": "dateTime", "visit-type": "token", "specialty": "token",
                   "practitioner": "reference", "provider": "reference", "location-reference": "reference",
                   "location-string": "string", "patient-reference": "reference", "_count": "number"}


class Inputs:
    """An operation's named inputs, from a ``Parameters`` body or a query string, each a list of strings."""

    def __init__(self, values: dict[str, list[str]]):
        self.values = values

    @classmethod
    def of(cls, request: Request, body: dict | None, allowed: set[str]) -> "Inputs":
        values: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            values.setdefault(name, []).append(value)
        if body is not None:
            for name, value in _parameters(body, allowed).items():
                values.setdefault(name, []).extend(value)
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise SearchError(f"unknown parameter {unknown[0]!r}; this operation takes {', '.join(sorted(allowed))}")
        return cls(values)

    def all(self, name: str) -> list[str]:
        return [v for value in self.values.get(name, []) for v in value.split(",") if v]

    def one(self, name: str) -> str | None:
        found = self.values.get(name, [])
        if len(found) > 1:
            raise SearchError(f"give {name} once")
        return found[0] if found else None


def _parameters(body: dict, allowed: set[str]) -> dict[str, list[str]]:
    """The body as an R4 Parameters resource: each parameter's value as text (an Appointment kept as JSON)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise Invalid(("body", "resourceType"), "the body must be a FHIR Parameters resource")
    try:
        Parameters.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Invalid(("body", *map(str, first["loc"])), f"not valid FHIR Parameters: {first['msg']}") from None
    found: dict[str, list] = {}
    for parameter in body.get("parameter") or []:
        name = parameter["name"]
        if name not in allowed:
            raise Invalid(("body", "parameter"), f"unknown parameter {name!r}; this operation takes "
                                                 f"{', '.join(sorted(allowed))}")
        if "resource" in parameter:
            found.setdefault(name, []).append(parameter["resource"])
            continue
        values = [v for key, v in parameter.items() if key.startswith("value")]
        if len(values) != 1:
            raise Invalid(("body", "parameter", name), f"parameter {name!r} needs one value")
        value = values[0]
        found.setdefault(name, []).append(value.get("reference", "") if isinstance(value, dict) else str(value))
    return found


# --- $find ---------------------------------------------------------------------------------


def _whole_number(text: str | None, default: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= MOST_PROPOSALS:
        raise SearchError(f"_count must be a whole number from 1 to {MOST_PROPOSALS}")
    return int(text)


def _ids(references: list[str], resource_type: str, name: str) -> list[int]:
    ids = []
    for value in references:
        number = fhir.record_id(reference_id(value, resource_type))
        if number is None:
            raise SearchError(f"{name} must reference a {resource_type} by id, like {resource_type}/3")
        ids.append(number)
    return ids


def _service(session: Session, inputs: Inputs) -> Service:
    codes = [code.rpartition("|")[2] for code in inputs.all("visit-type")]
    if len(codes) != 1:
        offered = ", ".join(s.code for s in session.exec(select(Service).where(Service.archived_at.is_(None))))
        raise SearchError(f"give one visit-type, the code of a service ({offered})")
    service = session.exec(select(Service).where(Service.code == codes[0], Service.archived_at.is_(None))).first()
    if service is None:
        raise SearchError(f"no service has the visit-type code {codes[0]!r}")
    return service


def _clinicians(session: Session, inputs: Inputs) -> list[int | None]:
    """The practitioners asked for, in the order of preference given; any certified one when none is named."""
    chosen = _ids(inputs.all("practitioner") + inputs.all("provider"), "Practitioner", "practitioner")
    specialties = {code.rpartition("|")[2] for code in inputs.all("specialty")}
    if specialties:
        certified = [c.id for c in session.exec(select(Clinician).where(Clinician.archived_at.is_(None)))
                     if specialties & {certification.value for certification in c.certifications}]
        chosen = [c for c in chosen if c in certified] if chosen else certified
        if not chosen:
            raise NotFound("practitioner with the specialty", ", ".join(sorted(specialties)))
    return list(dict.fromkeys(chosen)) or [None]


def _locations(session: Session, inputs: Inputs) -> list[int | None]:
    chosen = _ids(inputs.all("location-reference"), "Location", "location-reference")
    wanted = [text.lower() for text in inputs.values.get("location-string", [])]
    if wanted:
        matching = [location.id for location in session.exec(select(Location).order_by(Location.id))
                    if any(text in f"{location.name} {location.address}".lower() for text in wanted)]
        chosen = [i for i in chosen if i in matching] if chosen else matching
        if not chosen:
            raise NotFound("location matching", ", ".join(wanted))
    return list(dict.fromkeys(chosen)) or [None]


def _window(inputs: Inputs, zone: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    """The asked period (a bare date is the clinic's whole local day), from now on, 31 days at most."""
    start = date_range([f"ge{text}"], zone)[0] if (text := inputs.one("start")) else None
    end = date_range([f"le{text}"], zone)[1] if (text := inputs.one("end")) else None
    start = max(start or now, now)
    end = end or start + SLOT_WINDOW
    if end <= start:
        raise SearchError("end must come after start (and after now)")
    if end - start > LONGEST_SLOT_WINDOW:
        raise SearchError(f"find appointments {LONGEST_SLOT_WINDOW.days} days at a time at most")
    return start, end


def _patient(session: Session, inputs: Inputs, name: str) -> int | None:
    references = inputs.all(name)
    if not references:
        return None
    if len(references) > 1:
        raise SearchError(f"give one {name}; appointments here have one patient")
    return _ids(references, "Patient", name)[0]


FIND = {"response_class": FHIRResponse, "openapi_extra": operation_inputs(FIND_PARAMETERS),
        "responses": also_answers(404)}


@router.get("/Appointment/$find", **FIND)
@router.post("/Appointment/$find", **FIND)
def find_appointments(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, _: Desk,
                      body: Annotated[dict | None, Body()] = None):
    """Argonaut ``$find``: proposed appointments for a ``visit-type`` (service code) between ``start`` and ``end``,
    optionally with preferred ``practitioner``s, ``specialty``, ``location-reference``/``location-string`` and the
    ``patient-reference`` (whose own appointments then count). Soonest first, at most ``_count``."""
    inputs = Inputs.of(request, body if request.method == "POST" else None, set(FIND_PARAMETERS))
    service = _service(session, inputs)
    clinicians, locations = _clinicians(session, inputs), _locations(session, inputs)
    start, end = _window(inputs, local_zone(session, settings, locations=locations, clinicians=clinicians), now)
    patient_id = _patient(session, inputs, "patient-reference")
    count = _whole_number(inputs.one("_count"), DEFAULT_PROPOSALS)
    proposals: dict[str, tuple] = {}
    for rank, clinician_id in enumerate(clinicians):
        for location_id in locations:
            with AVAILABILITY_SECONDS.labels(surface="fhir_find").time():
                found = find_availability(session, SlotQuery(
                    service_id=service.id, start=start, end=end, clinician_id=clinician_id,
                    location_id=location_id, patient_id=patient_id, limit=count + 1), now=now, settings=settings)
            for offer in found.offers:
                slot = fhir.FreeSlotId(service.id, offer.location_id, offer.slot.clinician.id, to_minute(offer.start))
                proposals.setdefault(str(slot), (offer.start, rank, slot, offer))
    chosen = sorted(proposals.values(), key=lambda p: (p[0], p[1], str(p[2])))
    base = absolute_url(request, "")
    entries = [{"fullUrl": f"{base}/fhir/Appointment/{resource['id']}", "resource": resource,
                "search": {"mode": "match"}}
               for resource in (fhir.proposed_appointment(slot, service, offer.start, offer.end, patient_id,
                                                          (start, end))
                                for _, _, slot, offer in chosen[:count])]
    result = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if len(chosen) > count:
        result["entry"].append(_outcome("information", "informational",
                                        f"more than {count} appointments are free in that window; narrow it or "
                                        "raise _count"))
    else:
        result["total"] = len(entries)
    return result


def _outcome(severity: str, code: str, text: str) -> dict:
    return {"resource": {"resourceType": "OperationOutcome", "issue": [
        {"severity": severity, "code": code, "diagnostics": text}]}, "search": {"mode": "outcome"}}


# --- $hold and $book ---------------------------------------------------------------------------------


def _proposed_choice(session: Session, appointment_id: str, patient_id: int | None) -> booking.SlotChoice:
    """The slot and patient a proposed appointment's id names; the patient may come with the call instead."""
    match = PROPOSED.fullmatch(appointment_id)
    slot = fhir.FreeSlotId.parse(match.group(1)) if match else None
    if slot is None:
        raise NotFound("proposed Appointment", f"{appointment_id[:80]} (use an id from $find)")
    proposed_for = fhir.record_id(match.group(2)) if match.group(2) else None
    if proposed_for and patient_id and proposed_for != patient_id:
        raise Invalid(("body", "patient-id"), f"{appointment_id} was proposed for Patient/{proposed_for}")
    patient_id = patient_id or proposed_for
    if patient_id is None:
        raise Invalid(("body", "patient-id"), "say whose appointment it is: patient-id here, or "
                                              "patient-reference to $find")
    location = catalog(session).locations.get(slot.location_id)
    if location is None:
        raise NotFound("proposed Appointment", appointment_id)
    return booking.SlotChoice(slot.service_id, patient_id, from_minute(slot.minute, location.zone), slot.clinician_id,
                              location_id=slot.location_id)


def _target(path_id: str | None, inputs: Inputs) -> str:
    """The ``appt-id`` of the call (the path's id or the parameter, which must agree), without its type."""
    given = [reference_id(value, "Appointment") for value in inputs.all("appt-id")]
    given = [value.rpartition("/")[2] for value in given]
    ids = list(dict.fromkeys(([path_id] if path_id else []) + given))
    if len(ids) > 1:
        raise Invalid(("body", "appt-id"), f"appt-id {ids[1]!r} is not the appointment in the path, {ids[0]!r}")
    return ids[0] if ids else ""


def _resource(inputs: Inputs) -> dict | None:
    resources = inputs.values.get("appt-resource", [])
    if len(resources) > 1:
        raise Invalid(("body", "appt-resource"), "give one appt-resource")
    return resources[0] if resources else None


def _choice(session: Session, path_id: str | None, inputs: Inputs, patient_name: str,
            patient_id: int | None = None) -> booking.SlotChoice | int:
    """What to hold or book: a proposed appointment's choice, or the id of a stored appointment (a hold).

    The patient is the one named in the call, else the one ``$find`` was told, else ``patient_id``.
    """
    target, resource = _target(path_id, inputs), _resource(inputs)
    if bool(target) == (resource is not None):
        raise Invalid(("body", "appt-id"), "give either appt-id (an Appointment from $find or $hold) or "
                                           "appt-resource")
    patient_id = _patient(session, inputs, patient_name) or patient_id
    if resource is not None:
        choice = slot_choice(session, resource)
        if patient_id and patient_id != choice.patient_id:
            raise Invalid(("body", patient_name), "the patient differs from the appt-resource's Patient participant")
        return choice
    if (number := fhir.record_id(target)) is not None:
        return number
    return _proposed_choice(session, target, patient_id)


def _bundle(request: Request, session: Session, appointments: list) -> dict:
    base = absolute_url(request, "")
    entries = [{"fullUrl": f"{base}/fhir/Appointment/{record.id}", "resource": appointment_resource(session, record),
                "search": {"mode": "match"}} for record in appointments]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


HOLD_INPUTS = {"appt-id", "appt-resource", "patient-id"}
BOOK_INPUTS = {"appt-id", "appt-resource", "cancelled-appt-id", "patient-id", "comment"}


def _hold(request: Request, session: Session, settings: Settings, now: datetime, user, body: dict,
          path_id: str | None, key: str | None) -> JSONResponse:
    """Hold once per ``Idempotency-Key``, as ``$book`` does; ``Expires`` says until when the hold lasts, on a
    replayed answer too (read from the hold)."""

    def held() -> dict:
        inputs = Inputs.of(request, body, HOLD_INPUTS)
        choice = _choice(session, path_id, inputs, "patient-id")
        if isinstance(choice, int):
            raise Invalid(("body", "appt-id"), f"Appointment/{choice} is stored already; hold a proposed appointment")
        record = booking.place_hold(session, actor=user, choice=choice, minutes=settings.hold_minutes, now=now,
                                    settings=settings)
        return _bundle(request, session, [record])

    answer = respond_once(session, user=user, key=key, request=request, body=body, now=now, status_code=200,
                          produce=held, media_type=FHIR_JSON)
    hold = session.get(Appointment, int(json.loads(answer.body)["entry"][0]["resource"]["id"]))
    if hold.hold_expires_at is not None:
        answer.headers["Expires"] = format_datetime(hold.hold_expires_at, usegmt=True)
    return answer


def _book(request: Request, session: Session, settings: Settings, now: datetime, user, body: dict,
          path_id: str | None, key: str | None) -> JSONResponse:
    """Book once per ``Idempotency-Key``: a client retrying a $book whose answer it lost was told 409, "the patient
    has other appointments", about the very booking it had made (found by a probe)."""
    return respond_once(session, user=user, key=key, request=request, body=body, now=now, status_code=200,
                        produce=lambda: _booked(request, session, settings, now, user, body, path_id),
                        media_type=FHIR_JSON)


def _booked(request: Request, session: Session, settings: Settings, now: datetime, user, body: dict,
            path_id: str | None) -> dict:
    inputs = Inputs.of(request, body, BOOK_INPUTS)
    cancelled = _ids(inputs.all("cancelled-appt-id"), "Appointment", "cancelled-appt-id")
    if len(cancelled) > 1:
        raise Invalid(("body", "cancelled-appt-id"), "give one cancelled-appt-id")
    rescheduled = session.get(Appointment, cancelled[0]) if cancelled else None
    if cancelled and rescheduled is None:
        raise NotFound("Appointment", cancelled[0])
    choice = _choice(session, path_id, inputs, "patient-id", rescheduled.patient_id if rescheduled else None)
    if isinstance(choice, int):
        if cancelled:
            raise Invalid(("body", "cancelled-appt-id"), "reschedule onto a proposed appointment from $find")
        held = booking.lock_appointment(session, choice, "Appointment")
        wanted = _patient(session, inputs, "patient-id")
        if wanted and wanted != held.patient_id:
            raise Invalid(("body", "patient-id"), f"Appointment/{choice} is held for Patient/{held.patient_id}")
        if held.status == AppointmentStatus.BOOKED:
            records = [held]
        else:
            records = [booking.book_hold(session, actor=user, hold_id=choice, now=now, settings=settings)]
    elif cancelled:
        old, new = waitlist.cancel_and_rebook(session, actor=user, appointment_id=cancelled[0], replacement=choice,
                                              reason="rescheduled", now=now, settings=settings)
        records = [new, old]
    else:
        records = [booking.book(session, actor=user, choice=choice, now=now, settings=settings)]
    return _bundle(request, session, records)


@router.post("/Appointment/$hold", response_class=FHIRResponse, responses=also_answers(404))
def hold_appointment(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, user: Desk,
                     body: Annotated[dict, Body()], key: IdempotencyKey = None):
    """Argonaut ``$hold``: hold a proposed appointment (``appt-id`` or ``appt-resource``) for the hold period;
    the answer's ``Expires`` says until when. A retry with the same ``Idempotency-Key`` gets the first answer."""
    return _hold(request, session, settings, now, user, body, None, key)


@router.post("/Appointment/{ident}/$hold", response_class=FHIRResponse)
def hold_this_appointment(ident: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                          user: Desk, body: Annotated[dict, Body()], key: IdempotencyKey = None):
    """Argonaut ``$hold`` on the proposed appointment in the path."""
    return _hold(request, session, settings, now, user, body, ident, key)


@router.post("/Appointment/$book", response_class=FHIRResponse, responses=also_answers(404, 410))
def book_appointment(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, user: Desk,
                     body: Annotated[dict, Body()], key: IdempotencyKey = None):
    """Argonaut ``$book``: book a proposed or held appointment; with ``cancelled-appt-id``, reschedule (the old
    one is cancelled and the new one booked, all or nothing). A retry with the same ``Idempotency-Key`` gets the
    first answer again."""
    return _book(request, session, settings, now, user, body, None, key)


@router.post("/Appointment/{ident}/$book", response_class=FHIRResponse, responses=also_answers(410))
def book_this_appointment(ident: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                          user: Desk, body: Annotated[dict, Body()], key: IdempotencyKey = None):
    """Argonaut ``$book`` on the proposed or held appointment in the path."""
    return _book(request, session, settings, now, user, body, ident, key)
