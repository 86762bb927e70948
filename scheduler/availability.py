"""Availability: load what one search needs from the database and ask the solver.

One search reads the catalog of each location concerned and only the
allocations overlapping the searched window (plus a day on each side for
buffers and overnight spans), so its cost follows the window, not the size of
the schedule.
"""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from data.config import Settings
from data.enums import AppointmentStatus, ResourceKind
from data.errors import Invalid
from data.tables import (
    Allocation,
    Appointment,
    Clinician,
    ClinicianCertification,
    Device,
    Location,
    Patient,
    Room,
    Service,
)
from scheduler.clock import daily, from_minute, instants, local_days, to_minute, weekly
from solver.availability import DeviceNeed, Reason, Resource, ServiceNeeds, Slot, SlotSearch, explain_empty, find_slots
from solver.intervals import Intervals, intersect, subtract, union

MAX_RANGE = timedelta(days=90)
# Reasons that say a location cannot give the service at all, whatever the time.
CATALOG_GAPS = {"no_certified_clinician", "clinician_not_certified", "no_room", "not_enough_devices"}
PAD = timedelta(days=1)


@dataclass(frozen=True)
class SlotQuery:
    """What the front desk asks for; resources left as None are chosen by the search."""

    service_id: int
    start: datetime
    end: datetime
    location_id: int | None = None
    clinician_id: int | None = None
    prefer_clinician_id: int | None = None
    patient_id: int | None = None
    earliest: time | None = None
    latest: time | None = None
    limit: int = 20
    room_id: int | None = None
    device_ids: tuple[int, ...] = ()
    ignore_appointment_id: int | None = None


@dataclass(frozen=True)
class Offer:
    """A bookable slot with the concrete resources that would serve it, in the location's time zone."""

    location: Location
    start: datetime
    end: datetime
    slot: Slot
    service: ServiceNeeds


@dataclass
class Availability:
    offers: list[Offer] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)


def find_availability(session: Session, query: SlotQuery, *, now: datetime, settings: Settings) -> Availability:
    _check_range(query)
    service = _service(session, query.service_id)
    if query.patient_id is not None and session.get(Patient, query.patient_id) is None:
        raise Invalid(("patient_id",), f"patient {query.patient_id} does not exist", source="query")
    locations = _locations(session, query)
    continuity = _last_clinician(session, query.patient_id, now) if query.patient_id else None
    shortest = session.exec(select(func.min(Service.duration_minutes))).one() or service.duration_minutes
    ranked: list[tuple[tuple, Offer]] = []
    explained: list[tuple[Location, list[Reason]]] = []
    for location in locations:
        search = _build_search(session, query, service, location, now=now, settings=settings,
                               continuity=continuity, unusable_gap=shortest)
        zone = ZoneInfo(location.time_zone)
        slots = find_slots(search, limit=query.limit)
        if not slots:
            explained.append((location, _explain(search, query, session, location)))
        for slot in slots:
            offer = Offer(location, from_minute(slot.start, zone), from_minute(slot.end, zone), slot, search.service)
            key = (slot.clinician.id != search.preferred_clinician, slot.clinician.id != continuity, slot.start,
                   slot.waste)
            ranked.append((key, offer))
    ranked.sort(key=lambda item: item[0])
    if ranked:
        return Availability(offers=[offer for _, offer in ranked[: query.limit]])
    return Availability(reasons=_summarize(explained))


def _summarize(explained: list[tuple[Location, list[Reason]]]) -> list[Reason]:
    """The reasons of the locations that could give the service at all; of every location if none can."""
    able = [(location, reasons) for location, reasons in explained
            if not any(reason.code in CATALOG_GAPS for reason in reasons)]
    shown = able or explained
    if len(shown) == 1:
        return shown[0][1]
    return [Reason(r.code, f"{location.name}: {r.message}") for location, reasons in shown for r in reasons]


def _check_range(query: SlotQuery) -> None:
    if query.end <= query.start:
        raise Invalid(("end",), "end must be after start", source="query")
    if query.end - query.start > MAX_RANGE:
        raise Invalid(("end",), f"search at most {MAX_RANGE.days} days at a time", source="query")
    if (query.earliest is None) != (query.latest is None):
        raise Invalid(("latest",), "give both earliest and latest, or neither", source="query")
    if query.earliest is not None and query.latest <= query.earliest:
        raise Invalid(("latest",), "latest must be after earliest", source="query")


def _service(session: Session, service_id: int) -> Service:
    service = session.get(Service, service_id)
    if service is None:
        raise Invalid(("service_id",), f"service {service_id} does not exist", source="query")
    return service


def _locations(session: Session, query: SlotQuery) -> list[Location]:
    if query.clinician_id is not None:
        clinician = session.get(Clinician, query.clinician_id)
        if clinician is None:
            raise Invalid(("clinician_id",), f"clinician {query.clinician_id} does not exist", source="query")
        if query.location_id not in (None, clinician.location_id):
            raise Invalid(("clinician_id",), f"{clinician.name} works at another location", source="query")
        return [session.get(Location, clinician.location_id)]
    if query.location_id is not None:
        location = session.get(Location, query.location_id)
        if location is None:
            raise Invalid(("location_id",), f"location {query.location_id} does not exist", source="query")
        return [location]
    return list(session.exec(select(Location).order_by(Location.id)))


def _last_clinician(session: Session, patient_id: int, now: datetime) -> int | None:
    """The clinician who last saw (or is booked to see) the patient before now: continuity of care."""
    seen = (AppointmentStatus.FULFILLED, AppointmentStatus.ARRIVED, AppointmentStatus.BOOKED)
    row = session.exec(
        select(Allocation.resource_id)
        .join(Appointment)
        .where(Appointment.patient_id == patient_id, Appointment.status.in_(seen), Appointment.starts_at < now,
               Allocation.resource_kind == ResourceKind.CLINICIAN)
        .order_by(Appointment.starts_at.desc())
        .limit(1)
    ).first()
    return row


def _build_search(
    session: Session, query: SlotQuery, service: Service, location: Location, *, now: datetime,
    settings: Settings, continuity: int | None, unusable_gap: int,
) -> SlotSearch:
    zone = ZoneInfo(location.time_zone)
    window = (to_minute(query.start - PAD), to_minute(query.end + PAD))
    days = local_days(*window, zone)
    everywhere: Intervals = [window]

    open_hours = weekly(((h.weekday, h.starts, h.ends) for h in location.opening_hours), days, zone)
    if query.earliest is not None:
        open_hours = intersect(open_hours, daily(query.earliest, query.latest, days, zone))
    earliest_start = -(-int((now + timedelta(minutes=settings.min_notice_minutes)).timestamp()) // 60)
    starts = [(max(to_minute(query.start), earliest_start), to_minute(query.end))]

    clinicians = _clinicians(session, query, service, location)
    rooms = _rooms(session, query, service, location)
    units = _device_units(session, query, service, location)
    busy = _busy(session, query, window, clinicians, rooms, [u for group in units.values() for u in group], now)

    def resource(kind: ResourceKind, ident: int, name: str, available: Intervals, cleaning: int = 0) -> Resource:
        return Resource(kind.value, ident, name, available, busy.get((kind, ident), []), cleaning)

    return SlotSearch(
        service=ServiceNeeds(
            name=service.name, duration=service.duration_minutes, buffer_before=service.buffer_before_minutes,
            buffer_after=service.buffer_after_minutes,
            certification=service.required_certification.label if service.required_certification else None,
            room_kind=service.room_kind.value.replace("_", " ") if service.room_kind else None,
        ),
        clinicians=tuple(
            resource(ResourceKind.CLINICIAN, c.id, c.name, _working(c, days, zone)) for c in clinicians
        ),
        rooms=tuple(resource(ResourceKind.ROOM, r.id, r.name, everywhere) for r in rooms),
        devices=tuple(
            DeviceNeed(
                type_name=need.device_type.name,
                count=need.count,
                units=tuple(
                    resource(ResourceKind.DEVICE, u.id, u.name,
                             subtract(everywhere, instants((m.starts_at, m.ends_at) for m in u.maintenance)),
                             u.cleaning_minutes)
                    for u in units[need.device_type_id]
                ),
            )
            for need in service.device_needs
        ),
        open_hours=open_hours,
        starts=starts,
        patient=(resource(ResourceKind.PATIENT, query.patient_id, "the patient", everywhere)
                 if query.patient_id is not None else None),
        grid=settings.slot_grid_minutes,
        grid_origin=-int(query.start.astimezone(zone).utcoffset().total_seconds() // 60),
        preferred_clinician=query.prefer_clinician_id or query.clinician_id,
        continuity_clinician=continuity,
        unusable_gap=unusable_gap,
    )


def _working(clinician: Clinician, days, zone: ZoneInfo) -> Intervals:
    """Weekly shifts minus breaks, plus extra shifts, minus time off."""
    shifts = weekly(((s.weekday, s.starts, s.ends) for s in clinician.shifts), days, zone)
    breaks = weekly(((s.weekday, b.starts, b.ends) for s in clinician.shifts for b in s.breaks), days, zone)
    extra = instants((e.starts_at, e.ends_at) for e in clinician.exceptions if e.kind == "extra_shift")
    off = instants((e.starts_at, e.ends_at) for e in clinician.exceptions if e.kind == "time_off")
    return subtract(union(subtract(shifts, breaks), extra), off)


def _clinicians(session: Session, query: SlotQuery, service: Service, location: Location) -> list[Clinician]:
    statement = select(Clinician).where(Clinician.location_id == location.id).order_by(Clinician.id)
    if service.required_certification is not None:
        statement = statement.where(Clinician.certification_links.any(
            ClinicianCertification.certification == service.required_certification))
    if query.clinician_id is not None:
        statement = statement.where(Clinician.id == query.clinician_id)
    return list(session.exec(statement))


def _rooms(session: Session, query: SlotQuery, service: Service, location: Location) -> list[Room]:
    if service.room_kind is None:
        return []
    statement = select(Room).where(Room.location_id == location.id, Room.kind == service.room_kind)
    if query.room_id is not None:
        statement = statement.where(Room.id == query.room_id)
    return list(session.exec(statement.order_by(Room.id)))


def _device_units(session: Session, query: SlotQuery, service: Service, location: Location) -> dict[int, list]:
    types = [need.device_type_id for need in service.device_needs]
    units: dict[int, list[Device]] = {t: [] for t in types}
    if not types:
        return units
    statement = select(Device).where(Device.location_id == location.id, Device.device_type_id.in_(types))
    for unit in session.exec(statement.order_by(Device.id)):
        units[unit.device_type_id].append(unit)
    for type_id, group in units.items():
        requested = [unit for unit in group if unit.id in query.device_ids]
        if requested:
            units[type_id] = requested
    return units


def _busy(session: Session, query: SlotQuery, window, clinicians, rooms, units, now: datetime) -> dict:
    """Live allocations of the candidate resources that overlap the window, by resource."""
    wanted = [
        (ResourceKind.CLINICIAN, [c.id for c in clinicians]),
        (ResourceKind.ROOM, [r.id for r in rooms]),
        (ResourceKind.DEVICE, [u.id for u in units]),
        (ResourceKind.PATIENT, [query.patient_id] if query.patient_id is not None else []),
    ]
    clauses = [and_(Allocation.resource_kind == kind, Allocation.resource_id.in_(ids)) for kind, ids in wanted if ids]
    if not clauses:
        return {}
    start, end = from_minute(window[0]), from_minute(window[1])
    statement = select(Allocation.resource_kind, Allocation.resource_id, Allocation.starts_at, Allocation.ends_at).where(
        Allocation.live,
        or_(Allocation.hold_expires_at.is_(None), Allocation.hold_expires_at > now),
        Allocation.ends_at > start,
        Allocation.starts_at < end,
        or_(*clauses),
    )
    if query.ignore_appointment_id is not None:
        statement = statement.where(Allocation.appointment_id != query.ignore_appointment_id)
    spans: dict[tuple, list] = {}
    for kind, ident, starts_at, ends_at in session.exec(statement):
        spans.setdefault((ResourceKind(kind), ident), []).append((starts_at, ends_at))
    return {key: instants(windows) for key, windows in spans.items()}


def _explain(search: SlotSearch, query: SlotQuery, session: Session, location: Location) -> list[Reason]:
    if query.clinician_id is not None and not search.clinicians:
        clinician = session.get(Clinician, query.clinician_id)
        return [Reason("clinician_not_certified",
                       f"{clinician.name} does not hold the {search.service.certification} certification")]
    return explain_empty(search, location.name)
