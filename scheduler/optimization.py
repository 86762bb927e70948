"""The nightly optimization run of one location, and its record.

What a run does: after the freeze window (never touched) and over the
planning horizon, it re-plans who serves each booked session, keeping every
promised time (``solver.replan``: continuity, then balanced workload, then
fewest changes; checked by ``check_replan`` before anything is written);
then it places waiting waitlist requests, highest priority first, as holds
for the front desk to confirm; finally every live allocation in the horizon
is re-verified by an independent overlap check before it commits. Placing
not-yet-placed plan sessions is not built yet.

Safety: the run record is claimed in its own transaction; the work happens
in one other transaction (on PostgreSQL under an advisory lock per location)
that either commits whole or leaves the schedule exactly as it was. A
nightly run happens once per location and local date, however many workers
are up: the second claim hits the partial unique index. A process killed
mid-run leaves its record "running" and the schedule untouched.
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from data.config import Settings
from data.db import make_engine, serialized
from data.enums import AppointmentStatus, ResourceKind, RunStatus, RunTrigger, SameClinicianRule, WaitlistStatus
from data.errors import Conflict, NotFound
from data.tables import Allocation, Appointment, Location, OptimizationRun, PlanLine, PlanSession, WaitlistRequest
from scheduler import audit, booking
from scheduler.availability import SlotQuery, build_search, find_availability
from scheduler.catalog_snapshot import catalog
from scheduler.clock import from_minute, to_minute
from scheduler.plans import session_kind
from solver.plan_model import Limits
from solver.plans import Placement, blocked
from solver.replan import BookedSession, ReplanSolution, check_replan, replan

ADVISORY_NAMESPACE = 4242  # first key of pg_try_advisory_xact_lock(namespace, location_id)


class ScheduleBroken(RuntimeError):
    """The independent check found two live allocations of one resource overlapping."""


def local_night(location: Location, now: datetime) -> date:
    """The local date a run at ``now`` belongs to."""
    return now.astimezone(ZoneInfo(location.time_zone)).date()


def run_optimization(engine: Engine, *, location_id: int, trigger: RunTrigger, now: datetime, settings: Settings,
                     run_date: date | None = None) -> OptimizationRun | None:
    """Run once for the location; None when a nightly run of that night already exists."""
    with Session(engine) as session:
        location = session.get(Location, location_id)
        if location is None:
            raise NotFound("location", location_id)
        run_date = run_date or local_night(location, now)
    run_id = _claim(engine, location_id=location_id, run_date=run_date, trigger=trigger, now=now)
    if run_id is None:
        return None
    try:
        with Session(serialized(engine)) as session:
            if not _lock_location(session, location_id):
                return _finish(engine, run_id, RunStatus.SKIPPED, error="another run of this location is in progress")
            changes, quality = _reassign(session, location_id=location_id, now=now, settings=settings)
            changes += _place_waiting(session, location_id=location_id, now=now, settings=settings)
            check_no_overlaps(session, start=now, end=now + _reach(settings))
            session.commit()
    except Exception as exc:  # the schedule is untouched (rolled back); the record says what happened
        return _finish(engine, run_id, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    return _finish(engine, run_id, RunStatus.SUCCEEDED, changes=changes, quality=quality)


def run_locations(database_url: str, *, location_ids: list[int], trigger: RunTrigger, now: datetime,
                  settings: Settings, budget_seconds: float, workers: int = 2) -> list[int | None]:
    """Run many locations at once, each in its own process, within a total time budget.

    Locations share nothing, so they are solved independently; each gets the
    solver time its share of the budget allows (rounds of ``workers`` runs).
    The answer lists the run ids, None where a nightly run already existed.
    """
    rounds = -(-len(location_ids) // workers) or 1
    per_run = settings.model_copy(update={"solver_time_limit_seconds": max(budget_seconds / rounds * 0.8, 0.5),
                                          "solver_workers": 1})
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        runs = [pool.submit(_run_in_process, database_url, location_id, trigger, now, per_run)
                for location_id in location_ids]
        return [run.result() for run in runs]


def _run_in_process(database_url: str, location_id: int, trigger: RunTrigger, now: datetime,
                    settings: Settings) -> int | None:
    engine = make_engine(database_url)
    try:
        run = run_optimization(engine, location_id=location_id, trigger=trigger, now=now, settings=settings)
        return run.id if run else None
    finally:
        engine.dispose()


def _reach(settings: Settings) -> timedelta:
    return timedelta(hours=settings.freeze_hours, days=settings.horizon_days)


def _claim(engine: Engine, *, location_id: int, run_date: date, trigger: RunTrigger, now: datetime) -> int | None:
    with Session(engine) as session:
        run = OptimizationRun(location_id=location_id, run_date=run_date, trigger=trigger, status=RunStatus.RUNNING,
                              started_at=now)
        session.add(run)
        try:
            session.commit()
        except IntegrityError:
            return None
        return run.id


def _lock_location(session: Session, location_id: int) -> bool:
    """PostgreSQL: an advisory lock for this transaction; SQLite's serialized transaction already is one."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return session.execute(text("SELECT pg_try_advisory_xact_lock(:namespace, :location)"),
                           {"namespace": ADVISORY_NAMESPACE, "location": location_id}).scalar_one()


def _finish(engine: Engine, run_id: int, status: RunStatus, *, changes: list | None = None,
            quality: ReplanSolution | None = None, error: str = "") -> OptimizationRun:
    with Session(engine) as session:
        run = session.get(OptimizationRun, run_id)
        run.status, run.finished_at, run.error = status, datetime.now(UTC), error
        run.changes = changes or []
        if quality is not None:
            run.objective, run.bound, run.gap = quality.objective, quality.bound, quality.gap
            run.first_solution_seconds = quality.first_solution_seconds
        run.sessions_placed = sum(1 for change in run.changes if change["action"] == "waitlist_hold")
        session.commit()
        session.refresh(run)
        return run


def _reassign(session: Session, *, location_id: int, now: datetime,
              settings: Settings) -> tuple[list[dict], ReplanSolution | None]:
    """Re-plan the clinicians, rooms and units of booked sessions past the freeze window; times stay."""
    frozen_until, horizon_end = now + timedelta(hours=settings.freeze_hours), now + _reach(settings)
    booked = session.exec(
        select(Appointment).where(Appointment.location_id == location_id,
                                  Appointment.status == AppointmentStatus.BOOKED,
                                  Appointment.starts_at >= frozen_until, Appointment.starts_at < horizon_end)
        .order_by(Appointment.starts_at, Appointment.id)
    ).all()
    if not booked:
        return [], None
    snapshot = catalog(session)
    location = snapshot.locations[location_id]
    ignore = tuple(appointment.id for appointment in booked)
    kinds = {}
    for service_id in {appointment.service_id for appointment in booked}:
        service = snapshot.services[service_id]
        search = build_search(session, SlotQuery(service_id=service_id, start=frozen_until, end=horizon_end,
                                                 location_id=location_id, ignore_appointment_ids=ignore),
                              service, location, now=now, settings=settings, continuity=None,
                              unusable_gap=snapshot.shortest_service)
        kinds[service_id] = session_kind(service, search)
    required = _clinician_required(session, ignore)
    sessions = tuple(
        BookedSession(
            id=a.id, patient=a.patient_id, kind=kinds[a.service_id], start=to_minute(a.starts_at),
            current=Placement(str(a.id), 0, to_minute(a.starts_at), a.resource_ids(ResourceKind.CLINICIAN)[0],
                              next(iter(a.resource_ids(ResourceKind.ROOM)), None),
                              tuple(sorted(a.resource_ids(ResourceKind.DEVICE)))),
            keep_clinician=a.id in required,
        )
        for a in booked
    )
    solution = replan(sessions, Limits(settings.solver_time_limit_seconds, settings.solver_workers))
    problems = check_replan(sessions, solution)
    if problems:
        raise ScheduleBroken("the re-plan failed its check: " + "; ".join(problems[:5]))
    by_id = {appointment.id: appointment for appointment in booked}
    changes = []
    for booked_session, placement in zip(sessions, solution.placements, strict=True):
        if placement == booked_session.current:
            continue
        appointment = by_id[booked_session.id]
        before = audit.snapshot(appointment)
        _serve_with(session, appointment, booked_session.kind, placement)
        audit.record(session, actor=None, action="reassign", appointment=appointment, before=before, at=now)
        changes.append({"action": "reassign", "appointment_id": appointment.id,
                        "before": _resources(booked_session.current), "after": _resources(placement)})
    session.flush()
    return changes, solution


def _clinician_required(session: Session, appointment_ids: tuple[int, ...]) -> set[int]:
    """Appointments of plan lines that require one clinician throughout: their clinician stays."""
    rows = session.exec(
        select(PlanSession.appointment_id).join(PlanLine, (PlanLine.plan_id == PlanSession.plan_id)
                                                & (PlanLine.service_id == PlanSession.service_id))
        .where(PlanSession.appointment_id.in_(appointment_ids), PlanLine.same_clinician == SameClinicianRule.REQUIRED)
    ).all()
    return set(rows)


def _serve_with(session: Session, appointment: Appointment, kind, placement: Placement) -> None:
    """Replace the staff, room and device allocations; the patient's stays as it is."""
    for allocation in list(appointment.allocations):
        if allocation.resource_kind != ResourceKind.PATIENT:
            appointment.allocations.remove(allocation)
    session.flush()
    cleaning = {unit.id: unit.cleaning for pool in kind.devices for unit in pool.units}
    resources = [(ResourceKind.CLINICIAN, placement.clinician, 0),
                 *([(ResourceKind.ROOM, placement.room, 0)] if placement.room is not None else []),
                 *((ResourceKind.DEVICE, unit, cleaning[unit]) for unit in placement.devices)]
    for resource_kind, ident, extra in resources:
        start, end = blocked(kind, placement.start, extra)
        appointment.allocations.append(Allocation(resource_kind=resource_kind, resource_id=ident,
                                                  starts_at=from_minute(start), ends_at=from_minute(end)))


def _resources(placement: Placement) -> dict:
    return {"clinician_id": placement.clinician, "room_id": placement.room, "device_ids": list(placement.devices)}


def _place_waiting(session: Session, *, location_id: int, now: datetime, settings: Settings) -> list[dict]:
    """Offer waiting requests a hold on their best slot between the freeze window and the horizon's end."""
    booking.release_expired_holds(session, now=now)
    zone = ZoneInfo(session.get(Location, location_id).time_zone)
    frozen_until = now + timedelta(hours=settings.freeze_hours)
    horizon_end = now + _reach(settings)
    changes = []
    waiting = session.exec(  # locked: runs of other locations, in parallel, skip what this one may place
        select(WaitlistRequest).where(WaitlistRequest.status == WaitlistStatus.WAITING)
        .order_by(WaitlistRequest.priority.desc(), WaitlistRequest.created_at, WaitlistRequest.id)
        .with_for_update(skip_locked=True)
    ).all()
    for request in waiting:
        start = max(datetime.combine(request.earliest_day, time(0), zone), frozen_until)
        end = min(datetime.combine(request.latest_day + timedelta(days=1), time(0), zone), horizon_end)
        if start >= end:
            continue
        found = find_availability(session, SlotQuery(
            service_id=request.service_id, start=start, end=end, location_id=location_id,
            patient_id=request.patient_id, earliest=request.earliest_time, latest=request.latest_time, limit=1,
        ), now=now, settings=settings)
        if not found.offers:
            continue
        offer = found.offers[0]
        try:
            hold = booking.place_hold(session, actor=None, minutes=settings.nightly_hold_minutes, now=now,
                                      settings=settings, choice=booking.SlotChoice(
                                          request.service_id, request.patient_id, offer.start, offer.slot.clinician.id,
                                          offer.slot.room.id if offer.slot.room else None,
                                          tuple(unit.id for unit in offer.slot.devices)))
        except Conflict:
            continue
        request.status, request.appointment_id = WaitlistStatus.OFFERED, hold.id
        changes.append({"action": "waitlist_hold", "request_id": request.id, "appointment_id": hold.id,
                        "patient_id": request.patient_id, "service_id": request.service_id,
                        "start": offer.start.isoformat()})
    session.flush()
    return changes


def check_no_overlaps(session: Session, *, start: datetime, end: datetime) -> None:
    """Independent of how the schedule was made: no resource is in two live allocations at once."""
    rows = session.exec(
        select(Allocation).where(Allocation.live, Allocation.ends_at > start, Allocation.starts_at < end)
        .where((Allocation.hold_expires_at.is_(None)) | (Allocation.hold_expires_at > start))
        .order_by(Allocation.resource_kind, Allocation.resource_id, Allocation.starts_at)
    ).all()
    for earlier, later in pairwise(rows):
        same = (earlier.resource_kind, earlier.resource_id) == (later.resource_kind, later.resource_id)
        if same and later.starts_at < earlier.ends_at:
            raise ScheduleBroken(f"{earlier.resource_kind} {earlier.resource_id} is in appointments "
                                 f"{earlier.appointment_id} and {later.appointment_id} at once")
