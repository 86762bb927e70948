"""The night keeps a plan line's spacing in hours: next to a booked session, and between two waiting ones.

Shockwave lines ask for "at least 48 h apart"; calendar days alone would let
the night place the next session sooner, and its earliest-day objective would.
"""

from datetime import date, timedelta

from sqlmodel import Session, select

from data.db import session_scope
from data.enums import PlanStatus, RunStatus, RunTrigger
from data.tables import Appointment, PlanLine, PlanSession, TreatmentPlan
from scheduler.optimization import run_optimization
from tests.clinic_world import at
from tests.test_optimization import NIGHT, SETTINGS, book_at, clinic, wait  # noqa: F401  (clinic is a fixture)


def confirmed_shockwave_plan(engine, world, booked: dict[int, int], **spacing) -> None:
    """Ann's confirmed plan of two shockwave sessions; ``booked`` maps a session's sequence to its appointment."""
    with session_scope(engine) as session:
        plan = TreatmentPlan(patient_id=world.patients[0].id, location_id=world.midtown.id,
                             status=PlanStatus.CONFIRMED, earliest_start=date(2027, 3, 2),
                             latest_end=date(2027, 3, 12), created_at=NIGHT, updated_at=NIGHT)
        plan.lines = [PlanLine(service_id=world.eswt.id, count=2, **spacing)]
        plan.sessions = [PlanSession(service_id=world.eswt.id, sequence=n, appointment_id=booked.get(n),
                                     unplaced_reason="" if n in booked else "no time then") for n in (1, 2)]
        session.add(plan)


def placed_tonight(engine, world, settings=SETTINGS) -> list[Appointment]:
    """Run the night; the plan's appointments afterwards, in sequence order."""
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=settings)
    assert run.status == RunStatus.SUCCEEDED, run.error
    with Session(engine) as session:
        ids = [s.appointment_id for s in session.exec(select(PlanSession).order_by(PlanSession.sequence))]
        return [session.get(Appointment, ident) for ident in ids if ident is not None]


def test_the_session_after_a_booked_one_waits_48_hours_not_just_a_day(clinic):
    """Session 1 is Wednesday 17:00; one day apart would allow Thursday 8:00, 48 h ask for Friday 17:00."""
    engine, world = clinic
    first = book_at(engine, world, world.patients[0], world.eswt, at(3, 17), world.eli)
    confirmed_shockwave_plan(engine, world, {1: first}, min_gap_days=1, min_gap_hours=48)
    booked, held = placed_tonight(engine, world)
    assert booked.id == first
    assert held.starts_at >= at(5, 17), held.starts_at
    assert held.starts_at.astimezone(NIGHT.tzinfo).date() == date(2027, 3, 5), "as soon as the rule allows"


def test_the_session_before_a_booked_one_keeps_within_the_most_hours(clinic):
    """Session 2 is Saturday 9:00 and at most 30 h may pass from session 1's start: not before Friday 3:00."""
    engine, world = clinic
    second = book_at(engine, world, world.patients[0], world.eswt, at(6, 9), world.dana)
    confirmed_shockwave_plan(engine, world, {2: second}, max_gap_hours=30)
    held, booked = placed_tonight(engine, world)
    assert booked.id == second
    assert at(6, 9) - timedelta(hours=30) <= held.starts_at and held.ends_at <= at(6, 9), held.starts_at


def test_two_waiting_sessions_are_placed_48_hours_apart(clinic):
    engine, world = clinic
    confirmed_shockwave_plan(engine, world, {}, min_gap_days=1, min_gap_hours=48)
    first, second = placed_tonight(engine, world)
    assert second.starts_at - first.starts_at >= timedelta(hours=48), (first.starts_at, second.starts_at)


def test_spacing_from_a_booked_session_holds_under_a_policy_that_moves_sessions(clinic):
    engine, world = clinic
    first = book_at(engine, world, world.patients[0], world.eswt, at(3, 17), world.eli)
    confirmed_shockwave_plan(engine, world, {1: first}, min_gap_hours=48)
    booked, held = placed_tonight(engine, world, SETTINGS.model_copy(update={"nightly_move_minutes": 15}))
    assert booked.starts_at == at(3, 17) and held.starts_at - booked.starts_at >= timedelta(hours=48)


def test_a_plan_s_booked_sessions_keep_their_times_under_a_policy_that_moves_sessions(clinic):
    """Exactly 48 h apart, Tuesday and Thursday 9:00; a waiting request wants the one shockwave unit at Thursday
    9:45, which a move of the second session by 15 minutes would free (as it does for a session of no plan). The
    night moved it, and the plan's 48 h became 47.75 (found by a probe, 2026-12-02)."""
    engine, world = clinic
    sessions = {1: book_at(engine, world, world.patients[0], world.eswt, at(2, 9), world.dana),
                2: book_at(engine, world, world.patients[0], world.eswt, at(4, 9), world.dana)}
    confirmed_shockwave_plan(engine, world, sessions, min_gap_hours=48, max_gap_hours=48)
    wait(engine, world, world.patients[1], service_id=world.eswt.id, earliest_day=date(2027, 3, 4),
         latest_day=date(2027, 3, 4), earliest_time=at(4, 9, 45).time(), latest_time=at(4, 10, 15).time())
    first, second = placed_tonight(engine, world, SETTINGS.model_copy(update={"nightly_move_minutes": 15}))
    assert (first.starts_at, second.starts_at) == (at(2, 9), at(4, 9))
