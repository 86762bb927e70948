"""The front desk's schedule screen: a location's clinicians, device units and rooms over one day or one week.

One read gives everything the screen draws: the resources, every live
session and hold on them (with the patient, the service and the place in a
treatment plan), and the time each resource cannot be booked, by cause (off
shift, break, time off, maintenance, closed), so the desk sees why a time is
grey. Times are the location's, with its offset; the range is whole local
days, so a DST day is 23 or 25 hours long.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, select

from data.enums import AppointmentStatus, ResourceKind
from data.errors import Invalid, NotFound
from data.tables import Allocation, Appointment, Patient
from scheduler import booking
from scheduler.catalog_snapshot import CatalogSnapshot, LocationInfo, catalog
from scheduler.clock import from_minute, local_days, to_minute, weekly
from scheduler.rosters import plan_progress
from solver.intervals import Intervals, intersect, subtract, union

LONGEST = 7
SHOWN = (AppointmentStatus.PENDING, AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED, AppointmentStatus.FULFILLED,
         AppointmentStatus.NOSHOW)


@dataclass(frozen=True)
class ScheduleResource:
    kind: ResourceKind
    id: int
    name: str
    detail: str


@dataclass(frozen=True)
class ScheduledSession:
    appointment_id: int
    status: AppointmentStatus
    starts_at: datetime
    ends_at: datetime
    hold_expires_at: datetime | None
    patient_id: int
    patient_name: str
    service_id: int
    service_name: str
    plan_progress: str | None
    resources: tuple[tuple[ResourceKind, int], ...]
    version: int  # sent back with a change (If-Match): a screen left open changes only what it shows
    patient_confirmed_at: datetime | None = None
    proposed_in: int | None = None  # the plan whose proposal holds it: booked or released through that plan only
    answers_request: int | None = None  # the public request it is held for: booked or released by answering it


@dataclass(frozen=True)
class Unavailable:
    kind: ResourceKind
    id: int
    starts_at: datetime
    ends_at: datetime
    cause: str


@dataclass(frozen=True)
class ScheduleView:
    location: LocationInfo
    first_day: date
    days: int
    resources: list[ScheduleResource]
    sessions: list[ScheduledSession]
    unavailable: list[Unavailable]


def schedule_view(session: Session, location_id: int, first_day: date, days: int, *, now: datetime) -> ScheduleView:
    """What the screen draws for ``days`` local days from ``first_day``; holds that have lapsed by ``now`` are gone."""
    if not 1 <= days <= LONGEST:
        raise Invalid(("days",), f"show between 1 and {LONGEST} days", source="query")
    snapshot = catalog(session)
    location = snapshot.locations.get(location_id)
    if location is None:
        raise NotFound("location", location_id)
    zone = location.zone
    start = datetime.combine(first_day, time(0), zone)
    end = datetime.combine(first_day + timedelta(days=days), time(0), zone)
    window: Intervals = [(to_minute(start), to_minute(end))]
    sessions = _sessions(session, snapshot, location, start, end, now)
    busy = {key for s in sessions for key in s.resources}

    unavailable = []

    def shade(kind: ResourceKind, ident: int, cause: str, spans: Intervals) -> None:
        unavailable.extend(Unavailable(kind, ident, from_minute(a, zone), from_minute(b, zone), cause)
                           for a, b in intersect(spans, window))

    calendar_days = local_days(*window[0], zone)
    open_hours = weekly(location.opening_hours, calendar_days, zone)
    closed = subtract(window, open_hours)
    clinicians, units, rooms = [], [], []
    for clinician in sorted(location.clinicians, key=lambda c: c.name):
        if clinician.archived and (ResourceKind.CLINICIAN, clinician.id) not in busy:
            continue
        clinicians.append(ScheduleResource(ResourceKind.CLINICIAN, clinician.id, clinician.name,
                                           ", ".join(sorted(c.label for c in clinician.certifications))))
        # The same arithmetic as availability's working time: (shifts - breaks) + extra shifts - time off.
        regular = weekly(clinician.shifts, calendar_days, zone)
        time_off = intersect(clinician.time_off, window)
        breaks = subtract(intersect(weekly(clinician.breaks, calendar_days, zone), regular),
                          union(clinician.extra_shifts, time_off))
        shade(ResourceKind.CLINICIAN, clinician.id, "off shift",
              subtract(window, union(regular, clinician.extra_shifts, time_off)))
        shade(ResourceKind.CLINICIAN, clinician.id, "break", breaks)
        shade(ResourceKind.CLINICIAN, clinician.id, "time off", time_off)
    for unit in sorted(location.units, key=lambda u: u.name):
        if unit.archived and (ResourceKind.DEVICE, unit.id) not in busy:
            continue
        units.append(ScheduleResource(ResourceKind.DEVICE, unit.id, unit.name, "device unit"))
        shade(ResourceKind.DEVICE, unit.id, "maintenance", unit.maintenance)
        shade(ResourceKind.DEVICE, unit.id, "closed", subtract(closed, unit.maintenance))
    for room in sorted(location.rooms, key=lambda r: r.name):
        if room.archived and (ResourceKind.ROOM, room.id) not in busy:
            continue
        rooms.append(ScheduleResource(ResourceKind.ROOM, room.id, room.name, room.kind.value.replace("_", " ")))
        shade(ResourceKind.ROOM, room.id, "closed", closed)
    rows = {ResourceKind.CLINICIAN: clinicians, ResourceKind.DEVICE: units, ResourceKind.ROOM: rooms}
    listed = {(row.kind, row.id) for row in (*clinicians, *units, *rooms)}
    for kind, ident in sorted(busy - listed):
        rows[kind].append(_moved_away(snapshot, kind, ident))
    resources = [*clinicians, *units, *rooms]
    return ScheduleView(location, first_day, days, resources, sessions, unavailable)


def _moved_away(snapshot: CatalogSnapshot, kind: ResourceKind, ident: int) -> ScheduleResource:
    """A row for a clinician, unit or room that serves this location's sessions in the range but has moved to another
    location since they were booked: without it those sessions had no row and were not drawn at all. Its shading
    (shifts, maintenance) is its new location's business and is not drawn here."""
    place, _item = snapshot.where_now(kind, ident)
    return ScheduleResource(kind, ident, snapshot.name_of(kind, ident),
                            f"now at {place.name}" if place else "moved away")


def _sessions(session: Session, snapshot, location: LocationInfo, start: datetime, end: datetime, now: datetime
              ) -> list[ScheduledSession]:
    """Live sessions and holds of the location overlapping the range, each with every resource it holds.

    One row per allocation, of plain columns (no ORM objects): a busy week is a thousand rows, read on every
    screen refresh.
    """
    rows = session.exec(
        select(Appointment.id, Appointment.status, Appointment.starts_at, Appointment.ends_at,
               Appointment.hold_expires_at, Appointment.patient_id, Appointment.service_id,
               Patient.given_name, Patient.family_name, Appointment.patient_confirmed_at, Appointment.version,
               Allocation.resource_kind, Allocation.resource_id)
        .join(Allocation, Allocation.appointment_id == Appointment.id)
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(Appointment.location_id == location.id, Appointment.status.in_(SHOWN), Allocation.live,
               Appointment.starts_at < end, Appointment.ends_at > start,
               Allocation.resource_kind != ResourceKind.PATIENT)
        .order_by(Appointment.starts_at, Appointment.id)
    ).all()
    facts: dict[int, tuple] = {}
    held: dict[int, set[tuple[ResourceKind, int]]] = {}
    for *appointment, kind, ident in rows:
        expires = appointment[4]
        if expires is not None and expires <= now:
            continue  # a lapsed hold still holds its rows until a writer releases it, but it is no promise
        facts.setdefault(appointment[0], tuple(appointment))
        held.setdefault(appointment[0], set()).add((kind, ident))
    if not facts:
        return []
    progress = plan_progress(session, snapshot, list(facts))
    proposals = booking.in_proposals(session, list(facts))
    requests = booking.answering_requests(session, list(facts))
    zone = location.zone
    return [ScheduledSession(
        appointment_id=ident, status=status, starts_at=starts.astimezone(zone), ends_at=ends.astimezone(zone),
        hold_expires_at=expires.astimezone(zone) if expires else None, patient_id=patient_id,
        patient_name=f"{given} {family}", service_id=service_id, service_name=snapshot.services[service_id].name,
        plan_progress=progress.get(ident), resources=tuple(sorted(held[ident])), version=version,
        patient_confirmed_at=confirmed.astimezone(zone) if confirmed else None, proposed_in=proposals.get(ident),
        answers_request=requests.get(ident))
        for ident, status, starts, ends, expires, patient_id, service_id, given, family, confirmed, version
        in facts.values()]
