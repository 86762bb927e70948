"""One location's night as a solver problem, and its answer written back.

What goes in (``gather``): the booked sessions between the freeze window and
the horizon's end, with the clinicians, rooms and units that could serve them
(their own bookings set aside, since the solver re-plans them), and how far
each may move under the clinic's policy (``nightly_move_minutes``, 0 = times
stay); the waiting sessions: waitlist requests, and sessions of confirmed
plans that have no live appointment (never placed, or a nightly hold that
lapsed), each with the starts its patient, its dates and its plan's rules
allow.

Plan rules reach the solver as follows: spacing between consecutive sessions
of a line, in calendar days and in hours between starts (as ``Spacing``
between waiting ones, as a window next to a placed one that holds wherever
tonight may move it), one clinician throughout (the placed sessions' clinician, or a
``team``), diagnosis first (a window after the other line's last session;
lines whose other line still waits are left for a later night), and
same-visit pairs, which are left to the front desk when either side waits.

What comes out (``write``): reassigned and moved appointments (audited; a
moved time is told to the patient, the message written to the outbox in the
same transaction by the audit hook, and the run record repeats its words and
the channels it goes by), and the waiting sessions placed as system holds
the front desk confirms with the patient, or booked at once when
``nightly_book_directly`` says so. A waitlist request's hold is an offer the
patient is told of and may accept from the message's link
(``scheduler.waitlist``); offers that lapsed wait again before the night
gathers who waits (``scheduler.optimization`` lapses them, since ``gather``
only reads and so may run outside the write transaction).
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta

from sqlalchemy import String, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from data import catalog_version
from data.config import Settings
from data.enums import (
    AppointmentStatus,
    LinkKind,
    MessageKind,
    PlanStatus,
    ResourceKind,
    SameClinicianRule,
    WaitlistStatus,
)
from data.errors import Conflict, Invalid
from data.tables import (
    Allocation,
    Appointment,
    Clinician,
    Device,
    Location,
    Patient,
    PatientMessage,
    PlanLine,
    PlanSession,
    Room,
    Service,
    TreatmentPlan,
    WaitlistRequest,
)
from data.types import epoch_minute
from scheduler import audit, booking, outbox, waitlist
from scheduler.as_booked import as_booked
from scheduler.availability import SlotQuery, build_search, session_kind
from scheduler.catalog_snapshot import LocationInfo, ServiceInfo, catalog
from scheduler.clock import daily, from_minute, local_days, local_instant, to_minute
from scheduler.plans import build_problem
from solver.intervals import Intervals, intersect, normalize, starts_fitting, subtract
from solver.plans import Placement, SessionKind, blocked
from solver.night_problem import BookedSession, NightProblem, ReplanSolution, Spacing, WaitingSession

LIVE = (AppointmentStatus.PENDING, AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED, AppointmentStatus.FULFILLED)


@dataclass
class Night:
    """The problem, and which rows its sessions stand for."""

    problem: NightProblem
    appointments: dict[int, Appointment] = field(default_factory=dict)
    requests: dict[str, WaitlistRequest] = field(default_factory=dict)
    plan_sessions: dict[str, tuple[TreatmentPlan, PlanSession]] = field(default_factory=dict)
    location: LocationInfo | None = None
    catalog_token: str = ""
    kept_as_booked: dict[int, str] = field(default_factory=dict)
    """Booked appointments the catalog changed under (``as_booked``), with what changed: the night keeps them."""
    plan_clinician_gone: dict[str, str] = field(default_factory=dict)
    """Waiting plan sessions whose plan keeps a clinician who no longer gives the service here (archived, moved or
    decertified), with that reason: the run record says so instead of "no certified clinician"."""


def gather(session: Session, *, location_id: int, now: datetime, settings: Settings) -> Night:
    """The night as the session sees it; it only reads (the caller lapses ended offers first, in a write)."""
    frozen_until = now + timedelta(hours=settings.freeze_hours)
    horizon_end = frozen_until + timedelta(days=settings.horizon_days)
    snapshot = catalog(session)
    location = snapshot.locations[location_id]
    booked = session.exec(
        select(Appointment).where(Appointment.location_id == location_id,
                                  Appointment.status == AppointmentStatus.BOOKED,
                                  Appointment.starts_at >= frozen_until, Appointment.starts_at < horizon_end)
        .order_by(Appointment.starts_at, Appointment.id)
    ).all()
    ignore = tuple(appointment.id for appointment in booked)
    builder = _Builder(session, location, frozen_until, horizon_end, ignore, now, settings)
    night = Night(NightProblem(), {a.id: a for a in booked}, location=location, catalog_token=snapshot.token)
    keep = _clinician_required(session, ignore)
    in_plans = _in_plans(session, ignore)
    booked_sessions = tuple(builder.booked(a, night, keep_clinician=a.id in keep, keep_time=a.id in in_plans)
                            for a in booked)
    waiting = [builder.waitlisted(request, night) for request in _waitlist(session)]
    spacings: list[Spacing] = []
    for plan in _plans_waiting(session, location_id):
        sessions, rules = builder.plan_sessions(plan, night)
        waiting += sessions
        spacings += rules
    zone = location.zone
    days = local_days(to_minute(frozen_until), to_minute(horizon_end), zone)
    night.problem = NightProblem(
        booked=booked_sessions, waiting=tuple(w for w in waiting if w is not None), spacings=tuple(spacings),
        day_starts=tuple(local_instant(day, time(0), zone) for day in days), grid=settings.slot_grid_minutes,
        grid_origin=builder.grid_origin,
    )
    return night


class _Builder:
    """Turns rows into solver sessions; one availability search per service, shared by every session of it."""

    def __init__(self, session: Session, location: LocationInfo, frozen_until: datetime, horizon_end: datetime,
                 ignore: tuple[int, ...], now: datetime, settings: Settings):
        self.session, self.location, self.now, self.settings = session, location, now, settings
        self.frozen_until, self.horizon_end, self.ignore = frozen_until, horizon_end, ignore
        self.snapshot = catalog(session)
        self.kinds: dict[int, tuple[SessionKind, Intervals]] = {}
        self.busy = _patients_busy(session, frozen_until - timedelta(days=1), horizon_end + timedelta(days=1),
                                   ignore, now)
        self.grid_origin = 0

    def kind(self, service_id: int) -> tuple[SessionKind, Intervals]:
        """The service's candidates and the starts its opening hours and the horizon allow."""
        if service_id not in self.kinds:
            service = self.snapshot.services[service_id]
            search = build_search(self.session, SlotQuery(
                service_id=service_id, start=self.frozen_until, end=self.horizon_end, location_id=self.location.id,
                ignore_appointment_ids=self.ignore), service, self.location, now=self.now, settings=self.settings,
                continuity=None, unusable_gap=self.snapshot.shortest_service)
            self.grid_origin = search.grid_origin
            self.kinds[service_id] = (session_kind(service, search),
                                      intersect(search.starts, starts_fitting(search.open_hours, 0, service.duration)))
        return self.kinds[service_id]

    def patient_starts(self, patient_id: int, kind: SessionKind, starts: Intervals) -> Intervals:
        """``starts`` where the patient has no other appointment for the session's length."""
        busy = self.busy.get(patient_id, [])
        return subtract(starts, [(low - kind.duration + 1, high) for low, high in busy])

    def booked(self, appointment: Appointment, night: Night, *, keep_clinician: bool,
               keep_time: bool) -> BookedSession:
        kind, starts = self.kind(appointment.service_id)
        start = to_minute(appointment.starts_at)
        described = as_booked(appointment, kind, self.snapshot.services[appointment.service_id], self.snapshot,
                              starts)
        if described is not None:
            kind, night.kept_as_booked[appointment.id] = described
            return BookedSession(appointment.id, appointment.patient_id, kind, start, _served_now(appointment),
                                 keep_clinician=keep_clinician)
        may_start: Intervals = []
        reach = 0 if keep_time else self.settings.nightly_move_minutes
        if reach:
            may_start = self.patient_starts(appointment.patient_id, kind,
                                            intersect(starts, [(start - reach, start + reach + 1)]))
        return BookedSession(appointment.id, appointment.patient_id, kind, start, _served_now(appointment),
                             keep_clinician=keep_clinician, may_start=may_start)

    def waitlisted(self, request: WaitlistRequest, night: Night) -> WaitingSession | None:
        service = self.snapshot.services.get(request.service_id)
        if service is None or service.archived:
            return None
        if not _gives(self.location, service) and any(
                _gives(other, service) for other in self.snapshot.locations.values() if other.id != self.location.id):
            return None  # another clinic's to place: listed here it was "waiting" with a reason about this one
        kind, starts = self.kind(request.service_id)
        zone = self.location.zone
        days = [request.earliest_day + timedelta(days=n) for n in range((request.latest_day - request.earliest_day).days + 1)]
        wanted = starts_fitting(daily(request.earliest_time, request.latest_time, days, zone), 0, kind.duration)
        key = f"waitlist {request.id}"
        night.requests[key] = request
        return WaitingSession(key, request.patient_id, kind,
                              self.patient_starts(request.patient_id, kind, intersect(starts, wanted)),
                              priority=request.priority)

    def plan_sessions(self, plan: TreatmentPlan, night: Night) -> tuple[list[WaitingSession], list[Spacing]]:
        """The plan's sessions without a live appointment, with the rules that tie them to the rest of the plan."""
        allowed = build_problem(self.session, plan, now=self.now, settings=self.settings).allowed
        by_line: dict[int, list[tuple[PlanSession, Appointment | None]]] = {}
        for plan_session in plan.sessions:
            appointment = self.session.get(Appointment, plan_session.appointment_id) if plan_session.appointment_id else None
            live = appointment if appointment is not None and appointment.status in LIVE else None
            by_line.setdefault(plan_session.service_id, []).append((plan_session, live))
        waiting_lines = {service for service, rows in by_line.items() if any(live is None for _, live in rows)}
        sessions, spacings = [], []
        for line in plan.lines:
            if line.service_id not in waiting_lines or self.snapshot.services[line.service_id].archived:
                continue
            rows = sorted(by_line[line.service_id], key=lambda row: row[0].sequence)
            window = self._links(plan, line.service_id, by_line, waiting_lines)
            if window is None:
                continue
            kind, starts = self.kind(line.service_id)
            placed_clinicians = [a.resource_ids(ResourceKind.CLINICIAN)[0] for _, a in rows if a is not None]
            team, gone = None, None
            if line.same_clinician == SameClinicianRule.REQUIRED:
                if placed_clinicians:
                    kind = replace(kind, clinicians=tuple(c for c in kind.clinicians if c.id == placed_clinicians[0]))
                    if not kind.clinicians:
                        kept = self.snapshot.name_of(ResourceKind.CLINICIAN, placed_clinicians[0])
                        gone = (f"the clinician its plan keeps, {kept}, no longer gives {kind.name} here (archived, "
                                "moved to another location or no longer certified)")
                else:
                    team = f"plan {plan.id} service {line.service_id}"
            base = self.patient_starts(plan.patient_id, kind, intersect(intersect(starts, allowed), window))
            previous: tuple[str, Appointment | None] | None = None
            for index, (plan_session, appointment) in enumerate(rows):
                if appointment is not None:
                    previous = (None, appointment)
                    continue
                key = f"plan {plan.id} service {line.service_id} #{plan_session.sequence}"
                mine = base
                if previous is not None and previous[1] is not None:
                    mine = intersect(mine, self._after(previous[1], line))
                elif previous is not None:
                    spacings.append(Spacing(previous[0], key, line.min_gap_days, line.max_gap_days,
                                            line.min_gap_hours, line.max_gap_hours))
                following = next(((a, n) for n, (_, a) in enumerate(rows[index + 1:], 1) if a is not None), None)
                if following is not None and following[1] == 1:
                    mine = intersect(mine, self._before(following[0], kind, line))
                elif following is not None:
                    mine = intersect(mine, [(to_minute(self.frozen_until),
                                             to_minute(following[0].starts_at) - kind.duration + 1)])
                night.plan_sessions[key] = (plan, plan_session)
                if gone:
                    night.plan_clinician_gone[key] = gone
                sessions.append(WaitingSession(key, plan.patient_id, kind, mine, priority=plan.priority, team=team))
                previous = (key, None)
        return sessions, spacings

    def _links(self, plan: TreatmentPlan, service_id: int, by_line: dict, waiting_lines: set[int]) -> Intervals | None:
        """Where the line's waiting sessions may go given the plan's links; None when they wait for another night."""
        window: Intervals = [(to_minute(self.frozen_until), to_minute(self.horizon_end))]
        for link in plan.links:
            if service_id not in (link.first_service_id, link.then_service_id):
                continue
            other = link.then_service_id if link.first_service_id == service_id else link.first_service_id
            if link.kind == LinkKind.SAME_VISIT:
                return None
            live = [a for _, a in by_line.get(other, []) if a is not None]
            if link.then_service_id == service_id:
                if other in waiting_lines:
                    return None
                window = intersect(window, [(max((to_minute(a.ends_at) for a in live), default=0), window[0][1])])
            elif live:
                kind, _ = self.kind(service_id)
                first_then = min(to_minute(a.starts_at) for a in live)
                window = intersect(window, [(window[0][0], first_then - kind.duration + 1)])
        return window

    def _after(self, appointment: Appointment, line: PlanLine) -> Intervals:
        """Starts for the session right after a placed one: after it ends, the line's days and hours later."""
        earliest, latest = self._may_start(appointment)
        lows = [latest + to_minute(appointment.ends_at) - to_minute(appointment.starts_at)]
        highs = [to_minute(self.horizon_end)]
        if line.min_gap_days is not None:
            lows.append(self._midnight(latest, line.min_gap_days))
        if line.max_gap_days is not None:
            highs.append(self._midnight(earliest, line.max_gap_days + 1))
        if line.min_gap_hours is not None:
            lows.append(latest + 60 * line.min_gap_hours)
        if line.max_gap_hours is not None:
            highs.append(earliest + 60 * line.max_gap_hours + 1)
        low, high = max(lows), min(highs)
        return [(low, high)] if low < high else []

    def _before(self, appointment: Appointment, kind: SessionKind, line: PlanLine) -> Intervals:
        """Starts for the session right before a placed one: ending before it, the line's days and hours earlier."""
        earliest, latest = self._may_start(appointment)
        lows = [to_minute(self.frozen_until)]
        highs = [earliest - kind.duration + 1]
        if line.max_gap_days is not None:
            lows.append(self._midnight(latest, -line.max_gap_days))
        if line.min_gap_days is not None:
            highs.append(self._midnight(earliest, 1 - line.min_gap_days))
        if line.max_gap_hours is not None:
            lows.append(latest - 60 * line.max_gap_hours)
        if line.min_gap_hours is not None:
            highs.append(earliest - 60 * line.min_gap_hours + 1)
        low, high = max(lows), min(highs)
        return [(low, high)] if low < high else []

    def _may_start(self, appointment: Appointment) -> tuple[int, int]:
        """The earliest and latest start a placed session may have after tonight.

        A booked session in the horizon may still be moved tonight by up to
        ``nightly_move_minutes``; spacing from it is kept from both ends, so it
        holds wherever the session goes.
        """
        start = to_minute(appointment.starts_at)
        reach = self.settings.nightly_move_minutes if appointment.id in self.ignore else 0
        return start - reach, start + reach

    def _midnight(self, minute: int, days_later: int) -> int:
        """The local midnight starting the day ``days_later`` days after the one containing ``minute``."""
        day = from_minute(minute, self.location.zone).date()
        return local_instant(day + timedelta(days=days_later), time(0), self.location.zone)


def _patients_busy(session: Session, start: datetime, end: datetime, ignore: tuple[int, ...],
                   now: datetime) -> dict[int, Intervals]:
    """Every patient's live appointments in the window, except those being re-planned, in minutes."""
    table = Allocation.__table__.c
    statement = select(table.resource_id, epoch_minute(table.starts_at), epoch_minute(table.ends_at)).where(
        table.live, type_coerce(table.resource_kind, String) == ResourceKind.PATIENT.value,
        (table.hold_expires_at.is_(None)) | (table.hold_expires_at > now),
        table.ends_at > start, table.starts_at < end)
    if ignore:
        statement = statement.where(table.appointment_id.not_in(ignore))
    busy: dict[int, list] = {}
    for patient, low, high in session.execute(statement).all():
        busy.setdefault(patient, []).append((low, high))
    return {patient: normalize(spans) for patient, spans in busy.items()}


def _gives(location: LocationInfo, service: ServiceInfo) -> bool:
    """Whether the location can give the service at all: a clinician who may, a room of its kind if it needs one,
    and enough units of each device type. A waitlist request belongs to no location: each location's run takes
    those it could serve, and one that no location can serve is listed everywhere with its reason."""
    units = Counter(unit.device_type_id for unit in location.units if not unit.archived)
    return (any(not c.archived and (service.certification is None or service.certification in c.certifications)
                for c in location.clinicians)
            and (service.room_kind is None or any(not r.archived and r.kind == service.room_kind
                                                  for r in location.rooms))
            and all(units[need.device_type_id] >= need.count for need in service.device_needs))


def _in_plans(session: Session, appointment_ids: tuple[int, ...]) -> set[int]:
    """Appointments that are sessions of treatment plans: they keep their times. A move within the reach the policy
    allows could leave the plan's windows or break its spacing in hours, or a link to another booked session (found
    by a probe: a 10:00-10:30 window session moved to 10:45, 48 h apart became 48.75 h); the night would have to
    model every such rule for booked sessions too, and the plan was agreed with the patient at those times."""
    return set(session.exec(select(PlanSession.appointment_id).where(PlanSession.appointment_id.in_(appointment_ids))))


def _clinician_required(session: Session, appointment_ids: tuple[int, ...]) -> set[int]:
    """Appointments of plan lines that require one clinician throughout: their clinician stays."""
    rows = session.exec(
        select(PlanSession.appointment_id).join(PlanLine, (PlanLine.plan_id == PlanSession.plan_id)
                                                & (PlanLine.service_id == PlanSession.service_id))
        .where(PlanSession.appointment_id.in_(appointment_ids), PlanLine.same_clinician == SameClinicianRule.REQUIRED)
    ).all()
    return set(rows)


def _waitlist(session: Session) -> list[WaitlistRequest]:
    """Waiting requests, not locked: a request belongs to no location, and every location's run may place it. Each
    is locked only when its hold is written (``_request_waits``), so the first run to write it offers it; locked
    here, through the whole solve, the first location's run took every request and the others saw none (found by
    a probe: two clinics' runs at one moment, the second placed nothing)."""
    return session.exec(
        select(WaitlistRequest).where(WaitlistRequest.status == WaitlistStatus.WAITING)
        .order_by(WaitlistRequest.priority.desc(), WaitlistRequest.created_at, WaitlistRequest.id)
    ).all()


def _request_waits(session: Session, request: WaitlistRequest) -> bool:
    """The request, locked and read fresh, still waits: not offered meanwhile by a freed time or another location's
    run, nor closed by the desk (a request another writer holds right now counts as taken)."""
    fresh = session.exec(select(WaitlistRequest).where(WaitlistRequest.id == request.id)
                         .with_for_update(skip_locked=True).execution_options(populate_existing=True)).first()
    return fresh is not None and fresh.status == WaitlistStatus.WAITING


def _plans_waiting(session: Session, location_id: int) -> list[TreatmentPlan]:
    """Confirmed plans of the location with a session lacking a live appointment (erased patients' plans ended)."""
    missing = (PlanSession.appointment_id.is_(None)) | (Appointment.status.not_in(LIVE))
    return session.exec(
        select(TreatmentPlan).where(TreatmentPlan.location_id == location_id,
                                    TreatmentPlan.status == PlanStatus.CONFIRMED)
        .where(TreatmentPlan.patient_id.in_(select(Patient.id).where(Patient.erased_at.is_(None))))
        .where(TreatmentPlan.id.in_(
            select(PlanSession.plan_id).outerjoin(Appointment, Appointment.id == PlanSession.appointment_id)
            .where(missing)))
        .order_by(TreatmentPlan.id).with_for_update(skip_locked=True)
    ).all()


# --- writing the answer -----------------------------------------------------------------


class CatalogChanged(Conflict):
    """An administrator changed the catalog while the night was solved: the answer fits the catalog as it was."""


def write(session: Session, night: Night, solution: ReplanSolution, *, now: datetime,
          settings: Settings) -> list[dict]:
    """Apply a checked answer inside the caller's transaction; the changes, in the run record's words (sessions
    kept as booked though the catalog changed under them first, for the desk to review).

    The answer was found for the catalog as it was gathered: if it changed since (a clinician archived, time off
    added), nothing is written (``CatalogChanged``; the run plans once more); holding the catalog keeps it
    unchanged until commit.
    """
    if catalog_version.hold(session) != night.catalog_token:
        raise CatalogChanged("the catalog changed while the night was planned; nothing was written")
    placed = {placement.kind: placement for placement in solution.placements}
    kept = [{"action": "kept_as_booked", "appointment_id": ident, "reason": why,
             "start": night.appointments[ident].starts_at.astimezone(night.location.zone).isoformat()}
            for ident, why in night.kept_as_booked.items()]
    moves = [(booked, placed[str(booked.id)]) for booked in night.problem.booked
             if placed[str(booked.id)] != booked.current]
    changes = kept + _reassign_all(session, night, moves, now)
    with _catalog_at_hand(session, night.location.id):
        for waiting in night.problem.waiting:
            if waiting.key in placed:
                change = _place(session, night, waiting, placed[waiting.key], now=now, settings=settings)
                if change is not None:
                    changes.append(change)
    session.flush()
    return changes


@contextmanager
def _catalog_at_hand(session: Session, location_id: int) -> Iterator[None]:
    """The location's catalog rows loaded once and held while the night's sessions are placed.

    Each placement goes through the booking code, whose checks read the service, the clinician (with its
    certifications, shifts and breaks), the location and the units by id. The session answers those from its
    identity map only while something holds the rows (it holds them weakly), so each hold read them all again:
    about 30 statements a hold, 11 s for 232 holds at 2,000 sessions (2026-12-01). The catalog is held (locked)
    since ``write`` began, so the rows cannot change meanwhile.
    """
    rows = [session.get(Location, location_id), *session.exec(select(Service)).all(),
            *(session.exec(select(table).where(table.location_id == location_id)).all()
              for table in (Clinician, Room, Device))]
    yield
    rows.clear()


def _served_now(appointment: Appointment) -> Placement:
    """Where and when the appointment is served, as the solver writes a placement."""
    return Placement(str(appointment.id), 0, to_minute(appointment.starts_at),
                     appointment.resource_ids(ResourceKind.CLINICIAN)[0],
                     next(iter(appointment.resource_ids(ResourceKind.ROOM)), None),
                     tuple(sorted(appointment.resource_ids(ResourceKind.DEVICE))))


class _ScheduleMoved(Exception):
    """The front desk changed booked sessions while the night was solved."""


def _reassign_all(session: Session, night: Night, moves: list[tuple[BookedSession, Placement]],
                  now: datetime) -> list[dict]:
    """Reassign and move booked sessions all at once, or none of them.

    The answer assumed the schedule as gathered; a write from the front desk
    during the solve (PostgreSQL lets the desk work meanwhile) may have changed
    a booked session or taken a resource the answer hands out. So the booked
    sessions are read again, locked and fresh, and compared; every old
    allocation goes before any new one is written (so two sessions may swap a
    clinician); and the whole step runs in a savepoint: a changed session or a
    taken resource (the exclusion constraint) skips every reassignment, says
    why in the run record, and the waiting sessions are still placed through
    the booking code, which checks each one again.
    """
    if not moves:
        return []
    try:
        with session.begin_nested():
            _refuse_if_moved(session, night)
            before = {booked.id: audit.snapshot(night.appointments[booked.id]) for booked, _ in moves}
            for booked, _ in moves:
                night.appointments[booked.id].allocations.clear()
            session.flush()
            changes = [_reassign(session, night, booked, placement, now, before[booked.id])
                       for booked, placement in moves]
            session.flush()
            return changes
    except (_ScheduleMoved, IntegrityError) as refused:
        reason = str(refused) if isinstance(refused, _ScheduleMoved) else "a resource was booked meanwhile"
        return [{"action": "reassignments_skipped", "count": len(moves), "reason": reason}]


def _refuse_if_moved(session: Session, night: Night) -> None:
    fresh = session.exec(
        select(Appointment).where(Appointment.id.in_(sorted(night.appointments))).order_by(Appointment.id)
        .with_for_update(of=Appointment).execution_options(populate_existing=True)
    ).all()
    served = {appointment.id: appointment for appointment in fresh}
    moved = [booked.id for booked in night.problem.booked
             if booked.id not in served or served[booked.id].status != AppointmentStatus.BOOKED
             or _served_now(served[booked.id]) != booked.current]
    if moved:
        raise _ScheduleMoved(f"the front desk changed appointments {', '.join(map(str, moved[:10]))} while the night "
                             "was planned")


def _reassign(session: Session, night: Night, booked: BookedSession, placement: Placement, now: datetime,
              before: dict) -> dict:
    appointment = night.appointments[booked.id]
    _serve_with(session, appointment, booked.kind, placement)
    moved = placement.start != booked.start
    change = {"action": "move" if moved else "reassign", "appointment_id": appointment.id,
              "before": _resources(booked.current), "after": _resources(placement)}
    if moved:
        zone = night.location.zone
        old, new = from_minute(booked.start, zone), from_minute(placement.start, zone)
        appointment.starts_at, appointment.ends_at = new, from_minute(placement.start + booked.kind.duration, zone)
        change["before"]["start"], change["after"]["start"] = old.isoformat(), new.isoformat()
    appointment.updated_at = now
    audit.record(session, actor=None, action="nightly_move" if moved else "reassign", appointment=appointment,
                 before=before, at=now)
    if moved:
        change |= _told(session, appointment, booked.kind.name, old, new, now)
    return change


def _told(session: Session, appointment: Appointment, service: str, old: datetime, new: datetime,
          now: datetime) -> dict:
    """The move as the patient is told of it (the outbox's words for the times) and the channels it goes by; none
    means the patient has no e-mail or phone they agreed to be told by, so the desk should call them."""
    zone = old.tzinfo
    channels = session.exec(select(PatientMessage.channel).where(
        PatientMessage.appointment_id == appointment.id, PatientMessage.kind == MessageKind.NIGHTLY_MOVE,
        PatientMessage.created_at == now).order_by(PatientMessage.channel)).all()
    return {"patient_message": f"The clinic has moved your {service} from {outbox.spoken(old, zone)} to "
                               f"{outbox.spoken(new, zone)} ({str(zone).replace('_', ' ')} time).",
            "patient_told": [channel.value for channel in channels]}


def _serve_with(session: Session, appointment: Appointment, kind: SessionKind, placement: Placement) -> None:
    """The allocations of the placement, the old ones being gone (the patient's too: the time may have moved)."""
    cleaning = {unit.id: unit.cleaning for pool in kind.devices for unit in pool.units}
    spans = [(ResourceKind.PATIENT, appointment.patient_id, (placement.start, placement.start + kind.duration)),
             (ResourceKind.CLINICIAN, placement.clinician, blocked(kind, placement.start)),
             *([(ResourceKind.ROOM, placement.room, blocked(kind, placement.start))] if placement.room else []),
             *((ResourceKind.DEVICE, unit, blocked(kind, placement.start, cleaning[unit])) for unit in placement.devices)]
    for resource_kind, ident, (start, end) in spans:
        appointment.allocations.append(Allocation(resource_kind=resource_kind, resource_id=ident,
                                                  starts_at=from_minute(start), ends_at=from_minute(end)))


def _resources(placement: Placement) -> dict:
    return {"clinician_id": placement.clinician, "room_id": placement.room, "device_ids": list(placement.devices)}


def _place(session: Session, night: Night, waiting: WaitingSession, placement: Placement, *, now: datetime,
           settings: Settings) -> dict | None:
    """A system hold (or a booking, by policy) through the booking code, which checks the slot once more."""
    service_id = int(waiting.kind.key)
    choice = booking.SlotChoice(service_id, waiting.patient, from_minute(placement.start, night.location.zone),
                                placement.clinician, placement.room, placement.devices)
    minutes = settings.nightly_hold_minutes
    if waiting.key in night.requests:  # an offer the patient may answer: held from when they can be told
        if not _request_waits(session, night.requests[waiting.key]):
            return {"action": "not_placed", "session": waiting.key,
                    "reason": f"waitlist request {night.requests[waiting.key].id} was offered a time or closed "
                              "while the night was planned"}
        minutes = waitlist.answer_minutes(session.get(Location, night.location.id), minutes, now)
    try:
        if settings.nightly_book_directly:
            appointment = booking.book(session, actor=None, choice=choice, now=now, settings=settings)
        else:
            appointment = booking.place_hold(session, actor=None, choice=choice, now=now, settings=settings,
                                             minutes=minutes)
    except (Conflict, Invalid) as refused:  # the booking check knows something the model did not (a time taken, a
        # patient erased meanwhile): this session waits, the rest of the night is written
        return {"action": "not_placed", "session": waiting.key, "reason": str(refused)}
    change = {"appointment_id": appointment.id, "patient_id": waiting.patient, "service_id": service_id,
              "start": choice.start.isoformat(), "status": appointment.status.value}
    if waiting.key in night.requests:
        request = night.requests[waiting.key]
        waitlist.offered(session, request, appointment, now=now)
        return {"action": "waitlist_hold", "request_id": request.id, **change}
    plan, plan_session = night.plan_sessions[waiting.key]
    plan_session.appointment_id, plan_session.unplaced_reason = appointment.id, ""
    return {"action": "plan_session", "plan_id": plan.id, "sequence": plan_session.sequence, **change}
