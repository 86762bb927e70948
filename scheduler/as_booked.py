"""A booked appointment the catalog has changed under, described as it was booked so that the night keeps it.

The catalog may change after sessions were booked: a clinician loses a
certification or moves to another location, a room gets another kind, a unit
another type or cleaning time, a service another duration, buffer, device
need or certification. The appointment keeps what it was booked with (the
clinic promised it; whether to rebook it is the desk's call), but the
service as the catalog has it now no longer describes it: its clinician may
not be among the candidates, its spans may be longer than what it holds, so
they overlap the next session's. Given that description the solver answered
with a night that could not pass its own check, and every run of the
location failed until those sessions were past (12 of 13 such edits tried,
2026-12-01).

So such a session reaches the night as booked: the resources it holds, for
the spans it holds them, and free nowhere else. The solver keeps a session
whose resources are not free by the catalog exactly as it is (it is
*pinned*), and the run record names it with what changed, for the desk to
review. That includes a session whose clinician, room or unit is no longer
free then (time off, a shorter shift, maintenance added after booking),
which the solver always kept but nobody was told of, and one the location's
opening hours no longer cover (with a reach to move sessions, the solver
would otherwise have moved it into them on its own).
"""

from dataclasses import replace

from data.enums import ResourceKind
from data.tables import Appointment
from scheduler.catalog_snapshot import CatalogSnapshot, ServiceInfo
from scheduler.clock import to_minute
from solver.intervals import Intervals, contains
from solver.plans import Candidate, DevicePool, SessionKind, blocked


def as_booked(appointment: Appointment, kind: SessionKind, service: ServiceInfo, catalog: CatalogSnapshot,
              open_starts: Intervals) -> tuple[SessionKind, str] | None:
    """The appointment as booked and why the catalog's ``kind`` no longer describes it; None when it does.
    ``open_starts``: the starts at which the service fits in the location's opening hours now."""
    changed = _what_changed(appointment, kind, service, catalog)
    if not contains(open_starts, to_minute(appointment.starts_at), to_minute(appointment.starts_at) + 1):
        changed.append("it no longer lies within the location's opening hours")
    return None if not changed else (_kind_as_booked(appointment, kind, catalog), "; ".join(changed))


def _held(appointment: Appointment) -> dict[tuple[ResourceKind, int], tuple[int, int]]:
    return {(a.resource_kind, a.resource_id): (to_minute(a.starts_at), to_minute(a.ends_at))
            for a in appointment.allocations if a.resource_kind != ResourceKind.PATIENT}


def _what_changed(appointment: Appointment, kind: SessionKind, service: ServiceInfo,
                  catalog: CatalogSnapshot) -> list[str]:
    """What differs between the appointment and the service as the catalog has it now, in the desk's words."""
    start, end = to_minute(appointment.starts_at), to_minute(appointment.ends_at)
    held = _held(appointment)
    changed = []
    if end - start != kind.duration:
        changed.append(f"booked for {end - start} min; {service.name} now lasts {kind.duration} min")
    clinician = appointment.resource_ids(ResourceKind.CLINICIAN)[0]
    if clinician not in {c.id for c in kind.clinicians}:
        changed.append(f"{catalog.name_of(ResourceKind.CLINICIAN, clinician)} no longer gives {service.name} here "
                       "(certification, location or archived)")
    rooms = appointment.resource_ids(ResourceKind.ROOM)
    if not kind.needs_room and rooms:
        changed.append(f"{service.name} no longer needs a room")
    elif kind.needs_room and not set(rooms) <= {r.id for r in kind.rooms}:
        changed.append(f"{catalog.name_of(ResourceKind.ROOM, rooms[0])} no longer suits {service.name}")
    elif kind.needs_room and not rooms:
        changed.append(f"{service.name} now needs a room")
    units = appointment.resource_ids(ResourceKind.DEVICE)
    wanted = {unit.id: unit for pool in kind.devices for unit in pool.units}
    if any(unit not in wanted for unit in units) or any(
            sum(unit in {u.id for u in pool.units} for unit in units) != pool.count for pool in kind.devices):
        changed.append(f"{service.name} now needs other device units than "
                       f"{', '.join(catalog.name_of(ResourceKind.DEVICE, unit) for unit in units) or 'none'}")
    elif not changed:
        expected = {(ResourceKind.CLINICIAN, clinician): blocked(kind, start)}
        expected |= {(ResourceKind.ROOM, room): blocked(kind, start) for room in rooms}
        expected |= {(ResourceKind.DEVICE, unit): blocked(kind, start, wanted[unit].cleaning) for unit in units}
        if expected != held:
            changed.append(f"the time held around it (buffers, cleaning) has changed for {service.name}")
    return changed + _not_free(held, kind)


def _not_free(held: dict[tuple[ResourceKind, int], tuple[int, int]], kind: SessionKind) -> list[str]:
    """Who or what serving it is no longer free then by the catalog: time off, a shorter shift, maintenance, shorter
    opening hours added after it was booked (its own booking is not counted: the night sets it aside)."""
    candidates = {(ResourceKind.CLINICIAN, c.id): c for c in kind.clinicians}
    candidates |= {(ResourceKind.ROOM, r.id): r for r in kind.rooms}
    candidates |= {(ResourceKind.DEVICE, u.id): u for pool in kind.devices for u in pool.units}
    return [f"{candidates[what].name} is no longer free then (time off, shift, maintenance or opening hours changed)"
            for what, span in held.items() if what in candidates and not contains(candidates[what].free, *span)]


def _kind_as_booked(appointment: Appointment, kind: SessionKind, catalog: CatalogSnapshot) -> SessionKind:
    """The session with exactly what it holds, free nowhere: the solver keeps it as it is."""
    start, end = to_minute(appointment.starts_at), to_minute(appointment.ends_at)
    held = _held(appointment)
    clinician = appointment.resource_ids(ResourceKind.CLINICIAN)[0]
    low, high = held[ResourceKind.CLINICIAN, clinician]
    rooms = appointment.resource_ids(ResourceKind.ROOM)
    units = sorted(appointment.resource_ids(ResourceKind.DEVICE))
    name = catalog.name_of
    return replace(
        kind, duration=end - start, buffer_before=start - low, buffer_after=high - end,
        clinicians=(Candidate(clinician, name(ResourceKind.CLINICIAN, clinician), ()),),
        needs_room=bool(rooms), rooms=tuple(Candidate(room, name(ResourceKind.ROOM, room), ()) for room in rooms),
        devices=tuple(DevicePool(name(ResourceKind.DEVICE, unit), 1, (Candidate(
            unit, name(ResourceKind.DEVICE, unit), (), cleaning=held[ResourceKind.DEVICE, unit][1] - high),))
            for unit in units),
    )
