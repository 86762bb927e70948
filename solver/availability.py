"""Bookable slots for one service at one location, and why there are none.

Works on plain data: every resource comes with the minutes it could serve
(shifts minus breaks and time off, devices outside maintenance) and the minutes
it is already taken (live appointments and holds, with their buffers and
cleaning). All times are whole minutes since the Unix epoch, UTC.

For each resource the set of feasible start minutes is computed once with
interval arithmetic; the roles are then combined (any room, at least *k* units
of each device type, one clinician) and only the surviving starts are
enumerated on the slot grid. The cost follows the number of intervals in the
searched window, not the number of minutes or of appointments elsewhere.
"""

import heapq
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice

from solver.intervals import (
    Intervals,
    at_least,
    enclosing,
    grid_points,
    intersect,
    intersect_all,
    starts_fitting,
    subtract,
    union,
)


@dataclass(frozen=True)
class Resource:
    """A clinician, room, device unit or patient, as far as one search is concerned."""

    kind: str
    id: int
    name: str
    available: Intervals
    busy: Intervals = field(default_factory=list)
    cleaning: int = 0

    @cached_property
    def free(self) -> Intervals:
        """When it could serve and is not taken; computed once, read for every candidate slot."""
        return subtract(self.available, self.busy)


@dataclass(frozen=True)
class DeviceNeed:
    type_name: str
    count: int
    units: tuple[Resource, ...]


@dataclass(frozen=True)
class ServiceNeeds:
    name: str
    duration: int
    buffer_before: int = 0
    buffer_after: int = 0
    certification: str | None = None
    room_kind: str | None = None


def blocked_span(service: ServiceNeeds, start: int, resource: Resource) -> tuple[int, int]:
    """What ``resource`` is blocked for by a session of ``service`` starting at ``start``.

    Staff, rooms and devices are blocked for the buffers too, devices also for
    their cleaning afterwards; the patient only for the session itself.
    """
    if resource.kind == "patient":
        return start, start + service.duration
    return start - service.buffer_before, start + service.duration + service.buffer_after + resource.cleaning


@dataclass(frozen=True)
class SlotSearch:
    """One search: the service, the candidates for each role and the allowed times.

    ``open_hours`` are the spans a service may occupy (opening hours, the
    requested time of day if ``time_of_day``); ``starts`` the allowed start
    minutes (the searched range, minimum notice). ``grid_origin`` aligns slot
    starts with the local wall clock.
    """

    service: ServiceNeeds
    clinicians: tuple[Resource, ...]
    rooms: tuple[Resource, ...]
    devices: tuple[DeviceNeed, ...]
    open_hours: Intervals
    starts: Intervals
    patient: Resource | None = None
    grid: int = 15
    grid_origin: int = 0
    preferred_clinician: int | None = None
    continuity_clinician: int | None = None
    unusable_gap: int = 30
    time_of_day: bool = False

    def span(self, start: int, resource: Resource) -> tuple[int, int]:
        return blocked_span(self.service, start, resource)

    def feasible_starts(self, resource: Resource, *, ignore_bookings: bool = False) -> Intervals:
        start, end = self.span(0, resource)
        return starts_fitting(resource.available if ignore_bookings else resource.free, -start, end)


@dataclass(frozen=True)
class Slot:
    start: int
    end: int
    clinician: Resource
    room: Resource | None
    devices: tuple[Resource, ...]
    waste: int

    def resources(self) -> tuple[Resource, ...]:
        return (self.clinician, *((self.room,) if self.room else ()), *self.devices)


@dataclass(frozen=True)
class Reason:
    """Why a search found nothing: a stable code for programs, a sentence for people."""

    code: str
    message: str


def find_slots(search: SlotSearch, limit: int = 50) -> list[Slot]:
    """The best ``limit`` slots: requested clinician first, then continuity of care, then earliest.

    At equal rank, the resource choice that leaves the fewest unusable gaps wins.
    """
    common = _common_starts(search)
    if not common:
        return []
    streams = []
    for clinician in search.clinicians:
        starts = intersect(common, search.feasible_starts(clinician))
        tier = (clinician.id != search.preferred_clinician, clinician.id != search.continuity_clinician)
        points = grid_points(starts, search.grid, search.grid_origin)
        streams.append([(tier, start, clinician.id) for start in islice(points, limit)])
    candidates = []
    for candidate in heapq.merge(*streams):
        if len(candidates) >= limit and candidate[:2] != candidates[-1][:2]:
            break
        candidates.append(candidate)
    by_id = {clinician.id: clinician for clinician in search.clinicians}
    slots = (_assemble(search, start, by_id[clinician_id]) for _, start, clinician_id in candidates)
    ranked = sorted(
        (slot for slot in slots if slot is not None),
        key=lambda slot: (
            slot.clinician.id != search.preferred_clinician,
            slot.clinician.id != search.continuity_clinician,
            slot.start,
            slot.waste,
            slot.clinician.id,
        ),
    )
    return ranked[:limit]


def _common_starts(search: SlotSearch, *, ignore_bookings: bool = False) -> Intervals:
    """Starts at which the opening hours, the range, the patient, a room and every device need allow."""
    parts = [_base_starts(search)]
    if search.patient is not None:
        parts.append(search.feasible_starts(search.patient, ignore_bookings=ignore_bookings))
    if search.service.room_kind is not None:
        parts.append(union(*(search.feasible_starts(r, ignore_bookings=ignore_bookings) for r in search.rooms)))
    for need in search.devices:
        parts.append(_device_starts(search, need, ignore_bookings=ignore_bookings))
    return intersect_all(parts)


def _base_starts(search: SlotSearch) -> Intervals:
    return intersect(starts_fitting(search.open_hours, 0, search.service.duration), search.starts)


def _device_starts(search: SlotSearch, need: DeviceNeed, *, ignore_bookings: bool = False) -> Intervals:
    if len(need.units) < need.count:
        return []
    return at_least([search.feasible_starts(u, ignore_bookings=ignore_bookings) for u in need.units], need.count)


def _waste(search: SlotSearch, resource: Resource, start: int) -> int | None:
    """Minutes of free time this choice would strand in gaps too short to use; None if it cannot serve."""
    span_start, span_end = search.span(start, resource)
    window = enclosing(resource.free, span_start, span_end)
    if window is None:
        return None
    gaps = (span_start - window[0], window[1] - span_end)
    return sum(gap for gap in gaps if 0 < gap < search.unusable_gap)


def _best(search: SlotSearch, candidates, start: int, count: int) -> tuple[list[Resource], int] | None:
    scored = sorted(
        (waste, resource.id, resource)
        for resource in candidates
        if (waste := _waste(search, resource, start)) is not None
    )
    if len(scored) < count:
        return None
    chosen = scored[:count]
    return [resource for _, _, resource in chosen], sum(waste for waste, _, _ in chosen)


def _assemble(search: SlotSearch, start: int, clinician: Resource) -> Slot | None:
    """Pick the concrete room and device units for a slot, best fit first."""
    waste = _waste(search, clinician, start)
    if waste is None:
        return None
    room = None
    if search.service.room_kind is not None:
        best = _best(search, search.rooms, start, 1)
        if best is None:
            return None
        (room,), room_waste = best
        waste += room_waste
    devices: list[Resource] = []
    for need in search.devices:
        best = _best(search, need.units, start, need.count)
        if best is None:
            return None
        devices += best[0]
        waste += best[1]
    return Slot(start, start + search.service.duration, clinician, room, tuple(devices), waste)


def explain_empty(search: SlotSearch, location: str = "the location") -> list[Reason]:
    """Why ``search`` has no slot, most fundamental cause first.

    Each role is tested alone against the opening hours and range, first on
    the calendar (shifts, maintenance) and then with bookings, so the answer
    names the binding constraint rather than guessing.
    """
    service = search.service
    reasons: list[Reason] = []
    if not search.clinicians:
        needed = f"the {service.certification} certification" if service.certification else "any clinician"
        reasons.append(Reason("no_certified_clinician", f"no clinician at {location} holds {needed}"))
    if service.room_kind is not None and not search.rooms:
        reasons.append(Reason("no_room", f"{location} has no {service.room_kind} room"))
    for need in search.devices:
        if len(need.units) < need.count:
            reasons.append(Reason(
                "not_enough_devices",
                f"{service.name} needs {need.count} × {need.type_name}; {location} has {len(need.units)} in service",
            ))
    if reasons:
        return reasons

    base = _base_starts(search)
    if not base:
        return [_closed(search)]

    qualified = f"clinician certified in {service.certification}" if service.certification else "clinician"
    roles = [Role("clinician", search.clinicians, qualified, [
        (search.feasible_starts(c, ignore_bookings=True), search.feasible_starts(c)) for c in search.clinicians])]
    if service.room_kind is not None:
        roles.append(Role("room", search.rooms, f"{service.room_kind} room", [
            (search.feasible_starts(r, ignore_bookings=True), search.feasible_starts(r)) for r in search.rooms]))
    for need in search.devices:
        roles.append(Role("device", need.units, f"{need.type_name} unit", [
            (_device_starts(search, need, ignore_bookings=True), _device_starts(search, need))]))

    for role in roles:
        if not intersect(base, union(*(calendar for calendar, _ in role.starts))):
            reasons.append(Reason(f"{role.kind}s_unavailable", role.unavailable()))
    if reasons:
        return reasons
    if not _any_clinician(search, ignore_bookings=True):
        return [Reason("no_common_time", "the qualified clinicians, rooms and devices are never on hand together "
                                         "during the opening hours in the range")]
    for role in roles:
        if not intersect(base, union(*(booked for _, booked in role.starts))):
            reasons.append(Reason(f"{role.kind}s_booked", role.booked()))
    if search.patient is not None and not intersect(base, search.feasible_starts(search.patient)):
        reasons.append(Reason("patient_busy", "the patient has other appointments at every possible time"))
    if reasons:
        return reasons
    return [Reason("no_common_time", "no time in the range has a qualified clinician, a room and the devices "
                                     "free together (and the patient free)")]


def _closed(search: SlotSearch) -> Reason:
    """No start left before any resource is asked: the minimum notice took the whole range, or the hours did."""
    if not any(end > start for start, end in search.starts):
        return Reason("closed", "the range ends before the earliest time that can still be booked (the minimum "
                                "notice)")
    hours = "the opening hours and the requested time of day" if search.time_of_day else "the opening hours"
    return Reason("closed", f"no time in the range falls within {hours}, after the minimum notice")


@dataclass(frozen=True)
class Role:
    """One role of a service (clinician, room, a device type) and the starts its candidates allow."""

    kind: str
    candidates: tuple[Resource, ...]
    noun: str
    starts: list[tuple[Intervals, Intervals]]

    def unavailable(self) -> str:
        when = "during the opening hours in the range"
        if len(self.candidates) == 1:
            name = self.candidates[0].name
            return {"clinician": f"{name} does not work {when}",
                    "device": f"{name} is in maintenance or out of service {when}"}.get(self.kind, f"{name} is "
                                                                                          f"unavailable {when}")
        return {"clinician": f"no {self.noun} works {when}",
                "device": f"not enough {self.noun}s are out of maintenance {when}"}.get(self.kind, f"no {self.noun} "
                                                                                         f"is available {when}")

    def booked(self) -> str:
        if len(self.candidates) == 1:
            return f"{self.candidates[0].name} is fully booked in the range"
        return f"every {self.noun} is booked whenever available in the range"


def _any_clinician(search: SlotSearch, *, ignore_bookings: bool) -> bool:
    common = _common_starts(search, ignore_bookings=ignore_bookings)
    return any(
        intersect(common, search.feasible_starts(c, ignore_bookings=ignore_bookings)) for c in search.clinicians
    )
