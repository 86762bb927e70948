"""Faults, on real PostgreSQL: the database going away under a booking load, a worker killed mid-run.

The database "goes away" the way a restart looks to the service: every
connection is cut and new ones are refused for a while (``ALLOW_CONNECTIONS
false`` plus ``pg_terminate_backend``), then it comes back. The shared test
cluster itself is not restarted, so the rest of the suite is not disturbed.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from api.main import create_app
from api.security import issue_token
from data.accounts import upsert_user
from data.config import Settings
from data.db import make_engine
from data.enums import Role, RunStatus, RunTrigger
from data.migrate import upgrade
from data.tables import Allocation, Appointment, OptimizationRun, User
from scheduler import booking
from scheduler.optimization import recover_dead_runs, run_optimization
from tests.clinic_world import build_world, clinic
from tests.servers import clean_environment, clinic_script, free_port, launch
from tests.test_optimization import NIGHT, NIGHTLY_IN_A_PROCESS, SETTINGS, at

pytestmark = pytest.mark.postgres
PASSWORD = "fault tests password"


def admin_connection(url: str) -> psycopg.Connection:
    return psycopg.connect(make_url(url).set(drivername="postgresql", database="postgres")
                           .render_as_string(hide_password=False), autocommit=True)


def cut_off(url: str, allow: bool) -> None:
    """Refuse (or allow again) new connections to the database and, when refusing, cut the open ones."""
    name = make_url(url).database
    with admin_connection(url) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allow else "false"}')
        if not allow:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND pid <> pg_backend_pid()", (name,))


def world_in(url: str):
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as session:
        world = build_world(session)
        upsert_user(session=session, username="desk", password=PASSWORD, role=Role.FRONT_DESK)
        session.commit()
    return engine, world


def test_bookings_survive_the_database_going_away_and_the_service_recovers(postgres_databases, tmp_path):
    url = postgres_databases()
    engine, world = world_in(url)
    port = free_port()
    server = launch([clinic_script(), "serve", "--host", "127.0.0.1", "--port", str(port)], port=port,
                    cwd=tmp_path, log=tmp_path / "server.log",
                    env=clean_environment(CLINIC_DATABASE_URL=url, CLINIC_SECRET_KEY="faults-" + "k" * 40,
                                          CLINIC_BACKGROUND_JOBS="false"))
    try:
        token = httpx.post(f"{server.base_url}/api/v1/auth/token",
                           data={"username": "desk", "password": PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        tomorrow = (datetime.now(UTC) + timedelta(days=2)).date()
        found = httpx.get(f"{server.base_url}/api/v1/availability", headers=headers, params={
            "service_id": world.telehealth.id, "location_id": world.night_desk.id, "limit": 200,
            "start": f"{tomorrow}T00:00:00+00:00", "end": f"{tomorrow + timedelta(days=6)}T00:00:00+00:00"}).json()
        slots = [slot["start"] for slot in found["slots"]][:90]
        assert len(slots) >= 60, "enough distinct slots for the load"
        answers: list[tuple[float, int, int | None]] = []
        lock = threading.Lock()

        def book_all(mine: list[str]) -> None:
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=20) as client:
                for start in mine:
                    key = str(uuid.uuid4())
                    for _ in range(40):  # retried with the same key until answered, as a careful client would
                        try:
                            response = client.post("/api/v1/appointments", headers={"Idempotency-Key": key}, json={
                                "service_id": world.telehealth.id, "patient_id": world.patients[len(start) % 3].id,
                                "start": start, "clinician_id": world.owl.id})
                        except httpx.TransportError:
                            time.sleep(0.2)
                            continue
                        with lock:
                            answers.append((time.monotonic(), response.status_code,
                                            response.json().get("id") if response.status_code == 201 else None))
                        if response.status_code != 503:
                            break
                        time.sleep(0.2)

        workers = [threading.Thread(target=book_all, args=(slots[n::4],)) for n in range(4)]
        for worker in workers:
            worker.start()
        while len(answers) < 12:
            time.sleep(0.05)
        cut_off(url, allow=False)
        away = time.monotonic()
        time.sleep(2)
        cut_off(url, allow=True)
        back = time.monotonic()
        for worker in workers:
            worker.join(timeout=180)

        codes = [code for _, code, _ in answers]
        assert 500 not in codes and all(code in (201, 409, 503) for code in codes), sorted(set(codes))
        assert any(code == 503 for at_, code, _ in answers if away <= at_ <= back + 1), "the outage was seen as 503"
        assert any(code == 201 for at_, code, _ in answers if at_ > back), "the service recovered by itself"
        acknowledged = {ident for _, code, ident in answers if code == 201}
        with Session(engine) as session:
            stored = set(session.exec(select(Appointment.id).where(Appointment.status == "booked")))
        assert acknowledged <= stored, "every acknowledged booking is in the database"
        assert httpx.get(f"{server.base_url}/ready").status_code == 200
    finally:
        server.stop()
        engine.dispose()


def allocations(engine) -> list[tuple]:
    with Session(engine) as session:
        return sorted(session.exec(select(Allocation.appointment_id, Allocation.resource_kind, Allocation.resource_id,
                                          Allocation.starts_at, Allocation.live)).all())


def test_a_worker_killed_mid_run_leaves_the_schedule_and_its_night_is_retried(postgres_databases):
    """The run is stopped inside its write transaction (blocked on a row lock) and killed there with SIGKILL."""
    url = postgres_databases()
    engine, world = world_in(url)
    with Session(engine, expire_on_commit=False) as session:
        desk = upsert_user(session=session, username="desk2", password=PASSWORD, role=Role.FRONT_DESK)
        for index, start in enumerate([at(3, 9), at(3, 10), at(3, 11), at(3, 12, 30)]):
            booking.book(session, actor=desk, now=at(1, 1), settings=SETTINGS, choice=booking.SlotChoice(
                world.msus.id, world.patients[index % 3].id, start, clinician_id=world.max.id))
        session.commit()
    before = allocations(engine)

    blocker = psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    blocker.execute("SELECT id FROM allocation FOR UPDATE")  # the run's rewrite of any allocation waits here
    worker = subprocess.Popen([sys.executable, "-c", NIGHTLY_IN_A_PROCESS, url, str(world.midtown.id),
                               NIGHT.isoformat()], start_new_session=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        name = make_url(url).database
        deadline = time.monotonic() + 120
        with admin_connection(url) as admin:
            while time.monotonic() < deadline:
                waiting = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                        "AND wait_event_type = 'Lock'", (name,)).fetchone()[0]
                if waiting:
                    break
                assert worker.poll() is None, "the run ended before it wrote anything"
                time.sleep(0.1)
            assert waiting, "the run never reached its writes"
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        blocker.rollback()
        blocker.close()

    assert allocations(engine) == before, "the killed run changed nothing"
    with Session(engine) as session:
        (killed,) = session.exec(select(OptimizationRun)).all()
    assert killed.status == RunStatus.RUNNING and killed.finished_at is None

    (retried,) = recover_dead_runs(engine, now=NIGHT, settings=SETTINGS)
    assert (retried.id, retried.status, retried.attempts) == (killed.id, RunStatus.SUCCEEDED, 2), retried.error
    assert f"stopped with its worker {killed.owner}" in retried.error
    assert allocations(engine) != before, "the retried night did the work"
    assert recover_dead_runs(engine, now=NIGHT, settings=SETTINGS) == [], "a finished run is not taken over again"

    manual = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                              settings=SETTINGS)
    assert manual.status == RunStatus.SUCCEEDED, manual.error
    next_night = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.NIGHTLY,
                                  now=NIGHT + timedelta(days=1), settings=SETTINGS)
    assert next_night.status == RunStatus.SUCCEEDED
    engine.dispose()


def test_a_database_gone_when_the_request_s_session_closes_still_sends_the_whole_answer(tmp_path, monkeypatch,
                                                                                         caplog):
    """The session is closed after the answer has started (a PostgreSQL restart right after a booking's commit
    did this): the failing rollback is logged, the client gets its answer and the connection stays whole."""
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    engine, ids = clinic(url)
    app = create_app(Settings(database_url=url, secret_key="test-secret-key-of-at-least-32-characters",
                              background_jobs=False), engine)
    real_close = Session.close

    def close_on_a_dead_connection(session):
        real_close(session)
        raise OperationalError("ROLLBACK", {}, psycopg.OperationalError("terminating connection due to "
                                                                        "administrator command"))

    with Session(engine) as session:
        desk = session.get(User, ids["desk"])
        token = issue_token(user_id=desk.id, stamp=desk.security_stamp, key=app.state.token_key, minutes=5)
    with TestClient(app) as client:
        monkeypatch.setattr(Session, "close", close_on_a_dead_connection)
        answers = [client.get("/api/v1/locations", headers={"Authorization": f"Bearer {token}"}) for _ in range(2)]
        monkeypatch.undo()
    assert [answer.status_code for answer in answers] == [200, 200]
    assert all(len(answer.json()["items"]) == 2 for answer in answers)
    assert "closing a request's database session failed (OperationalError)" in caplog.text
