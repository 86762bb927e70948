"""The periodic hold sweeper, on a real database with committed data."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from procrastinate.testing import InMemoryConnector
from sqlmodel import Session, select

from data.accounts import upsert_user
from data.config import Settings
from data.db import make_engine, session_scope
from data.enums import AppointmentStatus, Role
from data.migrate import upgrade
from data.tables import Allocation, Appointment
from scheduler.booking import SlotChoice, place_hold
from scheduler.jobs import PERIODIC_JOBS, add_jobs, start_background_jobs, sweep_expired_holds
from scheduler.task_engine import task_engine
from tests.clinic_world import at, build_world


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def test_sweeper_cancels_expired_holds_once(engine):
    placed_at = datetime.now(UTC) - timedelta(minutes=30)
    with session_scope(engine) as session:
        world = build_world(session)
        desk = upsert_user(session=session, username="desk", password="long enough pw", role=Role.FRONT_DESK)
        for minutes, patient, start in ((10, world.patients[0], at(2, 9)), (120, world.patients[1], at(2, 10))):
            place_hold(session, actor=desk, minutes=minutes, now=placed_at, settings=Settings(),
                       choice=SlotChoice(world.telehealth.id, patient.id, start, clinician_id=world.max.id))
    assert sweep_expired_holds(engine) == 1
    assert sweep_expired_holds(engine) == 0
    with Session(engine) as session:
        statuses = sorted(a.status for a in session.exec(select(Appointment)))
        assert statuses == [AppointmentStatus.CANCELLED, AppointmentStatus.PENDING]
        assert len(session.exec(select(Allocation).where(Allocation.live)).all()) == 2  # the live hold's two rows


def test_background_jobs_schedule_the_sweeper_and_retention(engine):
    scheduler = start_background_jobs(engine, Settings(hold_sweep_seconds=90))
    try:
        job = scheduler.get_job("sweep_expired_holds")
        assert job is not None and job.trigger.interval == timedelta(seconds=90)
        assert scheduler.get_job("erase_lapsed_request_records").trigger.interval == timedelta(hours=1)
    finally:
        scheduler.shutdown(wait=False)


def test_nightly_runs_fire_at_the_local_time_of_each_location_across_dst(engine):
    with session_scope(engine) as session:
        world = build_world(session)
        location_ids = [world.midtown.id, world.night_desk.id]
    scheduler = add_jobs(BackgroundScheduler(timezone=UTC), engine, Settings(), nightly=True)
    trigger = scheduler.get_job(f"nightly_run_{location_ids[0]}").trigger
    assert {job.id for job in scheduler.get_jobs()} == {"sweep_expired_holds", "erase_lapsed_request_records", "retry_dead_runs",
                                                        "deliver_messages", "remind_patients",
                                                        *(f"nightly_run_{i}" for i in location_ids)}
    assert scheduler.get_job("remind_patients").trigger.interval == timedelta(minutes=5)
    spring = trigger.get_next_fire_time(None, at(13, 12))
    assert spring.astimezone(UTC) == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)  # 02:00 does not exist: once, at 03:00
    after = trigger.get_next_fire_time(spring, spring + timedelta(minutes=1))
    assert after == at(15, 2)
    autumn = trigger.get_next_fire_time(None, at(6, 12, month=11))
    assert autumn == at(7, 2, month=11) and autumn.utcoffset() == timedelta(hours=-5)


def test_a_clock_with_a_handoff_only_hands_its_ticks_over(engine):
    """On PostgreSQL the clock's ticks go to the task engine: each names its job, a night its location and zone."""
    with session_scope(engine) as session:
        world = build_world(session)
        nights = {(world.midtown.id, world.midtown.time_zone), (world.night_desk.id, world.night_desk.time_zone)}
    handed = []

    class Recorder:
        def job(self, name: str) -> None:
            handed.append(name)

        def night(self, location_id: int, zone: str) -> None:
            handed.append((location_id, zone))

    scheduler = add_jobs(BackgroundScheduler(timezone=UTC), engine, Settings(), nightly=True, handoff=Recorder())
    for job in scheduler.get_jobs():
        job.func(*job.args)
    assert sorted(name for name in handed if isinstance(name, str)) == sorted(
        function.__name__ for function in PERIODIC_JOBS)
    assert {night for night in handed if isinstance(night, tuple)} == nights
    with Session(engine) as session:
        assert session.exec(select(Appointment)).all() == [], "nothing ran here"


def test_a_night_job_that_fails_before_its_claim_is_tried_again(engine):
    """A failure before the night's run record exists (here: no such location) must not lose the night."""
    def work_the_queue() -> dict:
        with task_engine("postgresql+psycopg://nobody@127.0.0.1:1/unused").replace_connector(
                InMemoryConnector()) as app:
            app.configure_task("solve_night").defer(location_id=999_999, night="2027-03-01")
            app.run_worker(wait=False, install_signal_handlers=False,
                           additional_context={"engine": engine, "settings": Settings()})
            (job,) = app.connector.jobs.values()
            return job

    # procrastinate's sync API refuses a thread with a running event loop, which an earlier test in this
    # process (a browser's) may have left behind; a clock's or a worker's thread has none
    with ThreadPoolExecutor(max_workers=1) as thread:
        job = thread.submit(work_the_queue).result()
    assert (job["status"], job["attempts"]) == ("todo", 1), "queued again, for later"
