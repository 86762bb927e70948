"""Availability from the process's cache is what the database says, after any interleaving of writes (issue 18).

Searches keep busy time per location and day in memory (``scheduler.free_time``) and reuse unchanged results
(``scheduler.search_memo``). A state machine interleaves bookings, holds (some lapsing as a controllable clock
runs on), confirmations, moves, cancellations, the hold sweeper and catalog changes (time off, maintenance, a
clinician moving to another location) with searches on one database. Every search through the cache must
equal the same search read fresh from the database (``SlotQuery.fresh``), offers and reasons, so it never
offers a taken slot and never misses a free one; and an offer it made must be accepted by the write path
(booked in a transaction that is then rolled back). On PostgreSQL two engines (two processes, each with its
own cache) share one database: what one books the other's next search no longer offers.
"""

import time
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from api.deps import get_now
from api.main import create_app
from api.security import issue_token
from data.config import Settings
from data.db import make_engine, session_scope
from data.enums import ExceptionKind
from data.errors import Conflict, Gone
from data.tables import (
    Appointment,
    Clinician,
    ClinicianException,
    DeviceMaintenance,
    User,
)
from scheduler.availability import SlotQuery, find_availability
from scheduler.booking import (
    SlotChoice,
    book,
    book_hold,
    change_status,
    place_hold,
    release_expired_holds,
    reschedule,
)
from scheduler.metrics import AVAILABILITY_ANSWERS
from tests.clinic_world import NOW, at, clinic

SETTINGS = Settings(database_url="sqlite://", secret_key="test-secret-key-of-at-least-32-characters")
WINDOW = (at(1, 0), at(3, 0))  # Monday and Tuesday; the clock starts Monday 08:00 and runs on
SERVICES = ("eswt", "msus", "telehealth")


def search(session: Session, ids: dict, service: str, *, now: datetime, location: str | None = "midtown",
           patient: int | None = None, fresh: bool = False) -> tuple[list, list]:
    """Every offer of the window (the limit is never reached), as plain data, and the reasons when none."""
    query = SlotQuery(service_id=ids[service], start=WINDOW[0], end=WINDOW[1],
                      location_id=ids[location] if location else None, patient_id=patient, limit=1000, fresh=fresh)
    found = find_availability(session, query, now=now, settings=SETTINGS)
    return ([(o.location_id, o.start, o.slot.clinician.id, o.slot.room.id if o.slot.room else None,
              tuple(unit.id for unit in o.slot.devices)) for o in found.offers],
            [reason.code for reason in found.reasons])


class CacheAgreesWithDatabase(RuleBasedStateMachine):
    engine: Engine
    ids: dict

    @initialize()
    def empty_schedule(self) -> None:
        """Each run starts from the world without sessions or catalog changes (deleted through the ORM)."""
        with session_scope(self.engine) as session:
            for table in (Appointment, ClinicianException, DeviceMaintenance):
                for row in session.exec(select(table)):
                    session.delete(row)
            session.get(Clinician, self.ids["mover"]).location_id = self.ids["midtown"]
        self.now = NOW
        self.appointments: list[int] = []

    def desk(self, session: Session) -> User:
        return session.get(User, self.ids["desk"])

    @rule(service=st.sampled_from(SERVICES), location=st.sampled_from(["midtown", "night_desk", None]),
          patient=st.sampled_from([None, 0, 1, 2]), pick=st.integers(0, 10**6))
    def search_agrees(self, service, location, patient, pick) -> None:
        patient_id = None if patient is None else self.ids["patients"][patient]
        with Session(self.engine) as session:
            cached = search(session, self.ids, service, now=self.now, location=location, patient=patient_id)
        with Session(self.engine) as session:
            fresh = search(session, self.ids, service, now=self.now, location=location, patient=patient_id,
                           fresh=True)
        assert cached == fresh
        offers = cached[0]
        if offers and patient_id is not None:
            location_id, start, clinician, room, units = offers[pick % len(offers)]
            with Session(self.engine) as session:  # the write path takes it; then nothing is kept
                book(session, actor=self.desk(session), now=self.now, settings=SETTINGS, choice=SlotChoice(
                    self.ids[service], patient_id, start, clinician, room, units, location_id))
                session.rollback()

    @rule(service=st.sampled_from(SERVICES), patient=st.integers(0, 2), pick=st.integers(0, 10**6),
          hold=st.sampled_from([None, None, 5, 30, 120]))
    def take(self, service, patient, pick, hold) -> None:
        """Book or hold an offer of a cached search: the write path must accept it."""
        patient_id = self.ids["patients"][patient]
        with Session(self.engine) as session:
            offers, _ = search(session, self.ids, service, now=self.now, location=None, patient=patient_id)
            if not offers:
                return
            location_id, start, clinician, room, units = offers[pick % len(offers)]
            choice = SlotChoice(self.ids[service], patient_id, start, clinician, room, units, location_id)
            if hold is None:
                taken = book(session, actor=self.desk(session), choice=choice, now=self.now, settings=SETTINGS)
            else:
                taken = place_hold(session, actor=self.desk(session), choice=choice, minutes=hold, now=self.now,
                                   settings=SETTINGS)
            session.commit()
            self.appointments.append(taken.id)

    @precondition(lambda self: self.appointments)
    @rule(pick=st.integers(0, 10**6), action=st.sampled_from(["cancel", "confirm", "move"]))
    def change(self, pick, action) -> None:
        ident = self.appointments[pick % len(self.appointments)]
        with Session(self.engine) as session:
            try:
                if action == "cancel":
                    change_status(session, actor=self.desk(session), appointment_id=ident, action="cancel",
                                  now=self.now)
                elif action == "confirm":
                    book_hold(session, actor=self.desk(session), hold_id=ident, now=self.now, settings=SETTINGS)
                else:
                    appointment = session.get(Appointment, ident)
                    offers, _ = search(session, self.ids, next(
                        name for name in SERVICES if self.ids[name] == appointment.service_id),
                        now=self.now, patient=appointment.patient_id,  # a move stays at its clinic
                        location=next(name for name in ("midtown", "night_desk")
                                      if self.ids[name] == appointment.location_id))
                    if not offers:
                        return
                    _, start, clinician, room, units = offers[pick % len(offers)]
                    reschedule(session, actor=self.desk(session), appointment_id=ident, start=start, now=self.now,
                               settings=SETTINGS, clinician_id=clinician, room_id=room, device_ids=units)
            except (Conflict, Gone):  # not in a state that allows it (cancelled, lapsed, not a hold)
                session.rollback()
                return
            session.commit()

    @rule(minutes=st.integers(1, 150))
    def clock_runs(self, minutes) -> None:
        """Holds lapse by the clock alone, with no write."""
        self.now += timedelta(minutes=minutes)

    @rule()
    def sweeper(self) -> None:
        with session_scope(self.engine) as session:
            release_expired_holds(session, now=self.now)

    @rule(clinician=st.integers(0, 2), start=st.integers(0, 40), hours=st.integers(1, 8))
    def time_off(self, clinician, start, hours) -> None:
        with session_scope(self.engine) as session:
            begins = WINDOW[0] + timedelta(hours=start)
            session.add(ClinicianException(clinician_id=self.ids["clinicians"][clinician], kind=ExceptionKind.TIME_OFF,
                                           starts_at=begins, ends_at=begins + timedelta(hours=hours)))

    @rule(unit=st.integers(0, 2), start=st.integers(0, 40), hours=st.integers(1, 8))
    def maintenance(self, unit, start, hours) -> None:
        with session_scope(self.engine) as session:
            begins = WINDOW[0] + timedelta(hours=start)
            session.add(DeviceMaintenance(device_id=self.ids["units"][unit], starts_at=begins,
                                          ends_at=begins + timedelta(hours=hours)))

    @rule()
    def clinician_moves(self) -> None:
        """Max works at the other location from now on; his sessions already booked still keep him busy."""
        with session_scope(self.engine) as session:
            mover = session.get(Clinician, self.ids["mover"])
            mover.location_id = self.ids["night_desk" if mover.location_id == self.ids["midtown"] else "midtown"]


class ShortcutAgreesWithDatabase(CacheAgreesWithDatabase):
    """The same interleavings, searched over HTTP as well, where ``api.availability_shortcut`` answers a repeated
    search from memory: asked twice (the second from memory unless something changed), the answer equals the
    search read fresh from the database. The clock also moves by seconds, so holds lapse within a minute."""

    client: TestClient
    clock: list
    headers: dict

    @rule(seconds=st.integers(1, 59))
    def clock_ticks(self, seconds) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(service=st.sampled_from(SERVICES), location=st.sampled_from(["midtown", "night_desk", None]),
          later=st.sampled_from([0, 0, 1, 20, 59, 60, 61, 600, 3600]))
    def http_search_agrees(self, service, location, later) -> None:
        """Asked, asked again ``later`` seconds on (from memory while nothing it depends on changed)."""
        location_id = self.ids[location] if location else None
        params = {"service_id": self.ids[service], "start": WINDOW[0].isoformat(), "end": WINDOW[1].isoformat(),
                  "limit": 200, **({"location_id": location_id} if location_id else {})}
        for step in (0, later):
            self.now += timedelta(seconds=step)
            self.clock[0] = self.now
            answer = self.client.get("/api/v1/availability", params=params, headers=self.headers)
            with Session(self.engine) as session:
                fresh = find_availability(session, SlotQuery(
                    service_id=self.ids[service], start=WINDOW[0], end=WINDOW[1], location_id=location_id,
                    limit=200, fresh=True), now=self.now, settings=SETTINGS)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert ([(slot["location_id"], datetime.fromisoformat(slot["start"]), slot["clinician"]["id"],
                      slot["room"]["id"] if slot["room"] else None, tuple(unit["id"] for unit in slot["devices"]))
                     for slot in body["slots"]], [reason["code"] for reason in body["reasons"]]) == (
                [(o.location_id, o.start, o.slot.clinician.id, o.slot.room.id if o.slot.room else None,
                  tuple(unit.id for unit in o.slot.devices)) for o in fresh.offers],
                [reason.code for reason in fresh.reasons])


def run_machine(url: str, *, examples: int, steps: int, over_http: bool = False) -> None:
    engine, ids = clinic(url)
    try:
        machine = type("Machine", (CacheAgreesWithDatabase,), {"engine": engine, "ids": ids})
        check = settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        if not over_http:
            return run_state_machine_as_test(machine, settings=check)
        app = create_app(Settings(database_url=url, secret_key=SETTINGS.secret_key, background_jobs=False), engine)
        clock = [NOW]
        app.dependency_overrides[get_now] = lambda: clock[0]
        with TestClient(app) as client, Session(engine) as session:
            desk = session.get(User, ids["desk"])
            token = issue_token(user_id=desk.id, stamp=desk.security_stamp, key=app.state.token_key, minutes=60)
            deadline = time.monotonic() + 20
            while not app.state.change_feed.live:
                assert time.monotonic() < deadline, "the change feed did not start listening"
                time.sleep(0.02)
            machine = type("Machine", (ShortcutAgreesWithDatabase,), {
                "engine": engine, "ids": ids, "client": client, "clock": clock,
                "headers": {"Authorization": f"Bearer {token}"}})
            from_memory = AVAILABILITY_ANSWERS.labels(source="memory")._value.get()
            run_state_machine_as_test(machine, settings=check)
            assert AVAILABILITY_ANSWERS.labels(source="memory")._value.get() > from_memory, "memory was never used"
    finally:
        engine.dispose()


def test_cached_search_equals_the_database_on_sqlite(tmp_path):
    run_machine(f"sqlite:///{tmp_path / 'cache.db'}", examples=40, steps=30)


@pytest.mark.postgres
def test_cached_search_equals_the_database_on_postgresql(postgres_databases):
    run_machine(postgres_databases(), examples=8, steps=20)


@pytest.mark.postgres
def test_searches_answered_from_memory_over_http_equal_the_database(postgres_databases):
    run_machine(postgres_databases(), examples=6, steps=25, over_http=True)


class AllocationReads:
    """Counts the statements an engine sends that read allocations: zero means the search came from memory."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, *_args) -> None:
        self.count += "FROM allocation" in statement

    def __call__(self) -> int:
        count, self.count = self.count, 0
        return count


@pytest.mark.postgres
def test_what_one_process_books_the_other_stops_offering_at_once(postgres_databases):
    """Two engines on one database, each with its own cache: a booking, a cancellation and a lapsing hold."""
    url = postgres_databases()
    writer, ids = clinic(url)
    reader = make_engine(url)
    reads = AllocationReads(reader)
    patient = ids["patients"][0]
    try:
        with Session(reader) as session:
            offers, _ = search(session, ids, "eswt", now=NOW)
        assert reads() > 0
        with Session(reader) as session:
            assert search(session, ids, "eswt", now=NOW)[0] == offers
        assert reads() == 0, "an unchanged schedule is answered from the reader's cache"

        location_id, start, clinician, room, units = offers[0]
        choice = SlotChoice(ids["eswt"], patient, start, clinician, room, units, location_id)
        with Session(writer) as session:
            booked = book(session, actor=None, choice=choice, now=NOW, settings=SETTINGS).id
            session.commit()
        with Session(reader) as session:
            after, _ = search(session, ids, "eswt", now=NOW)
        assert reads() > 0
        assert not any(offer[1] == start and offer[2] == clinician for offer in after)
        with Session(reader) as session:
            assert after == search(session, ids, "eswt", now=NOW, fresh=True)[0]

        with Session(writer) as session:
            change_status(session, actor=session.get(User, ids["desk"]), appointment_id=booked, action="cancel",
                          now=NOW)
            session.commit()
        with Session(reader) as session:
            assert search(session, ids, "eswt", now=NOW)[0] == offers, "a cancelled slot is offered again at once"

        location_id, start, clinician, room, units = offers[len(offers) // 2]
        with Session(writer) as session:
            place_hold(session, actor=None, minutes=10, now=NOW, settings=SETTINGS, choice=SlotChoice(
                ids["eswt"], patient, start, clinician, room, units, location_id))
            session.commit()
        for moment, offered in ((NOW, False), (NOW + timedelta(minutes=10), True)):  # lapses with no write
            with Session(reader) as session:
                found, _ = search(session, ids, "eswt", now=moment)
                assert found == search(session, ids, "eswt", now=moment, fresh=True)[0]
            assert any(offer[1] == start and offer[2] == clinician for offer in found) is offered
    finally:
        reader.dispose()
        writer.dispose()


def test_a_transaction_sees_its_own_uncommitted_booking(tmp_path):
    """A plan holding several sessions in one transaction must not be offered the time it just took."""
    engine, ids = clinic(f"sqlite:///{tmp_path / 'own.db'}")
    try:
        with Session(engine) as session:
            offers, _ = search(session, ids, "eswt", now=NOW)
            location_id, start, clinician, room, units = offers[0]
            place_hold(session, actor=None, now=NOW, settings=SETTINGS, minutes=30, choice=SlotChoice(
                ids["eswt"], ids["patients"][0], start, clinician, room, units, location_id))
            within, _ = search(session, ids, "eswt", now=NOW)
            assert within == search(session, ids, "eswt", now=NOW, fresh=True)[0]
            assert not any(offer[1] == start and offer[2] == clinician for offer in within)
            session.rollback()
        with Session(engine) as session:
            assert search(session, ids, "eswt", now=NOW)[0] == offers, "the rolled-back hold is not offered as taken"
    finally:
        engine.dispose()


def test_an_unchanged_search_is_served_without_reading_allocations(tmp_path):
    """The cache is used at all: a repeated search reads only the versions (else this suite proves nothing)."""
    engine, ids = clinic(f"sqlite:///{tmp_path / 'warm.db'}")
    reads = AllocationReads(engine)
    try:
        for expected in (True, False):
            with Session(engine) as session:
                search(session, ids, "msus", now=NOW)
            assert (reads() > 0) is expected
        with Session(engine) as session:
            search(session, ids, "msus", now=NOW, fresh=True)
        assert reads() > 0
    finally:
        engine.dispose()



def test_a_clinician_who_moves_away_and_back_brings_no_stale_busy_time(tmp_path):
    """Max's session is cancelled while he works elsewhere; back at the night desk, his time is free again."""
    engine, ids = clinic(f"sqlite:///{tmp_path / 'moves.db'}")

    def move(to: str) -> None:
        with session_scope(engine) as session:
            session.get(Clinician, ids["mover"]).location_id = ids[to]

    def night_desk_offers() -> list:
        with Session(engine) as session:
            return search(session, ids, "telehealth", now=NOW, location="night_desk")[0]

    try:
        move("night_desk")
        location_id, start, clinician, _, _ = next(o for o in night_desk_offers() if o[2] == ids["mover"])
        with Session(engine) as session:
            booked = book(session, actor=None, now=NOW, settings=SETTINGS, choice=SlotChoice(
                ids["telehealth"], ids["patients"][0], start, clinician, None, (), location_id)).id
            session.commit()
        assert not any(o[1] == start and o[2] == clinician for o in night_desk_offers())
        move("midtown")
        with Session(engine) as session:
            change_status(session, actor=session.get(User, ids["desk"]), appointment_id=booked, action="cancel",
                          now=NOW)
            session.commit()
        move("night_desk")
        assert any(o[1] == start and o[2] == clinician for o in night_desk_offers())
    finally:
        engine.dispose()
