"""What patients are told, kind by kind, received over real SMTP with the times in the location's zone.

A confirmed plan is one message listing every session (also across the spring-forward night of 14 March 2027);
a public request is told when it arrives (with its status link), when it is confirmed (once, not also as a
booking or a move) and when it is declined (with the reason); a nightly move is told, and the run record says
the same words; a waitlist hold placed by the nightly run is an offer with its accept link. SQLite and PostgreSQL,
with the fixtures of tests/test_messages.py.
"""

from datetime import date, datetime
from email.message import EmailMessage

from icalendar import Calendar
from sqlmodel import Session

from data.config import Settings
from data.enums import MessageKind, RunTrigger
from data.tables import Appointment, WaitlistRequest
from scheduler.optimization import run_optimization
from tests.clinic_world import NY, at
from tests.factories import API
from tests.test_messages import BOTH, Clinic, book, clinic, deliver, smtp  # noqa: F401 (fixtures)

PUBLIC = f"{API}/public"


def spoken(iso: str) -> str:
    """How a message says an instant: 'Wednesday, March 3 at 9:00 AM', New York time (written out here by hand)."""
    moment = datetime.fromisoformat(iso).astimezone(NY)
    hour = moment.hour % 12 or 12
    meridiem = "AM" if moment.hour < 12 else "PM"
    return f"{moment.strftime('%A, %B')} {moment.day} at {hour}:{moment.minute:02d} {meridiem}"


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()


def kinds(clinic: Clinic) -> list[tuple[MessageKind, int]]:
    return [(message.kind, message.patient_id) for message in clinic.messages()]


def public_requests(clinic: Clinic) -> None:
    app = clinic.client.app
    app.state.settings = app.state.settings.model_copy(update={
        "public_telehealth_service": "w_telehealth", "public_office_service": "w_msus"})


def night_slot(clinic: Clinic, day: int) -> dict:
    """A telehealth time at the all-night desk on the given March day, 03:00 New York time."""
    slots = clinic.client.get(f"{PUBLIC}/slots", params={"kind": "telehealth"}).json()
    return next(s for s in slots if s["location_name"] == "World Night Desk"
                and datetime.fromisoformat(s["start"]) == at(day, 3))


def ask(clinic: Clinic, slot: dict, email: str) -> dict:
    made = clinic.client.post(f"{PUBLIC}/requests", json={
        "kind": "telehealth", "location_id": slot["location_id"], "start": slot["start"], "given_name": "Nora",
        "family_name": "Visitor", "birth_date": "1990-04-02", "email": email, "reason": "sore knee"})
    assert made.status_code == 201, made.text
    return made.json()


def waiting_request(clinic: Clinic) -> dict:
    (waiting,) = clinic.client.get(f"{API}/visit-requests", headers=clinic.desk).json()
    return waiting


@BOTH
def test_a_confirmed_plan_is_one_message_listing_every_session_across_the_clock_change(clinic, smtp):
    ann = clinic.world.patients[0]
    plan = clinic.client.post(f"{API}/plans", headers=clinic.desk, json={
        "patient_id": ann.id, "location_id": clinic.world.midtown.id, "earliest_start": "2027-03-09",
        "latest_end": "2027-03-31", "links": [], "lines": [
            {"service_id": clinic.world.eswt.id, "count": 3, "min_gap_days": 5, "max_gap_days": 8,
             "same_clinician": "preferred"}]})
    assert plan.status_code == 201, plan.text
    assert clinic.client.post(f"{API}/plans/{plan.json()['id']}/proposal", headers=clinic.desk).status_code == 200
    confirmed = clinic.client.post(f"{API}/plans/{plan.json()['id']}/confirm", headers=clinic.desk)
    assert confirmed.status_code == 200, confirmed.text
    starts = sorted(s["appointment"]["start"] for s in confirmed.json()["sessions"])
    assert len(starts) == 3 and starts[0] < at(14, 0).isoformat() < starts[-1], "on both sides of 14 March"

    assert kinds(clinic) == [(MessageKind.PLAN_CONFIRMED, ann.id)], "one message, no booking message per session"
    assert deliver(clinic, smtp).sent == 1
    (mail,) = smtp.received
    assert mail["Subject"] == "Your treatment plan is booked: 3 sessions"
    lines = "; ".join(f"{spoken(start)}: Shockwave therapy" for start in starts)
    assert f"Your treatment plan is booked (America/New York time): {lines}." in text_of(mail)
    assert all(datetime.fromisoformat(start).astimezone(NY).hour >= 8 for start in starts), "wall clock, not UTC"


@BOTH
def test_a_visitor_is_told_the_request_arrived_and_then_that_it_was_confirmed_once(clinic, smtp):
    public_requests(clinic)
    slot = night_slot(clinic, 4)
    made = ask(clinic, slot, "nora@example.org")
    (received,) = clinic.messages()
    assert (received.kind, received.recipient) == (MessageKind.REQUEST_RECEIVED, "nora@example.org")
    request = waiting_request(clinic)
    confirmed = clinic.client.post(f"{API}/visit-requests/{request['id']}/confirm", headers=clinic.desk, json={})
    assert confirmed.status_code == 200, confirmed.text
    assert [m.kind for m in clinic.messages()] == [MessageKind.REQUEST_RECEIVED, MessageKind.REQUEST_CONFIRMED], \
        "the booked hold is told as the request's confirmation, not also as a booking"

    assert deliver(clinic, smtp).sent == 2
    arrived, booked = smtp.received
    assert arrived["Subject"] == "We have your request for Thursday, March 4 at 3:00 AM"
    held_until = spoken(made["hold_expires_at"])
    assert f"The clinic holds the time for you until {held_until} and will confirm" in text_of(arrived)
    assert made["status_url"] in text_of(arrived), "the status page's link, kept for the visitor"
    assert booked["Subject"] == "Confirmed: Telehealth consultation, Thursday, March 4 at 3:00 AM"
    assert "(America/New York time)" in text_of(booked)
    (attachment,) = [part for part in booked.iter_attachments() if part.get_content_type() == "text/calendar"]
    (event,) = Calendar.from_ical(attachment.get_content()).walk("VEVENT")
    assert event.decoded("dtstart") == at(4, 3)


@BOTH
def test_a_declined_request_tells_the_visitor_the_reason(clinic, smtp):
    public_requests(clinic)
    ask(clinic, night_slot(clinic, 5), "nora@example.org")
    request = waiting_request(clinic)
    declined = clinic.client.post(f"{API}/visit-requests/{request['id']}/decline", headers=clinic.desk,
                                  json={"reason": "telehealth cannot examine a knee; please book an office visit"})
    assert declined.status_code == 200, declined.text
    assert [m.kind for m in clinic.messages()] == [MessageKind.REQUEST_RECEIVED, MessageKind.REQUEST_DECLINED]
    deliver(clinic, smtp)
    mail = smtp.received[1]
    assert mail["Subject"] == "About your request for Friday, March 5 at 3:00 AM"
    assert ("could not accept your request for Friday, March 5 at 3:00 AM (America/New York time): telehealth "
            "cannot examine a knee; please book an office visit.") in " ".join(text_of(mail).split())
    assert not [part for part in mail.iter_attachments() if part.get_content_type() == "text/calendar"]


@BOTH
def test_a_patient_s_move_request_is_told_on_arrival_and_confirmed_as_the_request_not_as_a_move(clinic, smtp):
    ben = clinic.world.patients[1]
    session = book(clinic, ben, at(3, 9))
    link = clinic.client.post(f"{API}/patients/{ben.id}/link", headers=clinic.desk).json()["url"]
    token = link.rsplit("/", 1)[1]
    options = clinic.client.get(f"{PUBLIC}/patients/{token}/sessions/{session['id']}/slots").json()
    target = next(o for o in options if datetime.fromisoformat(o["start"]) == at(4, 10))
    asked = clinic.client.post(f"{PUBLIC}/patients/{token}/moves", json={
        "appointment_id": session["id"], "location_id": target["location_id"], "start": target["start"]})
    assert asked.status_code == 201, asked.text
    request = waiting_request(clinic)
    clinic.client.post(f"{API}/visit-requests/{request['id']}/confirm", headers=clinic.desk,
                       json={}).raise_for_status()
    assert kinds(clinic) == [(MessageKind.BOOKED, ben.id), (MessageKind.REQUEST_RECEIVED, ben.id),
                             (MessageKind.REQUEST_CONFIRMED, ben.id)]
    deliver(clinic, smtp)
    subjects = [mail["Subject"] for mail in smtp.received]
    assert subjects[1:] == ["We have your request for Thursday, March 4 at 10:00 AM",
                            "Confirmed: Shockwave therapy, Thursday, March 4 at 10:00 AM"]


@BOTH
def test_a_nightly_move_and_a_nightly_waitlist_hold_are_told_as_the_run_record_says(clinic, smtp):
    """Shockwave at 09:00 blocks the one unit until 09:55; a waiting patient needs 09:45-10:15, so the night moves
    the booked session to 08:45 (policy: 15 minutes) and offers 09:45 to the waiting one."""
    ann, ben = clinic.world.patients[:2]
    promised = book(clinic, ben, at(3, 9))
    with Session(clinic.engine) as session:
        session.add(WaitlistRequest(patient_id=ann.id, service_id=clinic.world.eswt.id,
                                    earliest_day=date(2027, 3, 3), latest_day=date(2027, 3, 3),
                                    earliest_time=at(3, 9, 45).time(), latest_time=at(3, 10, 15).time(),
                                    created_at=clinic.now()))
        session.commit()
    policy = Settings(background_jobs=False, secret_key="message-kinds-secret-key-0123456789",
                      nightly_move_minutes=15)
    run = run_optimization(clinic.engine, location_id=clinic.world.midtown.id, trigger=RunTrigger.MANUAL,
                           now=at(1, 2), settings=policy)
    assert run.sessions_placed == 1, run.error
    (move,) = [change for change in run.changes if change["action"] == "move"]
    (offer,) = [change for change in run.changes if change["action"] == "waitlist_hold"]
    assert move["appointment_id"] == promised["id"] and move["patient_told"] == ["email"]
    assert move["patient_message"] == ("The clinic has moved your Shockwave therapy from Wednesday, March 3 at "
                                       "9:00 AM to Wednesday, March 3 at 8:45 AM (America/New York time).")
    assert kinds(clinic)[1:] == [(MessageKind.NIGHTLY_MOVE, ben.id), (MessageKind.WAITLIST_OFFER, ann.id)]

    clinic.clock[0] = at(1, 8)
    deliver(clinic, smtp)
    (moved,) = [mail for mail in smtp.received if mail["Subject"].startswith("New time")]
    (offered,) = [mail for mail in smtp.received if mail["Subject"].startswith("A time has opened")]
    assert (moved["To"], offered["To"]) == ("patient1@example.org", "patient0@example.org")
    assert moved["Subject"] == "New time: Shockwave therapy, Wednesday, March 3 at 8:45 AM"
    assert ("has moved your Shockwave therapy from Wednesday, March 3 at 9:00 AM to Wednesday, March 3 at "
            "8:45 AM (America/New York time)") in " ".join(text_of(moved).split())
    assert offered["Subject"] == "A time has opened: Wednesday, March 3 at 9:45 AM"
    with Session(clinic.engine) as session:
        hold = session.get(Appointment, offer["appointment_id"])
        until = spoken(hold.hold_expires_at.isoformat())
    words = " ".join(text_of(offered).split())
    assert f"It is held for you until {until}; accept it here: " in words
    assert words.split("accept it here: ")[1].split()[0].endswith(f"?accept={offer['appointment_id']}")

