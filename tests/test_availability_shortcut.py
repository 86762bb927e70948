"""Availability answered from memory over HTTP is the route's answer, until anything it depends on changes (issue 18).

``api.availability_shortcut`` keeps each answer and each accepted token while the change counts heard through
PostgreSQL's notifications (``data.change_feed``) stand. These tests run the real app on a real database with its
own sessions (no shared test session) and show: a repeated search is answered from memory with the same bytes; a
booking in this process, a booking committed by another process, a catalog change and a disabled account all
reach the next answers; a hold lapsing by the clock does too, within the same minute; a patient's search and a
client asking ``no-cache`` always get a fresh search; and after the listening connection is lost nothing kept
before the gap is served. Nothing asserts on timing: what crosses processes is polled up to a generous bound.
"""

import subprocess
import sys
import time
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from api.deps import get_now
from api.main import create_app
from api.security import issue_token
from data.config import Settings
from data.db import session_scope
from data.enums import Role
from data.tables import Allocation, Appointment, Clinician, User
from scheduler.metrics import AVAILABILITY_ANSWERS
from tests.clinic_world import NOW, at
from tests.clinic_world import clinic as clinic_database

SECRET = "test-secret-key-of-at-least-32-characters"
EVENTUALLY_SECONDS = 20  # a bound for a notification to arrive, so a broken feed fails instead of hanging


@pytest.fixture(scope="module")
def clinic(postgres_databases):
    url = postgres_databases(migrated=True)
    engine, ids = clinic_database(url)
    with session_scope(engine) as session:
        other = User(username="shortcut_other", role=Role.FRONT_DESK, password_hash="x")
        session.add(other)
        session.flush()
        ids |= {"other": other.id, "dana": ids["clinicians"][0]}
    yield url, engine, ids
    engine.dispose()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def served(clinic):
    """The app on its own sessions, its clock standing where the test puts it; the schedule emptied first."""
    url, engine, ids = clinic
    with session_scope(engine) as session:
        for appointment in session.exec(select(Appointment)):
            session.delete(appointment)
        session.exec(update(User).values(is_active=True))
    app = create_app(Settings(database_url=url, secret_key=SECRET, background_jobs=False), engine)
    clock = Clock(NOW)
    app.dependency_overrides[get_now] = clock
    with TestClient(app) as client:
        _eventually(lambda: app.state.change_feed.live)
        yield app, client, clock, ids


def _token(app, engine, user_id: int) -> dict[str, str]:
    with Session(engine) as session:
        user = session.get(User, user_id)
        return {"Authorization": "Bearer " + issue_token(user_id=user.id, stamp=user.security_stamp,
                                                         key=app.state.token_key, minutes=30)}


def _eventually(condition, seconds: float = EVENTUALLY_SECONDS):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the bound"
        time.sleep(0.02)


def another_connection(url: str) -> psycopg.Connection:
    """A plain connection of its own, past this process's sessions: only a notification tells the app of its writes."""
    return psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True)


def _answers(source: str) -> float:
    return AVAILABILITY_ANSWERS.labels(source=source)._value.get()


def search(client, headers, ids, *, service="eswt", **extra):
    """One search of Monday-Tuesday at Midtown: (status, body, where the answer came from)."""
    memory = _answers("memory")
    params = {"service_id": ids[service], "start": at(1, 0).isoformat(), "end": at(3, 0).isoformat(),
              "location_id": ids["midtown"], "limit": 200, **extra}
    answer = client.get("/api/v1/availability", params=params, headers=headers)
    source = "memory" if _answers("memory") > memory else "route"
    return answer.status_code, answer.json(), source


def offered(body) -> set[tuple[str, int]]:
    return {(slot["start"], slot["clinician"]["id"]) for slot in body["slots"]}


@pytest.mark.postgres
def test_a_repeated_search_is_answered_from_memory_with_the_routes_bytes(served, clinic):
    app, client, _, ids = served
    desk = _token(app, clinic[1], ids["desk"])
    first = search(client, desk, ids)
    again = search(client, desk, ids)
    revalidated = search(client, {**desk, "Cache-Control": "no-cache"}, ids)
    assert first[0] == 200 and first[1]["slots"]
    assert (first[2], again[2], revalidated[2]) == ("route", "memory", "route")
    assert first[1] == again[1] == revalidated[1]


@pytest.mark.postgres
def test_a_patients_search_and_a_signed_out_one_never_come_from_memory(served, clinic):
    app, client, _, ids = served
    desk = _token(app, clinic[1], ids["desk"])
    patient = ids["patients"][0]
    assert [search(client, desk, ids, patient_id=patient)[2] for _ in range(2)] == ["route", "route"]
    search(client, desk, ids)
    status, body, source = search(client, {}, ids)
    assert (status, source) == (401, "route")
    status, _, source = search(client, {"Authorization": "Bearer not-a-token"}, ids)
    assert (status, source) == (401, "route")


@pytest.mark.postgres
def test_a_booking_in_this_process_is_never_offered_again(served, clinic, monkeypatch):
    """Seen at once, without waiting for the notification to come back: this one is never heard."""
    app, client, _, ids = served
    desk = _token(app, clinic[1], ids["desk"])
    _, body, _ = search(client, desk, ids)
    assert search(client, desk, ids)[2] == "memory"
    monkeypatch.setattr(app.state.change_feed, "_heard", lambda payload: None)
    slot = body["slots"][0]
    booked = client.post("/api/v1/appointments", headers=desk, json={
        "service_id": ids["eswt"], "patient_id": ids["patients"][0], "start": slot["start"],
        "clinician_id": slot["clinician"]["id"], "room_id": slot["room"]["id"],
        "device_ids": [unit["id"] for unit in slot["devices"]]})
    assert booked.status_code == 201, booked.text
    _, after, source = search(client, desk, ids)
    assert source == "route"
    assert (slot["start"], slot["clinician"]["id"]) not in offered(after)


BOOK_ELSEWHERE = """
import sys
from datetime import datetime
from sqlmodel import Session
from data.config import Settings
from data.db import make_engine
from data.tables import User
from scheduler.booking import SlotChoice, book
url, now, desk, service, patient, start, clinician, room, *units = sys.argv[1:]
with Session(make_engine(url)) as session:
    book(session, actor=session.get(User, int(desk)), now=datetime.fromisoformat(now),
         settings=Settings(database_url=url, secret_key="test-secret-key-of-at-least-32-characters"),
         choice=SlotChoice(int(service), int(patient), datetime.fromisoformat(start), int(clinician), int(room),
                           tuple(int(unit) for unit in units)))
    session.commit()
"""


@pytest.mark.postgres
def test_a_booking_committed_by_another_process_reaches_the_kept_answer(served, clinic):
    app, client, clock, ids = served
    url, engine, _ = clinic
    desk = _token(app, engine, ids["desk"])
    _, body, _ = search(client, desk, ids)
    assert search(client, desk, ids)[2] == "memory"
    slot = body["slots"][-1]
    subprocess.run([sys.executable, "-c", BOOK_ELSEWHERE, url, clock.now.isoformat(), str(ids["desk"]),
                    str(ids["eswt"]), str(ids["patients"][1]), slot["start"], str(slot["clinician"]["id"]),
                    str(slot["room"]["id"]), *(str(unit["id"]) for unit in slot["devices"])], check=True)
    taken = (slot["start"], slot["clinician"]["id"])
    _eventually(lambda: taken not in offered(search(client, desk, ids)[1]))
    assert search(client, desk, ids)[2] == "memory"  # kept again, with the booking


@pytest.mark.postgres
def test_a_catalog_change_by_another_connection_reaches_the_kept_answer(served, clinic):
    """Dana's ESWT certification is taken away by plain SQL on another connection (this process's sessions never
    see it): only the notification can tell the kept answer."""
    app, client, _, ids = served
    url, engine, _ = clinic
    desk = _token(app, engine, ids["desk"])
    assert ids["dana"] in {slot["clinician"]["id"] for slot in search(client, desk, ids)[1]["slots"]}
    with another_connection(url) as connection:
        connection.execute("UPDATE clinician SET archived_at = now() WHERE id = %s", (ids["dana"],))
        connection.execute("UPDATE catalog_version SET token = 'changed-elsewhere' WHERE id = 1")
    try:
        _eventually(lambda: ids["dana"] not in {s["clinician"]["id"] for s in search(client, desk, ids)[1]["slots"]})
    finally:
        with session_scope(engine) as session:
            session.get(Clinician, ids["dana"]).archived_at = None


@pytest.mark.postgres
def test_a_disabled_account_is_refused_even_with_its_search_kept(served, clinic):
    app, client, _, ids = served
    url, engine, _ = clinic
    other = _token(app, engine, ids["other"])
    search(client, other, ids)
    assert search(client, other, ids)[2] == "memory"
    with another_connection(url) as connection:
        connection.execute("UPDATE app_user SET is_active = false WHERE id = %s", (ids["other"],))
    _eventually(lambda: search(client, other, ids)[0] == 401)


@pytest.mark.postgres
def test_a_hold_lapsing_by_the_clock_frees_its_slot_within_the_minute(served, clinic):
    app, client, clock, ids = served
    engine = clinic[1]
    desk = _token(app, engine, ids["desk"])
    clock.now = NOW.replace(second=5)
    _, body, _ = search(client, desk, ids, service="telehealth")
    slot = body["slots"][0]
    held = client.post("/api/v1/holds", headers=desk, json={
        "service_id": ids["telehealth"], "patient_id": ids["patients"][2], "start": slot["start"],
        "clinician_id": slot["clinician"]["id"], "minutes": 5})
    assert held.status_code == 201, held.text
    lapse = NOW.replace(second=40).astimezone(UTC)
    with session_scope(engine) as session:  # the hold lapses 40 s into the minute, before the earliest start moves
        session.exec(update(Allocation).where(Allocation.appointment_id == held.json()["id"])
                     .values(hold_expires_at=lapse))
    taken = (slot["start"], slot["clinician"]["id"])
    clock.now = NOW.replace(second=10)
    first = search(client, desk, ids, service="telehealth")
    clock.now = NOW.replace(second=30)
    kept = search(client, desk, ids, service="telehealth")
    clock.now = NOW.replace(second=45)
    lapsed = search(client, desk, ids, service="telehealth")
    assert taken not in offered(first[1]) and taken not in offered(kept[1])
    assert (first[2], kept[2]) == ("route", "memory")
    assert lapsed[2] == "route" and taken in offered(lapsed[1])


@pytest.mark.postgres
def test_the_earliest_start_moving_with_the_clock_ends_a_kept_answer(served, clinic):
    app, client, clock, ids = served
    desk = _token(app, clinic[1], ids["desk"])
    clock.now = at(1, 9, 0)  # Monday 09:00: today's later slots are offered
    _, before, _ = search(client, desk, ids, service="telehealth")
    clock.now = at(1, 10, 1)
    _, after, source = search(client, desk, ids, service="telehealth")
    assert source == "route"
    assert min(s["start"] for s in after["slots"]) > min(s["start"] for s in before["slots"])


@pytest.mark.postgres
def test_after_the_listening_connection_is_lost_nothing_kept_before_is_served(served, clinic):
    app, client, _, ids = served
    url = clinic[0]
    desk = _token(app, clinic[1], ids["desk"])
    feed = app.state.change_feed
    search(client, desk, ids)
    assert search(client, desk, ids)[2] == "memory"
    resets = feed.resets
    with another_connection(url) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (feed.listener_pid(),))
    _eventually(lambda: feed.live and feed.resets > resets)
    assert [search(client, desk, ids)[2] for _ in range(2)] == ["route", "memory"]


def test_sqlite_has_no_feed_and_every_answer_is_searched(tmp_path):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    engine, ids = clinic_database(url)
    app = create_app(Settings(database_url=url, secret_key=SECRET, background_jobs=False), engine)
    app.dependency_overrides[get_now] = lambda: NOW
    with TestClient(app) as client:
        desk = _token(app, engine, ids["desk"])
        assert app.state.change_feed is None
        assert [search(client, desk, ids)[2] for _ in range(2)] == ["route", "route"]


@pytest.mark.postgres
def test_a_notification_the_feed_cannot_read_drops_everything_kept(served, clinic):
    app, client, _, ids = served
    desk = _token(app, clinic[1], ids["desk"])
    feed = app.state.change_feed
    search(client, desk, ids)
    assert search(client, desk, ids)[2] == "memory"
    resets = feed.resets
    with another_connection(clinic[0]) as connection:
        connection.execute("NOTIFY clinic_changes, 'schedule:not-a-location'")
    _eventually(lambda: feed.resets > resets)
    assert feed.live and search(client, desk, ids)[2] == "route"
