"""The task engine on real PostgreSQL: `clinic worker` processes (clocks and job workers) share the nightly runs.

Every process is the real command in its own process group. Job workers send
a heartbeat every half second and count a worker silent for 3 s as dead, so
a killed worker's job comes back quickly. Nothing asserts on timing: the
deadlines only keep a broken run from hanging.
"""

import os
import signal
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from alembic import command
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import make_url
from sqlmodel import Session, select

from data.accounts import upsert_user
from data.config import Settings
from data.db import make_engine
from data.enums import Role, RunStatus, RunTrigger
from data.migrate import alembic_config, upgrade
from data.tables import Allocation, Location, OptimizationRun
from scheduler import booking
from scheduler.jobs import start_background_jobs
from scheduler.task_engine import EngineClock, libpq_url, task_engine
from tests.clinic_world import NY, build_world
from tests.servers import clean_environment, clinic_script, free_port
from tests.test_postgres_restart import own_cluster  # noqa: F401  (the fixture: a PostgreSQL server of our own)

pytestmark = pytest.mark.postgres

LOCATIONS = 20
ZONES = ("UTC", "Africa/Abidjan", "Atlantic/Reykjavik", "Africa/Accra")  # UTC+0 all year: one instant fires all
DEADLINE_SECONDS = 150
ENGINE_ENVIRONMENT = {"CLINIC_JOB_HEARTBEAT_SECONDS": "0.5", "CLINIC_JOB_STALLED_SECONDS": "3",
                      "CLINIC_SOLVER_TIME_LIMIT_SECONDS": "2"}


class Workers:
    """`clinic worker` processes on one database, each in its own group (its solver's processes with it)."""

    def __init__(self, url: str, directory: Path, **environment: str):
        self.url, self.directory = url, directory
        self.environment = clean_environment(DATABASE_URL=url, **ENGINE_ENVIRONMENT, **environment)
        self.processes: list[subprocess.Popen] = []

    def start(self, role: str, *options: str, **environment: str) -> subprocess.Popen:
        log = self.directory / f"{role}-{len(self.processes)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen([clinic_script(), "worker", "--role", role, *options],
                                       env={**self.environment, **environment},
                                       stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        process.log = log
        self.processes.append(process)
        return process

    def output(self) -> str:
        return "\n".join(f"--- {process.log.name}\n{process.log.read_text(errors='replace')[-3000:]}"
                         for process in self.processes)

    def stop(self, processes: list[subprocess.Popen] | None = None) -> None:
        processes = self.processes if processes is None else processes
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_until(condition, seconds: float = DEADLINE_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def nightly_runs(engine, run_date: date) -> list[OptimizationRun]:
    with Session(engine) as session:
        return list(session.exec(select(OptimizationRun).where(OptimizationRun.run_date == run_date,
                                                               OptimizationRun.trigger == RunTrigger.NIGHTLY)))


def queue(url: str) -> list[tuple]:
    """The engine's jobs still in its table (a job that succeeded is deleted): id, task, status."""
    with psycopg.connect(libpq_url(url)) as connection:
        return connection.execute("SELECT id, task_name, status::text FROM procrastinate_jobs ORDER BY id").fetchall()


def night_jobs_left(url: str) -> list[tuple]:
    return [job for job in queue(url) if job[1] == "solve_night"]


def test_the_migration_makes_and_removes_the_engine_tables(postgres_databases):
    engine = make_engine(postgres_databases())
    upgrade(engine)
    tables = "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'procrastinate%%'"
    functions = "SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%%'"
    with engine.connect() as connection:
        assert connection.exec_driver_sql(tables).scalar_one() == 4
        assert connection.exec_driver_sql(functions).scalar_one() > 10
    command.downgrade(alembic_config(engine), "c7e2f4a6b8d1")  # the revision before the engine's
    with engine.connect() as connection:
        assert connection.exec_driver_sql(tables).scalar_one() == 0
        assert connection.exec_driver_sql(functions).scalar_one() == 0
    engine.dispose()


def test_three_workers_and_two_clocks_solve_every_location_once_a_night(postgres_databases, tmp_path):
    url = postgres_databases()
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        session.add_all(Location(name=f"Site {n}", time_zone=ZONES[n % len(ZONES)]) for n in range(LOCATIONS))
        session.commit()
    workers = Workers(url, tmp_path)
    try:
        jobs = [workers.start("jobs") for _ in range(3)]
        clocks, fire = start_clocks(workers, 2)
        solved = wait_until(lambda: len(nightly_runs(engine, fire.date())) == LOCATIONS
                            and all(run.status != RunStatus.RUNNING for run in nightly_runs(engine, fire.date()))
                            and not night_jobs_left(url))
        assert solved, f"runs: {nightly_runs(engine, fire.date())}\njobs: {queue(url)}\n{workers.output()}"
        assert all(process.poll() is None for process in jobs + clocks), workers.output()
    finally:
        workers.stop()
    runs = nightly_runs(engine, fire.date())
    assert sorted(run.location_id for run in runs) == list(range(1, LOCATIONS + 1)), "each location once"
    assert {(run.status, run.attempts) for run in runs} == {(RunStatus.SUCCEEDED, 1)}, [run.error for run in runs]
    assert [job for job in queue(url) if job[2] == "failed"] == []
    engine.dispose()


def start_clocks(workers: Workers, count: int) -> tuple[list[subprocess.Popen], datetime]:
    """Clocks whose nightly time (UTC+0 zones) is a few seconds after they are up; set later if they were slower."""
    for lead in (30, 60, 120):
        fire = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
        clocks = [workers.start("clock", CLINIC_NIGHTLY_RUN_TIME=fire.strftime("%H:%M:%S")) for _ in range(count)]
        up = wait_until(lambda: all("clock:" in clock.log.read_text() for clock in clocks), lead)
        if up and datetime.now(UTC) < fire - timedelta(seconds=1):
            return clocks, fire
        workers.stop(clocks)
    pytest.fail(f"the clocks never started in time:\n{workers.output()}")


def test_a_worker_killed_mid_solve_leaves_its_night_to_another(postgres_databases, tmp_path):
    """The solve is stopped inside its write transaction (blocked on a row lock) and its worker killed there."""
    url = postgres_databases()
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings(database_url=url, background_jobs=False)
    now = datetime.now(UTC)
    day = (now.astimezone(NY) + timedelta(days=3)).date()
    with Session(engine, expire_on_commit=False) as session:
        world = build_world(session)
        desk = upsert_user(session=session, username="desk", password="task engine tests", role=Role.FRONT_DESK)
        for index, (hour, minute) in enumerate([(9, 0), (10, 0), (11, 0), (12, 30)]):
            start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)
            booking.book(session, actor=desk, now=now, settings=settings, choice=booking.SlotChoice(
                world.msus.id, world.patients[index % 3].id, start, clinician_id=world.max.id))
        session.commit()
    before = allocations(engine)

    blocker = psycopg.connect(libpq_url(url))
    blocker.execute("SELECT id FROM allocation FOR UPDATE")  # the night's rewrite of any allocation waits here
    workers = Workers(url, tmp_path)
    try:
        first, second = workers.start("jobs"), workers.start("jobs")
        with task_engine(url).open() as app:
            EngineClock(app).night(world.midtown.id, world.midtown.time_zone)
        night = now.astimezone(NY).date()
        assert wait_until(lambda: waiting_on_a_lock(url) and nightly_runs(engine, night)), workers.output()
        (claimed,) = nightly_runs(engine, night)
        owner_pid = int(claimed.owner.rpartition(":")[2])
        killed, survivor = (first, second) if owner_pid == first.pid else (second, first)
        assert owner_pid == killed.pid, f"the run's owner {claimed.owner} is one of the workers"
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
    finally:
        blocker.rollback()
        blocker.close()
    try:
        assert allocations(engine) == before, "the killed solve wrote nothing"
        finished = wait_until(lambda: nightly_runs(engine, night)[0].status != RunStatus.RUNNING
                              and not night_jobs_left(url))
        assert finished, f"runs: {nightly_runs(engine, night)}\njobs: {queue(url)}\n{workers.output()}"
        assert survivor.poll() is None, workers.output()
    finally:
        workers.stop()
    (run,) = nightly_runs(engine, night)
    assert (run.id, run.status, run.attempts) == (claimed.id, RunStatus.SUCCEEDED, 2), run.error
    assert f"stopped with its worker {claimed.owner}" in run.error
    assert run.owner.endswith(f":{survivor.pid}"), "the surviving worker finished the night"
    assert allocations(engine) != before, "the night was written, once, by the survivor"
    assert queue(url) == [], "the retried job succeeded (and was removed)"
    engine.dispose()


def allocations(engine) -> list[tuple]:
    with Session(engine) as session:
        return sorted(session.exec(select(Allocation.appointment_id, Allocation.resource_kind, Allocation.resource_id,
                                          Allocation.starts_at, Allocation.live)).all())


def waiting_on_a_lock(url: str) -> bool:
    name = make_url(url).database
    with psycopg.connect(libpq_url(url)) as connection:
        return connection.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                  "AND wait_event_type = 'Lock'", (name,)).fetchone()[0] > 0


def test_queued_jobs_and_a_worker_survive_a_postgresql_restart(own_cluster, tmp_path):  # noqa: F811
    """Nights deferred before a real restart are solved after it; a worker running across a restart goes on.

    The worker is the plain `clinic worker` (clock and jobs in one process, as docker-compose runs it)."""
    url = make_url(own_cluster.url).set(database="clinic").render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(own_cluster.url), autocommit=True) as admin:
        admin.execute("CREATE DATABASE clinic")
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        session.add_all(Location(name=f"Site {n}", time_zone="UTC") for n in range(6))
        session.commit()
        location_ids = list(session.exec(select(Location.id)))
    engine.dispose()

    def defer_nights(locations: list[int]) -> None:
        with task_engine(url).open() as app:
            for location_id in locations:
                EngineClock(app).night(location_id, "UTC")

    defer_nights(location_ids[:3])
    own_cluster.restart(down_seconds=0)
    assert [status for _, _, status in queue(url)] == ["todo"] * 3, "the queue is still there"

    engine = make_engine(url)
    night = datetime.now(UTC).date()
    workers = Workers(url, tmp_path)
    try:
        worker = workers.start("all")
        assert wait_until(lambda: not night_jobs_left(url) and len(nightly_runs(engine, night)) == 3), \
            workers.output()
        own_cluster.restart(down_seconds=1)
        defer_nights(location_ids[3:])
        assert wait_until(lambda: not night_jobs_left(url) and len(nightly_runs(engine, night)) == 6), \
            workers.output()
        assert worker.poll() is None, workers.output()
    finally:
        workers.stop()
    assert {run.status for run in nightly_runs(engine, night)} == {RunStatus.SUCCEEDED}
    assert {run.owner for run in nightly_runs(engine, night)} == {nightly_runs(engine, night)[0].owner}, \
        "the one worker did every night, before and after the restart"
    assert [job for job in queue(url) if job[2] == "failed"] == []
    engine.dispose()


def test_serve_hands_its_periodic_jobs_to_the_engine_when_configured(postgres_databases):
    """`clinic serve` with engine_in_serve: each tick defers its job; one waits at a time, later ticks are refused."""
    url = postgres_databases()
    engine = make_engine(url)
    upgrade(engine)
    scheduler = start_background_jobs(engine, Settings(database_url=url, engine_in_serve=True, hold_sweep_seconds=1))
    try:
        assert wait_until(lambda: any(task == "sweep_expired_holds" for _, task, _ in queue(url)), 30)
        ticks = scheduler.get_job("sweep_expired_holds").next_run_time
        assert wait_until(lambda: scheduler.get_job("sweep_expired_holds").next_run_time > ticks + timedelta(
            seconds=2), 30), "the sweeper ticked twice more"
    finally:
        scheduler.shutdown(wait=True)
    assert [(task, status) for _, task, status in queue(url)] == [("sweep_expired_holds", "todo")]
    engine.dispose()


def test_a_job_worker_serves_the_counts_of_the_jobs_it_did(postgres_databases, tmp_path):
    """`clinic worker --metrics-port`: its jobs, counted and timed, read with Prometheus' own parser; the token
    is asked for when one is set."""
    url = postgres_databases()
    engine = make_engine(url)
    upgrade(engine)
    token, port = "worker-scrape-token-" + "w" * 16, free_port()
    workers = Workers(url, tmp_path, CLINIC_METRICS_TOKEN=token)
    scrape = f"http://127.0.0.1:{port}/metrics"

    def jobs_done() -> dict[tuple[str, str], float]:
        text = httpx.get(scrape, headers={"Authorization": f"Bearer {token}"}, timeout=5, trust_env=False).text
        return {(sample.labels["job"], sample.labels["outcome"]): sample.value
                for family in text_string_to_metric_families(text) if family.name == "clinic_jobs"
                for sample in family.samples if sample.name == "clinic_jobs_total"}

    try:
        worker = workers.start("jobs", "--metrics-port", str(port))
        assert wait_until(lambda: f":{port}/metrics" in worker.log.read_text(), 60), workers.output()
        assert jobs_done() == {}, "nothing done yet"
        with task_engine(url).open() as app:
            EngineClock(app).job("sweep_expired_holds")
        assert wait_until(lambda: jobs_done().get(("sweep_expired_holds", "ok")) == 1.0), workers.output()
        refused = httpx.get(scrape, timeout=5, trust_env=False)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=5, trust_env=False).status_code == 404
        timed = httpx.get(scrape, headers={"Authorization": f"Bearer {token}"}, timeout=5, trust_env=False).text
        assert 'clinic_job_duration_seconds_count{job="sweep_expired_holds"} 1.0' in timed
    finally:
        workers.stop()
    engine.dispose()
