"""Availability: gather what one search needs and ask the solver.

The catalog comes from the process's snapshot (see ``catalog_snapshot``) and
the location's busy time from the process's cache (see ``free_time``), each
checked against its version with one tiny query. The database is asked for
allocations only for the patient's own sessions, for the days whose version
changed, and when a search must read them fresh (``SlotQuery.fresh``); then
only those overlapping the searched window (plus a day on each side for
buffers and overnight spans), so a search's cost follows the window, not the
size of the schedule.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, or_, type_coerce
from sqlmodel import Session, select

from data import schedule_version
from data.config import Settings
from data.enums import AppointmentStatus, ResourceKind
from data.errors import Invalid
from data.tables import Allocation, Appointment, Patient
from data.types import epoch_minute
from scheduler import free_time, search_memo
from scheduler.catalog_snapshot import (
    CatalogSnapshot,
    ClinicianInfo,
    LocationInfo,
    ServiceInfo,
    UnitInfo,
    catalog,
)
from scheduler.clock import daily, from_minute, local_days, to_minute, weekly
from solver.availability import (
    DeviceNeed,
    Reason,
    Resource,
    ServiceNeeds,
    Slot,
    SlotSearch,
    explain_empty,
)
from solver.intervals import Intervals, intersect, normalize, subtract, union
from solver.plans import Candidate, DevicePool, SessionKind

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
    ignore_appointment_ids: tuple[int, ...] = ()
    fresh: bool = False  # read busy time from the database, not the process's cache: a write path's own check


@dataclass(frozen=True)
class Offer:
    """A bookable slot with the concrete resources that would serve it, in the location's time zone."""

    location_id: int
    start: datetime
    end: datetime
    slot: Slot
    service: ServiceNeeds


@dataclass
class Availability:
    offers: list[Offer] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    # Until when, if nothing is written meanwhile, the same search gives this answer (the clock moves the earliest
    # bookable start and lapses holds); None when it read data no version stamps (the patient's own sessions).
    good_until: datetime | None = None


def find_availability(session: Session, query: SlotQuery, *, now: datetime, settings: Settings) -> Availability:
    _check_range(query)
    window = _window(query)
    versions = schedule_version.read(session, *free_time.days(window), query.location_id)
    snapshot = catalog(session, versions[0])
    service = snapshot.services.get(query.service_id)
    if service is None:
        raise Invalid(("service_id",), f"service {query.service_id} does not exist", source="query")
    if service.archived:
        raise Invalid(("service_id",), f"service {service.id} ({service.name}) is archived: no longer booked",
                      source="query")
    if query.patient_id is not None and session.get(Patient, query.patient_id) is None:
        raise Invalid(("patient_id",), f"patient {query.patient_id} does not exist", source="query")
    locations = _locations(snapshot, query)
    continuity = last_clinician(session, query.patient_id, now) if query.patient_id else None
    ranked: list[tuple[tuple, Offer]] = []
    explained: list[tuple[LocationInfo, list[Reason]]] = []
    for location in locations:
        search = build_search(session, query, service, location, now=now, settings=settings,
                              continuity=continuity, unusable_gap=snapshot.shortest_service, versions=versions)
        slots = search_memo.slots(search, query.limit)
        if not slots:
            explained.append((location, _explain(search, query, snapshot, location)))
        for slot in slots:
            offer = Offer(location.id, from_minute(slot.start, location.zone), from_minute(slot.end, location.zone),
                          slot, search.service)
            key = (slot.clinician.id != search.preferred_clinician, slot.clinician.id != continuity, slot.start,
                   slot.waste)
            ranked.append((key, offer))
    ranked.sort(key=lambda item: item[0])
    good_until = _good_until(session, query, locations, now, settings, versions)
    if ranked:
        return Availability(offers=[offer for _, offer in ranked[: query.limit]], good_until=good_until)
    return Availability(reasons=_summarize(explained), good_until=good_until)


def _good_until(session: Session, query: SlotQuery, locations: list[LocationInfo], now: datetime, settings: Settings,
                versions: tuple[str, dict]) -> datetime | None:
    """The first moment the clock alone changes the answer: the earliest bookable start moves on a minute, or
    a hold in the searched days lapses."""
    if query.patient_id is not None or query.fresh or query.ignore_appointment_ids or schedule_version.changed(session):
        return None
    # the earliest start stays while the whole seconds of now + notice do not pass it
    moments = [from_minute(_earliest_start(now, settings)) - timedelta(minutes=settings.min_notice_minutes, seconds=-1)]
    for location in locations:
        lapse = free_time.next_lapse(session, location, _window(query), now, versions)
        if lapse is not None:
            moments.append(lapse)
    return min(moments)


def _earliest_start(now: datetime, settings: Settings) -> int:
    """The first whole minute a slot may start at: after the minimum notice."""
    return -(-int((now + timedelta(minutes=settings.min_notice_minutes)).timestamp()) // 60)


def _summarize(explained: list[tuple[LocationInfo, list[Reason]]]) -> list[Reason]:
    """The reasons of the locations that could give the service at all; of every location if none can."""
    able = [(location, reasons) for location, reasons in explained
            if not any(reason.code in CATALOG_GAPS for reason in reasons)]
    shown = able or explained
    if len(shown) == 1:
        return shown[0][1]
    return [Reason(r.code, f"{location.name}: {r.message}") for location, reasons in shown for r in reasons]


def _check_range(query: SlotQuery) -> None:
    if query.end.astimezone(UTC) <= query.start.astimezone(UTC):  # not by wall clock: rosters.clinician_roster
        raise Invalid(("end",), "end must be after start", source="query")
    if query.end - query.start > MAX_RANGE:
        raise Invalid(("end",), f"search at most {MAX_RANGE.days} days at a time", source="query")
    if (query.earliest is None) != (query.latest is None):
        raise Invalid(("latest",), "give both earliest and latest, or neither", source="query")
    if query.earliest is not None and query.latest <= query.earliest:
        raise Invalid(("latest",), "latest must be after earliest", source="query")


def _locations(snapshot: CatalogSnapshot, query: SlotQuery) -> list[LocationInfo]:
    if query.clinician_id is not None:
        clinician = snapshot.clinicians.get(query.clinician_id)
        if clinician is None:
            raise Invalid(("clinician_id",), f"clinician {query.clinician_id} does not exist", source="query")
        if clinician.archived:
            raise Invalid(("clinician_id",), f"clinician {clinician.id} ({clinician.name}) is archived: no longer "
                                             f"booked", source="query")
        if query.location_id not in (None, clinician.location_id):
            raise Invalid(("clinician_id",), f"{clinician.name} works at another location", source="query")
        return [snapshot.locations[clinician.location_id]]
    if query.location_id is not None:
        if query.location_id not in snapshot.locations:
            raise Invalid(("location_id",), f"location {query.location_id} does not exist", source="query")
        return [snapshot.locations[query.location_id]]
    return list(snapshot.locations.values())


def last_clinician(session: Session, patient_id: int, now: datetime) -> int | None:
    """The clinician who last saw (or is booked to see) the patient before now: continuity of care."""
    seen = (AppointmentStatus.FULFILLED, AppointmentStatus.ARRIVED, AppointmentStatus.BOOKED)
    return session.exec(
        select(Allocation.resource_id)
        .join(Appointment)
        .where(Appointment.patient_id == patient_id, Appointment.status.in_(seen), Appointment.starts_at < now,
               Allocation.resource_kind == ResourceKind.CLINICIAN)
        .order_by(Appointment.starts_at.desc())
        .limit(1)
    ).first()


def build_search(
    session: Session, query: SlotQuery, service: ServiceInfo, location: LocationInfo, *, now: datetime,
    settings: Settings, continuity: int | None, unusable_gap: int, versions: tuple[str, dict] | None = None,
) -> SlotSearch:
    """The solver's input for one location; ``versions``: the catalog's and the schedule's if just read."""
    zone = location.zone
    window = _window(query)
    days = local_days(*window, zone)
    everywhere = search_memo.window(window)

    open_hours = weekly(location.opening_hours, days, zone)
    if query.earliest is not None:
        open_hours = intersect(open_hours, daily(query.earliest, query.latest, days, zone))
    starts = [(max(to_minute(query.start), _earliest_start(now, settings)), to_minute(query.end))]

    clinicians = [c for c in location.clinicians
                  if not c.archived and (service.certification is None or service.certification in c.certifications)
                  and query.clinician_id in (None, c.id)]
    rooms = [r for r in location.rooms if not r.archived
             and service.room_kind is not None and r.kind == service.room_kind and query.room_id in (None, r.id)]
    units = {need.device_type_id: _units(location, need.device_type_id, query.device_ids)
             for need in service.device_needs}
    busy = _busy(session, query, window, location, clinicians, rooms, [u for group in units.values() for u in group],
                 now, versions)

    def resource(kind: ResourceKind, ident: int, name: str, available: Intervals, cleaning: int = 0) -> Resource:
        return search_memo.resource(kind.value, ident, name, available, busy.get((kind.value, ident), search_memo.NOTHING),
                                    cleaning)

    return SlotSearch(
        service=ServiceNeeds(
            name=service.name, duration=service.duration, buffer_before=service.buffer_before,
            buffer_after=service.buffer_after,
            certification=service.certification.label if service.certification else None,
            room_kind=service.room_kind.value.replace("_", " ") if service.room_kind else None,
        ),
        clinicians=tuple(
            resource(ResourceKind.CLINICIAN, c.id, c.name, search_memo.working(c, days, zone, _working))
            for c in clinicians
        ),
        rooms=tuple(resource(ResourceKind.ROOM, r.id, r.name, everywhere) for r in rooms),
        devices=tuple(
            DeviceNeed(
                type_name=need.type_name,
                count=need.count,
                units=tuple(
                    resource(ResourceKind.DEVICE, u.id, u.name, search_memo.unit_available(u, everywhere), u.cleaning)
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
        time_of_day=query.earliest is not None,
    )


def _window(query: SlotQuery) -> tuple[int, int]:
    """The minutes a search looks at: the range and a day each side, for buffers and overnight spans."""
    return to_minute(query.start - PAD), to_minute(query.end + PAD)


def _working(clinician: ClinicianInfo, days, zone: ZoneInfo) -> Intervals:
    """Weekly shifts minus breaks, plus extra shifts, minus time off."""
    shifts, breaks = weekly(clinician.shifts, days, zone), weekly(clinician.breaks, days, zone)
    return subtract(union(subtract(shifts, breaks), clinician.extra_shifts), clinician.time_off)


def _units(location: LocationInfo, device_type_id: int, requested: tuple[int, ...]) -> list[UnitInfo]:
    """The location's units of a type; only the requested ones if any of this type were requested."""
    units = [u for u in location.units if u.device_type_id == device_type_id and not u.archived]
    chosen = [u for u in units if u.id in requested]
    return chosen or units


def _busy(session: Session, query: SlotQuery, window, location: LocationInfo, clinicians, rooms, units,
          now: datetime, versions: tuple[str, dict] | None) -> dict:
    """Busy minutes by resource: the location's from the process's cache, the patient's from the database.

    All come from the database when the search must see what the cache does not hold: a write path's check
    (``fresh``), a move that sets its own appointment aside, or this transaction's uncommitted changes.
    """
    patient = [(ResourceKind.PATIENT, [query.patient_id])] if query.patient_id is not None else []
    cached = None
    if not (query.fresh or query.ignore_appointment_ids):
        cached = free_time.busy_time(session, location, window, now, versions)
    if cached is None:
        return _busy_in_database(session, query, window, [
            (ResourceKind.CLINICIAN, [c.id for c in clinicians]),
            (ResourceKind.ROOM, [r.id for r in rooms]),
            (ResourceKind.DEVICE, [u.id for u in units]),
            *patient,
        ], now)
    return {**cached, **_busy_in_database(session, query, window, patient, now)} if patient else cached


def _busy_in_database(session: Session, query: SlotQuery, window, wanted, now: datetime) -> dict:
    """Live allocations of the wanted resources that overlap the window, in minutes, by resource.

    Spans are bounded (``free_time.MAX_ALLOCATION_SPAN``), so the lower bound on
    ``starts_at`` lets the index range-scan only the window, however many
    appointments lie before or after it.
    """
    clauses = [and_(Allocation.resource_kind == kind, Allocation.resource_id.in_(ids)) for kind, ids in wanted if ids]
    if not clauses:
        return {}
    start, end = from_minute(window[0]), from_minute(window[1])
    table = Allocation.__table__.c
    statement = select(
        type_coerce(table.resource_kind, String), table.resource_id, epoch_minute(table.starts_at),
        epoch_minute(table.ends_at),
    ).where(
        table.live,
        or_(table.hold_expires_at.is_(None), table.hold_expires_at > now),
        table.starts_at > start - free_time.MAX_ALLOCATION_SPAN,
        table.starts_at < end,
        table.ends_at > start,
        or_(*clauses),
    )
    if query.ignore_appointment_ids:
        statement = statement.where(table.appointment_id.not_in(query.ignore_appointment_ids))
    spans: dict[tuple, list] = {}
    for kind, ident, starts_at, ends_at in session.execute(statement).all():
        spans.setdefault((kind, ident), []).append((starts_at, ends_at))
    return {key: normalize(windows) for key, windows in spans.items()}


def _explain(search: SlotSearch, query: SlotQuery, snapshot: CatalogSnapshot, location: LocationInfo) -> list[Reason]:
    if query.clinician_id is not None and not search.clinicians:
        clinician = snapshot.clinicians[query.clinician_id]
        return [Reason("clinician_not_certified",
                       f"{clinician.name} does not hold the {search.service.certification} certification")]
    return explain_empty(search, location.name)


def session_kind(service: ServiceInfo, search: SlotSearch, **rules) -> SessionKind:
    """A service as the plan solvers see it: its candidates with their free time from an availability search."""
    return SessionKind(
        key=str(service.id), name=service.name, duration=service.duration, buffer_before=service.buffer_before,
        buffer_after=service.buffer_after, clinicians=tuple(Candidate(c.id, c.name, c.free) for c in search.clinicians),
        needs_room=service.room_kind is not None, rooms=tuple(Candidate(r.id, r.name, r.free) for r in search.rooms),
        devices=tuple(DevicePool(need.type_name, need.count,
                                 tuple(Candidate(u.id, u.name, u.free, u.cleaning) for u in need.units))
                      for need in search.devices),
        **{"count": 1, **rules},
    )
