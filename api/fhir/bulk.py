"""SMART Scheduling Links: the bulk publication of clinics, public service schedules and their free slots."""

import json
from datetime import timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session, select

from api.deps import NowDep, SessionDep, SettingsDep
from api.fhir import resources as fhir
from api.fhir.common import FHIR_NDJSON
from api.fhir.directory import locations, schedules
from api.fhir.slots import free_slots
from api.urls import absolute_url
from data.config import Settings
from data.errors import NotFound
from data.tables import Service
from scheduler.visit_requests import PUBLIC_SERVICES

router = APIRouter()
DEEP_LINK = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"


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
        return _ndjson([r for r in locations(session) if not r["id"].startswith("room-")])
    if kind == "Schedule":
        return _ndjson([r for r in schedules(session) if r["id"] in {f"service-{i}" for i in published}])
    if kind != "Slot":
        raise NotFound("bulk file", f"{kind}.ndjson")
    slots = []
    for service_id, request_kind in published.items():
        service = session.get(Service, service_id)
        for slot in free_slots(session, service, now, now + timedelta(days=settings.public_days), now=now,
                                settings=settings, limit=2000):
            free = fhir.FreeSlotId.parse(slot["id"])
            query = urlencode({"kind": request_kind, "location_id": free.location_id, "start": slot["start"]})
            slot["extension"] = [{"url": DEEP_LINK, "valueUrl": absolute_url(request, "/request", query)}]
            slots.append(slot)
    return _ndjson(slots)

