"""A patient's say over how the clinic writes to them: e-mail and text messages, each on or off.

The front desk records what a patient asks on the patient's record
(``email_messages``, ``sms_messages``). The patient turns a channel off, and
back on, from the link in every e-mail (``/me/<secret>/stop?channel=email``):
that page only shows a button; the change is a POST, because mail scanners
open every link in a message and must not unsubscribe anyone.

Consent is read when a message is written (:func:`scheduler.outbox.tell`
writes none for a channel turned off) and again when it falls due
(:func:`still_wanted`, by the delivery worker): a message written before the
channel was turned off (a reminder, a retry after backoff) is given up with
the reason, kept off the desk's list of problems. Turning a channel off from
the link gives up the waiting ones at once, so "you will get no more e-mails"
is true the moment the page says it.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from data.enums import Channel, MessageStatus
from data.locking import locked
from data.tables import Appointment, Location, Patient, PatientMessage
from scheduler import secret_links
from scheduler.outbox import settings_of
from scheduler.visit_requests import linked_patient

FLAGS = {Channel.EMAIL: "email_messages", Channel.SMS: "sms_messages"}
ADDRESSES = {Channel.EMAIL: "email", Channel.SMS: "phone"}
CALLED = {Channel.EMAIL: "e-mail", Channel.SMS: "text messages"}


def agrees(patient: Patient, channel: Channel) -> bool:
    return bool(getattr(patient, FLAGS[channel]))


def address(patient: Patient, channel: Channel) -> str | None:
    """Where the patient is reached on this channel now, or None."""
    return getattr(patient, ADDRESSES[channel])


def still_wanted(session: Session, messages: list[PatientMessage], now: datetime) -> list[PatientMessage]:
    """The due messages that may go; those whose channel the patient turned off since they were written are given
    up (their patients read in one query: the delivery worker asks for every batch)."""
    if not messages:
        return []
    ids = {message.patient_id for message in messages}
    patients = {patient.id: patient for patient in session.exec(select(Patient).where(Patient.id.in_(ids)))}
    wanted = []
    for message in messages:
        patient = patients.get(message.patient_id)
        if patient is not None and agrees(patient, message.channel):
            wanted.append(message)
        else:
            _give_up(message, now)
    return wanted


def give_up_waiting(session: Session, *, patient_id: int, channel: Channel, now: datetime) -> int:
    """The patient's messages still waiting on a channel they turned off: given up, not a problem for the desk."""
    waiting = session.exec(select(PatientMessage).where(
        PatientMessage.patient_id == patient_id, PatientMessage.channel == channel,
        PatientMessage.status == MessageStatus.PENDING)).all()
    for message in waiting:
        _give_up(message, now)
    return len(waiting)


def _give_up(message: PatientMessage, now: datetime) -> None:
    message.status, message.lease_until, message.dismissed_at = MessageStatus.FAILED, None, now
    message.last_error = f"not sent: the patient turned {CALLED[message.channel]} off before it went out"


@dataclass(frozen=True)
class Choices:
    """What the patient's unsubscribe page shows: whose messages, and which channels are on."""

    clinic: str
    email_messages: bool
    sms_messages: bool


def choices(session: Session, *, token: str) -> Choices:
    patient_id = linked_patient(session, token)
    return _choices(session, session.get(Patient, patient_id), token)


def choose(session: Session, *, token: str, channel: Channel, on: bool, now: datetime) -> Choices:
    """Turn one channel off (or back on) for the patient behind the link; doing it twice changes nothing."""
    patient = locked(session, Patient, linked_patient(session, token))
    setattr(patient, FLAGS[channel], on)
    if not on:
        give_up_waiting(session, patient_id=patient.id, channel=channel, now=now)
    session.flush()
    return _choices(session, patient, token)


def _choices(session: Session, patient: Patient, token: str) -> Choices:
    return Choices(clinic_name(session, patient.id, token), patient.email_messages, patient.sms_messages)


def clinic_name(session: Session, patient_id: int, token: str) -> str:
    """Who writes: the location of the message the link came in, else of the patient's latest message or session."""
    from_link = select(PatientMessage.location_id).where(PatientMessage.link_hash == secret_links.digest(token))
    latest_message = (select(PatientMessage.location_id)
                      .where(PatientMessage.patient_id == patient_id, PatientMessage.location_id.is_not(None))
                      .order_by(PatientMessage.id.desc()))
    latest_session = (select(Appointment.location_id).where(Appointment.patient_id == patient_id)
                      .order_by(Appointment.starts_at.desc()))
    for query in (from_link, latest_message, latest_session):
        location_id = session.exec(query.limit(1)).first()
        if location_id is not None:
            return session.get(Location, location_id).name
    return settings_of(session).mail_from_name or "the clinic"
