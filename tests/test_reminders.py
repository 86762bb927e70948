"""Reminders end to end: written by the reminder job at their exact moment (elapsed hours before the session, in
New York across both 2027 DST days), sent over real SMTP by the delivery worker, once however often the job runs,
again for a moved session, never for a cancelled one, outside quiet hours; the patient confirms or cancels from the
reminder's link and the schedule and the roster show the confirmation. SQLite and PostgreSQL.

The clinic, the SMTP server and the hand-moved clock are tests/test_messages.py's fixtures.
"""

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlmodel import Session, select

from data.enums import AppointmentStatus, Channel, MessageKind, MessageStatus
from data.tables import Appointment, AuditEntry, Location, PatientMessage
from scheduler import booking
from scheduler.delivery import deliver_due
from scheduler.reminders import LOOKAHEAD, planned, remind_due
from tests.clinic_world import NY, at
from tests.conftest import BACKENDS
from tests.factories import API
from tests.lock_waits import someone_waits_on_a_lock
from tests.test_messages import BOTH, Clinic, book, clinic, deliver, sender, smtp  # noqa: F401 (fixtures)


def remind(clinic: Clinic) -> int:
    return remind_due(clinic.engine, settings=clinic.client.app.state.settings, now=clinic.now())


def tick(clinic: Clinic, smtp, moment: datetime) -> list:
    """The clock reaches ``moment`` and both jobs run, as in `clinic worker`; the reminder mails that arrived."""
    clinic.clock[0] = moment
    remind(clinic)
    before = len(smtp.received)
    deliver(clinic, smtp)
    return [mail for mail in smtp.received[before:] if mail["Subject"].startswith("Reminder:")]


def reminders(clinic: Clinic, appointment_id: int | None = None) -> list[PatientMessage]:
    return [m for m in clinic.messages() if m.kind == MessageKind.REMINDER
            and appointment_id in (None, m.appointment_id)]


def booked(clinic: Clinic, smtp, patient, start: datetime) -> dict:
    """A session booked now, its booking confirmation delivered and out of the way."""
    appointment = book(clinic, patient, start)
    deliver(clinic, smtp)
    return appointment


def move(clinic: Clinic, appointment: dict, start: datetime) -> None:
    response = clinic.client.post(f"{API}/appointments/{appointment['id']}/reschedule", headers=clinic.desk,
                                  json={"start": start.isoformat(), "clinician_id": clinic.world.dana.id})
    assert response.status_code == 200, response.text


def page_token(mail) -> str:
    return mail.get_body(("plain",)).get_content().split("https://clinic.example.org/me/")[1].split()[0]


def quiet_nights(clinic: Clinic) -> None:
    with Session(clinic.engine) as session:
        location = session.get(Location, clinic.world.midtown.id)
        location.quiet_from, location.quiet_until = time(21), time(8)
        session.commit()


@BOTH
def test_reminders_come_48_and_2_elapsed_hours_before_on_both_dst_days_with_the_local_time(clinic, smtp):
    ann, ben = clinic.world.patients[:2]
    spring = booked(clinic, smtp, ann, at(14, 9))  # Sunday March 14 2027: clocks spring forward at 2:00
    autumn = booked(clinic, smtp, ben, at(7, 9, month=11))  # Sunday November 7 2027: clocks fall back at 2:00
    due = [  # elapsed hours: the 48-hour reminder of 9:00 EDT goes at 8:00 EST (9:00 EST would be 47 hours)
        (spring, 48, datetime(2027, 3, 12, 13, 0, tzinfo=UTC), "8:00 EST", "Sunday, March 14 at 9:00 AM"),
        (spring, 2, datetime(2027, 3, 14, 11, 0, tzinfo=UTC), "7:00 EDT", "Sunday, March 14 at 9:00 AM"),
        (autumn, 48, datetime(2027, 11, 5, 14, 0, tzinfo=UTC), "10:00 EDT", "Sunday, November 7 at 9:00 AM"),
        (autumn, 2, datetime(2027, 11, 7, 12, 0, tzinfo=UTC), "7:00 EST", "Sunday, November 7 at 9:00 AM"),
    ]
    for appointment, hours, moment, local, when in due:
        local_moment = moment.astimezone(NY)
        assert f"{local_moment.hour}:{local_moment:%M %Z}" == local
        assert tick(clinic, smtp, moment - LOOKAHEAD - timedelta(minutes=1)) == []
        assert len(reminders(clinic, appointment["id"])) == (0 if hours == 48 else 1), "not written before its time"
        assert tick(clinic, smtp, moment - timedelta(minutes=5)) == [], "written, but not sent before its moment"
        written = reminders(clinic, appointment["id"])[-1]
        assert written.next_attempt_at == moment and written.status == MessageStatus.PENDING
        start = datetime.fromisoformat(appointment["start"]).astimezone(UTC).isoformat()
        assert written.change_key == f"reminder:{appointment['id']}:{hours}h:{start}"
        (mail,) = tick(clinic, smtp, moment)
        assert mail["To"] == f"patient{0 if appointment is spring else 1}@example.org"
        assert mail["Subject"] == f"Reminder: Shockwave therapy, {when}"
        text = mail.get_body(("plain",)).get_content()
        assert f"on {when} (America/New York time) at World Midtown" in text
        assert reminders(clinic, appointment["id"])[-1].sent_at == moment
    assert len(smtp.received) == 2 + 4, "two booking confirmations and four reminders, nothing else"


@BOTH
def test_a_reminder_job_run_twice_tells_once(clinic, smtp):
    appointment = booked(clinic, smtp, clinic.world.patients[0], at(5, 9))
    clinic.clock[0] = at(3, 8, 55)
    assert remind(clinic) == 1
    assert remind(clinic) == 0
    assert len(tick(clinic, smtp, at(3, 9))) == 1
    assert tick(clinic, smtp, at(3, 9, 1)) == [] and remind(clinic) == 0, "sent: not written again"
    assert [m.change_key for m in reminders(clinic)] == [f"reminder:{appointment['id']}:48h:2027-03-05T14:00:00+00:00"]


@pytest.mark.postgres
@pytest.mark.parametrize("migrated_database_url", [BACKENDS[1]], indirect=True)
def test_two_reminder_jobs_at_once_on_postgresql_write_each_reminder_once(clinic, smtp):
    for day in (5, 6):
        for hour, patient in zip((9, 10, 11), clinic.world.patients):
            booked(clinic, smtp, patient, at(day, hour))
    clinic.clock[0] = at(4, 8, 55)  # the 48-hour reminders of the 6th's sessions are due in the next 15 minutes
    start, written = threading.Barrier(2), []

    def job():
        start.wait()
        written.append(remind(clinic))

    jobs = [threading.Thread(target=job) for _ in range(2)]
    for thread in jobs:
        thread.start()
    for thread in jobs:
        thread.join()
    assert sum(written) == 3 and len(reminders(clinic)) == 3


@pytest.mark.postgres
@pytest.mark.parametrize("migrated_database_url", [BACKENDS[1]], indirect=True)
def test_a_cancellation_under_way_while_the_job_runs_leaves_no_reminder_on_postgresql(clinic, smtp):
    appointment = booked(clinic, smtp, clinic.world.patients[0], at(5, 9))
    clinic.clock[0] = at(3, 8, 55)
    written = []
    with Session(clinic.engine) as desk:
        booking.change_status(desk, actor=None, appointment_id=appointment["id"], action="cancel", now=clinic.now(),
                              reason="patient called")  # not committed yet: the session's lock is held
        job = threading.Thread(target=lambda: written.append(remind(clinic)))
        job.start()
        assert someone_waits_on_a_lock(clinic.engine, unless=lambda: not job.is_alive()), "the job waits"
        desk.commit()
    job.join()
    assert written == [0] and reminders(clinic) == []


@BOTH
def test_a_moved_session_is_reminded_of_its_new_time_and_a_pending_reminder_of_the_old_one_is_withdrawn(clinic,
                                                                                                       smtp):
    appointment = booked(clinic, smtp, clinic.world.patients[0], at(5, 9))
    (first,) = tick(clinic, smtp, at(3, 9))
    assert first["Subject"] == "Reminder: Shockwave therapy, Friday, March 5 at 9:00 AM"
    clinic.clock[0] = at(3, 10)
    move(clinic, appointment, at(6, 10))
    (again,) = tick(clinic, smtp, at(4, 10))
    assert again["Subject"] == "Reminder: Shockwave therapy, Saturday, March 6 at 10:00 AM"

    assert tick(clinic, smtp, at(6, 7, 50)) == []
    (pending,) = [m for m in reminders(clinic) if m.status == MessageStatus.PENDING]
    assert pending.change_key.endswith(":2h:2027-03-06T15:00:00+00:00") and pending.next_attempt_at == at(6, 8)
    clinic.clock[0] = at(6, 7, 55)
    move(clinic, appointment, at(6, 14))
    assert [m for m in reminders(clinic) if m.status == MessageStatus.PENDING] == [], "withdrawn with the move"
    assert tick(clinic, smtp, at(6, 8)) == []
    assert tick(clinic, smtp, at(6, 11, 59)) == []
    (new_time,) = tick(clinic, smtp, at(6, 12))
    assert new_time["Subject"] == "Reminder: Shockwave therapy, Saturday, March 6 at 2:00 PM"
    assert [m.change_key.split(":", 2)[2] for m in reminders(clinic)] == [
        "48h:2027-03-05T14:00:00+00:00", "48h:2027-03-06T15:00:00+00:00", "2h:2027-03-06T19:00:00+00:00"], \
        "no 48-hour reminder for 2:00 PM: the session moved there later than that"


@BOTH
def test_a_cancelled_session_s_pending_reminder_is_never_sent(clinic, smtp):
    appointment = booked(clinic, smtp, clinic.world.patients[0], at(5, 9))
    tick(clinic, smtp, at(5, 6, 50))
    assert [m.status for m in reminders(clinic)] == [MessageStatus.PENDING]
    clinic.clock[0] = at(5, 6, 55)
    clinic.client.post(f"{API}/appointments/{appointment['id']}/cancel", headers=clinic.desk,
                       json={"reason": "patient called"}).raise_for_status()
    assert reminders(clinic) == []
    assert tick(clinic, smtp, at(5, 7)) == [] and reminders(clinic) == []
    assert smtp.received[-1]["Subject"].startswith("Cancelled:")


@BOTH
def test_a_reminder_withdrawn_while_a_worker_holds_it_is_skipped_and_the_round_goes_on(clinic, smtp):
    ann, ben = clinic.world.patients[:2]
    first = booked(clinic, smtp, ann, at(5, 9))
    second = booked(clinic, smtp, ben, at(5, 10))
    clinic.clock[0] = at(5, 6, 50)
    remind(clinic)
    clinic.clock[0] = at(5, 7, 50)
    remind(clinic)
    assert len(reminders(clinic)) == 2
    clinic.clock[0] = at(5, 8)
    mail = sender(smtp)

    class CancelsTheSecondMeanwhile:
        def send(self, message):
            if message.appointment_id == first["id"]:  # the desk cancels the second session during this send
                clinic.client.post(f"{API}/appointments/{second['id']}/cancel", headers=clinic.desk,
                                   json={"reason": "patient called"}).raise_for_status()
            return mail.send(message)

    round_ = deliver_due(clinic.engine, senders={Channel.EMAIL: CancelsTheSecondMeanwhile()}, clock=clinic.now,
                         worker="w1")
    assert round_.sent == 1
    assert [(m.appointment_id, m.status) for m in reminders(clinic)] == [(first["id"], MessageStatus.SENT)]
    assert [m["Subject"] for m in smtp.received[-1:]] == ["Reminder: Shockwave therapy, Friday, March 5 at 9:00 AM"]


@BOTH
def test_quiet_hours_hold_a_reminder_until_morning_and_drop_one_they_push_past_the_session(clinic, smtp):
    quiet_nights(clinic)  # 21:00 to 8:00
    ann, ben = clinic.world.patients[:2]
    early = booked(clinic, smtp, ann, at(5, 8))
    later = booked(clinic, smtp, ben, at(5, 9))
    assert [m["To"] for m in tick(clinic, smtp, at(3, 8))] == ["patient0@example.org"]
    assert [m["To"] for m in tick(clinic, smtp, at(3, 9))] == ["patient1@example.org"]
    tick(clinic, smtp, at(5, 5, 50))  # the 8:00 session's 2-hour reminder is due at 6:00, inside quiet hours
    assert reminders(clinic, early["id"])[-1].change_key.split(":")[2] == "48h", "8:00 would be too late"
    assert tick(clinic, smtp, at(5, 6, 50)) == []
    waiting = reminders(clinic, later["id"])[-1]
    assert waiting.change_key.split(":")[2] == "2h" and waiting.next_attempt_at == at(5, 8), "due 7:00, quiet"
    assert tick(clinic, smtp, at(5, 7, 59)) == []
    (morning,) = tick(clinic, smtp, at(5, 8))
    assert morning["To"] == "patient1@example.org"
    assert morning["Subject"] == "Reminder: Shockwave therapy, Friday, March 5 at 9:00 AM"


@BOTH
def test_a_session_booked_late_gets_only_the_reminders_still_ahead_of_its_booking(clinic, smtp):
    ann, ben = clinic.world.patients[:2]
    soon = booked(clinic, smtp, ann, at(1, 9))  # booked at 8:00 for 9:00: the 2-hour moment was before booking
    today = booked(clinic, smtp, ben, at(1, 11))  # booked 3 hours ahead: the 2-hour reminder, not the 48-hour one
    assert tick(clinic, smtp, at(1, 8, 5)) == [] and reminders(clinic) == []
    (mail,) = tick(clinic, smtp, at(1, 9))
    assert mail["Subject"] == "Reminder: Shockwave therapy, Monday, March 1 at 11:00 AM"
    assert [m.appointment_id for m in reminders(clinic)] == [today["id"]]
    assert soon["id"] not in {m.appointment_id for m in clinic.messages() if m.kind == MessageKind.REMINDER}


def test_which_reminders_a_session_gets():
    quiet = Location(name="Quiet", time_zone="America/New_York", quiet_from=time(21), quiet_until=time(8))
    start = at(10, 9)

    def hours(now, timed_at=at(1, 8), offsets=(48, 2), location=quiet):
        return [(r.hours, r.goes_at) for r in planned(starts_at=start, timed_at=timed_at, hours=offsets,
                                                      location=location, now=now)]

    assert hours(at(1, 8)) == [(2, at(10, 8)), (48, at(8, 9))], "2 hours before is 7:00, quiet until 8:00"
    assert hours(at(8, 20)) == [(2, at(10, 8)), (48, at(8, 20))], "the job was down 11 hours: late, still sent"
    assert hours(at(9, 10)) == [(2, at(10, 8))], "a day late: nearer the 2-hour reminder than its own moment"
    assert hours(at(1, 8), offsets=(12, 2)) == [(2, at(10, 8))], "quiet hours push 21:00 to the 2-hour one's 8:00"
    assert hours(at(1, 8), timed_at=at(10, 7, 30)) == [], "booked after both moments"
    assert hours(at(10, 8, 30), offsets=(2,), location=Location(name="Open", time_zone="America/New_York")) == [
        (2, at(10, 8, 30))], "late but before the start: sent now"


@BOTH
def test_the_patient_confirms_from_the_reminder_and_the_schedule_and_roster_show_it_until_a_move(clinic, smtp):
    ann = clinic.world.patients[0]
    appointment = booked(clinic, smtp, ann, at(5, 9))
    (mail,) = tick(clinic, smtp, at(3, 9))
    token = page_token(mail)
    (listed,) = clinic.client.get(f"{API}/public/patients/{token}/sessions").json()
    assert listed["confirmed_at"] is None and listed["cancel_until"] == at(4, 9).isoformat()
    clinic.clock[0] = at(3, 9, 20)
    confirmed = clinic.client.post(f"{API}/public/patients/{token}/sessions/{appointment['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["confirmed_at"] == at(3, 9, 20).isoformat()
    clinic.clock[0] = at(3, 9, 30)
    again = clinic.client.post(f"{API}/public/patients/{token}/sessions/{appointment['id']}/confirm")
    assert again.json()["confirmed_at"] == at(3, 9, 20).isoformat(), "the first confirmation stands"

    def shown() -> tuple:
        (session,) = clinic.client.get(f"{API}/schedule", headers=clinic.desk, params={
            "location_id": clinic.world.midtown.id, "day": "2027-03-05"}).json()["sessions"]
        (entry,) = clinic.client.get(f"{API}/clinicians/{clinic.world.dana.id}/roster", headers=clinic.desk, params={
            "start": at(5, 0).isoformat(), "end": at(6, 0).isoformat()}).json()
        return session["patient_confirmed_at"], entry["patient_confirmed_at"]

    assert shown() == (at(3, 9, 20).isoformat(), at(3, 9, 20).isoformat())
    with Session(clinic.engine) as session:
        (entry,) = session.exec(select(AuditEntry).where(AuditEntry.action == "patient_confirm")).all()
        assert (entry.actor, entry.actor_id, entry.appointment_id) == (f"patient {ann.id}", None, appointment["id"])
    move(clinic, appointment, at(5, 10))
    assert shown() == (None, None), "the patient confirmed the old time"


@BOTH
def test_the_patient_cancels_from_their_page_until_the_cut_off_and_is_asked_to_call_after(clinic, smtp):
    ann, ben = clinic.world.patients[:2]
    tomorrow = booked(clinic, smtp, ann, at(2, 9))
    later = booked(clinic, smtp, ann, at(5, 9))
    others = booked(clinic, smtp, ben, at(5, 10))
    token = page_token(smtp.received[0])
    clinic.clock[0] = at(1, 9, 30)  # 23.5 hours before tomorrow's session
    late = clinic.client.post(f"{API}/public/patients/{token}/sessions/{tomorrow['id']}/cancel")
    assert late.status_code == 409
    assert "too soon to cancel here. Please call World Midtown" in late.json()["detail"]
    assert clinic.client.post(f"{API}/public/patients/{token}/sessions/{others['id']}/cancel").status_code == 404

    cancelled = clinic.client.post(f"{API}/public/patients/{token}/sessions/{later['id']}/cancel")
    assert cancelled.status_code == 204, cancelled.text
    with Session(clinic.engine) as session:
        stored = session.get(Appointment, later["id"])
        assert stored.status == AppointmentStatus.CANCELLED
        assert stored.cancel_reason == "cancelled by the patient from their page"
        (entry,) = session.exec(select(AuditEntry).where(AuditEntry.action == "cancel")).all()
        assert entry.actor == f"patient {ann.id}"
    listed = clinic.client.get(f"{API}/public/patients/{token}/sessions").json()
    assert [s["appointment_id"] for s in listed] == [tomorrow["id"]]
    twice = clinic.client.post(f"{API}/public/patients/{token}/sessions/{later['id']}/cancel")
    assert twice.status_code == 409 and "already cancelled" in twice.json()["detail"]
    deliver(clinic, smtp)
    assert smtp.received[-1]["Subject"] == "Cancelled: Shockwave therapy, Friday, March 5 at 9:00 AM"
