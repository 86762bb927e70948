"""The nightly optimization run of one location, and its record.

What a run does: ``scheduler.night`` gathers the location's night (booked
sessions after the freeze window, which is never touched, and waiting
waitlist requests and plan sessions), ``solver.replan`` solves it (placed
sessions by priority, continuity, balance and idle gaps, fewest changes;
promised times stay unless ``nightly_move_minutes`` allows a small move),
``check_night`` checks the answer independently of the model, and only then
is it written; finally every live allocation in the horizon is re-verified
by an independent overlap check before the transaction commits. The record
(``scheduler.run_record``) keeps each level of the objective with its bounds,
first-fit's values, and the sessions left waiting with their reasons.

Safety: the run record is claimed in its own transaction; the work happens
in one other transaction (on PostgreSQL under an advisory lock per location)
that either commits whole or leaves the schedule exactly as it was. On
SQLite, whose one writer would otherwise hold every booking up for the
whole solve, the night is solved before that transaction and the answer is
used only if the night gathered under the write lock is the very one solved
(``_solved_ahead``). A
nightly run happens once per location and local date, however many workers
are up: the second claim hits the partial unique index.

A worker can die mid-run (killed, machine lost). Its record names the owner
(``host:pid``) and, on PostgreSQL, the owner holds a session-level advisory
lock on the run for as long as it lives, taken in the claiming transaction
itself; the database drops it when the owner's connection dies. The next tick
of any worker (``recover_dead_runs``) finds running records whose owner is
gone (the lock can be taken; on SQLite, one machine, the process no longer
exists), takes them over under that same lock and solves the night again, up
to ``MAX_ATTEMPTS`` times; a dead manual run is marked failed.
"""

import multiprocessing
import os
import socket
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import fields
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
from data.locking import locked
from data.tables import Allocation, Location, OptimizationRun
from scheduler import night, waitlist
from scheduler.run_record import NightReport, report
from solver.night_check import check_night
from solver.night_problem import NightProblem, ReplanSolution
from solver.plan_model import Limits
from solver.replan import replan

PLACING = {"waitlist_hold", "plan_session"}  # change actions that give a waiting session its time
SOLVE_ATTEMPTS = 2  # a native abort inside CP-SAT: one more try, then the run fails
ADVISORY_NAMESPACE = 4242  # first key of pg_try_advisory_xact_lock(namespace, location_id)
RUN_OWNER_NAMESPACE = 4244  # first key of pg_advisory_lock(namespace, run_id), held by the run's owner
MAX_ATTEMPTS = 3  # a night whose worker died this often is left failed for a person to look at


class ScheduleBroken(RuntimeError):
    """The independent check found two live allocations of one resource overlapping."""


class SolverCrashed(RuntimeError):
    """The solver's process died (a native abort) before it answered."""


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
        if trigger == RunTrigger.NIGHTLY and _nightly_run(session, location_id, run_date) is not None:
            return None  # read, not written: on SQLite a write would queue behind the running night's
    with _owning(engine, settings) as owner:
        run_id = _claim(owner, location_id=location_id, run_date=run_date, trigger=trigger, now=now)
        if run_id is None:
            return None
        return _execute(engine, run_id, location_id=location_id, now=now, settings=settings)


def run_night(engine: Engine, *, location_id: int, now: datetime, settings: Settings,
              run_date: date | None = None) -> OptimizationRun | None:
    """The location's nightly run: a new one, or the night's run taken over when its worker died.

    This is what a retried job needs (``scheduler.task_engine``): the job whose worker was killed mid-solve
    finds the night claimed by a dead owner and finishes it under the same record. None when the night is
    already done or its owner still lives.

    A night whose job waited more than a day (workers down, a long backlog) is recorded as skipped, not
    solved: a later night's run plans from the same schedule, and solving every missed night in a row would
    only repeat that work when the workers are shortest of time. A day's grace keeps a run time near
    midnight whose job starts just after it."""
    with Session(engine) as session:
        location = session.get(Location, location_id)
        if location is None:
            raise NotFound("location", location_id)
        today = local_night(location, now)
    run_date = run_date or today
    if run_date < today - timedelta(days=1):
        with _owning(engine, settings) as owner:
            run_id = _claim(owner, location_id=location_id, run_date=run_date, trigger=RunTrigger.NIGHTLY, now=now)
        return None if run_id is None else _finish(engine, run_id, RunStatus.SKIPPED, error=(
            f"the night had passed ({today} in the location's zone) before a worker took it; a later night's run "
            "plans from the same schedule"))
    run = run_optimization(engine, location_id=location_id, trigger=RunTrigger.NIGHTLY, now=now, settings=settings,
                           run_date=run_date)
    if run is not None:
        return run
    with Session(engine) as session:
        claimed = _nightly_run(session, location_id, run_date)
    if claimed is None or claimed.status != RunStatus.RUNNING:
        return None
    return _recover(engine, claimed.id, now=now, settings=settings)


def recover_dead_runs(engine: Engine, *, now: datetime, settings: Settings) -> list[OptimizationRun]:
    """Take over the runs whose worker died: retry a night, fail a manual run; the runs it finished."""
    with Session(engine) as session:
        running = session.exec(select(OptimizationRun.id).where(OptimizationRun.status == RunStatus.RUNNING)).all()
    recovered = (_recover(engine, run_id, now=now, settings=settings) for run_id in running)
    return [run for run in recovered if run is not None]


def _recover(engine: Engine, run_id: int, *, now: datetime, settings: Settings) -> OptimizationRun | None:
    """The run, finished here if its worker died (a night solved again, a manual run failed); None if it lives."""
    with _owning(engine, settings) as owner:
        run = _take_over(owner, run_id, now=now)
        if run is not None and run.status == RunStatus.RUNNING:
            return _execute(engine, run.id, location_id=run.location_id, now=now, settings=settings)
        return run


def _execute(engine: Engine, run_id: int, *, location_id: int, now: datetime, settings: Settings) -> OptimizationRun:
    try:
        try:
            night_report = _solve_and_write(engine, location_id=location_id, now=now, settings=settings)
        except night.CatalogChanged:
            # An administrator's edit during the solve (a "Run now" while the catalog is kept) failed the whole run
            # (found by a probe): the night is gathered and solved once more with the catalog as it now is.
            night_report = _solve_and_write(engine, location_id=location_id, now=now, settings=settings)
    except Exception as exc:  # the schedule is untouched (rolled back); the record says what happened
        return _finish(engine, run_id, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    if night_report is None:
        return _finish(engine, run_id, RunStatus.SKIPPED, error="another run of this location is in progress")
    return _finish(engine, run_id, RunStatus.SUCCEEDED, night_report=night_report)


def _solve_and_write(engine: Engine, *, location_id: int, now: datetime, settings: Settings) -> NightReport | None:
    """One attempt at the night, in one transaction that commits whole; None if another run holds the location."""
    ahead = _solved_ahead(engine, location_id=location_id, now=now, settings=settings)
    with Session(serialized(engine), info={"settings": settings}) as session:  # its messages link as we serve
        if not _lock_location(session, location_id):
            return None
        night_report = _plan_night(session, location_id=location_id, now=now, settings=settings, ahead=ahead)
        check_no_overlaps(session, start=now, end=now + _reach(settings))
        session.commit()
    return night_report


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


def _solved_ahead(engine: Engine, *, location_id: int, now: datetime,
                  settings: Settings) -> tuple[NightProblem, ReplanSolution] | None:
    """SQLite: the night gathered and solved before the write lock is taken; None elsewhere or for an empty night.

    SQLite has one writer at a time. Solved inside the write transaction, the night would make every booking,
    cancellation and claim wait out the whole solve, and fail 'database is locked' once the busy timeout is
    spent: a 'Run now' at a busy desk, or a second worker claiming the night, did. So the night is read in a
    read transaction (WAL gives it a snapshot while writers go on) and solved with no lock held. The write
    transaction gathers the night again and takes this answer only if the problem is exactly the one solved;
    if the desk changed it meanwhile, the night is solved again there, holding the lock as before.
    PostgreSQL needs none of this: its write transaction locks only the rows it changes."""
    if engine.dialect.name != "sqlite":
        return None
    with Session(serialized(engine), info={"settings": settings}) as session:
        waitlist.lapse_offers(session, now=now, settings=settings)
        session.commit()
    with Session(engine) as session:
        problem = night.gather(session, location_id=location_id, now=now, settings=settings).problem
    if not problem.booked and not problem.waiting:
        return None
    return problem, _solve_apart(problem, _limits(settings))


def _plan_night(session: Session, *, location_id: int, now: datetime, settings: Settings,
                ahead: tuple[NightProblem, ReplanSolution] | None = None) -> NightReport:
    """Solve the location's night (or take the answer ``ahead`` if it solved this very night), check the answer
    independently, and write it; nothing unchecked is written."""
    waitlist.lapse_offers(session, now=now, settings=settings)
    gathered = night.gather(session, location_id=location_id, now=now, settings=settings)
    if not gathered.problem.booked and not gathered.problem.waiting:
        return NightReport()
    if ahead is not None and ahead[0] == gathered.problem:
        solution = ahead[1]
    else:
        solution = _solve_apart(gathered.problem, _limits(settings))
    problems = check_night(gathered.problem, solution)
    if problems:
        raise ScheduleBroken("the night's plan failed its check: " + "; ".join(problems[:5]))
    return report(gathered, solution, night.write(session, gathered, solution, now=now, settings=settings))


SOLVES = multiprocessing.get_context("forkserver")
"""Where nights are solved: processes forked from a server process that holds no threads or connections."""


def preload_for_solves(*modules: str) -> None:
    """Have the solve processes fork ready: their server imports the solver and ``modules`` once, when it starts.

    Python 3.11's forkserver does not preload the program's main module as its documentation says (it looks for
    a key its own preparation data does not have), so every solve process runs the main script again before it
    starts, and imports the solver again to unpickle it. A server or worker started by the ``clinic`` script
    spent 4-10 s of each night on that (measured 2026-12-01, up to 13 s for an empty night); the entry point
    names the modules its script imports, so that running it again finds them loaded. Takes effect when the
    server starts: before the first solve.
    """
    SOLVES.set_forkserver_preload(["solver.replan", *modules])


preload_for_solves()


def _solve_apart(problem: NightProblem, limits: Limits) -> ReplanSolution:
    """The solve in a process of its own (forked from a clean server process, so cheap to start), tried twice.

    CP-SAT is C++: an internal check that fails aborts the whole process. 'Check failed:
    heuristics.fixed_search != nullptr' was seen in the benchmark; its trigger (presolve probing switched off
    with a hint) is gone from ``solver.replan``, but no other native abort can be ruled out. Apart, such an abort
    costs this attempt only: the night is solved once more, and if that process dies too the run fails with a
    clear error, the transaction rolls back, and the web server or worker running it carries on.
    """
    for attempt in range(SOLVE_ATTEMPTS):
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=SOLVES) as pool:
                return pool.submit(replan, problem, limits).result()
        except BrokenProcessPool as crash:
            if attempt + 1 == SOLVE_ATTEMPTS:
                raise SolverCrashed(f"the solver's process stopped abruptly {SOLVE_ATTEMPTS} times; nothing was "
                                    "written, the next run tries again") from crash
    raise AssertionError("unreachable")


def _limits(settings: Settings) -> Limits:
    return Limits(settings.solver_time_limit_seconds, settings.solver_workers)


def _reach(settings: Settings) -> timedelta:
    return timedelta(hours=settings.freeze_hours, days=settings.horizon_days)


def worker_name() -> str:
    """Who runs this: the host and process id (read each time, since worker processes are forked)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def _owning(engine: Engine, settings: Settings) -> Iterator[Session]:
    """A session on one connection kept for a run's whole life: on PostgreSQL its session lock says the owner lives.

    It carries the run's settings, so the messages the run writes (nightly moves, offers) link to the service's
    public address as this process knows it."""
    with serialized(engine).connect() as connection, Session(bind=connection, expire_on_commit=False,
                                                             info={"settings": settings}) as session:
        try:
            yield session
        finally:
            if connection.dialect.name == "postgresql":
                session.rollback()
                connection.execute(text("SELECT pg_advisory_unlock_all()"))
                connection.commit()


def _own(owner: Session, run_id: int) -> bool:
    """Hold the run's owner lock (PostgreSQL); False while another live worker holds it."""
    if owner.get_bind().dialect.name != "postgresql":
        return True
    return owner.execute(text("SELECT pg_try_advisory_lock(:namespace, :run)"),
                         {"namespace": RUN_OWNER_NAMESPACE, "run": run_id}).scalar_one()


def _claim(owner: Session, *, location_id: int, run_date: date, trigger: RunTrigger, now: datetime) -> int | None:
    """The new run's id, committed with its owner lock already held; None if the night is taken."""
    run = OptimizationRun(location_id=location_id, run_date=run_date, trigger=trigger, status=RunStatus.RUNNING,
                          started_at=now, owner=worker_name())
    owner.add(run)
    try:
        owner.flush()
    except IntegrityError:
        owner.rollback()
        return None
    _own(owner, run.id)
    owner.commit()
    return run.id


def _nightly_run(session: Session, location_id: int, run_date: date) -> OptimizationRun | None:
    """The night's nightly run record, if one was claimed (there is at most one: the partial unique index)."""
    return session.exec(select(OptimizationRun).where(
        OptimizationRun.location_id == location_id, OptimizationRun.run_date == run_date,
        OptimizationRun.trigger == RunTrigger.NIGHTLY)).first()


def _take_over(owner: Session, run_id: int, *, now: datetime) -> OptimizationRun | None:
    """The run, if its worker is gone: now ours to retry (nightly) or marked failed (manual, or tried too often)."""
    run = locked(owner, OptimizationRun, run_id)
    if run is None or run.status != RunStatus.RUNNING or not _owner_gone(owner, run):
        owner.rollback()
        return None
    dead = run.owner or "an unknown worker"
    if run.trigger == RunTrigger.NIGHTLY and run.attempts < MAX_ATTEMPTS:
        run.error = f"attempt {run.attempts} stopped with its worker {dead}; retried by {worker_name()}"
        run.owner, run.attempts = worker_name(), run.attempts + 1
    else:
        run.status, run.finished_at = RunStatus.FAILED, now
        run.error = (f"attempt {run.attempts} stopped with its worker {dead}; "
                     + ("not retried: a manual run is started again by hand" if run.trigger == RunTrigger.MANUAL
                        else f"given up after {run.attempts} attempts"))
    owner.commit()
    return run


def _owner_gone(owner: Session, run: OptimizationRun) -> bool:
    """PostgreSQL: the owner lock can be taken (and now is ours). SQLite, one machine: the process is gone."""
    if owner.get_bind().dialect.name == "postgresql":
        return _own(owner, run.id)
    host, _, pid = run.owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return not run.owner  # another machine cannot share an SQLite file; an ownerless record is an old one
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _lock_location(session: Session, location_id: int) -> bool:
    """PostgreSQL: an advisory lock for this transaction; SQLite's serialized transaction already is one."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return session.execute(text("SELECT pg_try_advisory_xact_lock(:namespace, :location)"),
                           {"namespace": ADVISORY_NAMESPACE, "location": location_id}).scalar_one()


def _finish(engine: Engine, run_id: int, status: RunStatus, *, night_report: NightReport | None = None,
            error: str = "") -> OptimizationRun:
    """Record how the run ended. On SQLite the write lock is taken first (BEGIN IMMEDIATE): reading the record
    and then writing it in a deferred transaction fails at once ('database is locked') when another writer
    got in between, instead of waiting its turn."""
    with Session(serialized(engine)) as session:
        run = session.get(OptimizationRun, run_id)
        run.status, run.finished_at = status, datetime.now(UTC)
        run.error = "; ".join(note for note in (run.error, error) if note)[:2000]  # a retried run keeps its story
        night_report = night_report or NightReport()  # a failed or skipped run reports no night
        for item in fields(night_report):
            setattr(run, item.name, getattr(night_report, item.name))
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
