"""Patient messages end to end: the outbox written with the change, delivered over real SMTP (aiosmtpd on a free
port) by the delivery worker, retried, given up, never lost and never doubled; SQLite and PostgreSQL.

Each test has its own committed database (the worker opens its own sessions), the real API in process, and a
clock it moves by hand.
"""

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlmodel import Session, select

from api.deps import get_now
from api.main import create_app
from data.config import Settings
from data.db import make_engine
from data.enums import Channel, MessageKind, MessageStatus, Role
from data.accounts import upsert_user
from data.tables import PatientMessage
from scheduler.delivery import deliver_due
from scheduler.email_channel import SmtpSender
from scheduler.outbox import spoken
from tests.clinic_world import NOW, NY, at, build_world
from tests.conftest import BACKENDS, PASSWORD
from tests.factories import API
from tests.servers import free_port


@dataclass
class Inbox:
    """An aiosmtpd handler keeping what it receives; it can refuse recipients for now (451) or for good (550)."""

    received: list = field(default_factory=list)
    refuse: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def up(self) -> None:
        """(Re)start the server on its port; a stopped aiosmtpd controller cannot be started again."""
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp():
    inbox = Inbox()
    inbox.port = free_port()
    inbox.up()
    yield inbox
    inbox.down()


@dataclass
class Clinic:
    engine: object
    client: TestClient
    world: object
    desk: dict
    clock: list

    def now(self) -> datetime:
        return self.clock[0]

    def messages(self) -> list[PatientMessage]:
        with Session(self.engine) as session:
            return list(session.exec(select(PatientMessage).order_by(PatientMessage.id)))


@pytest.fixture
def clinic(migrated_database_url):
    engine = make_engine(migrated_database_url)
    with Session(engine, expire_on_commit=False) as session:
        world = build_world(session)
        for n, patient in enumerate(world.patients):
            patient.email = f"patient{n}@example.org"
        upsert_user(session=session, username="desk", password=PASSWORD, role=Role.FRONT_DESK)
        session.commit()
    settings = Settings(database_url=migrated_database_url, secret_key="messages-test-key-" + "k" * 32,
                        background_jobs=False, public_base_url="https://clinic.example.org")
    app = create_app(settings, engine)
    clock = [NOW]
    app.dependency_overrides[get_now] = lambda: clock[0]
    with TestClient(app) as client:
        token = client.post(f"{API}/auth/token", data={"username": "desk", "password": PASSWORD}).json()
        yield Clinic(engine, client, world, {"Authorization": f"Bearer {token['access_token']}"}, clock)
    engine.dispose()


def sender(smtp: Inbox) -> SmtpSender:
    return SmtpSender(host="127.0.0.1", port=smtp.port, starttls=False, sender="desk@clinic.example.org",
                      sender_name="World Midtown", domain="clinic.example.org")


def deliver(clinic: Clinic, smtp: Inbox, worker: str = "w1"):
    return deliver_due(clinic.engine, senders={Channel.EMAIL: sender(smtp)}, clock=clinic.now, worker=worker)


def book(clinic: Clinic, patient, start: datetime, service=None) -> dict:
    response = clinic.client.post(f"{API}/appointments", headers=clinic.desk, json={
        "service_id": (service or clinic.world.eswt).id, "patient_id": patient.id, "start": start.isoformat(),
        "clinician_id": clinic.world.dana.id})
    assert response.status_code == 201, response.text
    return response.json()


BOTH = pytest.mark.parametrize("migrated_database_url", BACKENDS, indirect=True)


@BOTH
def test_a_booking_is_confirmed_by_e_mail_in_the_clinic_s_time_with_a_calendar_entry(clinic, smtp):
    appointment = book(clinic, clinic.world.patients[0], at(3, 9))
    (message,) = clinic.messages()
    assert message.kind == MessageKind.BOOKED and message.status == MessageStatus.PENDING
    assert deliver(clinic, smtp).sent == 1
    (mail,) = smtp.received
    assert mail["To"] == "patient0@example.org"
    assert mail["Subject"] == "Booked: Shockwave therapy, Wednesday, March 3 at 9:00 AM"
    assert mail["Message-ID"] == f"<patient-message-{message.id}@clinic.example.org>"
    text = mail.get_body(("plain",)).get_content()
    assert "Hello Ann," in text and "(America/New York time)" in text
    assert "https://clinic.example.org/me/" in text
    html = mail.get_body(("html",)).get_content()
    assert "Wednesday, March 3 at 9:00 AM" in html
    (attachment,) = [part for part in mail.iter_attachments() if part.get_content_type() == "text/calendar"]
    (event,) = Calendar.from_ical(attachment.get_content()).walk("VEVENT")
    assert event.decoded("dtstart") == at(3, 9)
    assert str(event["uid"]) == f"appointment-{appointment['id']}@clinic-scheduler"
    (stored,) = clinic.messages()
    assert stored.status == MessageStatus.SENT and stored.attempts == 1 and stored.sent_at == clinic.now()
    assert deliver(clinic, smtp).sent == 0 and len(smtp.received) == 1, "sent once"


@BOTH
def test_a_session_across_the_autumn_clock_change_is_booked_and_its_calendar_entry_is_right(clinic, smtp):
    """Owl's telehealth at 1:45 AM EDT on 7 November 2027 ends at 1:15 AM EST, half an hour later. Comparing the two
    in the clinic's zone reads 1:15 as before 1:45: booking (or moving a session there) for a patient told by e-mail
    was refused with "end must be after start", from the .ics the confirmation carries (found by a probe)."""
    start = datetime.fromisoformat("2027-11-07T01:45:00-04:00")
    response = clinic.client.post(f"{API}/appointments", headers=clinic.desk, json={
        "service_id": clinic.world.telehealth.id, "patient_id": clinic.world.patients[0].id,
        "start": start.isoformat(), "clinician_id": clinic.world.owl.id})
    assert response.status_code == 201, response.text
    assert response.json()["end"] == "2027-11-07T01:15:00-05:00"
    assert deliver(clinic, smtp).sent == 1
    (attachment,) = [part for part in smtp.received[0].iter_attachments()
                     if part.get_content_type() == "text/calendar"]
    (event,) = Calendar.from_ical(attachment.get_content()).walk("VEVENT")
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=30)


@BOTH
def test_moves_and_cancellations_are_told_and_a_refused_change_tells_nothing(clinic, smtp):
    ann, ben = clinic.world.patients[:2]
    appointment = book(clinic, ann, at(3, 9))
    taken = clinic.client.post(f"{API}/appointments", headers=clinic.desk, json={
        "service_id": clinic.world.eswt.id, "patient_id": ben.id, "start": at(3, 9).isoformat(),
        "clinician_id": clinic.world.dana.id})
    assert taken.status_code == 409
    moved = clinic.client.post(f"{API}/appointments/{appointment['id']}/reschedule", headers=clinic.desk,
                               json={"start": at(3, 10).isoformat(), "clinician_id": clinic.world.dana.id})
    assert moved.status_code == 200, moved.text
    cancelled = clinic.client.post(f"{API}/appointments/{appointment['id']}/cancel", headers=clinic.desk,
                                   json={"reason": "patient asked"})
    assert cancelled.status_code == 200
    assert [(m.kind, m.patient_id) for m in clinic.messages()] == [
        (MessageKind.BOOKED, ann.id), (MessageKind.RESCHEDULED, ann.id), (MessageKind.CANCELLED, ann.id)]
    deliver(clinic, smtp)
    subjects = [mail["Subject"] for mail in smtp.received]
    assert subjects == ["Booked: Shockwave therapy, Wednesday, March 3 at 9:00 AM",
                        "Moved: Shockwave therapy, now Wednesday, March 3 at 10:00 AM",
                        "Cancelled: Shockwave therapy, Wednesday, March 3 at 10:00 AM"]
    assert "from Wednesday, March 3 at 9:00 AM to Wednesday, March 3 at 10:00 AM" in \
        smtp.received[1].get_body(("plain",)).get_content()


@BOTH
def test_a_server_that_is_down_is_retried_and_the_message_arrives_once(clinic, smtp):
    book(clinic, clinic.world.patients[0], at(3, 9))
    smtp.down()
    first = deliver(clinic, smtp)
    assert first.retried == 1 and first.sent == 0
    (waiting,) = clinic.messages()
    assert waiting.status == MessageStatus.PENDING and waiting.attempts == 1
    assert waiting.next_attempt_at == clinic.now() + timedelta(minutes=1)
    assert "could not be reached" in waiting.last_error
    assert deliver(clinic, smtp).retried == 0, "not due again before its backoff"
    smtp.up()
    clinic.clock[0] += timedelta(minutes=1)
    assert deliver(clinic, smtp).sent == 1
    assert len(smtp.received) == 1
    assert clinic.messages()[0].attempts == 2


@BOTH
def test_a_temporary_refusal_is_retried_and_a_permanent_one_is_given_up(clinic, smtp):
    book(clinic, clinic.world.patients[0], at(3, 9))
    smtp.refuse = "451 4.7.1 greylisted, try again"
    assert deliver(clinic, smtp).retried == 1
    smtp.refuse = "550 5.1.1 no such mailbox"
    clinic.clock[0] += timedelta(minutes=5)
    assert deliver(clinic, smtp).failed == 1
    (given_up,) = clinic.messages()
    assert given_up.status == MessageStatus.FAILED and "550" in given_up.last_error
    clinic.clock[0] += timedelta(days=1)
    assert deliver(clinic, smtp) == deliver(clinic, smtp) and smtp.received == [], "never tried again"


@BOTH
def test_a_worker_killed_mid_batch_loses_nothing(clinic, smtp):
    for day, patient in zip((3, 4, 5), clinic.world.patients):
        book(clinic, patient, at(day, 9))

    class DiesOnSecond(SmtpSender):
        calls = 0

        def send(self, message):
            DiesOnSecond.calls += 1
            if DiesOnSecond.calls == 2:
                raise KeyboardInterrupt  # the process is killed while handing this one over
            return super().send(message)

    dying = DiesOnSecond(host="127.0.0.1", port=smtp.port, starttls=False, sender="desk@example.org")
    with pytest.raises(KeyboardInterrupt):
        deliver_due(clinic.engine, senders={Channel.EMAIL: dying}, clock=clinic.now, worker="dies")
    statuses = sorted(m.status for m in clinic.messages())
    assert statuses == [MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.SENT]
    assert deliver(clinic, smtp, "w2").sent == 0, "the claimed ones wait for the dead worker's lease"
    clinic.clock[0] += timedelta(minutes=6)
    assert deliver(clinic, smtp, "w2").sent == 2
    assert all(m.status == MessageStatus.SENT for m in clinic.messages())
    assert sorted(mail["To"] for mail in smtp.received) == [f"patient{n}@example.org" for n in range(3)]


@pytest.mark.postgres
@pytest.mark.parametrize("migrated_database_url", [BACKENDS[1]], indirect=True)
def test_two_workers_on_postgresql_send_each_message_exactly_once(clinic, smtp):
    for day in range(2, 12):
        for hour, patient in zip((9, 10, 11), clinic.world.patients):
            book(clinic, patient, at(day, hour))
    assert len(clinic.messages()) == 30
    start = threading.Barrier(2)

    def work(name):
        start.wait()
        while deliver_due(clinic.engine, senders={Channel.EMAIL: sender(smtp)}, clock=clinic.now, worker=name,
                          batch=3).sent:
            pass

    workers = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    ids = [mail["Message-ID"] for mail in smtp.received]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert {m.worker for m in clinic.messages()} == {"w0", "w1"}, "both workers took part"


@BOTH
def test_the_link_in_a_message_opens_the_patient_s_page_until_revoked_and_erasure_deletes_messages(clinic, smtp):
    ann = clinic.world.patients[0]
    appointment = book(clinic, ann, at(3, 9))
    deliver(clinic, smtp)
    text = smtp.received[0].get_body(("plain",)).get_content()
    token = text.split("https://clinic.example.org/me/")[1].split()[0]
    sessions = clinic.client.get(f"{API}/public/patients/{token}/sessions")
    assert sessions.status_code == 200 and [s["appointment_id"] for s in sessions.json()] == [appointment["id"]]
    assert clinic.client.delete(f"{API}/patients/{ann.id}/link", headers=clinic.desk).status_code == 204
    assert clinic.client.get(f"{API}/public/patients/{token}/sessions").status_code == 404

    clinic.client.post(f"{API}/appointments/{appointment['id']}/cancel", headers=clinic.desk,
                       json={"reason": "patient asked"}).raise_for_status()
    clinic.clock[0] = at(4, 9)
    admin = upsert_admin(clinic)
    erased = clinic.client.post(f"{API}/patients/{ann.id}/erase", headers=admin)
    assert erased.status_code == 200, erased.text
    assert [m for m in clinic.messages() if m.patient_id == ann.id] == []


def upsert_admin(clinic: Clinic) -> dict:
    with Session(clinic.engine) as session:
        upsert_user(session=session, username="boss", password=PASSWORD, role=Role.ADMIN)
        session.commit()
    token = clinic.client.post(f"{API}/auth/token", data={"username": "boss", "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_a_time_in_the_repeated_autumn_hour_says_which_one():
    """1:30 AM happens twice on 7 November 2027 in New York; a message said both the same way (noted by a probe)."""
    first, second = (datetime.fromisoformat(f"2027-11-07T01:30:00{offset}") for offset in ("-04:00", "-05:00"))
    assert spoken(first, NY) == "Sunday, November 7 at 1:30 AM EDT"
    assert spoken(second, NY) == "Sunday, November 7 at 1:30 AM EST"
    assert spoken(datetime.fromisoformat("2027-11-07T03:30:00-05:00"), NY) == "Sunday, November 7 at 3:30 AM"
