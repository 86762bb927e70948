"""Waitlist offers reach the patient and are answered from the message's link.

In process (SQLite and PostgreSQL, the fixtures of tests/test_messages.py, a clock moved by hand): an offer is
e-mailed with its accept link, which books the session; an unanswered offer lapses, its request waits again and
the time goes to the next patient, while the first one's old link is answered politely; an offer made in quiet
hours is held from when the patient can be told.

Against real `clinic serve` processes (two on one PostgreSQL database, one on SQLite), requests sent at the same
instant: the patient accepting while the desk releases or cancels the same hold or closes its request, and two
patients after one freed time (the first one's offer lapsed and the time passed on while they follow the old link).
Each round ends in a state one order explains; the schedule's invariants hold. The servers run on the real clock, so
the offered times lie in March 2027 and an offer is made to lapse by moving its expiry into the past in the database.
"""

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session, func, select

from data.accounts import upsert_user
from data.config import Settings
from data.db import make_engine, serialized
from data.enums import (
    AppointmentStatus,
    ExceptionKind,
    MessageKind,
    ResourceKind,
    Role,
    WaitlistStatus,
)
from data.migrate import upgrade
from data.tables import (
    Allocation,
    Appointment,
    AuditEntry,
    ClinicianException,
    Location,
    Patient,
    PatientMessage,
    WaitlistRequest,
)
from scheduler import booking, waitlist
from tests.clinic_world import at, build_world
from tests.factories import API
from tests.invariants import schedule_violations
from tests.servers import Server
from tests.test_messages import BOTH, Clinic, book, clinic, deliver, smtp  # noqa: F401 (fixtures)
from tests.test_races import DESK_PASSWORD, SECRET_KEY, sign_in, start_server  # noqa: F401 (fixture)

PUBLIC = f"{API}/public"
ACCEPT_LINK = re.compile(r"/me/([A-Za-z0-9_\-]+)\?accept=(\d+)")
TIMEOUT_SECONDS = 60  # only so a broken server fails the test instead of hanging it


def accept_link(text: str) -> tuple[str, int]:
    """The patient's token and the offered appointment, from a message's accept link."""
    found = ACCEPT_LINK.search(text)
    assert found, f"no accept link in: {text}"
    return found[1], int(found[2])


def offers_of(clinic: Clinic) -> list[PatientMessage]:
    return [m for m in clinic.messages() if m.kind == MessageKind.WAITLIST_OFFER]


def wait(clinic: Clinic, patient, priority: int) -> int:
    response = clinic.client.post(f"{API}/waitlist", headers=clinic.desk, json={
        "patient_id": patient.id, "service_id": clinic.world.eswt.id, "earliest_day": "2027-03-01",
        "latest_day": "2027-03-12", "priority": priority})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def cancel(clinic: Clinic, appointment: dict) -> None:
    response = clinic.client.post(f"{API}/appointments/{appointment['id']}/cancel", headers=clinic.desk,
                                  json={"reason": "patient moved away"})
    assert response.status_code == 200, response.text


def request_row(clinic: Clinic, request_id: int) -> WaitlistRequest:
    with Session(clinic.engine) as session:
        return session.get(WaitlistRequest, request_id)


def sweep(clinic: Clinic) -> list[int]:
    """What the hold sweeper does, on the test's clock."""
    with Session(serialized(clinic.engine), info={"settings": clinic.client.app.state.settings}) as session:
        lapsed = waitlist.lapse_offers(session, now=clinic.now(), settings=clinic.client.app.state.settings)
        session.commit()
        return [request.id for request in lapsed]


@BOTH
def test_an_offer_accepted_from_its_link_books_the_session(clinic, smtp):
    ann, ben = clinic.world.patients[:2]
    cancel(clinic, book(clinic, ann, at(2, 9)))
    waiting = wait(clinic, ben, 3)
    assert offers_of(clinic) == [], "asked to wait after the cancellation: nothing to offer yet"
    freed = book(clinic, ann, at(3, 9))
    cancel(clinic, freed)
    (offer,) = offers_of(clinic)
    assert offer.patient_id == ben.id
    deliver(clinic, smtp)
    (mail,) = [m for m in smtp.received if m["Subject"] == "A time has opened: Wednesday, March 3 at 9:00 AM"]
    assert mail["To"] == "patient1@example.org"
    token, hold_id = accept_link(mail.get_body(("plain",)).get_content())
    assert hold_id == offer.appointment_id

    assert clinic.client.get(f"/me/{token}", params={"accept": hold_id}).status_code == 200, "the page it opens"
    shown = clinic.client.get(f"{PUBLIC}/patients/{token}/offers/{hold_id}").json()
    assert (shown["status"], shown["service"], shown["start"]) == ("open", "Shockwave therapy", freed["start"])
    assert shown["start"].endswith("-05:00") and shown["hold_expires_at"] == at(1, 10).isoformat()
    assert [o["appointment_id"] for o in clinic.client.get(f"{PUBLIC}/patients/{token}/offers").json()] == [hold_id]

    accepted = clinic.client.post(f"{PUBLIC}/patients/{token}/offers/{hold_id}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "booked" and accepted.json()["hold_expires_at"] is None
    again = clinic.client.post(f"{PUBLIC}/patients/{token}/offers/{hold_id}/accept")
    assert again.status_code == 200 and again.json()["status"] == "booked", "a second click answers the same"
    assert clinic.client.get(f"{PUBLIC}/patients/{token}/offers").json() == []
    sessions = clinic.client.get(f"{PUBLIC}/patients/{token}/sessions").json()
    assert [(s["appointment_id"], s["start"]) for s in sessions] == [(hold_id, freed["start"])]
    with Session(clinic.engine) as session:
        assert session.get(Appointment, hold_id).status == AppointmentStatus.BOOKED
        entries = session.exec(select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.appointment_id == hold_id)
                               .order_by(AuditEntry.id)).all()
        assert entries == [("system", "hold"), ("system", "book")]
    assert request_row(clinic, waiting).status == WaitlistStatus.BOOKED, "served"
    booked_mail = [m for m in clinic.messages() if m.appointment_id == hold_id and m.kind == MessageKind.BOOKED]
    assert len(booked_mail) == 1 and booked_mail[0].calendar, "the booking is confirmed with its calendar entry"


@BOTH
def test_an_unanswered_offer_lapses_and_the_time_goes_to_the_next_patient(clinic, smtp):
    ann, ben, cy = clinic.world.patients
    first, second = wait(clinic, ben, 5), wait(clinic, cy, 1)
    cancel(clinic, book(clinic, ann, at(3, 9)))
    (ben_offer,) = offers_of(clinic)
    deliver(clinic, smtp)
    ben_token, ben_hold = accept_link(smtp.received[-1].get_body(("plain",)).get_content())
    assert sweep(clinic) == [], "nothing lapses while the offer is open"

    clinic.clock[0] += timedelta(minutes=121)  # the offer was held for 120 minutes
    assert sweep(clinic) == [first]
    assert sweep(clinic) == [], "a lapsed offer is passed on once"
    ben_request, cy_request = request_row(clinic, first), request_row(clinic, second)
    assert ben_request.status == WaitlistStatus.WAITING and ben_request.appointment_id == ben_hold
    assert cy_request.status == WaitlistStatus.OFFERED
    cy_offer = offers_of(clinic)[-1]
    assert (cy_offer.patient_id, cy_offer.appointment_id) == (cy.id, cy_request.appointment_id)
    with Session(clinic.engine) as session:
        assert session.get(Appointment, cy_request.appointment_id).starts_at == at(3, 9)

    late = clinic.client.post(f"{PUBLIC}/patients/{ben_token}/offers/{ben_hold}/accept")
    assert late.status_code == 410 and late.json()["detail"] == waitlist.NO_LONGER_AVAILABLE
    assert clinic.client.get(f"{PUBLIC}/patients/{ben_token}/offers/{ben_hold}").json()["status"] == "gone"
    assert len(offers_of(clinic)) == 2, "the old link offers nothing more: the time is already Cy's"

    clinic.clock[0] += timedelta(minutes=121)
    assert sweep(clinic) == [second]
    assert request_row(clinic, first).status == WaitlistStatus.WAITING, "Ben let this time go: not offered it again"
    assert len(offers_of(clinic)) == 2 and ben_offer.patient_id == ben.id


@BOTH
def test_an_offer_whose_clinician_took_that_time_off_is_gone_when_accepted(clinic, smtp):
    """Dana takes the afternoon off while Ben's offer waits. Accepting it answered a 409 in the staff's words ("hold
    12 can no longer be booked; release it and search again: Dana is no longer free then ...") and left the offer
    open and the request stuck as offered until the hold lapsed hours later. Now the offer is gone like a lapsed
    one: the patient reads that the time is no longer available, the hold is released with what changed as its
    reason (for the desk), and Ben's request waits again."""
    ann, ben, _cy = clinic.world.patients
    request_id = wait(clinic, ben, 5)
    cancel(clinic, book(clinic, ann, at(3, 13)))
    (offer,) = offers_of(clinic)
    deliver(clinic, smtp)
    token, hold_id = accept_link(smtp.received[-1].get_body(("plain",)).get_content())
    with Session(clinic.engine) as session:
        clinician = session.get(Appointment, hold_id).resource_ids(ResourceKind.CLINICIAN)[0]
        session.add(ClinicianException(clinician_id=clinician, kind=ExceptionKind.TIME_OFF, starts_at=at(3, 12),
                                       ends_at=at(3, 18), note="dentist"))
        session.commit()

    accepted = clinic.client.post(f"{PUBLIC}/patients/{token}/offers/{hold_id}/accept")

    assert accepted.status_code == 410 and accepted.json()["detail"] == waitlist.NO_LONGER_AVAILABLE, accepted.text
    assert clinic.client.get(f"{PUBLIC}/patients/{token}/offers/{hold_id}").json()["status"] == "gone"
    assert clinic.client.get(f"{PUBLIC}/patients/{token}/offers").json() == []
    with Session(clinic.engine) as session:
        hold = session.get(Appointment, hold_id)
        assert hold.status == AppointmentStatus.CANCELLED and not any(a.live for a in hold.allocations)
        assert hold.cancel_reason.startswith("no longer bookable when the patient accepted: ")
        assert "no longer free then" in hold.cancel_reason
    assert request_row(clinic, request_id).status == WaitlistStatus.WAITING
    again = clinic.client.post(f"{PUBLIC}/patients/{token}/offers/{hold_id}/accept")
    assert again.status_code == 410, "a second click answers the same"
    assert offer.patient_id == ben.id


@BOTH
def test_an_old_link_followed_before_the_sweeper_passes_the_time_on(clinic, smtp):
    ann, ben, cy = clinic.world.patients
    first, second = wait(clinic, ben, 5), wait(clinic, cy, 1)
    cancel(clinic, book(clinic, ann, at(3, 9)))
    deliver(clinic, smtp)
    token, hold = accept_link(smtp.received[-1].get_body(("plain",)).get_content())
    clinic.clock[0] += timedelta(minutes=121)

    late = clinic.client.post(f"{PUBLIC}/patients/{token}/offers/{hold}/accept")
    assert late.status_code == 410 and late.json()["detail"] == waitlist.NO_LONGER_AVAILABLE
    assert request_row(clinic, first).status == WaitlistStatus.WAITING
    assert request_row(clinic, second).status == WaitlistStatus.OFFERED, "the next offer went out at once"
    assert [m.patient_id for m in offers_of(clinic)] == [ben.id, cy.id]
    deliver(clinic, smtp)
    assert smtp.received[-1]["To"] == "patient2@example.org"
    assert smtp.received[-1]["Subject"] == "A time has opened: Wednesday, March 3 at 9:00 AM"


@BOTH
def test_an_offer_made_in_quiet_hours_is_held_from_when_the_patient_can_be_told(clinic, smtp):
    ann, ben = clinic.world.patients[:2]
    with Session(clinic.engine) as session:
        midtown = session.get(Location, clinic.world.midtown.id)
        midtown.quiet_from, midtown.quiet_until = time(21), time(8)
        session.commit()
    freed = book(clinic, ann, at(3, 9))
    wait(clinic, ben, 3)
    clinic.clock[0] = at(1, 22)
    cancel(clinic, freed)
    (offer,) = offers_of(clinic)
    assert offer.next_attempt_at == at(2, 8), "told when quiet hours end"
    with Session(clinic.engine) as session:
        assert session.get(Appointment, offer.appointment_id).hold_expires_at == at(2, 10), "then held 120 minutes"


@BOTH
def test_only_the_patient_s_own_offers_open_from_their_link(clinic, smtp):
    ann, ben, cy = clinic.world.patients
    wait(clinic, ben, 3)
    cancel(clinic, book(clinic, ann, at(3, 9)))
    (offer,) = offers_of(clinic)
    cy_token = clinic.client.post(f"{API}/patients/{cy.id}/link", headers=clinic.desk).json()["url"].rsplit("/")[-1]
    foreign = clinic.client.post(f"{PUBLIC}/patients/{cy_token}/offers/{offer.appointment_id}/accept")
    assert foreign.status_code == 404 and "does not exist" in foreign.json()["detail"]
    ben_token = clinic.client.post(f"{API}/patients/{ben.id}/link", headers=clinic.desk).json()["url"].rsplit("/")[-1]
    desk_hold = clinic.client.post(f"{API}/holds", headers=clinic.desk, json={
        "service_id": clinic.world.eswt.id, "patient_id": ben.id, "start": at(4, 9).isoformat(),
        "clinician_id": clinic.world.dana.id})
    assert desk_hold.status_code == 201, desk_hold.text
    not_offer = clinic.client.post(f"{PUBLIC}/patients/{ben_token}/offers/{desk_hold.json()['id']}/accept")
    assert not_offer.status_code == 404, "a desk's hold is not an offer to accept"
    assert clinic.client.post(f"{PUBLIC}/patients/{ben_token}/offers/{offer.appointment_id}/accept").status_code \
        == 200, "the desk-issued link of the patient works as well as the message's"


# --- races against real server processes --------------------------------------------------------


@dataclass
class Round:
    """One freed time (9:00 on its own March day) offered to ``first``, with ``second`` waiting behind."""

    start: datetime
    hold: int
    token: str
    first: int
    second: int
    second_patient: int


def token_of(session: Session, patient_id: int, hold_id: int) -> str:
    body = session.exec(select(PatientMessage.body_text).where(
        PatientMessage.patient_id == patient_id, PatientMessage.appointment_id == hold_id,
        PatientMessage.kind == MessageKind.WAITLIST_OFFER)).one()
    token, offered = accept_link(body)
    assert offered == hold_id
    return token


def prepare(url: str, days: range) -> tuple[object, Settings, list[Round]]:
    """The known clinic with a freed time a day, each offered (on the real clock) to its first waiting patient."""
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings(database_url=url, secret_key=SECRET_KEY, background_jobs=False,
                        public_base_url="https://clinic.example.org")
    now = datetime.now(UTC)
    rounds = []
    with Session(engine, info={"settings": settings}, expire_on_commit=False) as session:
        world = build_world(session)
        desk = upsert_user(session=session, username="desk", password=DESK_PASSWORD, role=Role.FRONT_DESK)
        session.commit()
        for day in days:
            start = at(day, 9)
            first, second, leaving = (Patient(given_name=name, family_name=f"Day{day}", birth_date=start.date()
                                              - timedelta(days=365 * 40), email=f"{name.lower()}{day}@example.org")
                                      for name in ("First", "Second", "Leaving"))
            session.add_all([first, second, leaving])
            session.flush()
            freed = booking.book(session, actor=desk, now=now, settings=settings, choice=booking.SlotChoice(
                world.eswt.id, leaving.id, start, world.dana.id))
            requests = [WaitlistRequest(patient_id=patient.id, service_id=world.eswt.id, earliest_day=start.date(),
                                        latest_day=start.date(), earliest_time=time(9), latest_time=time(9, 30),
                                        priority=priority, created_at=now)
                        for patient, priority in ((first, 5), (second, 1))]
            session.add_all(requests)
            session.flush()
            waitlist.cancel(session, actor=desk, appointment_id=freed.id, reason="moved away", now=now,
                            settings=settings)
            session.commit()
            hold = requests[0].appointment_id
            rounds.append(Round(start, hold, token_of(session, first.id, hold), requests[0].id, requests[1].id,
                                second.id))
    return engine, settings, rounds


def together(*work: Callable[[], object]) -> list:
    """Run every piece of work from its own thread, all released at once by a barrier."""
    barrier = threading.Barrier(len(work), timeout=TIMEOUT_SECONDS)

    def run(job):
        barrier.wait()
        return job()

    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        return list(pool.map(run, work))


def accept(server: Server, token: str, hold: int) -> Callable[[], httpx.Response]:
    return lambda: httpx.post(f"{server.base_url}{PUBLIC}/patients/{token}/offers/{hold}/accept",
                              timeout=TIMEOUT_SECONDS)


def started(start_server, url: str, count: int) -> list[Server]:
    return [start_server(url, CLINIC_BACKGROUND_JOBS="false") for _ in range(count)]


def live_at(session: Session, start: datetime) -> list[Appointment]:
    return list(session.exec(select(Appointment).where(
        Appointment.starts_at == start, Appointment.status.in_([AppointmentStatus.PENDING, AppointmentStatus.BOOKED]))
        .execution_options(populate_existing=True)))


def actions_of(session: Session, appointment_id: int) -> list[str]:
    return list(session.exec(select(AuditEntry.action).where(AuditEntry.appointment_id == appointment_id)
                             .order_by(AuditEntry.id)))


RACES = [pytest.param("sqlite", 1, id="sqlite-one-server"),
         pytest.param("postgresql", 2, id="postgresql-two-servers", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend, processes", RACES)
def test_the_patient_accepting_and_the_desk_releasing_or_cancelling_one_offer_take_turns(
        backend, processes, start_server, tmp_path, request):
    url = (request.getfixturevalue("postgres_databases")() if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'offers.db'}")
    engine, _, rounds = prepare(url, range(2, 8))  # six rounds: each order of the two writes, releasing and cancelling
    servers = started(start_server, url, processes)
    desk = sign_in(servers[0])
    for number, race in enumerate(rounds):
        patient_side, desk_side = servers[number % processes], servers[(number + 1) % processes]
        releasing = number % 2 == 0
        desk_write = (lambda: httpx.delete(f"{desk_side.base_url}{API}/holds/{race.hold}", headers=desk,
                                           timeout=TIMEOUT_SECONDS)) if releasing else (
            lambda: httpx.post(f"{desk_side.base_url}{API}/appointments/{race.hold}/cancel", headers=desk,
                               json={"reason": "the patient called: not that day"}, timeout=TIMEOUT_SECONDS))
        accepted, desk_answer = together(accept(patient_side, race.token, race.hold), desk_write)
        assert accepted.status_code < 500 and desk_answer.status_code < 500, (accepted.text, desk_answer.text)
        with Session(engine) as session:
            hold = session.get(Appointment, race.hold)
            first, second = session.get(WaitlistRequest, race.first), session.get(WaitlistRequest, race.second)
            actions = actions_of(session, race.hold)
            live = live_at(session, race.start)
            if accepted.status_code == 200:  # the patient first: booked, then the desk's write sees a booking
                assert first.status == WaitlistStatus.BOOKED and first.appointment_id == race.hold
                if releasing:
                    assert desk_answer.status_code == 409 and "booked" in desk_answer.json()["detail"]
                    assert hold.status == AppointmentStatus.BOOKED and actions == ["hold", "book"]
                    assert second.status == WaitlistStatus.WAITING and [a.id for a in live] == [race.hold]
                else:  # a booking cancelled: its time goes to the next waiting patient, as any cancellation's
                    assert desk_answer.status_code == 200 and actions == ["hold", "book", "cancel"]
                    assert second.status == WaitlistStatus.OFFERED
                    assert [(a.patient_id, a.status) for a in live] == [(race.second_patient,
                                                                          AppointmentStatus.PENDING)]
            else:  # the desk first: the offer is gone, the patient waits again and the time goes to the next one
                assert accepted.status_code == 410 and accepted.json()["detail"] == waitlist.NO_LONGER_AVAILABLE
                assert desk_answer.status_code == 200, desk_answer.text
                assert hold.status == AppointmentStatus.CANCELLED
                assert actions == ["hold", "release" if releasing else "cancel"]
                assert first.status == WaitlistStatus.WAITING and second.status == WaitlistStatus.OFFERED
                assert [(a.patient_id, a.status) for a in live] == [(race.second_patient, AppointmentStatus.PENDING)]
            assert session.exec(select(func.count()).select_from(PatientMessage).where(
                PatientMessage.kind == MessageKind.WAITLIST_OFFER,
                PatientMessage.appointment_id.in_([a.id for a in live] + [race.hold]))).one() == len(
                [a for a in live if a.status == AppointmentStatus.PENDING]) + 1, "one offer message per offer"
    with engine.connect() as connection:
        assert schedule_violations(connection, now=datetime.now(UTC)) == []
    engine.dispose()


@pytest.mark.parametrize("backend, processes", RACES)
def test_the_patient_accepting_and_the_desk_closing_the_request_take_turns(backend, processes, start_server,
                                                                             tmp_path, request):
    """The patient follows the offer's link just as the desk closes the request (the patient said on the phone
    they no longer wait): either the booking stands and the close is refused, or the request is closed, the offer
    gone for the patient and its time offered to the next one."""
    url = (request.getfixturevalue("postgres_databases")() if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'offers.db'}")
    engine, _, rounds = prepare(url, range(2, 6))
    servers = started(start_server, url, processes)
    desk = sign_in(servers[0])
    for number, race in enumerate(rounds):
        patient_side, desk_side = servers[number % processes], servers[(number + 1) % processes]
        accepted, closed = together(accept(patient_side, race.token, race.hold), lambda: httpx.delete(
            f"{desk_side.base_url}{API}/waitlist/{race.first}", headers=desk, timeout=TIMEOUT_SECONDS))
        with Session(engine) as session:
            hold = session.get(Appointment, race.hold)
            first, second = session.get(WaitlistRequest, race.first), session.get(WaitlistRequest, race.second)
            live = live_at(session, race.start)
            if accepted.status_code == 200:
                assert closed.status_code == 409 and "booked" in closed.json()["detail"], closed.text
                assert (first.status, hold.status) == (WaitlistStatus.BOOKED, AppointmentStatus.BOOKED)
                assert second.status == WaitlistStatus.WAITING and [a.id for a in live] == [race.hold]
            else:  # no promise of another offer: the patient no longer waits
                assert accepted.status_code == 410, accepted.text
                assert accepted.json()["detail"] == waitlist.NOT_AVAILABLE_NOW, accepted.text
                assert closed.status_code == 200 and closed.json()["status"] == "closed", closed.text
                assert (first.status, hold.status) == (WaitlistStatus.CLOSED, AppointmentStatus.CANCELLED)
                assert actions_of(session, race.hold) == ["hold", "release"]
                assert second.status == WaitlistStatus.OFFERED
                assert [(a.patient_id, a.status) for a in live] == [(race.second_patient, AppointmentStatus.PENDING)]
    with engine.connect() as connection:
        assert schedule_violations(connection, now=datetime.now(UTC)) == []
    engine.dispose()


@pytest.mark.parametrize("backend, processes", RACES)
def test_two_patients_after_one_freed_time_one_is_booked_and_the_other_told_politely(
        backend, processes, start_server, tmp_path, request):
    """The first patient's offer lapses; they follow its link just as the sweeper passes the time on, then again
    just as the second patient accepts the new offer."""
    url = (request.getfixturevalue("postgres_databases")() if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'offers.db'}")
    engine, settings, rounds = prepare(url, range(2, 8))
    servers = started(start_server, url, processes)
    for number, race in enumerate(rounds):
        one, other = servers[number % processes], servers[(number + 1) % processes]
        lapsed = datetime.now(UTC) - timedelta(minutes=1)
        with Session(engine) as session:
            session.exec(update(Appointment).where(Appointment.id == race.hold).values(hold_expires_at=lapsed))
            session.exec(update(Allocation).where(Allocation.appointment_id == race.hold)
                         .values(hold_expires_at=lapsed))
            session.commit()

        def sweeper():
            with Session(serialized(engine), info={"settings": settings}) as session:
                waitlist.lapse_offers(session, now=datetime.now(UTC), settings=settings)
                session.commit()

        late, _ = together(accept(one, race.token, race.hold), sweeper)
        assert late.status_code == 410 and late.json()["detail"] == waitlist.NO_LONGER_AVAILABLE, late.text
        with Session(engine) as session:
            (offer,) = live_at(session, race.start)
            assert (offer.patient_id, offer.status) == (race.second_patient, AppointmentStatus.PENDING), \
                "the time is offered once, to the next patient"
            assert session.get(WaitlistRequest, race.first).status == WaitlistStatus.WAITING
            assert session.get(WaitlistRequest, race.second).appointment_id == offer.id
            second_token = token_of(session, race.second_patient, offer.id)

        old_link, new_link = together(accept(other, race.token, race.hold), accept(one, second_token, offer.id))
        assert old_link.status_code == 410 and old_link.json()["detail"] == waitlist.NO_LONGER_AVAILABLE
        assert new_link.status_code == 200 and new_link.json()["status"] == "booked", new_link.text
        with Session(engine) as session:
            assert [(a.id, a.status) for a in live_at(session, race.start)] == [(offer.id, AppointmentStatus.BOOKED)]
            assert session.get(WaitlistRequest, race.first).status == WaitlistStatus.WAITING
    with engine.connect() as connection:
        assert schedule_violations(connection, now=datetime.now(UTC)) == []
    engine.dispose()
