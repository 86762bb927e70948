"""FHIR Slots: free ones of service schedules (from the availability search), busy ones of clinicians, units, rooms."""

from datetime import datetime, timedelta

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session, select

from api.deps import NowDep, SessionDep, SettingsDep
from api.fhir import resources as fhir
from api.fhir.common import documented, staff_access
from api.fhir.search import SearchError, bundle, date_range, parameters, reference_id
from data.config import Settings
from data.enums import ResourceKind
from data.errors import NotFound
from data.tables import Allocation, Appointment, Service
from scheduler.availability import SlotQuery, find_availability
from scheduler.catalog_snapshot import catalog
from scheduler.clock import from_minute, to_minute

router = APIRouter()
SLOT_WINDOW, LONGEST_SLOT_WINDOW = timedelta(days=7), timedelta(days=31)
SLOT_PARAMETERS = {"schedule": "reference", "service-type": "token", "start": "date", "status": "token"}


def free_slots(session: Session, service: Service, start: datetime, end: datetime, *, now: datetime,
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


@router.get("/Slot", dependencies=[Depends(staff_access)], openapi_extra=documented(SLOT_PARAMETERS))
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
            slots += free_slots(session, service, low, high, now=now, settings=settings)
        else:
            slots += _busy_slots(session, kind, ident, low, high, now)
    wanted = {s for value in params.get("status", []) for s in value.split(",")}
    if wanted:
        slots = [slot for slot in slots if slot["status"] in wanted]
    return bundle(request, slots, params)


@router.get("/Slot/{ident}", dependencies=[Depends(staff_access)])
def read_slot(ident: str, session: SessionDep, settings: SettingsDep, now: NowDep):
    """A free slot while it is still free (it is computed, not stored), or a busy one."""
    if (free := fhir.FreeSlotId.parse(ident)) is not None:
        service = session.get(Service, free.service_id)
        if service is not None and free.location_id in catalog(session).locations:
            zone = catalog(session).locations[free.location_id].zone
            start = from_minute(free.minute, zone)
            slots = free_slots(session, service, start, start + timedelta(minutes=1), now=now, settings=settings,
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

