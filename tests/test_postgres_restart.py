"""A real PostgreSQL restart under a booking load: 503 while it is down, never 500, nothing acknowledged lost.

The test runs its own PostgreSQL server (``initdb`` into a temporary
directory, its own port and socket directory) and restarts it with
``pg_ctl restart -m fast``: the server process really stops, aborting every
open transaction and closing every connection, and a new one starts. The
shared test cluster is never touched. PostgreSQL refuses to run as root, so
as root the server binaries run as the ``postgres`` user.

Four desks book Dana's shockwave sessions, each desk its own hours, so every
booking can succeed; a desk retries a 503 with the same Idempotency-Key, as a
careful client would. Nothing asserts on timing: the deadlines only keep a
broken run from hanging. The figures in docs/hardening.md come from this test's
printed summary.
"""

import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text, update
from sqlmodel import select

from data.db import make_engine, session_scope
from data.enums import AppointmentStatus
from data.tables import Allocation, Appointment
from scheduler.booking import HOLD_EXPIRED
from tests.clinic_world import at
from tests.conftest import REQUIRE_POSTGRES
from tests.servers import Server, clean_environment, clinic_script, free_port, launch
from tests.test_races import Clinic, prepare_clinic, sign_in

pytestmark = pytest.mark.postgres

POSTGRES_BINARIES = sorted((p for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl") if p.parts[-3].isdigit()),
                           key=lambda p: int(p.parts[-3]))
DESKS = 4
BOOKED_BEFORE_RESTART = 20
BOOKED_AFTER_RESTART = 20
LOAD_DEADLINE_SECONDS = 45
SWEEP_DEADLINE_SECONDS = 20
REQUEST_TIMEOUT_SECONDS = 30
SECRET_KEY = "restart-test-secret-key-of-at-least-32-chars"


class OwnCluster:
    """A PostgreSQL server of this test's own: data directory, port and socket directory in ``directory``."""

    def __init__(self, binaries: Path, directory: Path):
        self.binaries, self.directory, self.port = binaries, directory, free_port()
        self.data, self.log = directory / "data", directory / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *arguments: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*as_postgres, str(self.binaries / program), *arguments], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, f"{program} {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}"

    def _pg_ctl(self, action: str, *options: str) -> None:
        self._run("pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", *options,
                  "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1")

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, user="postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        self._pg_ctl("start")

    def restart(self, down_seconds: float) -> None:
        """Stop the server (``fast``: open transactions are aborted, connections closed) and start a new one.

        With ``down_seconds`` the server stays stopped that long, so new connections are refused meanwhile.
        """
        if not down_seconds:
            self._pg_ctl("restart", "-m", "fast")
            return
        self._pg_ctl("stop", "-m", "fast")
        time.sleep(down_seconds)
        self._pg_ctl("start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "immediate")

    def server_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])


@pytest.fixture
def own_cluster() -> Iterator[OwnCluster]:
    if not POSTGRES_BINARIES:
        message = "the PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    # Not pytest's tmp_path: its parents are closed to the postgres user.
    cluster = OwnCluster(POSTGRES_BINARIES[-1].parent, Path(tempfile.mkdtemp(prefix="clinic-pg-")))
    try:
        cluster.create()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(cluster.directory, ignore_errors=True)


@dataclass(frozen=True)
class Answer:
    sent: float
    answered: float
    status: int | None  # None: no HTTP answer at all (the service itself failed)
    appointment_id: int | None = None
    retry_after: str | None = None
    failure: str | None = None  # what the client saw when there was no answer


def bookable_hours() -> list[datetime]:
    """Dana's shockwave sessions an hour apart (30 min, 5 min buffer, 20 min cleaning) in March and April 2027."""
    days = [(day, month) for month, last in ((3, 31), (4, 30)) for day in range(1, last + 1)]
    return [at(day, hour, month=month) for day, month in days for hour in (8, 9, 10, 11, 13, 14, 15)]


class BookingLoad:
    """Desks booking their own hours until stopped; every answer is kept with when it was asked and given."""

    def __init__(self, server: Server, headers: dict[str, str], clinic: Clinic):
        self.server, self.headers, self.clinic = server, headers, clinic
        self.answers: list[Answer] = []
        self.booked: dict[str, int] = {}  # start -> the appointment id acknowledged for it
        self.final: dict[str, int | None] = {}  # start -> the last status answered for it
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        hours = bookable_hours()
        self.desks = [threading.Thread(target=self._desk, args=(patient_id, hours[n::DESKS]))
                      for n, patient_id in enumerate(clinic.patient_ids[:DESKS])]

    def start(self) -> None:
        for desk in self.desks:
            desk.start()

    def stop(self) -> None:
        self.stopping.set()
        for desk in self.desks:
            desk.join(timeout=LOAD_DEADLINE_SECONDS)

    def acknowledged_since(self, moment: float) -> int:
        with self._lock:
            return sum(1 for answer in self.answers if answer.status == 201 and answer.sent >= moment)

    def _desk(self, patient_id: int, hours: list[datetime]) -> None:
        with httpx.Client(base_url=self.server.base_url, headers=self.headers,
                          timeout=REQUEST_TIMEOUT_SECONDS) as client:
            for start in hours:
                if self.stopping.is_set():
                    return
                self._book(client, patient_id, start.isoformat())

    def _book(self, client: httpx.Client, patient_id: int, start: str) -> None:
        """Book one hour, retrying a 503 (or a lost answer) with the same key until the service decides."""
        key = str(uuid.uuid4())
        deadline = time.monotonic() + LOAD_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                response = client.post("/api/v1/appointments", headers={"Idempotency-Key": key}, json={
                    "service_id": self.clinic.service_id, "patient_id": patient_id, "start": start,
                    "clinician_id": self.clinic.dana_id})
            except httpx.TransportError as exc:
                answer = Answer(sent, time.monotonic(), None, failure=f"{type(exc).__name__}: {exc}")
            else:
                answer = Answer(sent, time.monotonic(), response.status_code,
                                response.json()["id"] if response.status_code == 201 else None,
                                response.headers.get("Retry-After"))
            with self._lock:
                self.answers.append(answer)
                self.final[start] = answer.status
                if answer.status == 201:
                    self.booked[start] = answer.appointment_id
            if answer.status not in (503, None):
                return
            time.sleep(0.2)


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def expire_a_hold_and_wait_for_the_sweeper(server: Server, headers: dict[str, str], clinic: Clinic) -> bool:
    """Place a hold, make it overdue in the database, and wait for the in-process sweeper to cancel it."""
    hold = httpx.post(f"{server.base_url}/api/v1/holds", headers=headers, timeout=REQUEST_TIMEOUT_SECONDS, json={
        "service_id": clinic.service_id, "patient_id": clinic.patient_ids[0], "start": at(3, 9, month=5).isoformat(),
        "clinician_id": clinic.dana_id})
    assert hold.status_code == 201, hold.text
    hold_id = hold.json()["id"]
    engine = make_engine(clinic.url)
    try:
        with session_scope(engine) as session:
            overdue = text("now() - interval '1 minute'")
            session.exec(update(Appointment).where(Appointment.id == hold_id).values(hold_expires_at=overdue))
            session.exec(update(Allocation).where(Allocation.appointment_id == hold_id)
                         .values(hold_expires_at=overdue))

        def swept() -> bool:
            with session_scope(engine) as session:
                return session.get(Appointment, hold_id).cancel_reason == HOLD_EXPIRED

        return wait_until(swept, SWEEP_DEADLINE_SECONDS)
    finally:
        engine.dispose()


def stored_bookings(url: str) -> dict[datetime, int]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return {appointment.starts_at: appointment.id for appointment in
                    session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.BOOKED))}
    finally:
        engine.dispose()


def check_the_answers(load: BookingLoad, *, restart_issued: float, restarted: float, down_seconds: float,
                      log: str) -> None:
    """Never a 500 nor a dropped connection; 503s say when to retry; bookings succeed again; all get booked."""
    statuses = [answer.status for answer in load.answers]
    unanswered = [f"{a.failure} after {a.answered - a.sent:.1f} s, sent {a.sent - restart_issued:+.1f} s from the restart"
                  for a in load.answers if a.status is None]
    assert not unanswered, f"the service itself stopped answering: {unanswered}\n{log}"
    assert not [s for s in statuses if s >= 500 and s != 503], f"server errors {sorted(set(statuses))}:\n{log}"
    assert all(answer.retry_after for answer in load.answers if answer.status == 503), "every 503 says when to retry"
    assert any(answer.sent < restart_issued for answer in load.answers) and \
        any(answer.answered > restarted for answer in load.answers), "the load ran across the restart"
    if down_seconds:
        assert 503 in statuses, "requests while the database was down were answered 503"
    assert load.acknowledged_since(restarted) > 0, f"no booking succeeded after the restart:\n{log}"
    assert set(load.final.values()) == {201}, f"every hour asked for was booked in the end: {load.final}"


@pytest.mark.parametrize("down_seconds", [0, 3], ids=["pg_ctl-restart", "down-3s"])
def test_bookings_survive_a_real_postgresql_restart(own_cluster, tmp_path, down_seconds):
    """``pg_ctl restart``, and a stop with the server down for seconds before it starts again."""
    clinic = prepare_clinic(own_cluster.url, DESKS)
    port = free_port()
    server = launch([clinic_script(), "serve", "--port", str(port), "--no-migrate"], port=port, cwd=tmp_path,
                    log=tmp_path / "server.log",
                    env=clean_environment(DATABASE_URL=clinic.url, CLINIC_SECRET_KEY=SECRET_KEY,
                                          CLINIC_HOLD_SWEEP_SECONDS="1"))
    load = None
    try:
        headers = sign_in(server)
        load = BookingLoad(server, headers, clinic)
        began = time.monotonic()
        load.start()
        assert wait_until(lambda: load.acknowledged_since(began) >= BOOKED_BEFORE_RESTART, LOAD_DEADLINE_SECONDS), \
            f"the load never got going: {load.answers[-5:]}\n{server.output()[-3000:]}"
        old_server_pid = own_cluster.server_pid()
        restart_issued = time.monotonic()
        own_cluster.restart(down_seconds)
        restarted = time.monotonic()
        assert own_cluster.server_pid() != old_server_pid, "a new PostgreSQL server process runs"
        wait_until(lambda: load.acknowledged_since(restarted) >= BOOKED_AFTER_RESTART, LOAD_DEADLINE_SECONDS)
        load.stop()
        assert not any(desk.is_alive() for desk in load.desks), "every desk finished its last booking"

        log = server.output()[-6000:]
        check_the_answers(load, restart_issued=restart_issued, restarted=restarted, down_seconds=down_seconds, log=log)
        assert stored_bookings(clinic.url) == {datetime.fromisoformat(start): ident
                                               for start, ident in load.booked.items()}, \
            "exactly the acknowledged bookings are stored, each once"
        assert httpx.get(f"{server.base_url}/ready", timeout=REQUEST_TIMEOUT_SECONDS).status_code == 200
        assert expire_a_hold_and_wait_for_the_sweeper(server, headers, clinic), \
            f"the hold sweeper no longer runs after the restart:\n{log}"

        statuses = [answer.status for answer in load.answers]
        recovered = min(a.answered for a in load.answers if a.status == 201 and a.answered > restarted)
        print(f"\nrestart summary ({down_seconds} s down): {len(load.booked)} bookings acknowledged, "
              f"{statuses.count(503)} answers 503, {statuses.count(500)} answers 500; the restart took "
              f"{restarted - restart_issued:.2f} s; first booking acknowledged after it "
              f"{recovered - restart_issued:.2f} s after the restart began")
    finally:
        if load is not None:
            load.stop()
        server.stop()
