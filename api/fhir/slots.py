"""FHIR Slots: free ones of service schedules (from the availability search), busy ones of clinicians, units, rooms.

Free slots are computed, not stored, so a search pages by cursor (``api.fhir.search.Cursor``): each page asks
the availability search for a few more slots than it shows, from the start of the last slot shown on, so a page
costs about as much as its size, whatever the window. A clinician's free time is found with the chained
``schedule.actor=Practitioner/<id>``: the free slots of every service they give (each on its service's schedule,
its id naming them) and the busy slots of their own schedule.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session, select

from api.deps import NowDep, SessionDep, SettingsDep
from api.fhir import resources as fhir
from api.fhir.common import documented, staff_access
from api.fhir.search import Cursor, Instants, Search, SearchError, SearchForm, instants, local_zone, reference_id
from data.config import Settings
from data.enums import ResourceKind
from data.errors import NotFound
from data.tables import Allocation, Appointment, Service
from scheduler.availability import SlotQuery, find_availability
from scheduler.catalog_snapshot import catalog
from scheduler.clock import from_minute, to_minute
from scheduler.metrics import AVAILABILITY_SECONDS

router = APIRouter()
SLOT_WINDOW, LONGEST_SLOT_WINDOW = timedelta(days=7), timedelta(days=31)
SLOT_PARAMETERS = {"schedule": "reference", "service-type": "token", "start": "date", "status": "token"}
SLOT_SEARCH = SLOT_PARAMETERS | {"schedule.actor": "reference"}
SLOT_SORTS = ("start",)
STATUSES = ("free", "busy", "busy-tentative", "busy-unavailable", "entered-in-error")
CLINIC_SCHEDULE = re.compile(r"service-([0-9]+)-l([0-9]+)")
EVERY = 10**6  # more slots than 31 days can hold: "all of them", for totals


def free_slots(session: Session, service: Service, start: datetime, end: datetime, *, now: datetime,
                settings: Settings, limit: int = 200, location_id: int | None = None,
                clinician_id: int | None = None) -> list[dict]:
    """The first ``limit`` free slots of ``service`` starting from ``start`` (on or after it) to before ``end``."""
    query = SlotQuery(service_id=service.id, start=_minute_up(start), end=_minute_up(end), location_id=location_id,
                      clinician_id=clinician_id, limit=limit)
    with AVAILABILITY_SECONDS.labels(surface="fhir_slot").time():
        found = find_availability(session, query, now=now, settings=settings)
    slots = [fhir.free_slot(fhir.FreeSlotId(service.id, offer.location_id, offer.slot.clinician.id,
                                            to_minute(offer.start)), service, offer.start, offer.end)
             for offer in found.offers]
    return sorted(slots, key=_key)


def _minute_up(moment: datetime) -> datetime:
    """The first whole minute at or after ``moment``: slots start on whole minutes."""
    whole = moment.replace(second=0, microsecond=0)
    return whole if whole == moment else whole + timedelta(minutes=1)


def _key(slot: dict) -> tuple[datetime, str]:
    """Slots are listed by start, then id."""
    return datetime.fromisoformat(slot["start"]), slot["id"]


def _busy_slots(session: Session, kind: str, ident: int, start: datetime, end: datetime, now: datetime,
                limit: int) -> list[dict]:
    resource_kind = {"practitioner": ResourceKind.CLINICIAN, "device": ResourceKind.DEVICE,
                     "room": ResourceKind.ROOM}[kind]
    rows = session.exec(
        select(Allocation, Appointment).join(Appointment)
        .where(Allocation.live, Allocation.resource_kind == resource_kind, Allocation.resource_id == ident,
               Allocation.starts_at >= start, Allocation.starts_at < end,
               (Allocation.hold_expires_at.is_(None)) | (Allocation.hold_expires_at > now))
        .order_by(Allocation.starts_at, Allocation.id).limit(limit)
    ).all()
    locations = catalog(session).locations
    return [fhir.busy_slot(allocation, f"{kind}-{ident}", appointment, locations[appointment.location_id].zone)
            for allocation, appointment in rows]


@dataclass(frozen=True)
class Source:
    """Where some of a search's slots come from: a clinician's, unit's or room's schedule (busy slots), or a
    service's (free slots), maybe only those at one clinic or of one clinician."""

    kind: str
    ident: int
    location_id: int | None = None
    clinician_id: int | None = None

    @property
    def free(self) -> bool:
        return self.kind == "service"

    def narrowed(self, other: "Source") -> "Source | None":
        """The slots both give (two parameters that must both match), None when they give none in common."""
        if (self.kind, self.ident) != (other.kind, other.ident):
            return None
        pairs = ((self.location_id, other.location_id), (self.clinician_id, other.clinician_id))
        if any(None not in pair and pair[0] != pair[1] for pair in pairs):
            return None
        return Source(self.kind, self.ident, self.location_id or other.location_id,
                      self.clinician_id or other.clinician_id)


def _narrowed(chosen: set[Source] | None, named: set[Source]) -> set[Source]:
    if chosen is None:
        return named
    return {both for one in chosen for other in named if (both := one.narrowed(other)) is not None}


def _number(text: str, what: str) -> int:
    number = fhir.record_id(text)
    if number is None:
        raise SearchError(f"there is no {what}")
    return number


def _service(session: Session, text: str, what: str) -> int:
    number = _number(text, what)
    if session.get(Service, number) is None:
        raise SearchError(f"there is no {what}")
    return number


def _scheduled(session: Session, value: str) -> Source:
    """The slots of one Schedule: ``service-3`` (free), ``service-3-l1`` (free, at clinic 1), or busy ones."""
    ident = reference_id(value, "Schedule")
    what = f"Schedule {ident[:60]!r}"
    if (clinic := CLINIC_SCHEDULE.fullmatch(ident)) is not None:
        location = _number(clinic.group(2), what)
        if location not in catalog(session).locations:
            raise SearchError(f"there is no {what}")
        return Source("service", _service(session, clinic.group(1), what), location_id=location)
    match = fhir.SCHEDULE.fullmatch(ident)
    if match is None:
        raise SearchError(f"there is no {what}")
    if match.group(1) == "service":
        return Source("service", _service(session, match.group(2), what))
    return Source(match.group(1), _number(match.group(2), what))


def _acting(session: Session, value: str) -> set[Source]:
    """The slots of the schedules an actor has (the chain ``schedule.actor``).

    A Practitioner's are their busy slots and the free slots of every service they give; a clinic's the free
    slots of every service there; a HealthcareService's its free slots; a unit's or room's its busy slots.
    """
    kind, _, ident = value.rpartition("/")
    kind = kind.rpartition("/")[2]
    what = f"{kind} {ident[:60]!r}"
    snapshot = catalog(session)
    if kind == "Practitioner":
        clinician = snapshot.clinicians.get(_number(ident, what))
        if clinician is None:
            raise SearchError(f"there is no {what}")
        gives = [] if clinician.archived else [
            service.id for service in snapshot.services.values()
            if not service.archived and service.certification in (None, *clinician.certifications)]
        return {Source("practitioner", clinician.id), *(Source("service", s, clinician_id=clinician.id) for s in gives)}
    if kind == "HealthcareService":
        return {Source("service", _service(session, ident, what))}
    if kind == "Device":
        return {Source("device", _number(ident, what))}
    if kind == "Location" and ident.startswith("room-"):
        return {Source("room", _number(ident.removeprefix("room-"), what))}
    if kind == "Location":
        location = _number(ident, what)
        if location not in snapshot.locations:
            raise SearchError(f"there is no {what}")
        return {Source("service", service.id, location_id=location) for service in snapshot.services.values()
                if not service.archived}
    raise SearchError("schedule.actor takes Practitioner/<id>, HealthcareService/<id>, Location/<id>, "
                      "Location/room-<id> or Device/<id>")


def _sources(session: Session, params: dict[str, list[str]]) -> list[Source]:
    """Where the slots come from: each parameter narrows the others (a comma within one means either)."""
    chosen: set[Source] | None = None
    for value in params.get("schedule", []):
        chosen = _narrowed(chosen, {_scheduled(session, v) for v in value.split(",")})
    for value in params.get("schedule.actor", []):
        chosen = _narrowed(chosen, {source for v in value.split(",") for source in _acting(session, v)})
    for value in params.get("service-type", []):
        named = set()
        for code in (v.rpartition("|")[2] for v in value.split(",")):
            service = session.exec(select(Service).where(Service.code == code)).first()
            if service is None:
                raise SearchError(f"no service has the code {code[:60]!r}")
            named.add(Source("service", service.id))
        chosen = _narrowed(chosen, named)
    if chosen is None:
        raise SearchError("search Slots by schedule (e.g. Schedule/service-3), schedule.actor (e.g. "
                          "Practitioner/4) or service-type")
    return sorted(chosen, key=lambda s: (s.kind, s.ident, s.location_id or 0, s.clinician_id or 0))


def _statuses(params: dict[str, list[str]]) -> set[str] | None:
    wanted = None
    for value in params.get("status", []):
        named = set(value.split(","))
        if named - set(STATUSES):
            raise SearchError(f"status must be one of {', '.join(STATUSES)}")
        wanted = named if wanted is None else wanted & named
    return wanted


def _window(values: list[str], zone: ZoneInfo, now: datetime) -> Instants:
    asked = instants(values, zone)
    low = asked.low or now
    high = asked.high or low + SLOT_WINDOW
    if high <= low:
        raise SearchError("the start range is empty")
    if high - low > LONGEST_SLOT_WINDOW:
        raise SearchError(f"search slots {LONGEST_SLOT_WINDOW.days} days at a time at most")
    return Instants(low, high, asked.holes)


def _listed(fetch: Callable[[Source, datetime, int], list[dict]], sources: list[Source], window: Instants,
            wanted: Callable[[dict], bool], after: Cursor | None, count: int) -> tuple[list[dict], bool]:
    """Up to ``count`` slots after ``after`` in (start, id) order, and whether more follow.

    Each source is asked for a few more slots than the page shows, from the cursor's start on. One that gives as
    many as asked may have more, and may have been cut within the last start it reached (slots starting together
    come in no set order), so only the slots starting before the earliest such start are certain; when those
    do not fill the page, every source is asked again for four times as many.
    """
    start = max(window.low, after.at) if after else window.low
    limit = 2 * count + 20
    while start < window.high:
        certain_until = window.high
        found = {}
        for source in sources:
            slots = fetch(source, start, limit)
            if len(slots) >= limit:
                certain_until = min(certain_until, _key(slots[-1])[0])
            found |= {slot["id"]: slot for slot in slots}
        keyed = sorted(((_key(slot), slot) for slot in found.values()), key=itemgetter(0))
        listed = [slot for key, slot in keyed if (after is None or key > (after.at, after.ident))
                  and key[0] < certain_until and window.admits(key[0]) and wanted(slot)]
        if len(listed) > count or certain_until == window.high:
            return listed[:count], len(listed) > count
        limit *= 4
    return [], False


@router.get("/Slot", dependencies=[Depends(staff_access)],
            openapi_extra=documented(SLOT_SEARCH, paging="_cursor", sorts=SLOT_SORTS))
@router.post("/Slot/_search", dependencies=[Depends(staff_access)],
             openapi_extra=documented(SLOT_SEARCH, paging="_cursor", sorts=SLOT_SORTS, form=True))
def search_slots(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, form: SearchForm = None):
    """Slots by ``schedule``, ``schedule.actor``, ``service-type``, ``start`` (prefixes; default the coming 7 days,
    at most 31) and ``status``: free ones of service schedules, busy ones of clinicians, units and rooms.

    Listed by start (``_sort=start``); pages go on by ``_cursor`` (follow the next link) to the last slot.
    """
    search = Search.read(request, form, "Slot", SLOT_SEARCH, sorts=SLOT_SORTS, paging="_cursor")
    statuses = _statuses(search.params)
    sources = [source for source in _sources(session, search.params)
               if statuses is None or ("free" in statuses if source.free else statuses - {"free"})]
    zone = local_zone(session, settings, locations=[source.location_id for source in sources],
                      clinicians=[source.clinician_id or (source.ident if source.kind == "clinician" else None)
                                  for source in sources])
    window = _window(search.params.get("start", []), zone, now)

    def fetch(source: Source, start: datetime, limit: int) -> list[dict]:
        if not source.free:
            return _busy_slots(session, source.kind, source.ident, start, window.high, now, limit)
        slots = free_slots(session, session.get(Service, source.ident), start, window.high, now=now,
                           settings=settings, limit=limit, location_id=source.location_id,
                           clinician_id=source.clinician_id)
        if source.location_id is not None:  # asked of one clinic's schedule: the slots name it, as the bulk files do
            clinic = {"reference": f"Schedule/{fhir.clinic_schedule_id(source.ident, source.location_id)}"}
            slots = [{**slot, "schedule": clinic} for slot in slots]
        return slots

    def listed(after: Cursor | None, count: int) -> tuple[list[dict], bool]:
        return _listed(fetch, sources, window, lambda slot: statuses is None or slot["status"] in statuses, after,
                       count)

    page, more = listed(search.cursor, search.count)
    whole = search.cursor is None and not more
    return search.bundle(page, total=(lambda: len(page)) if whole else (lambda: len(listed(None, EVERY)[0])),
                         cheap=whole, following=Cursor(*_key(page[-1])) if more and page else None)


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

