"""Optimization runs on committed data: what they place, what they never touch, and that a night runs once."""

import socket
import subprocess
import sys
import threading
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, select

from api.deps import get_now
from api.main import create_app
from data.accounts import upsert_user
from data.config import Settings
from data.db import make_engine, session_scope
from data.enums import (
    AppointmentStatus,
    PlanStatus,
    ResourceKind,
    Role,
    RunStatus,
    RunTrigger,
    SameClinicianRule,
    WaitlistStatus,
)
from data.tables import (
    Allocation,
    Appointment,
    AuditEntry,
    OptimizationRun,
    Patient,
    PlanLine,
    PlanSession,
    TreatmentPlan,
    WaitlistRequest,
)
from scheduler import booking, erasure, night, optimization
from scheduler.optimization import ScheduleBroken, check_no_overlaps, run_optimization
from tests import crashing_solver
from tests.clinic_world import at, build_world
from tests.conftest import bearer

NIGHT = at(1, 2)  # 02:00 on Monday 1 March 2027, New York
SETTINGS = Settings(background_jobs=False, secret_key="optimization-tests-secret-key-0123456789")
BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def clinic(request, tmp_path, migrated_databases):
    """A fresh, committed database holding the test clinic, and its engine."""
    engine = make_engine(migrated_databases(request.param, tmp_path))
    yield engine, committed_world(engine)
    engine.dispose()


def committed_world(engine):
    """The test clinic, committed, its rows still readable after the session closed."""
    with Session(engine, expire_on_commit=False) as session:
        world = build_world(session)
        session.commit()
    return world


def waiting_plan(world, patient, service) -> TreatmentPlan:
    """A confirmed one-session plan of ``service`` for the patient (2-12 March) whose session waits for the night."""
    plan = TreatmentPlan(patient_id=patient.id, location_id=world.midtown.id, status=PlanStatus.CONFIRMED,
                         earliest_start=date(2027, 3, 2), latest_end=date(2027, 3, 12), created_at=NIGHT,
                         updated_at=NIGHT)
    plan.lines = [PlanLine(service_id=service.id, count=1)]
    plan.sessions = [PlanSession(service_id=service.id, sequence=1)]
    return plan


def wait(engine, world, patient, **extra) -> int:
    values = {"service_id": world.msus.id, "earliest_day": date(2027, 3, 1), "latest_day": date(2027, 3, 5),
              "earliest_time": at(1, 8).time(), "latest_time": at(1, 16).time(), **extra}
    with session_scope(engine) as session:
        request = WaitlistRequest(patient_id=patient.id, created_at=NIGHT, **values)
        session.add(request)
        session.flush()
        return request.id


def rows(engine, table):
    with Session(engine) as session:
        return session.exec(select(table)).all()


def test_a_run_places_waiting_requests_after_the_freeze_window(clinic):
    engine, world = clinic
    waiting = wait(engine, world, world.patients[0], priority=5)
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.SUCCEEDED and run.sessions_placed == 1 and run.finished_at is not None
    (change,) = run.changes
    (hold,) = rows(engine, Appointment)
    assert change["request_id"] == waiting and change["appointment_id"] == hold.id
    assert hold.status == AppointmentStatus.PENDING and hold.created_by_id is None
    assert hold.starts_at >= at(2, 2), "nothing is placed inside the 24-hour freeze window"
    assert rows(engine, WaitlistRequest)[0].status == WaitlistStatus.OFFERED


def test_requests_that_only_fit_the_freeze_window_keep_waiting(clinic):
    engine, world = clinic
    wait(engine, world, world.patients[0], latest_day=date(2027, 3, 1))
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.SUCCEEDED and run.changes == [] and rows(engine, Appointment) == []


def test_booked_times_are_untouched(clinic):
    engine, world = clinic
    with session_scope(engine) as session:
        desk = upsert_user(session=session, username="desk", password="long enough pw", role=Role.FRONT_DESK)
        promised = booking.book(session, actor=desk, now=at(1, 1), settings=SETTINGS, choice=booking.SlotChoice(
            world.msus.id, world.patients[1].id, at(3, 9), clinician_id=world.max.id))
        before = (promised.id, promised.starts_at, sorted((a.resource_kind, a.resource_id) for a in promised.allocations))
    wait(engine, world, world.patients[0])
    run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT, settings=SETTINGS)
    with Session(engine) as session:
        kept = session.get(Appointment, before[0])
        assert (kept.id, kept.starts_at, sorted((a.resource_kind, a.resource_id) for a in kept.allocations)) == before


def test_an_exception_mid_write_leaves_the_schedule_as_it_was(clinic, monkeypatch):
    engine, world = clinic
    for patient in world.patients[:2]:
        wait(engine, world, patient)
    real, calls = booking.place_hold, []

    def fail_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(night.booking, "place_hold", fail_on_second)
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.FAILED and "power cut" in run.error and len(calls) == 2
    assert rows(engine, Appointment) == [] and rows(engine, Allocation) == []
    assert {r.status for r in rows(engine, WaitlistRequest)} == {WaitlistStatus.WAITING}


def desk_user(engine):
    with Session(engine, expire_on_commit=False) as session:
        desk = upsert_user(session=session, username="desk", password="long enough pw", role=Role.FRONT_DESK)
        session.commit()
    return desk


def book_at(engine, world, patient, service, start, clinician) -> int:
    with session_scope(engine) as session:
        return booking.book(session, actor=desk_user(engine), now=at(1, 1), settings=SETTINGS, choice=booking.SlotChoice(
            service.id, patient.id, start, clinician_id=clinician.id)).id


def test_a_confirmed_plan_s_unplaced_session_is_placed_with_its_spacing_and_clinician(clinic):
    """Session 1 is booked with Max on Wednesday 3 March; session 2 (2-4 days later, same clinician) waits."""
    engine, world = clinic
    first = book_at(engine, world, world.patients[0], world.msus, at(3, 9), world.max)
    with session_scope(engine) as session:
        plan = TreatmentPlan(patient_id=world.patients[0].id, location_id=world.midtown.id, status=PlanStatus.CONFIRMED,
                             earliest_start=date(2027, 3, 2), latest_end=date(2027, 3, 12), priority=4,
                             created_at=NIGHT, updated_at=NIGHT)
        plan.lines = [PlanLine(service_id=world.msus.id, count=2, min_gap_days=2, max_gap_days=4,
                               same_clinician=SameClinicianRule.REQUIRED)]
        plan.sessions = [PlanSession(service_id=world.msus.id, sequence=1, appointment_id=first),
                         PlanSession(service_id=world.msus.id, sequence=2, unplaced_reason="no time then")]
        session.add(plan)
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.SUCCEEDED and run.sessions_placed == 1, run.error
    (change,) = [c for c in run.changes if c["action"] == "plan_session"]
    assert change["sequence"] == 2 and change["status"] == "pending"
    with Session(engine) as session:
        second = session.exec(select(PlanSession).where(PlanSession.sequence == 2)).one()
        hold = session.get(Appointment, second.appointment_id)
        assert hold.id == change["appointment_id"] and second.unplaced_reason == ""
        assert 5 <= hold.starts_at.astimezone(NIGHT.tzinfo).day <= 7, "2-4 days after 3 March"
        assert hold.resource_ids(ResourceKind.CLINICIAN) == [world.max.id]
    again = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                             settings=SETTINGS)
    assert again.sessions_placed == 0, "a session with a live hold is not placed twice"


def test_a_booked_time_moves_only_under_the_policy_and_the_patient_is_told(clinic):
    """Shockwave at 09:00 blocks the one unit until 09:55 (buffer and cleaning); a request needs 09:45."""
    engine, world = clinic
    promised = book_at(engine, world, world.patients[1], world.eswt, at(3, 9), world.dana)
    wait(engine, world, world.patients[0], service_id=world.eswt.id, earliest_day=date(2027, 3, 3),
         latest_day=date(2027, 3, 3), earliest_time=at(3, 9, 45).time(), latest_time=at(3, 10, 15).time())
    kept = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                            settings=SETTINGS)
    assert kept.sessions_placed == 0 and not [c for c in kept.changes if c["action"] == "move"]
    with Session(engine) as session:
        assert session.get(Appointment, promised).starts_at == at(3, 9)
    policy = SETTINGS.model_copy(update={"nightly_move_minutes": 15})
    moved = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                             settings=policy)
    assert moved.status == RunStatus.SUCCEEDED and moved.sessions_placed == 1, moved.error
    (move,) = [c for c in moved.changes if c["action"] == "move"]
    assert move["appointment_id"] == promised and move["patient_message"] == (
        "The clinic has moved your Shockwave therapy from Wednesday, March 3 at 9:00 AM to Wednesday, March 3 at "
        "8:45 AM (America/New York time).")
    with Session(engine) as session:
        appointment = session.get(Appointment, promised)
        assert (appointment.starts_at, appointment.ends_at) == (at(3, 8, 45), at(3, 9, 15))
        assert {(a.resource_kind, a.starts_at) for a in appointment.allocations if a.live} >= {
            (ResourceKind.PATIENT, at(3, 8, 45)), (ResourceKind.CLINICIAN, at(3, 8, 45))}
        assert [e.action for e in session.exec(select(AuditEntry).where(AuditEntry.appointment_id == promised))
                ][-1] == "nightly_move"
        (offer,) = session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.PENDING)).all()
        assert offer.starts_at == at(3, 9, 45)


@pytest.fixture
def postgres_clinic(postgres_databases):
    """The test clinic on PostgreSQL only: there the front desk keeps working while a night is solved."""
    engine = make_engine(postgres_databases(migrated=True))
    yield engine, committed_world(engine)
    engine.dispose()


@pytest.mark.postgres
def test_a_session_the_desk_changes_during_the_solve_is_not_reassigned(postgres_clinic, monkeypatch):
    """The answer would move the 09:00 session to 08:45; the desk cancels it while the solver works."""
    engine, world = postgres_clinic
    promised = book_at(engine, world, world.patients[1], world.eswt, at(3, 9), world.dana)
    wait(engine, world, world.patients[0], service_id=world.eswt.id, earliest_day=date(2027, 3, 3),
         latest_day=date(2027, 3, 3), earliest_time=at(3, 9, 45).time(), latest_time=at(3, 10, 15).time())
    solve = optimization._solve_apart

    def solve_while_the_desk_cancels(problem, limits):
        solution = solve(problem, limits)
        assert any(p.kind == str(promised) and p.start != problem.booked[0].start for p in solution.placements)
        with Session(engine) as desk_session:
            booking.change_status(desk_session, actor=desk_user(engine), appointment_id=promised, action="cancel",
                                  now=NIGHT, reason="the patient called")
            desk_session.commit()
        return solution

    monkeypatch.setattr(optimization, "_solve_apart", solve_while_the_desk_cancels)
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS.model_copy(update={"nightly_move_minutes": 15}))
    assert run.status == RunStatus.SUCCEEDED, run.error
    (skipped,) = [c for c in run.changes if c["action"] == "reassignments_skipped"]
    assert f"changed appointments {promised} " in skipped["reason"]
    with Session(engine) as session:
        cancelled = session.get(Appointment, promised)
        assert cancelled.status == AppointmentStatus.CANCELLED and not any(a.live for a in cancelled.allocations)
        assert cancelled.starts_at == at(3, 9), "the desk's cancel stands as acknowledged"
        (offer,) = session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.PENDING)).all()
        assert offer.starts_at >= at(3, 9, 45), "the waiting session is still placed, checked by the booking code"
        check_no_overlaps(session, start=NIGHT, end=at(20, 0))


def test_the_desk_books_while_the_night_is_solved_and_the_night_never_overlaps_it(clinic, monkeypatch):
    """The waiting shockwave session fits only Wednesday 09:00; the desk books that time for another patient while
    the solver works. The desk is not held up (SQLite: within a 1 s busy timeout, so the solve holds no write
    lock), its booking stands, and the night written around it overlaps nothing."""
    engine, world = clinic
    request = wait(engine, world, world.patients[0], service_id=world.eswt.id, earliest_day=date(2027, 3, 3),
                   latest_day=date(2027, 3, 3), earliest_time=at(3, 9).time(), latest_time=at(3, 9, 30).time())
    solve, solved = optimization._solve_apart, []

    def solve_while_the_desk_books(problem, limits):
        solution = solve(problem, limits)
        if not solved:
            assert [p.start for p in solution.placements] == [problem.waiting[0].starts[0][0]]
            with Session(engine) as desk_session:
                if engine.dialect.name == "sqlite":
                    desk_session.connection().exec_driver_sql("PRAGMA busy_timeout=1000")
                booking.book(desk_session, actor=desk_user(engine), now=NIGHT, settings=SETTINGS,
                             choice=booking.SlotChoice(world.eswt.id, world.patients[1].id, at(3, 9),
                                                       clinician_id=world.dana.id))
                desk_session.commit()
        solved.append(problem)
        return solution

    monkeypatch.setattr(optimization, "_solve_apart", solve_while_the_desk_books)
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.SUCCEEDED, run.error
    if engine.dialect.name == "sqlite":  # the night changed under the solve: solved again, under the write lock
        assert len(solved) == 2 and solved[1].booked and not run.changes
    else:  # one transaction all along; the booking code refuses the taken time
        assert len(solved) == 1 and [c["action"] for c in run.changes] == ["not_placed"]
        # the record tells what was written: it had said the solver's 3 points, placed and proven optimal
        placed = run.stages[0]
        assert (run.objective, placed["name"], placed["value"], placed["status"]) == (0, "placed", 0, "feasible")
        assert run.gap > 0 and [entry["code"] for entry in run.waiting] == ["booking_refused"]
    with Session(engine) as session:
        (desk_booking,) = session.exec(select(Appointment)).all()
        assert desk_booking.status == AppointmentStatus.BOOKED and desk_booking.patient_id == world.patients[1].id
        assert session.get(WaitlistRequest, request).status == WaitlistStatus.WAITING
        check_no_overlaps(session, start=NIGHT, end=at(20, 0))


def test_a_patient_erased_while_the_night_is_solved_waits_and_the_rest_is_written(clinic, monkeypatch):
    """The booking check refuses an erased patient with a 422-kind error, which the run did not expect: the whole
    night failed and nothing was placed (found by a probe on PostgreSQL, 2026-12-02)."""
    engine, world = clinic
    leaving, staying = world.patients[:2]
    with session_scope(engine) as session:
        session.add(waiting_plan(world, leaving, world.msus))
    request = wait(engine, world, staying)
    solve = optimization._solve_apart

    def solve_while_the_patient_is_erased(problem, limits):
        solution = solve(problem, limits)
        with Session(engine) as desk_session:
            if desk_session.get(Patient, leaving.id).erased_at is None:
                erasure.erase(desk_session, actor=None, patient_id=leaving.id, now=NIGHT)
                desk_session.commit()
        return solution

    monkeypatch.setattr(optimization, "_solve_apart", solve_while_the_patient_is_erased)
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert [(c["action"], c.get("request_id")) for c in run.changes if c["action"] != "not_placed"] == [
        ("waitlist_hold", request)]
    with Session(engine) as session:
        assert [a.patient_id for a in session.exec(select(Appointment))] == [staying.id]


def test_two_clinics_solved_at_once_both_see_the_waitlist(clinic, monkeypatch):
    """A request belongs to no clinic. The first run to gather locked every waiting request for its whole solve,
    so a second clinic's run at the same moment saw none and placed nothing (found by a probe on PostgreSQL)."""
    engine, world = clinic
    request = wait(engine, world, world.patients[0], service_id=world.telehealth.id)  # either clinic gives it
    only_midtown = wait(engine, world, world.patients[1], service_id=world.eswt.id)
    solve, midtown_runs = optimization._solve_apart, []

    def solve_while_midtown_runs(problem, limits):
        if not midtown_runs:
            midtown = threading.Thread(target=lambda: midtown_runs.append(run_optimization(
                engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT, settings=SETTINGS)))
            midtown_runs.append(None)
            midtown.start()
            midtown.join(timeout=120)
        return solve(problem, limits)

    monkeypatch.setattr(optimization, "_solve_apart", solve_while_midtown_runs)
    night_desk = run_optimization(engine, location_id=world.night_desk.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                                  settings=SETTINGS)
    midtown = midtown_runs[-1]
    assert night_desk.status == midtown.status == RunStatus.SUCCEEDED, (night_desk.error, midtown.error)
    assert {(c["action"], c.get("request_id")) for c in midtown.changes} == {
        ("waitlist_hold", request), ("waitlist_hold", only_midtown)}
    with Session(engine) as session:
        assert session.get(WaitlistRequest, request).status == WaitlistStatus.OFFERED
    assert only_midtown not in {entry.get("request_id") for entry in night_desk.waiting}, \
        "a request the Night Desk cannot serve is Midtown's, not left waiting at the Night Desk"


def test_a_night_unchanged_since_it_was_solved_is_solved_once(clinic, monkeypatch):
    engine, world = clinic
    wait(engine, world, world.patients[0])
    solve, solved = optimization._solve_apart, []
    monkeypatch.setattr(optimization, "_solve_apart", lambda problem, limits: solved.append(problem) or solve(
        problem, limits))
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.SUCCEEDED and len(solved) == 1
    assert [c["action"] for c in run.changes] == ["waitlist_hold"]


def test_booking_directly_is_a_policy(clinic):
    engine, world = clinic
    wait(engine, world, world.patients[0])
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS.model_copy(update={"nightly_book_directly": True}))
    (change,) = run.changes
    assert change["status"] == "booked" and rows(engine, Appointment)[0].status == AppointmentStatus.BOOKED
    assert rows(engine, WaitlistRequest)[0].status == WaitlistStatus.BOOKED, "served at once"


def test_a_night_runs_once_however_many_workers_fire(clinic):
    engine, world = clinic
    wait(engine, world, world.patients[0])
    engines = [make_engine(str(engine.url.render_as_string(hide_password=False))) for _ in range(4)]
    barrier, results = threading.Barrier(len(engines)), []

    def worker(own_engine):
        barrier.wait()
        results.append(run_optimization(own_engine, location_id=world.midtown.id, trigger=RunTrigger.NIGHTLY,
                                        now=NIGHT, settings=SETTINGS))

    threads = [threading.Thread(target=worker, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for own in engines:
        own.dispose()
    assert sum(1 for r in results if r is not None) == 1 and len(results) == 4
    (run,) = rows(engine, OptimizationRun)
    assert run.status == RunStatus.SUCCEEDED and len(rows(engine, Appointment)) == 1


def orphaned_run(engine, world, trigger: RunTrigger, owner: str, attempts: int = 1) -> int:
    """A run record left 'running' by a worker that no longer runs it."""
    with session_scope(engine) as session:
        run = OptimizationRun(location_id=world.midtown.id, run_date=NIGHT.date(), trigger=trigger,
                              status=RunStatus.RUNNING, started_at=NIGHT, owner=owner, attempts=attempts)
        session.add(run)
        session.flush()
        return run.id


def gone_process() -> str:
    """host:pid of a process that has ended."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return f"{socket.gethostname()}:{ended.pid}"


def test_a_dead_worker_s_night_is_retried_and_a_live_one_is_left_alone(clinic):
    engine, world = clinic
    wait(engine, world, world.patients[0])
    dead = orphaned_run(engine, world, RunTrigger.NIGHTLY, gone_process())
    live = orphaned_run(engine, world, RunTrigger.MANUAL, optimization.worker_name())
    owner = None
    if engine.dialect.name == "postgresql":  # the live run's owner holds its lock, as run_optimization does
        owner = engine.connect()
        owner.execute(text("SELECT pg_advisory_lock(:ns, :run)"), {"ns": optimization.RUN_OWNER_NAMESPACE, "run": live})
        owner.commit()
    try:
        (retried,) = optimization.recover_dead_runs(engine, now=NIGHT, settings=SETTINGS)
    finally:
        if owner is not None:
            owner.close()
    assert retried.id == dead and retried.status == RunStatus.SUCCEEDED and retried.attempts == 2
    assert "stopped with its worker" in retried.error and retried.sessions_placed == 1
    statuses = {run.id: run.status for run in rows(engine, OptimizationRun)}
    assert statuses[live] == RunStatus.RUNNING, "a run whose worker lives is not touched"


def test_a_night_job_finishes_its_night_when_the_worker_that_claimed_it_died(clinic):
    """What a retried task-engine job does: the night's record is taken over, not claimed anew."""
    engine, world = clinic
    wait(engine, world, world.patients[0])
    dead = orphaned_run(engine, world, RunTrigger.NIGHTLY, gone_process())
    run = optimization.run_night(engine, location_id=world.midtown.id, now=NIGHT, settings=SETTINGS,
                                 run_date=NIGHT.date())
    assert (run.id, run.status, run.attempts, run.sessions_placed) == (dead, RunStatus.SUCCEEDED, 2, 1), run.error
    assert optimization.run_night(engine, location_id=world.midtown.id, now=NIGHT, settings=SETTINGS,
                                  run_date=NIGHT.date()) is None, "a finished night is not run again"
    assert len(rows(engine, OptimizationRun)) == 1 and len(rows(engine, Appointment)) == 1


def test_a_night_taken_more_than_a_day_late_is_recorded_as_skipped(clinic):
    engine, world = clinic
    wait(engine, world, world.patients[0])
    late = optimization.run_night(engine, location_id=world.midtown.id, now=NIGHT, settings=SETTINGS,
                                  run_date=NIGHT.date() - timedelta(days=1))
    assert late.status == RunStatus.SUCCEEDED and late.sessions_placed == 1, "a day's grace: a night near midnight"
    run = optimization.run_night(engine, location_id=world.midtown.id, now=NIGHT, settings=SETTINGS,
                                 run_date=NIGHT.date() - timedelta(days=2))
    assert run.status == RunStatus.SKIPPED and "the night had passed" in run.error
    assert len(rows(engine, Appointment)) == 1, "nothing more was solved for it"


def test_a_dead_manual_run_or_a_night_tried_too_often_is_marked_failed(clinic):
    engine, world = clinic
    manual = orphaned_run(engine, world, RunTrigger.MANUAL, gone_process())
    worn = orphaned_run(engine, world, RunTrigger.NIGHTLY, gone_process(), attempts=optimization.MAX_ATTEMPTS)
    finished = {run.id: run for run in optimization.recover_dead_runs(engine, now=NIGHT, settings=SETTINGS)}
    assert finished[manual].status == RunStatus.FAILED and "started again by hand" in finished[manual].error
    assert finished[worn].status == RunStatus.FAILED and "given up after 3 attempts" in finished[worn].error
    assert rows(engine, Appointment) == [], "nothing was solved for them"


def test_the_fall_back_night_still_runs_once(clinic):
    """A 01:30 trigger fires twice on 7 November 2027 (EDT, then EST): one local night, one run."""
    engine, world = clinic
    first = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.NIGHTLY,
                             now=at(7, 1, 30, month=11).replace(fold=0), settings=SETTINGS)
    second = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.NIGHTLY,
                              now=at(7, 1, 30, month=11).replace(fold=1), settings=SETTINGS)
    assert first.run_date == date(2027, 11, 7) and second is None


def test_the_checker_catches_an_overlap_the_database_let_through(tmp_path, migrated_databases):
    """SQLite has no exclusion constraint: the run's own check is what refuses a broken schedule.

    The overlap lies in the freeze window, which the re-plan must not repair.
    """
    engine = make_engine(migrated_databases("sqlite", tmp_path))
    world = committed_world(engine)
    with session_scope(engine) as session:
        for patient in world.patients[:2]:
            appointment = Appointment(location_id=world.midtown.id, service_id=world.msus.id, patient_id=patient.id,
                                      starts_at=at(1, 9), ends_at=at(1, 9, 45), status="booked", created_at=NIGHT,
                                      updated_at=NIGHT)
            appointment.allocations = [Allocation(resource_kind="clinician", resource_id=world.max.id,
                                                  starts_at=at(1, 9), ends_at=at(1, 9, 45))]
            session.add(appointment)
    with Session(engine) as session, pytest.raises(ScheduleBroken, match=f"clinician {world.max.id}"):
        check_no_overlaps(session, start=NIGHT, end=at(10, 0))
    wait(engine, world, world.patients[2])
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.FAILED and "ScheduleBroken" in run.error
    assert len(rows(engine, Appointment)) == 2, "the run wrote nothing"
    engine.dispose()


def test_runs_through_the_api(clinic):
    engine, world = clinic
    with Session(engine, expire_on_commit=False) as session:
        admin = upsert_user(session=session, username="boss", password="long enough pw", role=Role.ADMIN)
        desk = upsert_user(session=session, username="desk", password="long enough pw", role=Role.FRONT_DESK)
        dana = upsert_user(session=session, username="dana", password="long enough pw", role=Role.CLINICIAN,
                           clinician_id=world.dana.id)
        session.commit()
    wait(engine, world, world.patients[0])
    app = create_app(SETTINGS.model_copy(update={"database_url": str(engine.url)}), engine)
    app.dependency_overrides[get_now] = lambda: NIGHT
    with TestClient(app) as client:
        assert client.post("/api/v1/optimization-runs", json={"location_id": world.midtown.id},
                           headers=bearer(app, desk)).status_code == 403
        refused = client.post("/api/v1/optimization-runs", json={"location_id": world.midtown.id},
                              headers=bearer(app, dana))
        assert refused.status_code == 403 and "roles: admin; you are clinician" in refused.text, refused.text
        started = client.post("/api/v1/optimization-runs", json={"location_id": world.midtown.id},
                              headers=bearer(app, admin))
        assert started.status_code == 201, started.text
        assert started.json()["status"] == "succeeded" and started.json()["sessions_placed"] == 1
        listed = client.get("/api/v1/optimization-runs", headers=bearer(app, admin)).json()
        assert [run["id"] for run in listed["items"]] == [started.json()["id"]]
        one = client.get(f"/api/v1/optimization-runs/{started.json()['id']}", headers=bearer(app, admin))
        assert one.json()["changes"][0]["action"] == "waitlist_hold"
        missing = client.post("/api/v1/optimization-runs", json={"location_id": 999999}, headers=bearer(app, admin))
        assert missing.status_code == 404
        # JSON's true was read as record 1 and ran that location's night (found by a probe, 2026-12-01)
        truth = client.post("/api/v1/optimization-runs", json={"location_id": True}, headers=bearer(app, admin))
        assert truth.status_code == 422 and "not true or false" in truth.text, truth.text
        assert client.get("/api/v1/optimization-runs", headers=bearer(app, admin)).json()["total"] == 1


def test_the_desk_goes_on_while_a_run_started_by_hand_solves(clinic, monkeypatch):
    """On SQLite the request that started a run held the only place at the database for the whole solve, so
    every other request of the desk, reads included, waited until the run ended (found by a probe, 2026-12-02).
    Here the solve waits until a colleague's request has been answered (or gives up after a minute)."""
    engine, world = clinic
    with Session(engine, expire_on_commit=False) as session:
        admin = upsert_user(session=session, username="boss", password="long enough pw", role=Role.ADMIN)
        desk = upsert_user(session=session, username="desk", password="long enough pw", role=Role.FRONT_DESK)
        session.commit()
    wait(engine, world, world.patients[0])
    solving, answered, seen = threading.Event(), threading.Event(), []
    solve = optimization._solve_apart

    def slow_solve(problem, limits):
        solving.set()
        seen.append(answered.wait(timeout=60))
        return solve(problem, limits)

    monkeypatch.setattr(optimization, "_solve_apart", slow_solve)
    app = create_app(SETTINGS.model_copy(update={"database_url": str(engine.url)}), engine)
    app.dependency_overrides[get_now] = lambda: NIGHT
    with TestClient(app) as client:
        started = []
        runner = threading.Thread(target=lambda: started.append(client.post(
            "/api/v1/optimization-runs", json={"location_id": world.midtown.id}, headers=bearer(app, admin))))
        runner.start()
        assert solving.wait(timeout=60)
        read = client.get(f"/api/v1/patients/{world.patients[1].id}", headers=bearer(app, desk))
        answered.set()
        runner.join(timeout=120)
    assert read.status_code == 200 and seen == [True], "the colleague was answered while the night was solved"
    assert started[0].status_code == 201 and started[0].json()["status"] == "succeeded", started[0].text


NIGHTLY_IN_A_PROCESS = """
import sys
from datetime import datetime
from data.config import Settings
from data.db import make_engine
from data.enums import RunTrigger
from scheduler.optimization import run_optimization
engine = make_engine(sys.argv[1])
run = run_optimization(engine, location_id=int(sys.argv[2]), trigger=RunTrigger.NIGHTLY,
                       now=datetime.fromisoformat(sys.argv[3]), settings=Settings(background_jobs=False))
print("ran" if run else "skipped")
"""


def test_two_worker_processes_run_the_night_once(clinic):
    engine, world = clinic
    wait(engine, world, world.patients[0])
    url = engine.url.render_as_string(hide_password=False)
    workers = [subprocess.Popen([sys.executable, "-c", NIGHTLY_IN_A_PROCESS, url, str(world.midtown.id),
                                 NIGHT.isoformat()], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = sorted(worker.communicate(timeout=120)[0].strip() for worker in workers)
    assert outputs == ["ran", "skipped"]
    assert len(rows(engine, OptimizationRun)) == 1 and len(rows(engine, Appointment)) == 1


def test_a_run_rebalances_clinicians_but_keeps_promised_times_and_the_freeze_window(clinic):
    """Four diagnostic sessions all with Max: after the freeze window Dana takes some; inside it, nothing moves."""
    engine, world = clinic
    with Session(engine, expire_on_commit=False) as session:
        desk = upsert_user(session=session, username="desk", password="long enough pw", role=Role.FRONT_DESK)
        starts = [at(1, 9), at(3, 9), at(3, 10), at(3, 11), at(3, 12, 30)]
        for patient_index, start in enumerate(starts):
            booking.book(session, actor=desk, now=at(1, 1), settings=SETTINGS, choice=booking.SlotChoice(
                world.msus.id, world.patients[patient_index % 3].id, start, clinician_id=world.max.id))
        session.commit()
    before = {a.id: (a.starts_at, a.resource_ids("clinician")) for a in rows_with_allocations(engine)}
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.SUCCEEDED, run.error
    after = {a.id: (a.starts_at, a.resource_ids("clinician")) for a in rows_with_allocations(engine)}
    assert {ident: start for ident, (start, _) in after.items()} == {i: s for i, (s, _) in before.items()}
    frozen = [ident for ident, (start, _) in before.items() if start < at(2, 2)]
    assert [after[i] for i in frozen] == [before[i] for i in frozen], "the freeze window is untouched"
    moved = [change for change in run.changes if change["action"] == "reassign"]
    assert moved and {change["after"]["clinician_id"] for change in moved} == {world.dana.id}
    assert run.objective is not None and run.bound is not None and run.gap is not None
    with Session(engine) as session:
        check_no_overlaps(session, start=NIGHT, end=at(20, 0))


def rows_with_allocations(engine):
    with Session(engine) as session:
        appointments = session.exec(select(Appointment).order_by(Appointment.id)).all()
        for appointment in appointments:
            _ = appointment.allocations
        return appointments


def test_many_locations_run_in_separate_processes_within_a_budget(clinic):
    engine, world = clinic
    wait(engine, world, world.patients[0])
    url = engine.url.render_as_string(hide_password=False)
    run_ids = optimization.run_locations(url, location_ids=[world.midtown.id, world.night_desk.id],
                                         trigger=RunTrigger.NIGHTLY, now=NIGHT, settings=SETTINGS, budget_seconds=20)
    runs = {run.location_id: run for run in rows(engine, OptimizationRun)}
    assert sorted(run_ids) == sorted(run.id for run in runs.values()) and len(runs) == 2
    assert {run.status for run in runs.values()} == {RunStatus.SUCCEEDED}
    assert optimization.run_locations(url, location_ids=[world.midtown.id], trigger=RunTrigger.NIGHTLY, now=NIGHT,
                                      settings=SETTINGS, budget_seconds=5) == [None], "the night already ran"


def test_a_solver_process_that_aborts_fails_the_run_and_the_server_carries_on(clinic, monkeypatch):
    """CP-SAT aborts the process on a failed internal check: the solve runs apart, so only the run fails."""
    engine, world = clinic
    wait(engine, world, world.patients[0], service_id=world.eswt.id, earliest_day=date(2027, 3, 3),
         latest_day=date(2027, 3, 3))
    monkeypatch.setattr(optimization, "replan", crashing_solver.abort)
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.FAILED and "solver's process stopped abruptly 2 times" in run.error
    with Session(engine) as session:
        assert session.exec(select(Appointment)).all() == [], "nothing was written"


def test_a_solver_process_that_aborts_once_is_tried_again_and_the_night_is_planned(clinic, monkeypatch):
    engine, world = clinic
    wait(engine, world, world.patients[0], service_id=world.eswt.id, earliest_day=date(2027, 3, 3),
         latest_day=date(2027, 3, 3))
    crashing_solver.ABORTED_ONCE.unlink(missing_ok=True)
    monkeypatch.setattr(optimization, "replan", crashing_solver.abort_once)
    try:
        run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                               settings=SETTINGS)
    finally:
        aborted = crashing_solver.ABORTED_ONCE.exists()
        crashing_solver.ABORTED_ONCE.unlink(missing_ok=True)
    assert aborted and run.status == RunStatus.SUCCEEDED, run.error
    assert run.sessions_placed == 1
