"""What clinicians see of their days: rosters, and the day board of a location.

A roster lists a clinician's sessions (booked, arrived, done or missed; with
``include_cancelled`` the cancelled ones too, which calendar feeds need to
withdraw events; a hold released before it was booked was never an event)
with the patient, the service, the room, the device units and the session's
place in its treatment plan ("Shockwave therapy 3 of 5").
The day board shows every clinician, device unit and room of a location as
a row with the blocks it is taken for, holds included: what is free at a
glance.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import selectinload
from sqlmodel import Session, select

from data.enums import AppointmentStatus, ResourceKind
from data.errors import Invalid, NotFound
from data.tables import Allocation, Appointment, Patient, PlanLine, PlanSession, ever_booked
from scheduler.catalog_snapshot import CatalogSnapshot, ClinicianInfo, LocationInfo, catalog

ON_ROSTER = (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED, AppointmentStatus.FULFILLED,
             AppointmentStatus.NOSHOW)
MAX_ROSTER = timedelta(days=62)


@dataclass(frozen=True)
class Named:
    id: int
    name: str


@dataclass(frozen=True)
class RosterEntry:
    appointment_id: int
    status: AppointmentStatus
    starts_at: datetime
    ends_at: datetime
    updated_at: datetime
    version: int  # +1 on every update of the appointment: the calendar event's SEQUENCE
    clinician: Named
    patient: Named
    service: Named
    location: Named
    room: Named | None
    devices: tuple[Named, ...]
    plan_progress: str | None
    patient_erased: bool
    patient_confirmed_at: datetime | None = None


@dataclass(frozen=True)
class ClinicianRoster:
    clinician: Named
    entries: list[RosterEntry]


@dataclass(frozen=True)
class Block:
    appointment_id: int
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus
    label: str


@dataclass(frozen=True)
class BoardRow:
    kind: ResourceKind
    resource: Named
    blocks: list[Block] = field(default_factory=list)


def clinician_roster(session: Session, clinician_id: int, start: datetime, end: datetime, *,
                     include_cancelled: bool = False, longest: timedelta = MAX_ROSTER) -> list[RosterEntry]:
    snapshot = catalog(session)
    if clinician_id not in snapshot.clinicians:
        raise NotFound("clinician", clinician_id)
    # In UTC: two times in one zone compare by their wall clocks, and in the hour repeated in autumn 1:15 (the
    # second) reads as before 1:45 (the first), the start and end of a session across the change. The length is
    # counted in days of the calendar, as a feed's window is.
    if end.astimezone(UTC) <= start.astimezone(UTC):
        raise Invalid(("end",), "end must be after start", source="query")
    if end - start > longest:
        raise Invalid(("end",), f"ask for at most {longest.days} days at a time", source="query")
    statuses = ON_ROSTER + ((AppointmentStatus.CANCELLED,) if include_cancelled else ())
    return _entries(session, snapshot, [clinician_id], start, end, statuses)


def day_rosters(session: Session, day: date, location_id: int | None = None) -> list[ClinicianRoster]:
    """Every clinician's sessions on a local date (each location's own date), clinicians without any included.

    An archived clinician appears only on the days they have sessions: the past keeps naming who treated whom.
    """
    snapshot = catalog(session)
    locations = _locations(snapshot, location_id)
    rosters = []
    for location in locations:
        start, end = _local_day(location, day)
        clinicians = [*sorted(location.clinicians, key=lambda c: c.name),
                      *_moved_away(session, snapshot, location, start, end)]
        entries = _entries(session, snapshot, [c.id for c in clinicians], start, end, ON_ROSTER)
        for clinician in clinicians:
            theirs = [e for e in entries if e.clinician.id == clinician.id and e.location.id == location.id]
            if theirs or not clinician.archived:
                rosters.append(ClinicianRoster(Named(clinician.id, clinician.name), theirs))
    return rosters


def _moved_away(session: Session, snapshot: CatalogSnapshot, location: LocationInfo, start: datetime,
                end: datetime) -> list[ClinicianInfo]:
    """Clinicians with sessions at the location that day who have moved to another location since they were
    booked: the sessions still take place here, so the day's rosters name who gives them."""
    ids = session.exec(
        select(Allocation.resource_id).join(Appointment)
        .where(Allocation.resource_kind == ResourceKind.CLINICIAN, Appointment.location_id == location.id,
               Appointment.status.in_(ON_ROSTER), Appointment.starts_at < end, Appointment.ends_at > start)
        .distinct()
    ).all()
    here = {c.id for c in location.clinicians}
    return sorted((snapshot.clinicians[i] for i in ids if i not in here and i in snapshot.clinicians),
                  key=lambda c: c.name)


def day_board(session: Session, day: date, location_id: int) -> list[BoardRow]:
    """Clinicians, device units and rooms of the location, each with its blocks on that local date.

    Archived ones appear only when they have blocks that day.
    """
    snapshot = catalog(session)
    (location,) = _locations(snapshot, location_id)
    start, end = _local_day(location, day)
    archived = {(ResourceKind.CLINICIAN, c.id) for c in location.clinicians if c.archived}
    archived |= {(ResourceKind.DEVICE, u.id) for u in location.units if u.archived}
    archived |= {(ResourceKind.ROOM, r.id) for r in location.rooms if r.archived}
    rows = {(ResourceKind.CLINICIAN, c.id): BoardRow(ResourceKind.CLINICIAN, Named(c.id, c.name))
            for c in sorted(location.clinicians, key=lambda c: c.name)}
    rows |= {(ResourceKind.DEVICE, u.id): BoardRow(ResourceKind.DEVICE, Named(u.id, u.name))
             for u in sorted(location.units, key=lambda u: u.name)}
    rows |= {(ResourceKind.ROOM, r.id): BoardRow(ResourceKind.ROOM, Named(r.id, r.name))
             for r in sorted(location.rooms, key=lambda r: r.name)}
    taken = session.exec(
        select(Allocation, Appointment).join(Appointment)
        .where(Allocation.live, Appointment.location_id == location_id, Allocation.starts_at < end,
               Allocation.ends_at > start, Allocation.resource_kind != ResourceKind.PATIENT)
        .order_by(Allocation.starts_at)
    ).all()
    for allocation, appointment in taken:
        key = (allocation.resource_kind, allocation.resource_id)
        if key not in rows:  # moved to another location since the session was booked: it is still served here
            place, _item = snapshot.where_now(*key)
            elsewhere = f" (now at {place.name})" if place else ""
            rows[key] = BoardRow(key[0], Named(key[1], snapshot.name_of(*key) + elsewhere))
        row = rows[key]
        service = snapshot.services[appointment.service_id].name
        label = service if appointment.status != AppointmentStatus.PENDING else f"{service} (held)"
        row.blocks.append(Block(appointment.id, allocation.starts_at.astimezone(location.zone),
                                allocation.ends_at.astimezone(location.zone), appointment.status, label))
    # clinicians, units and rooms, in that order, the moved-away ones last of their kind (the sort is stable)
    shown = [row for key, row in rows.items() if row.blocks or key not in archived]
    return sorted(shown, key=lambda row: [ResourceKind.CLINICIAN, ResourceKind.DEVICE, ResourceKind.ROOM].index(
        row.kind))


def _locations(snapshot: CatalogSnapshot, location_id: int | None) -> list[LocationInfo]:
    if location_id is None:
        return sorted(snapshot.locations.values(), key=lambda location: location.name)
    if location_id not in snapshot.locations:
        raise NotFound("location", location_id)
    return [snapshot.locations[location_id]]


def _local_day(location: LocationInfo, day: date) -> tuple[datetime, datetime]:
    return (datetime.combine(day, time(0), location.zone),
            datetime.combine(day + timedelta(days=1), time(0), location.zone))


def _entries(session: Session, snapshot: CatalogSnapshot, clinician_ids: list[int], start: datetime, end: datetime,
             statuses: tuple[AppointmentStatus, ...]) -> list[RosterEntry]:
    if not clinician_ids:
        return []
    appointments = session.exec(
        select(Appointment).join(Allocation)
        .where(Allocation.resource_kind == ResourceKind.CLINICIAN, Allocation.resource_id.in_(clinician_ids),
               Appointment.status.in_(statuses), Appointment.starts_at < end, Appointment.ends_at > start,
               (Appointment.status != AppointmentStatus.CANCELLED) | ever_booked())
        .options(selectinload(Appointment.allocations))
        .order_by(Appointment.starts_at, Appointment.id).distinct()
    ).all()
    if not appointments:
        return []
    ids = [a.id for a in appointments]
    patients = {p.id: p for p in session.exec(select(Patient).where(
        Patient.id.in_({a.patient_id for a in appointments})))}
    progress = plan_progress(session, snapshot, ids)
    rooms = {r.id: r.name for location in snapshot.locations.values() for r in location.rooms}
    units = {u.id: u.name for location in snapshot.locations.values() for u in location.units}
    entries = []
    for appointment in appointments:
        location = snapshot.locations[appointment.location_id]
        patient = patients[appointment.patient_id]
        clinician = snapshot.clinicians[appointment.resource_ids(ResourceKind.CLINICIAN)[0]]
        room = next(iter(appointment.resource_ids(ResourceKind.ROOM)), None)
        entries.append(RosterEntry(
            appointment_id=appointment.id, status=appointment.status,
            starts_at=appointment.starts_at.astimezone(location.zone),
            ends_at=appointment.ends_at.astimezone(location.zone), updated_at=appointment.updated_at,
            version=appointment.version,
            clinician=Named(clinician.id, clinician.name),
            patient=Named(patient.id, f"{patient.given_name} {patient.family_name}"),
            service=Named(appointment.service_id, snapshot.services[appointment.service_id].name),
            location=Named(location.id, location.name),
            room=Named(room, rooms.get(room, f"room {room}")) if room is not None else None,
            devices=tuple(Named(u, units.get(u, f"device {u}")) for u in sorted(appointment.resource_ids(
                ResourceKind.DEVICE))),
            plan_progress=progress.get(appointment.id), patient_erased=patient.erased_at is not None,
            patient_confirmed_at=(appointment.patient_confirmed_at.astimezone(location.zone)
                                  if appointment.patient_confirmed_at else None),
        ))
    return entries


def plan_progress(session: Session, snapshot: CatalogSnapshot, appointment_ids: list[int]) -> dict[int, str]:
    """"Shockwave therapy 3 of 5" for each appointment that is a session of a treatment plan."""
    rows = session.exec(
        select(PlanSession.appointment_id, PlanSession.service_id, PlanSession.sequence, PlanLine.count)
        .join(PlanLine, (PlanLine.plan_id == PlanSession.plan_id) & (PlanLine.service_id == PlanSession.service_id))
        .where(PlanSession.appointment_id.in_(appointment_ids))
    ).all()
    return {appointment: f"{snapshot.services[service].name} {sequence} of {count}"
            for appointment, service, sequence, count in rows}
