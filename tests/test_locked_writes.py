"""Writes act on what the database holds now, on real PostgreSQL, made deterministic with two sessions.

Each test reads a record in one session (as a route or a pre-check would),
lets a second session change it and commit, then has the first session write.
Before writes loaded their record locked *and fresh* (``populate_existing``),
the first session acted on its stale copy: a release cancelled a booking that
had just been made, a cancel after a reschedule failed with StaleDataError (a
500), a second cancel wrote a second audit entry and a second waitlist offer.
A public request that lost its slot to a concurrent writer at the exclusion
constraint broke its session (a 500) instead of answering 409. Limits counted
before inserting must take turns, or three requests pass a limit of two.
"""

import threading
from collections.abc import Callable
from datetime import date

import pytest
from sqlmodel import Session, func, select

from data.accounts import upsert_user
from data.config import Settings
from data.db import make_engine
from data.enums import AppointmentStatus, RequestKind, Role, WaitlistStatus
from data.errors import Conflict
from data.tables import Allocation, Appointment, AuditEntry, PatientLink, User, WaitlistRequest
from scheduler import booking, erasure, plans, visit_requests, waitlist
from scheduler.availability import SlotQuery, find_availability
from scheduler.secret_links import issue
from tests.clinic_world import NOW, NY, at, build_world
from tests.lock_waits import WAIT_SECONDS, someone_waits_on_a_lock

pytestmark = pytest.mark.postgres
SETTINGS = Settings(background_jobs=False, secret_key="locked-writes-secret-key-0123456789",
                    public_telehealth_service="w_telehealth", public_office_service="w_msus")


@pytest.fixture
def clinic(postgres_databases):
    engine = make_engine(postgres_databases(migrated=True))
    with Session(engine, expire_on_commit=False) as session:
        world = build_world(session)
        desk = upsert_user(session=session, username="desk", password="locked writes desk", role=Role.FRONT_DESK)
        session.commit()
    yield engine, world, desk
    engine.dispose()


def held(engine, world, desk, start=None, patient=0) -> int:
    with Session(engine) as session:
        hold = booking.place_hold(session, actor=session.get(User, desk.id), minutes=30, now=NOW, settings=SETTINGS,
                                  choice=booking.SlotChoice(world.eswt.id, world.patients[patient].id,
                                                            start or at(2, 9), clinician_id=world.dana.id))
        session.commit()
        return hold.id


def booked(engine, world, desk, start=None, patient=0) -> int:
    hold_id = held(engine, world, desk, start, patient)
    with Session(engine) as session:
        booking.book_hold(session, actor=session.get(User, desk.id), hold_id=hold_id, now=NOW, settings=SETTINGS)
        session.commit()
    return hold_id


def stale_reader(engine, appointment_id: int) -> tuple[Session, User]:
    """A session that has already read the appointment and its allocations, as a route's pre-check does."""
    session = Session(engine)
    stale = session.get(Appointment, appointment_id)
    assert len(stale.allocations) > 0
    return session, session.get(User, session.exec(select(User.id).where(User.username == "desk")).one())


def audit_actions(engine, appointment_id: int) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry.action).where(AuditEntry.appointment_id == appointment_id)
                                 .order_by(AuditEntry.id)))


def state(engine, appointment_id: int) -> tuple[AppointmentStatus, list[bool]]:
    with Session(engine) as session:
        appointment = session.get(Appointment, appointment_id)
        return appointment.status, [a.live for a in appointment.allocations]


def test_releasing_a_hold_just_booked_elsewhere_is_refused(clinic):
    engine, world, desk = clinic
    hold_id = held(engine, world, desk)
    late, actor = stale_reader(engine, hold_id)
    with Session(engine) as other:
        booking.book_hold(other, actor=other.get(User, desk.id), hold_id=hold_id, now=NOW, settings=SETTINGS)
        other.commit()
    with late, pytest.raises(Conflict, match="is booked"):
        booking.change_status(late, actor=actor, appointment_id=hold_id, action="release", now=NOW)
    assert state(engine, hold_id) == (AppointmentStatus.BOOKED, [True, True, True, True, True])
    assert audit_actions(engine, hold_id) == ["hold", "book"]


def test_a_cancel_after_a_reschedule_elsewhere_frees_the_new_time(clinic):
    engine, world, desk = clinic
    appointment_id = booked(engine, world, desk)
    late, actor = stale_reader(engine, appointment_id)
    with Session(engine) as other:
        booking.reschedule(other, actor=other.get(User, desk.id), appointment_id=appointment_id, start=at(3, 9),
                           now=NOW, settings=SETTINGS)
        other.commit()
    with late:
        waitlist.cancel(late, actor=actor, appointment_id=appointment_id, reason="ill", now=NOW, settings=SETTINGS)
        late.commit()
    status, live = state(engine, appointment_id)
    assert status == AppointmentStatus.CANCELLED and not any(live)
    with Session(engine) as session:
        (start,) = set(session.exec(select(Allocation.starts_at).where(
            Allocation.appointment_id == appointment_id, Allocation.resource_kind == "patient")))
    assert start == at(3, 9), "the allocations cancelled are the rescheduled ones"
    assert audit_actions(engine, appointment_id) == ["hold", "book", "reschedule", "cancel"]


def test_a_second_cancel_is_refused_and_the_freed_time_is_offered_once(clinic):
    engine, world, desk = clinic
    appointment_id = booked(engine, world, desk)
    with Session(engine) as session:
        session.add(WaitlistRequest(patient_id=world.patients[1].id, service_id=world.eswt.id,
                                    earliest_day=date(2027, 3, 1), latest_day=date(2027, 3, 5),
                                    earliest_time=at(1, 7).time(), latest_time=at(1, 18).time(), created_at=NOW))
        session.commit()
    late, actor = stale_reader(engine, appointment_id)
    with Session(engine) as other:
        waitlist.cancel(other, actor=other.get(User, desk.id), appointment_id=appointment_id, reason="ill", now=NOW,
                        settings=SETTINGS)
        other.commit()
    with late, pytest.raises(Conflict, match="is cancelled"):
        waitlist.cancel(late, actor=actor, appointment_id=appointment_id, reason="ill", now=NOW, settings=SETTINGS)
    assert audit_actions(engine, appointment_id).count("cancel") == 1
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(WaitlistRequest)
                            .where(WaitlistRequest.status == WaitlistStatus.OFFERED)).one() == 1
        assert session.exec(select(func.count()).select_from(Appointment)
                            .where(Appointment.status == AppointmentStatus.PENDING)).one() == 1, "one offer hold"


def test_a_booking_waiting_on_an_erasure_of_its_patient_is_refused(clinic):
    engine, world, desk = clinic
    eraser = Session(engine)
    erasure.erase(eraser, actor=None, patient_id=world.patients[2].id, now=NOW)  # not committed yet

    def book(session: Session) -> str:
        return booking.book(session, actor=session.get(User, desk.id), now=NOW, settings=SETTINGS,
                            choice=booking.SlotChoice(world.eswt.id, world.patients[2].id, at(3, 9))).status

    assert "was erased" in behind_a_lock(engine, eraser, book)


def test_a_public_request_that_loses_its_slot_at_the_constraint_gets_a_conflict(clinic, monkeypatch):
    """The request's availability check passed before a concurrent booking committed; only the constraint sees it."""
    engine, world, desk = clinic
    with Session(engine) as session:
        service = visit_requests.public_service(session, RequestKind.TELEHEALTH, SETTINGS)
        slot = next(s for s in visit_requests.public_slots(session, service=service, now=NOW, settings=SETTINGS)
                    if s.location_id == world.night_desk.id and s.start > at(4, 0))
        choice = booking.SlotChoice(service.id, world.patients[0].id, slot.start, location_id=slot.location_id)
        offer_before = booking._offer(session, choice, now=NOW, settings=SETTINGS)
    with Session(engine) as other:  # the night desk's only clinician is taken meanwhile
        booking.book(other, actor=other.get(User, desk.id), now=NOW, settings=SETTINGS, choice=choice)
        other.commit()
    monkeypatch.setattr(booking, "_offer", lambda *args, **kwargs: offer_before)
    visitor = visit_requests.Visitor("Nora", "Visitor", date(1990, 4, 2), "+1 212 555 0100", None)
    with Session(engine) as late:
        with pytest.raises(Conflict, match="no longer free"):
            visit_requests.request_visit(late, kind=RequestKind.TELEHEALTH, location_id=slot.location_id,
                                         start=slot.start, visitor=visitor, reason="", client_key="k", now=NOW,
                                         settings=SETTINGS)
        assert late.exec(select(func.count()).select_from(Appointment)).one() == 1, "the session is still usable"


def test_move_requests_of_one_patient_take_turns_so_the_open_cap_holds(clinic):
    """While one move request is uncommitted, a second one for the same patient waits, then meets the cap."""
    engine, world, desk = clinic
    settings = SETTINGS.model_copy(update={"open_requests_per_contact": 1})
    first_session, second_session = (booked(engine, world, desk, at(day, 9)) for day in (3, 4))
    with Session(engine) as session:
        token = issue(session, PatientLink, "patient_id", world.patients[0].id, created_at=NOW)
        session.commit()

    def ask_move(session: Session, appointment_id: int, day: int):
        return visit_requests.request_move(session, token=token, appointment_id=appointment_id,
                                           location_id=world.midtown.id, start=at(day, 14), client_key="k", now=NOW,
                                           settings=settings)

    first = Session(engine)
    ask_move(first, first_session, 5)  # not committed yet
    answer = behind_a_lock(engine, first, lambda session: ask_move(session, second_session, 8)[0].status)
    assert "already has 1 requests waiting" in answer


def behind_a_lock(engine, first: Session, second: Callable[[Session], str]) -> str:
    """Run ``second`` in its own session and thread while ``first`` holds its locks uncommitted; it must wait,
    and goes on once ``first`` commits. Its answer, or the words of the error it raised."""
    outcome = {}

    def run():
        with Session(engine) as session:
            try:
                outcome["answer"] = second(session)
                session.commit()
            except Exception as refused:  # noqa: BLE001 (the test reads the refusal's words)
                outcome["answer"] = getattr(refused, "msg", None) or repr(refused)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert someone_waits_on_a_lock(engine), "the second write waits for the first"
        assert "answer" not in outcome
    finally:
        first.commit()
        first.close()
        thread.join(timeout=WAIT_SECONDS)
    return outcome["answer"]


def _course_of_two(engine, world, desk) -> list[int]:
    """A confirmed course of two shockwave sessions 5 to 10 days apart, for patient 0; its appointments in order."""
    with Session(engine) as session:
        actor = session.get(User, desk.id)
        plan = plans.create_plan(session, actor=actor, now=NOW, values={
            "patient_id": world.patients[0].id, "location_id": world.midtown.id, "template_id": None,
            "earliest_start": date(2027, 3, 2), "latest_end": date(2027, 3, 31), "priority": 3,
            "lines": [{"service_id": world.eswt.id, "count": 2, "min_gap_days": 5, "max_gap_days": 10,
                       "min_gap_hours": None, "max_gap_hours": None, "same_clinician": "preferred"}],
            "links": [], "windows": [], "blackouts": []})
        plans.propose(session, actor=actor, plan_id=plan.id, now=NOW, settings=SETTINGS)
        confirmed = plans.confirm(session, actor=actor, plan_id=plan.id, now=NOW, settings=SETTINGS)
        session.commit()
        return [s.appointment_id for s in sorted(confirmed.sessions, key=lambda s: s.sequence)]


def _move(session: Session, desk, appointment_id: int, day: int) -> None:
    """Move the session to the first free shockwave time on March ``day``."""
    found = find_availability(session, SlotQuery(
        service_id=session.get(Appointment, appointment_id).service_id, start=at(day, 0), end=at(day + 1, 0),
        patient_id=session.get(Appointment, appointment_id).patient_id, limit=1,
        ignore_appointment_ids=(appointment_id,), fresh=True), now=NOW, settings=SETTINGS)
    booking.reschedule(session, actor=session.get(User, desk.id), appointment_id=appointment_id,
                       start=found.offers[0].start, now=NOW, settings=SETTINGS)


def test_moves_of_two_sessions_of_one_course_take_turns(clinic):
    """Each move alone keeps the course's 5 days; made at once, each was checked against the other session's old
    time, and the course ended with one day between its sessions (found by a probe: 16 of 18 rounds)."""
    engine, world, desk = clinic
    first, second = _course_of_two(engine, world, desk)
    with Session(engine) as session:
        day = session.get(Appointment, first).starts_at.astimezone(NY).day
        _move(session, desk, second, day + 9)
        session.commit()
    refused = []

    def later_move() -> None:
        with Session(engine) as session:
            try:
                _move(session, desk, second, day + 5)
                session.commit()
            except Conflict as conflict:
                refused.append(conflict)

    with Session(engine) as earlier:
        _move(earlier, desk, first, day + 4)
        other = threading.Thread(target=later_move)
        other.start()
        assert someone_waits_on_a_lock(engine), "the second move waits for the first's plan"
        earlier.commit()
    other.join(WAIT_SECONDS)
    assert len(refused) == 1 and "treatment plan" in str(refused[0]), refused
    with Session(engine) as session:
        starts = [session.get(Appointment, ident).starts_at for ident in (first, second)]
    assert (starts[1] - starts[0]).days >= 5, starts
