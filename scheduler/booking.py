"""Holds and appointments: the front desk's writes, which must never double-book.

Every write runs in one transaction that first releases expired holds, then
checks the wanted slot against the live schedule and inserts one allocation
row per resource. On SQLite the transaction is serialized (BEGIN IMMEDIATE),
so the check is authoritative; on PostgreSQL a concurrent writer can slip in
between check and insert, and the exclusion constraint on ``allocation`` then
refuses the second writer, which becomes a 409 naming the resource (the
allocations are written in a savepoint, so the caller's transaction stays
usable). A write to an existing appointment reads it locked and fresh
(``lock_appointment``) and checks the state it finds there, so two different
writes on one appointment run one after the other and the second sees the
first's result. Nothing here commits: the caller commits once, after
recording the idempotency key.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from data import catalog_version
from data.catalog import in_service
from data.config import Settings
from data.enums import AppointmentStatus, PlanStatus, RequestStatus, ResourceKind, WaitlistStatus
from data.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from data.locking import locked
from data.tables import (
    Allocation, Appointment, Clinician, Device, Location, Patient, PlanSession, Room, Service, TreatmentPlan, User,
    VisitRequest, WaitlistRequest,
)
from scheduler import audit
from scheduler.as_booked import as_booked
from scheduler.availability import Offer, SlotQuery, build_search, find_availability, session_kind
from scheduler.catalog_snapshot import catalog
from scheduler.plan_calendar import move_rules
from scheduler.clock import from_minute
from solver.availability import Resource, blocked_span
from solver.intervals import starts_fitting

HOLD_EXPIRED = "hold expired"
CHECK_IN_OPENS = timedelta(hours=2)  # a patient may arrive early, not days ahead


@dataclass(frozen=True)
class SlotChoice:
    """A start time and, optionally, the exact resources wanted for it."""

    service_id: int
    patient_id: int
    start: datetime
    clinician_id: int | None = None
    room_id: int | None = None
    device_ids: tuple[int, ...] = ()
    location_id: int | None = None


def place_hold(session: Session, *, actor: User | None, choice: SlotChoice, minutes: int, now: datetime,
               settings: Settings) -> Appointment:
    """Reserve the slot's exact resources for ``minutes`` while the patient decides.

    Without an actor the hold is the system's (a waitlist offer): any front-desk user may book or release it.
    """
    return _reserve(session, actor=actor, choice=choice, now=now, settings=settings,
                    hold_until=now + timedelta(minutes=minutes))


def book(session: Session, *, actor: User | None, choice: SlotChoice, now: datetime, settings: Settings) -> Appointment:
    """Book the slot directly, without a hold first."""
    return _reserve(session, actor=actor, choice=choice, now=now, settings=settings, hold_until=None)


def book_hold(session: Session, *, actor: User | None, hold_id: int, now: datetime, settings: Settings,
              for_request: int | None = None, for_plan: int | None = None) -> Appointment:
    """Turn a live hold into a booked appointment, keeping its resources (who may: ``_may_decide``).
    The hold is checked again first (``_held_slot_now``): the catalog may have changed while it waited.
    """
    hold = lock_appointment(session, hold_id, "hold")
    if hold.status != AppointmentStatus.PENDING:
        raise Conflict(f"hold {hold_id} is {hold.status.value}, not a live hold")
    if hold.hold_expires_at <= now:
        raise Gone(f"hold {hold_id} expired at {_local(hold, hold.hold_expires_at)}; " + (
            "propose the plan again" if for_plan is not None else "search for a slot again"))
    _may_decide(session, hold, actor=actor, for_request=for_request, for_plan=for_plan, verb="book")
    choice, offer = _held_slot_now(session, hold, now=now, settings=settings, refusal=(
        f"the time held for request {for_request} can no longer be booked; decline the request, and the patient "
        "can ask for another time" if for_request is not None
        else f"plan {for_plan}'s session held at {_local(hold)} can no longer be booked; propose the plan again"
        if for_plan is not None
        else f"hold {hold.id} can no longer be booked; release it and search again"))
    before = audit.snapshot(hold)
    held = sorted((a.resource_kind, a.resource_id, a.starts_at, a.ends_at) for a in hold.allocations)
    if held == sorted(_spans(offer, choice)):
        hold.status, hold.hold_expires_at, hold.updated_at = AppointmentStatus.BOOKED, None, now
        for allocation in hold.allocations:
            allocation.hold_expires_at = None
        session.flush()
    else:  # the service's length, buffers or a unit's cleaning changed since: hold what it takes now
        _allocate_again(session, hold, offer, choice, now, status=AppointmentStatus.BOOKED, hold_expires_at=None)
    audit.record(session, actor=actor, action="book", appointment=hold, before=before, at=now)
    # A waitlist offer booked (the patient accepted, or the desk booked it on their word) serves its request.
    session.exec(update(WaitlistRequest).where(WaitlistRequest.appointment_id == hold.id,
                                               WaitlistRequest.status == WaitlistStatus.OFFERED)
                 .values(status=WaitlistStatus.BOOKED))
    return hold


def _held_slot_now(session: Session, hold: Appointment, *, now: datetime, settings: Settings,
                   refusal: str) -> tuple[SlotChoice, Offer]:
    """The hold's exact clinician, room and units at its time, searched again as the catalog and schedule are now.

    A hold waits minutes at the desk, a day as a waitlist offer, longer in a proposed plan; meanwhile the clinician
    may have taken time off or lost the certification, a unit gone into maintenance, the service lengthened. The
    search's notice is counted from when the hold was placed: the slot it secured then stays bookable as it nears.
    A refusal says what changed in the desk's words where ``as_booked`` can tell, else the search's reasons.
    """
    catalog_version.hold(session)
    release_expired_holds(session, now=now)  # the search counts from when the hold was placed: lapsed ones go first
    placed = min(now, hold.created_at)
    rooms = hold.resource_ids(ResourceKind.ROOM)
    choice = SlotChoice(hold.service_id, hold.patient_id, hold.starts_at, hold.resource_ids(ResourceKind.CLINICIAN)[0],
                        rooms[0] if rooms else None, tuple(sorted(hold.resource_ids(ResourceKind.DEVICE))),
                        hold.location_id)
    try:
        return choice, _offer(session, choice, now=placed, settings=settings, ignore=hold.id, refusal=refusal)
    except (Conflict, Invalid) as refused:
        changed = _changed_since_held(session, hold, placed=placed, settings=settings)
        if changed is None and isinstance(refused, Conflict):
            raise
        raise Conflict(f"{refusal}: {changed or refused.msg}") from None


def _local(appointment: Appointment, instant: datetime | None = None) -> str:
    """"Wed Mar 3 13:00 (America/New_York)": the appointment's start (or another ``instant`` of it) as the desk reads
    it, in the location's zone."""
    zone = appointment.location.time_zone
    return f"{(instant or appointment.starts_at).astimezone(ZoneInfo(zone)):%a %b %-d %H:%M} ({zone})"


def _changed_since_held(session: Session, hold: Appointment, *, placed: datetime, settings: Settings) -> str | None:
    """What the catalog changed under the hold, in the words the night's run record uses (``as_booked``: "Dana is
    no longer free then (time off, ...)", "Treatment 1 no longer suits Shockwave therapy"); None where it did not
    change or cannot be told (the hold's location or service gone)."""
    snapshot = catalog(session)
    location, service = snapshot.locations.get(hold.location_id), snapshot.services.get(hold.service_id)
    if location is None or service is None:
        return None
    around = SlotQuery(service_id=service.id, start=hold.starts_at - timedelta(days=1),
                       end=hold.ends_at + timedelta(days=1), location_id=location.id, ignore_appointment_ids=(hold.id,))
    try:
        search = build_search(session, around, service, location, now=placed, settings=settings, continuity=None,
                              unusable_gap=snapshot.shortest_service)
    except Invalid:
        return None
    described = as_booked(hold, session_kind(service, search), service, snapshot,
                          starts_fitting(search.open_hours, 0, service.duration))
    return described[1] if described else None


@dataclass(frozen=True)
class Transition:
    allowed_from: frozenset[AppointmentStatus]
    to: AppointmentStatus
    done: str


TRANSITIONS = {
    "release": Transition(frozenset({AppointmentStatus.PENDING}), AppointmentStatus.CANCELLED, "released as a hold"),
    "cancel": Transition(frozenset({AppointmentStatus.PENDING, AppointmentStatus.BOOKED}),
                         AppointmentStatus.CANCELLED, "cancelled"),
    "check_in": Transition(frozenset({AppointmentStatus.BOOKED}), AppointmentStatus.ARRIVED, "checked in"),
    "complete": Transition(frozenset({AppointmentStatus.ARRIVED}), AppointmentStatus.FULFILLED, "completed"),
    "no_show": Transition(frozenset({AppointmentStatus.BOOKED}), AppointmentStatus.NOSHOW, "marked a no-show"),
}


def change_status(session: Session, *, actor: User | None, appointment_id: int, action: str, now: datetime,
                  reason: str = "", for_request: int | None = None, for_plan: int | None = None) -> Appointment:
    """Release a hold, cancel, check in, complete or mark a no-show; what ends a session frees its resources.

    The appointment is read under its lock, so the state checked is the one a concurrent write left. Without an
    actor the system acts (on its own holds only: a waitlist offer that can no longer be booked).
    """
    appointment = lock_appointment(session, appointment_id, "appointment")
    transition = TRANSITIONS[action]
    target = transition.to
    if appointment.status not in transition.allowed_from:
        raise Conflict(f"appointment {appointment_id} is {appointment.status.value}; it cannot be {transition.done}")
    _check_timing(appointment, action, now)
    if target == AppointmentStatus.CANCELLED and appointment.status == AppointmentStatus.PENDING:
        _may_decide(session, appointment, actor=actor, for_request=for_request, for_plan=for_plan, verb="release")
    before = audit.snapshot(appointment)
    appointment.status, appointment.hold_expires_at, appointment.updated_at = target, None, now
    if target == AppointmentStatus.CANCELLED:
        appointment.cancel_reason = reason
    if target in (AppointmentStatus.CANCELLED, AppointmentStatus.NOSHOW):
        for allocation in appointment.allocations:
            allocation.live, allocation.hold_expires_at = False, None
    session.flush()
    audit.record(session, actor=actor, action=action, appointment=appointment, before=before, at=now)
    return appointment


def _check_timing(appointment: Appointment, action: str, now: datetime) -> None:
    """Attendance is recorded when it happens: no check-in days ahead, no completion or no-show before the start."""
    if action == "check_in" and now < appointment.starts_at - CHECK_IN_OPENS:
        opens = (appointment.starts_at - CHECK_IN_OPENS).astimezone(ZoneInfo(appointment.location.time_zone))
        raise Conflict(f"appointment {appointment.id} cannot be checked in before {opens:%a %b} {opens.day} "
                       f"{opens.hour % 12 or 12}:{opens:%M %p} ({appointment.location.time_zone} time), "
                       f"{int(CHECK_IN_OPENS.total_seconds() // 3600)} hours before it starts")
    if action in ("complete", "no_show") and now < appointment.starts_at:
        raise Conflict(f"appointment {appointment.id} has not started yet; it cannot be "
                       f"{TRANSITIONS[action].done}")


def in_proposals(session: Session, appointment_ids: list[int]) -> dict[int, int]:
    """The plan whose current proposal holds each of these appointments (a hold that changes only through it)."""
    return dict(session.exec(select(PlanSession.appointment_id, PlanSession.plan_id).join(TreatmentPlan).where(
        PlanSession.appointment_id.in_(appointment_ids), TreatmentPlan.status == PlanStatus.PROPOSED)).all())


def answering_requests(session: Session, appointment_ids: list[int]) -> dict[int, int]:
    """The public request still waiting for an answer that each of these holds answers (a hold that changes only
    through its request)."""
    return dict(session.exec(select(VisitRequest.hold_id, VisitRequest.id).where(
        VisitRequest.hold_id.in_(appointment_ids), VisitRequest.status == RequestStatus.REQUESTED)).all())


def _may_decide(session: Session, hold: Appointment, *, actor: User | None, for_request: int | None,
                for_plan: int | None, verb: str) -> None:
    """Who books or releases a live hold. One answering a waiting public request changes only through that request
    (confirm or decline, ``for_request``), and one of a plan's proposal only through the plan (confirm, discard,
    edit or propose again, ``for_plan``), by any of the staff: a colleague takes over a patient's plan. Any other
    hold is its placer's while the patient decides; a system hold (a waitlist offer, a nightly hold), anyone's."""
    request_id = answering_requests(session, [hold.id]).get(hold.id)
    if request_id is not None:
        if request_id != for_request:
            raise Conflict(f"hold {hold.id} answers public request {request_id}; "
                           f"{'confirm' if verb == 'book' else 'decline'} that request instead")
        return
    plan_id = in_proposals(session, [hold.id]).get(hold.id)
    if plan_id is not None:
        if plan_id != for_plan:
            raise Conflict(f"hold {hold.id} is a session of plan {plan_id}'s proposal; confirm, edit or discard "
                           "that plan instead")
        return
    if hold.created_by_id is not None and (actor is None or hold.created_by_id != actor.id):
        raise Forbidden(f"hold {hold.id} was placed by another user; only they can {verb} it")


def reschedule(session: Session, *, actor: User, appointment_id: int, start: datetime, now: datetime,
               settings: Settings, clinician_id: int | None = None, room_id: int | None = None,
               device_ids: tuple[int, ...] = (), outside_plan: bool = False) -> Appointment:
    """Move a booked appointment; the new time is secured in the same transaction that frees the old one. A session
    of a confirmed treatment plan keeps the plan's rules (``plan_calendar.move_rules``) unless ``outside_plan``:
    the patient agreed to that time anyway."""
    appointment = lock_appointment(session, appointment_id, "appointment")
    if appointment.status != AppointmentStatus.BOOKED:
        raise Conflict(f"appointment {appointment_id} is {appointment.status.value}; only booked ones can be moved")
    if _already_there(appointment, start, clinician_id, room_id, device_ids):
        return appointment
    # A move stays at its clinic: a start given alone was searched at every clinic, and a session booked in New York
    # was moved to Tokyo (found by a probe). Seeing the patient at another clinic is a new booking there.
    choice = SlotChoice(appointment.service_id, appointment.patient_id, start, clinician_id, room_id, device_ids,
                        location_id=appointment.location_id)
    _check_choice(session, choice, settings)
    release_expired_holds(session, now=now)
    offer = _offer(session, choice, now=now, settings=settings, ignore=appointment.id,
                   refusal=f"appointment {appointment_id} cannot be moved there at {appointment.location.name}")
    rules = move_rules(session, appointment, lock=True)
    refusals = [] if outside_plan else rules(offer.start, offer.location_id)
    if refusals:
        raise Conflict(f"moving appointment {appointment_id} there breaks its treatment plan's rules; move it "
                       "there anyway only if the patient agreed (outside_plan)", refusals)
    before = audit.snapshot(appointment)
    moved = offer.start != appointment.starts_at
    _allocate_again(session, appointment, offer, choice, now, **({"patient_confirmed_at": None} if moved else {}))
    audit.record(session, actor=actor, action="reschedule", appointment=appointment, before=before, at=now)
    return appointment


def _already_there(appointment: Appointment, start: datetime, clinician_id: int | None, room_id: int | None,
                   device_ids: tuple[int, ...]) -> bool:
    """The move asks for what the appointment already is: nothing to write, and nothing to tell the patient. Two
    desk users moving one session to the same time both wrote a move, the second swapping its clinician and room,
    and the patient was told "moved from 2:45 PM to 2:45 PM" (found by a probe)."""
    held = {kind: set(appointment.resource_ids(kind)) for kind in (ResourceKind.CLINICIAN, ResourceKind.ROOM,
                                                                     ResourceKind.DEVICE)}
    return (start == appointment.starts_at and clinician_id in (None, *held[ResourceKind.CLINICIAN])
            and room_id in (None, *held[ResourceKind.ROOM]) and set(device_ids) <= held[ResourceKind.DEVICE])


def _allocate_again(session: Session, appointment: Appointment, offer: Offer, choice: SlotChoice,
                    now: datetime, **changes) -> None:
    """Free what the appointment holds and hold what the offer takes, in one transaction (a move, a changed hold).

    ``changes`` to the appointment's own row (a hold becoming a booking, a moved session's confirmation cleared)
    are written in the same UPDATE as the new time: made before the old allocations are flushed away, or after
    the new ones, they were a second UPDATE, and the move counted two versions (found by a probe)."""
    for allocation in list(appointment.allocations):
        session.delete(allocation)
    appointment.allocations = []
    session.flush()
    with _refusing_double_booking(session):
        for name, value in changes.items():
            setattr(appointment, name, value)
        _allocate(session, appointment, offer, choice)
        appointment.location_id = offer.location_id
        appointment.starts_at, appointment.ends_at, appointment.updated_at = offer.start, offer.end, now


def release_expired_holds(session: Session, *, now: datetime) -> int:
    """Cancel every hold whose time is up, so it stops blocking; safe to run from many processes at once."""
    expired = session.exec(
        update(Appointment)
        .where(Appointment.status == AppointmentStatus.PENDING, Appointment.hold_expires_at <= now)
        .values(status=AppointmentStatus.CANCELLED, hold_expires_at=None, cancel_reason=HOLD_EXPIRED, updated_at=now,
                version=Appointment.version + 1)
        .returning(Appointment.id)
        .execution_options(synchronize_session=False)
    ).all()
    ids = [row[0] for row in expired]
    if not ids:
        return 0
    session.exec(
        update(Allocation).where(Allocation.appointment_id.in_(ids)).values(live=False, hold_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    for appointment in session.exec(select(Appointment).where(Appointment.id.in_(ids))
                                    .execution_options(populate_existing=True)):
        before = {**audit.snapshot(appointment), "status": AppointmentStatus.PENDING.value}
        audit.record(session, actor=None, action="hold_expired", appointment=appointment, before=before, at=now)
    session.flush()
    return len(ids)


def _reserve(session: Session, *, actor: User | None, choice: SlotChoice, now: datetime, settings: Settings,
             hold_until: datetime | None) -> Appointment:
    _check_choice(session, choice, settings)
    release_expired_holds(session, now=now)
    offer = _offer(session, choice, now=now, settings=settings)
    status = AppointmentStatus.PENDING if hold_until else AppointmentStatus.BOOKED
    appointment = Appointment(
        location_id=offer.location_id, service_id=choice.service_id, patient_id=choice.patient_id,
        starts_at=offer.start, ends_at=offer.end, status=status, hold_expires_at=hold_until,
        created_by_id=actor.id if actor else None, created_at=now, updated_at=now,
    )
    with _refusing_double_booking(session):
        session.add(appointment)
        _allocate(session, appointment, offer, choice)
    audit.record(session, actor=actor, action="hold" if hold_until else "book", appointment=appointment,
                 before=None, at=now)
    return appointment


def _check_choice(session: Session, choice: SlotChoice, settings: Settings) -> None:
    """Refuse, field by field, what can never be booked (unknown or archived records, wrong kinds, off-grid times).

    The catalog is held from here until the transaction ends, so nobody archives what this booking picks meanwhile.
    """
    catalog_version.hold(session)
    service = in_service(session, Service, choice.service_id, ("service_id",))
    patient_to_serve(session, choice.patient_id, ("patient_id",))
    chosen: list[tuple[tuple[str | int, ...], Clinician | Room | Device]] = []
    if choice.clinician_id is not None:
        chosen.append((("clinician_id",), in_service(session, Clinician, choice.clinician_id, ("clinician_id",))))
    if choice.room_id is not None:
        room = in_service(session, Room, choice.room_id, ("room_id",))
        if room.kind != service.room_kind:
            wanted = service.room_kind.value if service.room_kind else "no room"
            raise Invalid(("room_id",), f"{room.name} is a {room.kind.value} room; {service.name} needs {wanted}")
        chosen.append((("room_id",), room))
    needed = {need.device_type_id for need in service.device_needs}
    for index, device_id in enumerate(choice.device_ids):
        device = in_service(session, Device, device_id, ("device_ids", index))
        if device.device_type_id not in needed:
            raise Invalid(("device_ids", index), f"{device.name} is not a device {service.name} uses")
        chosen.append((("device_ids", index), device))
    _at_one_location(session, choice, chosen)
    zone = settings.time_zone
    if choice.clinician_id is not None:
        zone = session.get(Clinician, choice.clinician_id).location.time_zone
    local = choice.start.astimezone(ZoneInfo(zone))
    if local.second or local.microsecond or local.minute % settings.slot_grid_minutes:
        raise Invalid(("start",), f"start must lie on the {settings.slot_grid_minutes}-minute grid, "
                                  f"e.g. {local.replace(minute=0, second=0, microsecond=0).isoformat()}")


def _at_one_location(session: Session, choice: SlotChoice,
                     chosen: list[tuple[tuple[str | int, ...], Clinician | Room | Device]]) -> None:
    """A session happens at one clinic: every resource asked for by name is there (the search would otherwise serve
    it with another unit or room than the one asked for, and acknowledge what was not asked)."""
    first = choice.location_id
    for loc, record in chosen:
        first = record.location_id if first is None else first
        if record.location_id != first:
            named = {location.id: location.name for location in session.exec(
                select(Location).where(Location.id.in_([first, record.location_id])))}
            raise Invalid(loc, f"{record.name} is at {named[record.location_id]}, not at {named[first]} where the "
                               "rest of this session is: choose a clinician, room and units of one clinic")


def patient_to_serve(session: Session, patient_id: int, loc: tuple[str | int, ...]) -> Patient:
    """The patient a booking or plan is for, read fresh under a shared lock (an erasure of this patient waits for the
    write, or the write for the erasure); an erased patient is refused like an unknown one."""
    patient = session.exec(select(Patient).where(Patient.id == patient_id).with_for_update(read=True)
                           .execution_options(populate_existing=True)).first()
    if patient is None:
        raise Invalid(loc, f"patient {patient_id} does not exist")
    if patient.erased_at is not None:
        raise Invalid(loc, f"patient {patient_id} was erased; register the person again")
    return patient


def _offer(session: Session, choice: SlotChoice, *, now: datetime, settings: Settings,
           ignore: int | None = None, refusal: str = "that slot cannot be booked") -> Offer:
    query = SlotQuery(
        service_id=choice.service_id, start=choice.start, end=choice.start + timedelta(minutes=1),
        location_id=choice.location_id, clinician_id=choice.clinician_id, patient_id=choice.patient_id,
        room_id=choice.room_id, device_ids=choice.device_ids, limit=1,
        ignore_appointment_ids=(ignore,) if ignore else (), fresh=True,
    )
    found = find_availability(session, query, now=now, settings=settings)
    if not found.offers:
        reasons = "; ".join(reason.message for reason in found.reasons) or "it is taken"
        raise Conflict(f"{refusal}: {reasons}")
    return found.offers[0]


def _spans(offer: Offer, choice: SlotChoice) -> list[tuple[ResourceKind, int, datetime, datetime]]:
    """What the offer holds: each resource (the patient too) over its whole blocked span."""
    patient = Resource(ResourceKind.PATIENT.value, choice.patient_id, "the patient", [])
    spans = []
    for resource in (*offer.slot.resources(), patient):
        span_start, span_end = blocked_span(offer.service, offer.slot.start, resource)
        spans.append((ResourceKind(resource.kind), resource.id, from_minute(span_start), from_minute(span_end)))
    return spans


def _allocate(session: Session, appointment: Appointment, offer: Offer, choice: SlotChoice) -> None:
    for kind, ident, starts_at, ends_at in _spans(offer, choice):
        appointment.allocations.append(Allocation(resource_kind=kind, resource_id=ident, starts_at=starts_at,
                                                  ends_at=ends_at, hold_expires_at=appointment.hold_expires_at))


_CONFLICTING_KEY = re.compile(r"=\((\w+), (\d+),")


@contextmanager
def _refusing_double_booking(session: Session) -> Iterator[None]:
    """Write allocations in a savepoint; losing a race at the exclusion constraint becomes a 409 naming the resource.

    The changes must be made inside the block: the savepoint is opened (and what was pending before
    flushed) on entry, so the refusal rolls back only this write and leaves the session usable; the
    caller's transaction (a public request's, a waitlist offer's) goes on or ends as it chooses.
    """
    try:
        with session.begin_nested():
            yield
    except IntegrityError as exc:
        diag = getattr(exc.orig, "diag", None)
        if getattr(diag, "constraint_name", None) != "allocation_no_double_booking":
            raise
        match = _CONFLICTING_KEY.search(diag.message_detail or "")
        raise Conflict(f"{_describe(session, *match.groups()) if match else 'a resource'} was booked by someone "
                       f"else a moment ago; search again") from exc


def _describe(session: Session, kind: str, ident: str) -> str:
    table = {"clinician": Clinician, "room": Room, "device": Device}.get(kind)
    record = session.get(table, int(ident)) if table else None
    return record.name if record else "the patient" if kind == "patient" else f"{kind} {ident}"


def lock_appointment(session: Session, appointment_id: int, what: str = "appointment") -> Appointment:
    """The appointment, locked against concurrent changes and read fresh under that lock."""
    appointment = locked(session, Appointment, appointment_id)
    if appointment is None:
        raise NotFound(what, appointment_id)
    return appointment


def reassign_patient(session: Session, *, actor: User, hold: Appointment, patient_id: int, now: datetime) -> None:
    """Give a hold to another patient, who must be free then (their own sessions count like anyone's)."""
    release_expired_holds(session, now=now)
    span = next(a for a in hold.allocations if a.resource_kind == ResourceKind.PATIENT)
    clash = session.exec(
        select(Allocation.appointment_id).where(
            Allocation.resource_kind == ResourceKind.PATIENT, Allocation.resource_id == patient_id, Allocation.live,
            Allocation.starts_at < span.ends_at, Allocation.ends_at > span.starts_at,
            Allocation.appointment_id != hold.id)
    ).first()
    if clash is not None:
        raise Conflict(f"patient {patient_id} already has appointment {clash} at that time")
    before = audit.snapshot(hold)
    with _refusing_double_booking(session):
        hold.patient_id, span.resource_id, hold.updated_at = patient_id, patient_id, now
    audit.record(session, actor=actor, action="change_patient", appointment=hold, before=before, at=now)
