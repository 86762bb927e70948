"""The nightly optimization run of one location, and its record.

What a run does today: after the freeze window (never touched) and over the
planning horizon, it places waiting waitlist requests, highest priority
first, as holds for the front desk to confirm, then has every live
allocation in the horizon re-verified by an independent overlap check before
it commits. Reassigning clinicians, rooms and devices of booked sessions with
CP-SAT is not built yet.

Safety: the run record is claimed in its own transaction (on PostgreSQL also
under an advisory lock per location); the work happens in one other
transaction that either commits whole or leaves the schedule exactly as it
was. A nightly run happens once per location and local date, however many
workers are up: the second claim hits the partial unique index.
"""

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from data.config import Settings
from data.db import serialized
from data.enums import RunStatus, RunTrigger, WaitlistStatus
from data.errors import Conflict, NotFound
from data.tables import Allocation, Location, OptimizationRun, WaitlistRequest
from scheduler import booking
from scheduler.availability import SlotQuery, find_availability

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
            changes = _place_waiting(session, location_id=location_id, now=now, settings=settings)
            check_no_overlaps(session, start=now, end=now + _reach(settings))
            session.commit()
    except Exception as exc:  # the schedule is untouched (rolled back); the record says what happened
        return _finish(engine, run_id, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    return _finish(engine, run_id, RunStatus.SUCCEEDED, changes=changes)


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
            error: str = "") -> OptimizationRun:
    with Session(engine) as session:
        run = session.get(OptimizationRun, run_id)
        run.status, run.finished_at, run.error = status, datetime.now(UTC), error
        run.changes = changes or []
        run.sessions_placed = sum(1 for change in run.changes if change["action"] == "waitlist_hold")
        session.commit()
        session.refresh(run)
        return run


def _place_waiting(session: Session, *, location_id: int, now: datetime, settings: Settings) -> list[dict]:
    """Offer waiting requests a hold on their best slot between the freeze window and the horizon's end."""
    booking.release_expired_holds(session, now=now)
    zone = ZoneInfo(session.get(Location, location_id).time_zone)
    frozen_until = now + timedelta(hours=settings.freeze_hours)
    horizon_end = now + _reach(settings)
    changes = []
    waiting = session.exec(
        select(WaitlistRequest).where(WaitlistRequest.status == WaitlistStatus.WAITING)
        .order_by(WaitlistRequest.priority.desc(), WaitlistRequest.created_at, WaitlistRequest.id)
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
