"""Races against real server processes: the database, not luck, forbids double-booking.

Many threads ask at the same instant for the same slot of the same clinician
(and so the same shockwave unit), each for a different patient so that only
the shared resources decide. Exactly one wins; every loser gets a 409 naming
a resource, never a 5xx. Afterwards the database itself is audited: one live
appointment at that start, and no two live allocations of one resource that
overlap. On PostgreSQL the same race also runs through two server processes
sharing one database, where only the exclusion constraint can stop a second
writer; on SQLite one process serializes its write transactions.

A burst of retries carrying the same Idempotency-Key books once and answers
every retry with the same appointment.

The appointments lie in March 2027 so they are in the future for the real
clock of the server processes. Nothing asserts on timing; the timeouts below
only keep a broken run from hanging.
"""

import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import httpx
import pytest
from sqlmodel import select

from data.accounts import upsert_user
from data.db import make_engine, session_scope
from data.enums import AppointmentStatus, Role
from data.migrate import upgrade
from data.tables import Allocation, Appointment, IdempotencyRecord, Patient
from tests.clinic_world import at, build_world
from tests.servers import Server, clean_environment, clinic_script, free_port, launch

SECRET_KEY = "race-test-secret-key-shared-by-every-server-process"
DESK_PASSWORD = "race desk password"
THREADS = 50
IDEMPOTENT_RETRIES = 20
START = at(1, 9)  # Monday 1 March 2027, 09:00 New York
REQUEST_TIMEOUT_SECONDS = 60
BARRIER_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Clinic:
    url: str
    service_id: int
    dana_id: int
    patient_ids: list[int]
    resource_names: tuple[str, ...]


def prepare_clinic(url: str, patients: int) -> Clinic:
    """Migrate a fresh database, build the known world, add ``patients`` patients and the desk user."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            world = build_world(session)
            extra = [Patient(given_name=f"Racer{n}", family_name="Race", birth_date=date(1990, 1, 1))
                     for n in range(patients)]
            session.add_all(extra)
            upsert_user(session=session, username="desk", password=DESK_PASSWORD, role=Role.FRONT_DESK)
            session.flush()
            names = (world.dana.name, world.shockwave.name, *(u.name for u in world.ultrasounds),
                     *(r.name for r in world.rooms))
            return Clinic(url, world.eswt.id, world.dana.id, [p.id for p in extra], names)
    finally:
        engine.dispose()


@pytest.fixture
def start_server(tmp_path) -> Iterator[Callable[..., Server]]:
    """Start `clinic serve --no-migrate` on ``url`` (``settings``: more environment); all are stopped afterwards."""
    servers: list[Server] = []

    def start(url: str, **settings: str) -> Server:
        port = free_port()
        server = launch(
            [clinic_script(), "serve", "--port", str(port), "--no-migrate"],
            port=port, cwd=tmp_path,
            env=clean_environment(DATABASE_URL=url, CLINIC_SECRET_KEY=SECRET_KEY, **settings),
            log=tmp_path / f"server-{len(servers)}.log",
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def sign_in(server: Server) -> dict[str, str]:
    response = httpx.post(f"{server.base_url}/api/v1/auth/token",
                          data={"username": "desk", "password": DESK_PASSWORD}, timeout=REQUEST_TIMEOUT_SECONDS)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass(frozen=True)
class Answer:
    status: int
    body: object
    headers: httpx.Headers


def fire_together(requests: list[httpx.Request]) -> list[Answer]:
    """Send every request from its own thread, all released at once by a barrier."""
    barrier = threading.Barrier(len(requests), timeout=BARRIER_TIMEOUT_SECONDS)

    def send(request: httpx.Request) -> Answer:
        with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
            barrier.wait()
            response = client.send(request)
        try:
            payload = response.json()
        except ValueError:
            payload = response.text
        return Answer(response.status_code, payload, response.headers)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


def booking_body(clinic: Clinic, patient_id: int) -> dict:
    return {"service_id": clinic.service_id, "patient_id": patient_id, "start": START.isoformat(),
            "clinician_id": clinic.dana_id}


def race_for_one_slot(clinic: Clinic, servers: list[Server], desks: int = THREADS) -> None:
    """``desks`` desks, alternating between ``servers``, book Dana at START for different patients."""
    headers = [sign_in(server) for server in servers]
    requests = [
        httpx.Request("POST", f"{servers[n % len(servers)].base_url}/api/v1/appointments",
                      json=booking_body(clinic, patient_id), headers=headers[n % len(servers)])
        for n, patient_id in enumerate(clinic.patient_ids[:desks])
    ]
    answers = fire_together(requests)

    counts = Counter(answer.status for answer in answers)
    server_logs = "\n".join(server.output()[-4000:] for server in servers)
    assert not [a for a in answers if a.status >= 500], f"server errors {counts}:\n{server_logs}"
    assert counts == {201: 1, 409: desks - 1}, f"{counts}: {[a.body for a in answers if a.status != 201][:5]}"
    for answer in answers:
        if answer.status == 409:
            detail = answer.body["detail"]
            assert isinstance(detail, str)
            assert any(name in detail for name in clinic.resource_names), f"409 names no resource: {detail!r}"
    winner = next(answer.body for answer in answers if answer.status == 201)
    assert winner["status"] == "booked"
    assert winner["clinician_id"] == clinic.dana_id

    audit_database(clinic.url, expected_appointments=1)
    engine = make_engine(clinic.url)
    try:
        with session_scope(engine) as session:
            booked = session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.BOOKED)).all()
            assert [a.id for a in booked] == [winner["id"]]
            assert booked[0].starts_at == START
    finally:
        engine.dispose()


def audit_database(url: str, *, expected_appointments: int) -> None:
    """Exactly this many appointments exist, all live; no resource has two overlapping live allocations."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            appointments = session.exec(select(Appointment)).all()
            assert len(appointments) == expected_appointments, [(a.id, a.patient_id) for a in appointments]
            live_at_start = [a for a in appointments if a.status == AppointmentStatus.BOOKED and a.starts_at == START]
            assert len(live_at_start) == expected_appointments
            spans: dict[tuple, list[tuple]] = defaultdict(list)
            for allocation in session.exec(select(Allocation).where(Allocation.live)):
                spans[(allocation.resource_kind, allocation.resource_id)].append(
                    (allocation.starts_at, allocation.ends_at, allocation.appointment_id))
            assert spans, "the winner holds no allocations"
            for resource, held in spans.items():
                held.sort()
                for (_, first_end, first), (second_start, _, second) in zip(held, held[1:]):
                    assert second_start >= first_end, f"{resource} double-booked by appointments {first}, {second}"
    finally:
        engine.dispose()




def test_fifty_desks_race_for_one_slot_on_sqlite(start_server, tmp_path):
    """One server process on SQLite: write transactions are serialized, so one booking wins."""
    clinic = prepare_clinic(f"sqlite:///{tmp_path / 'race.db'}", THREADS)
    race_for_one_slot(clinic, [start_server(clinic.url)])


@pytest.mark.postgres
def test_fifty_desks_race_for_one_slot_on_postgres(start_server, postgres_databases):
    """One server process on PostgreSQL: concurrent transactions, the exclusion constraint decides."""
    clinic = prepare_clinic(postgres_databases(), THREADS)
    race_for_one_slot(clinic, [start_server(clinic.url)])


@pytest.mark.postgres
def test_two_server_processes_race_for_one_slot_on_one_postgres(start_server, postgres_databases):
    """Two independent processes on one database: nothing in memory is shared, only the database decides."""
    clinic = prepare_clinic(postgres_databases(), THREADS)
    race_for_one_slot(clinic, [start_server(clinic.url), start_server(clinic.url)])


@pytest.mark.postgres
def test_a_search_one_server_keeps_in_memory_follows_what_another_server_books_and_cancels(start_server,
                                                                                           postgres_databases):
    """Server A answers Dana's 09:00 search from memory; server B books that slot and then cancels it. A learns each
    change by PostgreSQL notification: its next answers stop offering the slot, then offer it again."""
    clinic = prepare_clinic(postgres_databases(), 1)
    searcher, booker = (start_server(clinic.url, CLINIC_METRICS="true") for _ in range(2))
    search_headers, book_headers = sign_in(searcher), sign_in(booker)
    params = {"service_id": clinic.service_id, "clinician_id": clinic.dana_id, "start": START.isoformat(),
              "end": (START + timedelta(hours=2)).isoformat()}

    def offered() -> bool:
        answer = httpx.get(f"{searcher.base_url}/api/v1/availability", params=params, headers=search_headers,
                           timeout=REQUEST_TIMEOUT_SECONDS)
        assert answer.status_code == 200, answer.text
        return any(datetime.fromisoformat(slot["start"]) == START for slot in answer.json()["slots"])

    def eventually(expected: bool) -> None:
        deadline = time.monotonic() + REQUEST_TIMEOUT_SECONDS
        while offered() is not expected:
            assert time.monotonic() < deadline, f"server A still says offered={not expected}"
            time.sleep(0.05)

    assert offered() and offered()
    metrics = httpx.get(f"{searcher.base_url}/metrics", timeout=REQUEST_TIMEOUT_SECONDS).text
    assert re.search(r'^clinic_availability_answers_total\{source="memory"\} [1-9]', metrics, re.MULTILINE), metrics
    booked = httpx.post(f"{booker.base_url}/api/v1/appointments", json=booking_body(clinic, clinic.patient_ids[0]),
                        headers=book_headers, timeout=REQUEST_TIMEOUT_SECONDS)
    assert booked.status_code == 201, booked.text
    eventually(False)
    cancelled = httpx.post(f"{booker.base_url}/api/v1/appointments/{booked.json()['id']}/cancel",
                           json={"reason": "patient called"}, headers=book_headers, timeout=REQUEST_TIMEOUT_SECONDS)
    assert cancelled.status_code == 200, cancelled.text
    eventually(True)


@pytest.mark.postgres
def test_more_desks_than_server_threads_race_for_one_slot_on_postgres(start_server, postgres_databases):
    """A burst larger than the server's worker threads plus its connection pool still gets 409s, not 5xx."""
    desks = 80
    clinic = prepare_clinic(postgres_databases(), desks)
    race_for_one_slot(clinic, [start_server(clinic.url)], desks)


def idempotent_burst(clinic: Clinic, servers: list[Server]) -> None:
    """IDEMPOTENT_RETRIES copies of one request with one Idempotency-Key: one booking, one answer."""
    # One token for every server: they share the signing key, and the key is scoped to the user.
    headers = {**sign_in(servers[0]), "Idempotency-Key": f"race-{uuid.uuid4()}"}
    body = booking_body(clinic, clinic.patient_ids[0])
    requests = [httpx.Request("POST", f"{servers[n % len(servers)].base_url}/api/v1/appointments", json=body,
                              headers=headers)
                for n in range(IDEMPOTENT_RETRIES)]
    answers = fire_together(requests)

    counts = Counter(answer.status for answer in answers)
    server_logs = "\n".join(server.output()[-4000:] for server in servers)
    assert counts == {201: IDEMPOTENT_RETRIES}, f"{counts}: {[a.body for a in answers if a.status != 201][:5]}\n" \
                                               f"{server_logs}"
    ids = {answer.body["id"] for answer in answers}
    assert len(ids) == 1, ids
    assert len({str(answer.body) for answer in answers}) == 1, "replays must repeat the first answer exactly"
    replayed = [answer for answer in answers if answer.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == IDEMPOTENT_RETRIES - 1

    audit_database(clinic.url, expected_appointments=1)
    engine = make_engine(clinic.url)
    try:
        with session_scope(engine) as session:
            (appointment,) = session.exec(select(Appointment)).all()
            assert appointment.id in ids
            assert appointment.patient_id == clinic.patient_ids[0]
            assert len(session.exec(select(IdempotencyRecord)).all()) == 1
    finally:
        engine.dispose()


def test_same_idempotency_key_books_once_on_sqlite(start_server, tmp_path):
    clinic = prepare_clinic(f"sqlite:///{tmp_path / 'idempotent.db'}", 1)
    idempotent_burst(clinic, [start_server(clinic.url)])


@pytest.mark.postgres
def test_same_idempotency_key_books_once_on_postgres(start_server, postgres_databases):
    clinic = prepare_clinic(postgres_databases(), 1)
    idempotent_burst(clinic, [start_server(clinic.url)])


@pytest.mark.postgres
def test_same_idempotency_key_through_two_server_processes_books_once(start_server, postgres_databases):
    """The retries land on either of two processes sharing one database; still one booking."""
    clinic = prepare_clinic(postgres_databases(), 1)
    idempotent_burst(clinic, [start_server(clinic.url), start_server(clinic.url)])


@pytest.mark.postgres
def test_two_desks_change_different_details_of_one_patient_at_once(start_server, postgres_databases):
    """One desk corrects a patient's phone while another adds the e-mail, at the same instant, through two
    processes: the second change waits for the first (the record is locked for the change) and both are kept;
    neither is refused as stale nor written back over the other."""
    rounds = 8
    clinic = prepare_clinic(postgres_databases(), rounds)
    servers = [start_server(clinic.url), start_server(clinic.url)]
    desks = [sign_in(server) for server in servers]
    for number, patient_id in enumerate(clinic.patient_ids):
        path = f"/api/v1/patients/{patient_id}"
        phone, email = f"+1 212 555 01{number:02d}", f"racer{number}@example.org"
        answers = fire_together([
            httpx.Request("PATCH", f"{servers[0].base_url}{path}", json={"phone": phone}, headers=desks[0]),
            httpx.Request("PATCH", f"{servers[1].base_url}{path}", json={"email": email}, headers=desks[1])])
        assert [answer.status for answer in answers] == [200, 200], [answer.body for answer in answers]
        stored = httpx.get(f"{servers[number % 2].base_url}{path}", headers=desks[number % 2]).json()
        assert (stored["phone"], stored["email"]) == (phone, email), f"round {number}: {stored}"


@pytest.mark.postgres
def test_a_desk_deletes_a_patient_while_another_corrects_it_and_one_order_explains_the_answers(start_server,
                                                                                              postgres_databases):
    """A deletion and a correction of one patient at the same instant, through two processes: whichever takes the
    record's lock first, the other sees what it left. Either the correction lands and the deletion follows (200,
    204), or the deletion comes first and the correction finds no patient (404, 204); never a 409 for a change
    nobody made, a 5xx, or a patient deleted and written back."""
    rounds = 6
    clinic = prepare_clinic(postgres_databases(), rounds)
    servers = [start_server(clinic.url), start_server(clinic.url)]
    desks = [sign_in(server) for server in servers]
    seen = Counter()
    for number, patient_id in enumerate(clinic.patient_ids):
        path = f"/api/v1/patients/{patient_id}"
        first, second = (0, 1) if number % 2 else (1, 0)
        answers = fire_together([
            httpx.Request("PATCH", f"{servers[first].base_url}{path}", json={"phone": f"+1 212 555 02{number:02d}"},
                          headers=desks[first]),
            httpx.Request("DELETE", f"{servers[second].base_url}{path}", headers=desks[second])])
        statuses = (answers[0].status, answers[1].status)
        assert statuses in {(200, 204), (404, 204)}, f"round {number}: {[answer.body for answer in answers]}"
        seen[statuses] += 1
        assert httpx.get(f"{servers[number % 2].base_url}{path}", headers=desks[number % 2]).status_code == 404
    assert sum(seen.values()) == rounds, seen



@pytest.mark.postgres
def test_an_administrator_s_time_off_and_the_desk_booking_a_hold_at_that_time_take_turns(start_server,
                                                                                         postgres_databases):
    """Dana's time off over a held session, given on one process while the desk books the hold on another. A booking
    share-locks the catalog's token and then reads clinicians, rooms and units; an edit locked its row first and the
    token at the flush, so the two deadlocked and PostgreSQL aborted one of them: the administrator was answered
    "another change to the same records was made at the same moment" in 3 of 3 rounds (found by a probe,
    2026-12-01). The edit now takes the token first. Either the booking commits first (201, the edit then 200: the
    session stays booked, as any session booked before an edit), or the edit does and the booking is refused
    saying Dana is no longer free then; never a generic 409 or a 5xx."""
    rounds = 8
    clinic = prepare_clinic(postgres_databases(), rounds)
    engine = make_engine(clinic.url)
    with session_scope(engine) as session:
        upsert_user(session=session, username="boss", password=DESK_PASSWORD, role=Role.ADMIN)
    engine.dispose()
    servers = [start_server(clinic.url), start_server(clinic.url)]
    desk = sign_in(servers[1])
    admin = httpx.post(f"{servers[0].base_url}/api/v1/auth/token", data={"username": "boss", "password": DESK_PASSWORD},
                       timeout=REQUEST_TIMEOUT_SECONDS).json()
    admin = {"Authorization": f"Bearer {admin['access_token']}"}
    seen = Counter()
    for number, patient_id in enumerate(clinic.patient_ids):
        start = at(1 + number % 5 + 7 * (number // 5), 10)
        hold = httpx.post(f"{servers[1].base_url}/api/v1/holds", headers=desk, timeout=REQUEST_TIMEOUT_SECONDS, json={
            "service_id": clinic.service_id, "patient_id": patient_id, "start": start.isoformat(),
            "clinician_id": clinic.dana_id, "minutes": 30})
        assert hold.status_code == 201, hold.text
        time_off = [{"kind": "time_off", "starts_at": (start - timedelta(hours=1)).isoformat(),
                     "ends_at": (start + timedelta(hours=2)).isoformat()}]
        edit, booked = fire_together([
            httpx.Request("PATCH", f"{servers[0].base_url}/api/v1/clinicians/{clinic.dana_id}", headers=admin,
                          json={"exceptions": time_off}),
            httpx.Request("POST", f"{servers[1].base_url}/api/v1/appointments", headers=desk,
                          json={"hold_id": hold.json()["id"]})])
        assert edit.status == 200, f"round {number}: the edit was answered {edit.status} {edit.body}"
        if booked.status == 409:
            assert "Dana" in booked.body["detail"] and "no longer free" in booked.body["detail"], booked.body
        else:
            assert booked.status == 201, f"round {number}: {booked.status} {booked.body}"
        seen[booked.status] += 1
    assert sum(seen.values()) == rounds, seen
