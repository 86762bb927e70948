"""SMART Scheduling Links: the bulk publication of clinics, public service schedules and their free slots.

A slot finder polls the manifest (``$bulk-publish``) and follows its links: one
Location file, one Schedule file (a Schedule per publicly requestable service
and clinic, its only actor that clinic) and a Slot file per clinic and week
(``Slot-l<clinic>-<ISO year>-W<week>.ndjson``), each tagged with the clinic's
state. Every free slot of the public horizon is published: the availability
search is asked per clinic and week with a limit no week can reach.

A clinic is published once a slot finder can use it: its whole address and a
phone number or web page (the spec's required fields). The publication is as
of its ``transactionTime``, the start of the current minute, so the files are
the same for a minute unless a booking changes them; each answer carries an
ETag (its content's hash, answered 304 on ``If-None-Match``) and a
``Cache-Control`` that asks clients to poll at most once a minute.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session, select

from api import etags
from api.deps import NowDep, SessionDep, SettingsDep
from api.fhir import resources as fhir
from api.fhir.common import FHIR_NDJSON
from api.urls import absolute_url
from data.config import Settings
from data.errors import NotFound
from data.tables import Location, Service
from scheduler.availability import SlotQuery, find_availability
from scheduler.catalog_snapshot import catalog
from scheduler.clock import to_minute
from scheduler.visit_requests import PUBLIC_SERVICES

router = APIRouter()
REGISTRY = "http://fhir-registry.smarthealthit.org/StructureDefinition"
DEEP_LINK, BOOKING_PHONE = f"{REGISTRY}/booking-deep-link", f"{REGISTRY}/booking-phone"
CACHE_CONTROL = "public, max-age=60"  # the publication changes its transaction time once a minute


@dataclass(frozen=True)
class Publication:
    """What is published as of one instant: the clinics, the public services and the horizon of free slots."""

    as_of: datetime
    until: datetime
    clinics: list[Location]
    services: dict[int, tuple[Service, str]]


def _publication(session: Session, settings: Settings, now: datetime) -> Publication:
    as_of = now.astimezone(UTC).replace(second=0, microsecond=0)
    kinds = {getattr(settings, setting): kind.value for kind, setting in PUBLIC_SERVICES.items()}
    offered = select(Service).where(Service.code.in_(kinds), Service.archived_at.is_(None)).order_by(Service.id)
    clinics = [clinic for clinic in session.exec(select(Location).order_by(Location.id)) if _usable(clinic)]
    return Publication(as_of, as_of + timedelta(days=settings.public_days), clinics,
                       {service.id: (service, kinds[service.code]) for service in session.exec(offered)})


def _usable(clinic: Location) -> bool:
    """What a slot finder requires of a clinic: the whole address and at least one contact point."""
    return all((clinic.address_line, clinic.city, clinic.state, clinic.postal_code)) and bool(
        clinic.phone or clinic.website)


def _weeks(session: Session, publication: Publication, clinic: Location) -> list[tuple[str, datetime, datetime]]:
    """The ISO weeks (Monday to Monday, the clinic's wall clock) the horizon touches, each cut to the horizon."""
    zone = catalog(session).locations[clinic.id].zone
    monday = publication.as_of.astimezone(zone).date()
    monday -= timedelta(days=monday.weekday())
    weeks = []
    while (starts := datetime.combine(monday, time(0), zone)) < publication.until:
        year, week, _ = monday.isocalendar()
        ends = datetime.combine(monday + timedelta(days=7), time(0), zone)
        weeks.append((f"{year}-W{week:02d}", max(starts, publication.as_of), min(ends, publication.until)))
        monday += timedelta(days=7)
    return weeks


def _week_file(clinic: Location, week: str) -> str:
    return f"Slot-l{clinic.id}-{week}"


@router.get("/$bulk-publish", response_class=Response, responses={
    200: {"content": {"application/json": {}}, "headers": {"ETag": {"schema": {"type": "string"}}}},
    304: {"description": "Unchanged: If-None-Match named the current ETag"}})
def bulk_publish(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep):
    """The SMART Scheduling Links manifest: where the Location, Schedule and Slot files are (no sign-in)."""
    publication = _publication(session, settings, now)
    states = sorted({clinic.state for clinic in publication.clinics})

    def output(kind: str, name: str, tagged: list[str]) -> dict:
        return {"type": kind, "url": absolute_url(request, f"/fhir/bulk/{name}.ndjson"),
                **({"extension": {"state": tagged}} if tagged else {})}

    manifest = {
        "transactionTime": publication.as_of.isoformat(), "request": absolute_url(request, "/fhir/$bulk-publish"),
        "output": [output("Location", "Location", states), output("Schedule", "Schedule", states),
                   *(output("Slot", _week_file(clinic, week), [clinic.state]) for clinic in publication.clinics
                     for week, _, _ in _weeks(session, publication, clinic))],
        "error": []}
    return _published(request, json.dumps(manifest, separators=(",", ":")), "application/json")


@router.get("/bulk/{name}.ndjson", response_class=Response, responses={
    200: {"content": {FHIR_NDJSON: {}}, "headers": {"ETag": {"schema": {"type": "string"}}}},
    304: {"description": "Unchanged: If-None-Match named the current ETag"}})
def bulk_file(name: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep):
    """The published clinics, their schedules of the publicly requestable services, or free slots: one per line.

    ``Slot.ndjson`` holds every clinic's slots over the whole horizon; the manifest lists them per clinic and week.
    Each slot carries the booking deep link that opens the public request page at it, and the clinic's phone.
    """
    publication = _publication(session, settings, now)
    if name == "Location":
        return _ndjson(request, [fhir.clinic(clinic) for clinic in publication.clinics])
    if name == "Schedule":
        return _ndjson(request, [fhir.clinic_schedule(service, clinic) for clinic in publication.clinics
                                 for service, _ in publication.services.values()])
    if name == "Slot":
        return _ndjson(request, [slot for clinic in publication.clinics for slot in _slots(
            session, settings, request, publication, clinic, publication.as_of, publication.until)])
    for clinic in publication.clinics:
        for week, starts, ends in _weeks(session, publication, clinic):
            if name == _week_file(clinic, week):
                return _ndjson(request, _slots(session, settings, request, publication, clinic, starts, ends))
    raise NotFound("bulk file", f"{name[:80]}.ndjson (the manifest lists the files published now)")


def _slots(session: Session, settings: Settings, request: Request, publication: Publication, clinic: Location,
           starts: datetime, ends: datetime) -> list[dict]:
    """Every free slot of the public services at ``clinic`` from ``starts`` to ``ends``, as of the publication.

    The search returns at most ``limit`` offers; one start per grid step for each clinician is more than any
    stretch can hold, so none is cut off.
    """
    clinicians = max(1, len(catalog(session).locations[clinic.id].clinicians))
    limit = ((to_minute(ends) - to_minute(starts)) // settings.slot_grid_minutes + 1) * clinicians
    phone = [{"url": BOOKING_PHONE, "valueString": clinic.phone}] if clinic.phone else []
    slots = []
    for service, kind in publication.services.values():
        query = SlotQuery(service_id=service.id, start=starts, end=ends, location_id=clinic.id, limit=limit)
        for offer in find_availability(session, query, now=publication.as_of, settings=settings).offers:
            slot_id = fhir.FreeSlotId(service.id, clinic.id, offer.slot.clinician.id, to_minute(offer.start))
            slot = fhir.free_slot(slot_id, service, offer.start, offer.end)
            slot["schedule"] = {"reference": f"Schedule/{fhir.clinic_schedule_id(service.id, clinic.id)}"}
            deep_link = absolute_url(request, "/request", urlencode(
                {"kind": kind, "location_id": clinic.id, "start": slot["start"]}))
            slot["extension"] = [{"url": DEEP_LINK, "valueUrl": deep_link}, *phone]
            slots.append(slot)
    return sorted(slots, key=lambda slot: (slot["start"], slot["id"]))


def _ndjson(request: Request, resources: list[dict]) -> Response:
    text = "".join(json.dumps(resource, separators=(",", ":")) + "\n" for resource in resources)
    return _published(request, text, FHIR_NDJSON)


def _published(request: Request, text: str, media_type: str) -> Response:
    """The answer with its validators: 304 without a body when the client already holds this content."""
    body = text.encode()
    headers = {"ETag": etags.of(body), "Cache-Control": CACHE_CONTROL}
    if etags.held(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
