"""The nightly optimization run of one location, and its record.

What a run does: ``scheduler.night`` gathers the location's night (booked
sessions after the freeze window, which is never touched, and waiting
waitlist requests and plan sessions), ``solver.replan`` solves it (placed
sessions by priority, continuity, balance and idle gaps, fewest changes;
promised times stay unless ``nightly_move_minutes`` allows a small move),
``check_night`` checks the answer independently of the model, and only then
is it written; finally every live allocation in the horizon is re-verified
by an independent overlap check before the transaction commits.

Safety: the run record is claimed in its own transaction; the work happens
in one other transaction (on PostgreSQL under an advisory lock per location)
that either commits whole or leaves the schedule exactly as it was. A
nightly run happens once per location and local date, however many workers
are up: the second claim hits the partial unique index. A process killed
mid-run leaves its record "running" and the schedule untouched.
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from data.config import Settings
from data.db import make_engine, serialized
from data.enums import RunStatus, RunTrigger
from data.errors import NotFound
from data.tables import Allocation, Location, OptimizationRun
from scheduler import night
from solver.plan_model import Limits
from solver.replan import ReplanSolution, check_night, replan

PLACING = {"waitlist_hold", "plan_session"}  # change actions that give a waiting session its time
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
            changes, quality = _plan_night(session, location_id=location_id, now=now, settings=settings)
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


def _plan_night(session: Session, *, location_id: int, now: datetime,
                settings: Settings) -> tuple[list[dict], ReplanSolution | None]:
    """Solve the location's night, check the answer independently, and write it; nothing unchecked is written."""
    gathered = night.gather(session, location_id=location_id, now=now, settings=settings)
    if not gathered.problem.booked and not gathered.problem.waiting:
        return [], None
    solution = replan(gathered.problem, Limits(settings.solver_time_limit_seconds, settings.solver_workers))
    problems = check_night(gathered.problem, solution)
    if problems:
        raise ScheduleBroken("the night's plan failed its check: " + "; ".join(problems[:5]))
    return night.write(session, gathered, solution, now=now, settings=settings), solution


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
        run.sessions_placed = sum(1 for change in run.changes if change["action"] in PLACING)
        session.commit()
        session.refresh(run)
        return run


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
