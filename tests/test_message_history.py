"""What the front desk sees of patients' messages and does about those that went wrong; the patient's consent
(the desk's record and the unsubscribe link); quiet hours per location; no address, name or body in the logs.

SQLite and PostgreSQL, each test on its own committed database with the real API in process, a real SMTP server
(aiosmtpd) and a clock moved by hand: the fixtures of tests/test_messages.py.
"""

import logging
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from data.db import serialized
from data.enums import Channel, MessageStatus
from data.errors import Conflict
from data.tables import PatientMessage, User
from scheduler import message_history
from scheduler.delivery import PermanentFailure, deliver_due
from tests.clinic_world import at
from tests.factories import API
from tests.test_messages import BOTH, book, clinic, deliver, sender, smtp, upsert_admin  # noqa: F401 (fixtures)

PHONE = "+1 212 555 0142"


def patch_patient(clinic, patient, **values) -> dict:
    response = clinic.client.patch(f"{API}/patients/{patient.id}", headers=clinic.desk, json=values)
    assert response.status_code == 200, response.text
    return response.json()


def history(clinic, path: str, **params) -> dict:
    response = clinic.client.get(f"{API}/{path}", headers=clinic.desk, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def problems(clinic, **params) -> list[int]:
    return [item["id"] for item in history(clinic, "messages", **params)["items"]]


def failed_by_the_mail_server(clinic, smtp, patient, day: int = 3) -> int:
    """A booking whose e-mail the mail server refuses for good: its message id."""
    appointment = book(clinic, patient, at(day, 9))
    smtp.refuse = "550 5.1.1 no such mailbox"
    deliver(clinic, smtp)
    smtp.refuse = None
    (message,) = [m for m in clinic.messages() if m.appointment_id == appointment["id"]]
    assert message.status == MessageStatus.FAILED
    return message.id


class DiesWhileSending:
    """A text provider client whose process is killed while handing the text over."""

    def send(self, message):
        raise KeyboardInterrupt


def uncertain_text(clinic, patient) -> int:
    """A text whose worker died mid-send: after the lease it is uncertain (sent or not, nobody knows)."""
    patch_patient(clinic, patient, phone=PHONE)
    book(clinic, patient, at(4, 9))
    (text,) = [m for m in clinic.messages() if m.channel == Channel.SMS]
    with pytest.raises(KeyboardInterrupt):
        deliver_due(clinic.engine, senders={Channel.SMS: DiesWhileSending()}, clock=clinic.now, worker="dies")
    clinic.clock[0] += timedelta(minutes=6)
    deliver_due(clinic.engine, senders={Channel.SMS: DiesWhileSending()}, clock=clinic.now, worker="w2")
    assert clinic.client.get(f"{API}/messages/{text.id}", headers=clinic.desk).json()["status"] == "uncertain"
    return text.id


@BOTH
def test_the_desk_reads_a_patient_s_and_a_session_s_messages_masked_in_the_location_s_zone(clinic, smtp):
    ann = clinic.world.patients[0]
    patch_patient(clinic, ann, phone=PHONE)
    appointment = book(clinic, ann, at(3, 9))
    clinic.clock[0] += timedelta(minutes=3)
    deliver(clinic, smtp)
    listed = history(clinic, f"patients/{ann.id}/messages")
    assert listed["total"] == 2
    by_channel = {item["channel"]: item for item in listed["items"]}
    mail, text = by_channel["email"], by_channel["sms"]
    assert mail["recipient"] == "p***@example.org" and text["recipient"] == "•••• 0142"
    assert (mail["kind"], mail["status"], mail["attempts"]) == ("booked", "sent", 1)
    assert mail["subject"] == "Booked: Shockwave therapy, Wednesday, March 3 at 9:00 AM"
    assert mail["created_at"] == "2027-03-01T08:00:00-05:00" and mail["sent_at"] == "2027-03-01T08:03:00-05:00"
    assert text["status"] == "pending" and text["next_attempt_at"] == "2027-03-01T08:00:00-05:00"
    assert mail["patient"] == "Ann World" and mail["appointment_id"] == appointment["id"]
    assert not any("body" in key for key in mail), "lists never carry the words"
    assert history(clinic, f"appointments/{appointment['id']}/messages")["total"] == 2
    opened = clinic.client.get(f"{API}/messages/{mail['id']}", headers=clinic.desk).json()
    assert opened["body_text"].startswith("Hello Ann,") and opened["recipient"] == "p***@example.org"
    assert clinic.client.get(f"{API}/patients/999999/messages", headers=clinic.desk).status_code == 404
    assert clinic.client.get(f"{API}/appointments/999999/messages", headers=clinic.desk).status_code == 404


@BOTH
def test_a_failed_message_is_listed_retried_to_the_corrected_address_and_arrives_once(clinic, smtp):
    ann = clinic.world.patients[0]
    message_id = failed_by_the_mail_server(clinic, smtp, ann)
    assert problems(clinic) == [message_id]
    (listed,) = history(clinic, "messages", status=["failed", "uncertain"])["items"]
    assert "550" in listed["last_error"] and listed["attempts"] == 1
    patch_patient(clinic, ann, email="ann.world@example.org")
    clinic.clock[0] += timedelta(minutes=10)
    retried = clinic.client.post(f"{API}/messages/{message_id}/retry", headers=clinic.desk)
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert (body["status"], body["attempts"], body["recipient"]) == ("pending", 1, "a***@example.org")
    assert body["next_attempt_at"] == "2027-03-01T08:10:00-05:00"
    assert problems(clinic) == []
    assert deliver(clinic, smtp).sent == 1
    assert [mail["To"] for mail in smtp.received] == ["ann.world@example.org"]
    again = clinic.client.post(f"{API}/messages/{message_id}/retry", headers=clinic.desk)
    assert again.status_code == 409 and "is sent now" in again.json()["detail"]
    assert clinic.messages()[-1].attempts == 2


@BOTH
def test_a_dismissed_message_leaves_the_list_and_a_second_dismiss_is_refused_in_words(clinic, smtp):
    message_id = failed_by_the_mail_server(clinic, smtp, clinic.world.patients[0])
    dismissed = clinic.client.post(f"{API}/messages/{message_id}/dismiss", headers=clinic.desk)
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["dismissed_by"] == "desk" and dismissed.json()["status"] == "failed"
    assert problems(clinic) == [] and problems(clinic, dismissed="true") == [message_id]
    twice = clinic.client.post(f"{API}/messages/{message_id}/dismiss", headers=clinic.desk)
    assert twice.status_code == 409 and twice.json()["detail"] == (
        f"message {message_id} was dismissed already by desk; nothing was changed")
    assert clinic.client.post(f"{API}/messages/999999/dismiss", headers=clinic.desk).status_code == 404


@BOTH
def test_an_uncertain_text_is_sent_again_only_once_the_desk_says_it_did_not_arrive(clinic, smtp):
    text_id = uncertain_text(clinic, clinic.world.patients[1])
    assert problems(clinic) == [text_id]
    unconfirmed = clinic.client.post(f"{API}/messages/{text_id}/retry", headers=clinic.desk, json={})
    assert unconfirmed.status_code == 422
    assert "ask them" in unconfirmed.json()["detail"][0]["msg"]
    confirmed = clinic.client.post(f"{API}/messages/{text_id}/retry", headers=clinic.desk,
                                   json={"not_received": True})
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["status"], confirmed.json()["attempts"]) == ("pending", 1)


@BOTH
def test_a_decision_on_a_stale_copy_is_refused_once_a_colleague_decided(clinic, smtp):
    """Retry and dismiss lock the message and read it again: the later click sees what the first one did."""
    message_id = failed_by_the_mail_server(clinic, smtp, clinic.world.patients[0])
    with Session(serialized(clinic.engine), expire_on_commit=False) as late:
        assert late.get(PatientMessage, message_id).status == MessageStatus.FAILED  # as the desk's page showed it
        actor = late.exec(select(User).where(User.username == "desk")).one()
        late.commit()  # the copies stay in the session, as they were
        assert clinic.client.post(f"{API}/messages/{message_id}/retry", headers=clinic.desk).status_code == 200
        with pytest.raises(Conflict, match=f"message {message_id} is waiting to be sent now, so it was not "
                                           "dismissed: someone retried it"):
            message_history.dismiss(late, actor=actor, message_id=message_id, now=clinic.now())


@BOTH
def test_a_retry_is_refused_when_it_would_reach_nobody_or_tell_an_old_story(clinic, smtp):
    ann, ben = clinic.world.patients[:2]
    old_news = failed_by_the_mail_server(clinic, smtp, ann)
    appointment_id = clinic.messages()[-1].appointment_id
    moved = clinic.client.post(f"{API}/appointments/{appointment_id}/reschedule", headers=clinic.desk,
                               json={"start": at(3, 10).isoformat(), "clinician_id": clinic.world.dana.id})
    assert moved.status_code == 200, moved.text
    refused = clinic.client.post(f"{API}/messages/{old_news}/retry", headers=clinic.desk)
    assert refused.status_code == 409 and "a later message about the same session" in refused.json()["detail"]

    turned_off = failed_by_the_mail_server(clinic, smtp, ben, day=5)
    patch_patient(clinic, ben, email_messages=False)
    refused = clinic.client.post(f"{API}/messages/{turned_off}/retry", headers=clinic.desk)
    assert refused.status_code == 409 and refused.json()["detail"].startswith("Ben World has turned e-mail off")
    patch_patient(clinic, ben, email_messages=True, email=None)
    refused = clinic.client.post(f"{API}/messages/{turned_off}/retry", headers=clinic.desk)
    assert refused.status_code == 409 and "no e-mail address on record" in refused.json()["detail"]

    patch_patient(clinic, ben, email="ben@example.org")
    clinic.clock[0] = at(5, 9, 30)
    refused = clinic.client.post(f"{API}/messages/{turned_off}/retry", headers=clinic.desk)
    assert refused.status_code == 409 and "has begun" in refused.json()["detail"]


@BOTH
def test_the_desk_records_a_patient_s_channels_and_a_channel_turned_off_gets_no_messages(clinic, smtp):
    ann = clinic.world.patients[0]
    shown = clinic.client.get(f"{API}/patients/{ann.id}", headers=clinic.desk).json()
    assert (shown["email_messages"], shown["sms_messages"]) == (True, True)
    assert patch_patient(clinic, ann, email_messages=False)["email_messages"] is False
    book(clinic, ann, at(3, 9))
    assert clinic.messages() == []
    nulled = clinic.client.patch(f"{API}/patients/{ann.id}", headers=clinic.desk, json={"sms_messages": None})
    assert nulled.status_code == 422 and nulled.json()["detail"][0]["loc"] == ["body", "sms_messages"]
    created = clinic.client.post(f"{API}/patients", headers=clinic.desk, json={
        "given_name": "Cy", "family_name": "Quiet", "birth_date": "1990-02-03", "phone": PHONE,
        "sms_messages": False})
    assert created.status_code == 201 and created.json()["sms_messages"] is False


@BOTH
def test_a_message_written_before_the_desk_turned_its_channel_off_is_not_sent(clinic, smtp):
    ann, ben = clinic.world.patients[:2]
    book(clinic, ann, at(3, 9))
    book(clinic, ben, at(4, 9))
    patch_patient(clinic, ann, email_messages=False)
    assert deliver(clinic, smtp).sent == 1
    assert [mail["To"] for mail in smtp.received] == ["patient1@example.org"]
    (withheld,) = [m for m in clinic.messages() if m.patient_id == ann.id]
    assert withheld.status == MessageStatus.FAILED and withheld.attempts == 0
    assert withheld.last_error == "not sent: the patient turned e-mail off before it went out"
    assert problems(clinic) == [], "nothing for the desk to do about it"


def link_in_first_mail(smtp) -> str:
    text = smtp.received[0].get_body(("plain",)).get_content()
    return text.split("https://clinic.example.org/me/")[1].split()[0]


@BOTH
def test_the_unsubscribe_link_shows_a_page_and_only_its_button_turns_e_mail_off(clinic, smtp):
    ann = clinic.world.patients[0]
    book(clinic, ann, at(3, 9))
    deliver(clinic, smtp)
    text = smtp.received[0].get_body(("plain",)).get_content()
    token = link_in_first_mail(smtp)
    assert f"https://clinic.example.org/me/{token}/stop?channel=email" in text
    book(clinic, ann, at(4, 9))  # its confirmation waits (not delivered yet) when the patient unsubscribes

    page = clinic.client.get(f"/me/{token}/stop", params={"channel": "email"})
    assert page.status_code == 200 and 'data-page="stop"' in page.text
    choices = clinic.client.get(f"{API}/public/patients/{token}/choices").json()
    assert choices == {"clinic": "World Midtown", "email_messages": True, "sms_messages": True}, "a GET changes nothing"

    stopped = clinic.client.post(f"{API}/public/patients/{token}/stop", params={"channel": "email"})
    assert stopped.status_code == 200 and stopped.json()["email_messages"] is False
    waiting = clinic.messages()[-1]
    assert waiting.status == MessageStatus.FAILED and "turned e-mail off" in waiting.last_error
    assert problems(clinic) == [], "nothing for the desk to do about it"
    assert deliver(clinic, smtp).sent == 0 and len(smtp.received) == 1
    book(clinic, ann, at(5, 9))
    assert len(clinic.messages()) == 2, "no e-mail written any more"

    assert clinic.client.post(f"{API}/public/patients/{token}/stop", params={"channel": "email"}).status_code == 200
    undone = clinic.client.post(f"{API}/public/patients/{token}/resume", params={"channel": "email"})
    assert undone.status_code == 200 and undone.json()["email_messages"] is True
    bad = clinic.client.post(f"{API}/public/patients/{token}/stop", params={"channel": "pigeon"})
    assert bad.status_code == 422
    unknown = clinic.client.post(f"{API}/public/patients/{'x' * 43}/stop", params={"channel": "email"})
    assert unknown.status_code == 404 and "patient page" in unknown.json()["detail"]


@BOTH
def test_quiet_hours_are_set_per_location_as_a_start_and_an_end_or_not_at_all(clinic, smtp):
    admin = upsert_admin(clinic)
    path = f"{API}/locations/{clinic.world.midtown.id}"
    half = clinic.client.patch(path, headers=admin, json={"quiet_from": "21:00"})
    assert half.status_code == 422
    (error,) = half.json()["detail"]
    assert error["loc"] == ["body", "quiet_until"] and "a start and an end" in error["msg"]
    empty = clinic.client.patch(path, headers=admin, json={"quiet_from": "21:00", "quiet_until": "21:00"})
    assert empty.status_code == 422 and "cover no time" in empty.json()["detail"][0]["msg"]
    both = clinic.client.patch(path, headers=admin, json={"quiet_from": "21:00", "quiet_until": "08:00"})
    assert both.status_code == 200 and (both.json()["quiet_from"], both.json()["quiet_until"]) == ("21:00:00",
                                                                                                  "08:00:00")
    clinic.clock[0] = at(1, 22)  # 10 PM in New York: inside the quiet hours
    book(clinic, clinic.world.patients[0], at(3, 9))
    (mail,) = history(clinic, f"patients/{clinic.world.patients[0].id}/messages")["items"]
    assert mail["next_attempt_at"] == "2027-03-02T08:00:00-05:00"
    cleared = clinic.client.patch(path, headers=admin, json={"quiet_from": "", "quiet_until": None})
    assert cleared.status_code == 200 and cleared.json()["quiet_from"] is None


@BOTH
def test_erasing_a_patient_erases_their_message_history(clinic, smtp):
    ann = clinic.world.patients[0]
    appointment = book(clinic, ann, at(3, 9))
    deliver(clinic, smtp)
    clinic.client.post(f"{API}/appointments/{appointment['id']}/cancel", headers=clinic.desk,
                       json={"reason": "patient asked"}).raise_for_status()
    assert history(clinic, f"patients/{ann.id}/messages")["total"] == 2
    clinic.clock[0] = at(4, 9)
    assert clinic.client.post(f"{API}/patients/{ann.id}/erase", headers=upsert_admin(clinic)).status_code == 200
    assert history(clinic, f"patients/{ann.id}/messages")["total"] == 0
    assert history(clinic, f"appointments/{appointment['id']}/messages")["total"] == 0


class RefusesTheNumber:
    def send(self, message):
        raise PermanentFailure("the provider refused the number: not a mobile phone")


@BOTH
def test_no_address_phone_name_or_words_reach_the_logs(clinic, smtp, caplog):
    ann = clinic.world.patients[0]
    patch_patient(clinic, ann, given_name="Zelphine", family_name="Quillaby", phone=PHONE,
                  email="zelphine.quillaby@example.org")
    caplog.set_level(logging.DEBUG)
    book(clinic, ann, at(3, 9))
    assert deliver_due(clinic.engine, senders={Channel.EMAIL: sender(smtp), Channel.SMS: RefusesTheNumber()},
                       clock=clinic.now, worker="w1").failed == 1
    book(clinic, ann, at(4, 9))
    smtp.refuse = "550 5.1.1 <zelphine.quillaby@example.org>: no such mailbox"
    assert deliver(clinic, smtp).failed == 1
    words = [part for message in clinic.messages() for part in (message.body_text, message.subject)]
    assert len(smtp.received) == 1 and caplog.records, "the run sent, failed and logged"
    logged = "\n".join(f"{record.name} {record.getMessage()}" for record in caplog.records
                       if not record.name.startswith("mail.log"))  # aiosmtpd: the test's own mail server
    secrets_ = ["zelphine", "quillaby", "555 0142", "5550142", *(line for text in words for line in
                                                                  text.splitlines() if len(line) > 12)]
    assert [secret for secret in secrets_ if secret.lower() in logged.lower()] == []
