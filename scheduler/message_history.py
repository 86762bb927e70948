"""What the front desk sees of the messages sent to a patient, and what it may do about those that went wrong.

Lists show each message's kind, channel, where it went (masked: "a***@example.org", "•••• 0142"), subject,
status, attempts and last error, with times in the location's zone; never the words. The words of one message
are read on purpose (:func:`opened`): the desk answers "what did you send me?" on the phone, and the text holds
nothing the desk does not see on the patient's page already.

A message given up (``failed``) or ``uncertain`` (a text that may or may not have left) is on the desk's list of
problems until someone retries or dismisses it. Both act on the row as it is now, locked and re-read, so two
people clicking at once, or a worker settling it meanwhile, end in one outcome and a 409 in words for the other.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from data.enums import Channel, MessageKind, MessageStatus
from data.errors import Conflict, Invalid, NotFound
from data.locking import locked
from data.tables import Appointment, Location, Patient, PatientMessage, User
from scheduler import consent
from scheduler.outbox import outside_quiet_hours

log = logging.getLogger("clinic.messages")
PROBLEMS = (MessageStatus.FAILED, MessageStatus.UNCERTAIN)
STATUS_WORDS = {MessageStatus.PENDING: "waiting to be sent", MessageStatus.SENDING: "being sent",
                MessageStatus.SENT: "sent", MessageStatus.FAILED: "given up", MessageStatus.UNCERTAIN: "uncertain"}
# Messages that tell what a session now is: a later one makes an earlier failed one out of date.
NEWS = (MessageKind.BOOKED, MessageKind.RESCHEDULED, MessageKind.CANCELLED, MessageKind.NIGHTLY_MOVE,
        MessageKind.REQUEST_CONFIRMED, MessageKind.PLAN_CONFIRMED)


def masked(channel: Channel, recipient: str) -> str:
    """Enough to recognise the address with the patient on the phone, not to copy it: 'a***@example.org',
    '•••• 0142'."""
    if channel == Channel.EMAIL:
        local, _, domain = recipient.rpartition("@")
        return f"{local[:1]}***@{domain}"
    digits = "".join(char for char in recipient if char.isdigit())
    return f"•••• {digits[-4:]}" if len(digits) > 4 else "••••"


@dataclass(frozen=True)
class MessageView:
    id: int
    patient_id: int
    patient: str
    appointment_id: int | None
    location_id: int | None
    kind: MessageKind
    channel: Channel
    recipient: str
    subject: str
    status: MessageStatus
    attempts: int
    last_error: str
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    dismissed_at: datetime | None
    dismissed_by: str | None


def listed(*, patient_id: int | None = None, appointment_id: int | None = None,
           statuses: Sequence[MessageStatus] = (), location_id: int | None = None, dismissed: bool | None = None):
    """The messages asked for, as a statement to page through (newest first is the caller's order)."""
    statement = select(PatientMessage)
    for column, value in ((PatientMessage.patient_id, patient_id), (PatientMessage.appointment_id, appointment_id),
                          (PatientMessage.location_id, location_id)):
        if value is not None:
            statement = statement.where(column == value)
    if statuses:
        statement = statement.where(PatientMessage.status.in_(statuses))
    if dismissed is not None:
        dismissed_at = PatientMessage.dismissed_at
        statement = statement.where(dismissed_at.is_not(None) if dismissed else dismissed_at.is_(None))
    return statement


def viewed(session: Session, message: PatientMessage) -> MessageView:
    """The message as the desk reads it: address masked, times in its location's zone (UTC if it has none)."""
    location = session.get(Location, message.location_id) if message.location_id is not None else None
    zone = ZoneInfo(location.time_zone) if location else ZoneInfo("UTC")
    patient = session.get(Patient, message.patient_id)
    local = lambda moment: moment.astimezone(zone) if moment is not None else None  # noqa: E731
    return MessageView(
        message.id, message.patient_id, f"{patient.given_name} {patient.family_name}", message.appointment_id,
        message.location_id, message.kind, message.channel, masked(message.channel, message.recipient),
        message.subject, message.status, message.attempts, message.last_error, local(message.created_at),
        local(message.next_attempt_at) if message.status == MessageStatus.PENDING else None, local(message.sent_at),
        local(message.dismissed_at), message.dismissed_by)


def opened(session: Session, *, message_id: int) -> tuple[MessageView, str]:
    """One message with its words (the plain text of an e-mail, or the text message)."""
    message = session.get(PatientMessage, message_id)
    if message is None:
        raise NotFound("message", message_id)
    return viewed(session, message), message.body_text


def retry(session: Session, *, actor: User, message_id: int, not_received: bool, now: datetime) -> PatientMessage:
    """Send a failed or uncertain message again, now (or when the location's quiet hours end).

    It goes to the address the patient's record holds now, so the desk can correct a mistyped address and
    retry. The attempts made so far are kept: a retry is one more try, given up at once on a permanent refusal.
    An uncertain text may already be on the patient's phone, so it is sent again only once the desk says the
    patient did not get it (``not_received``).
    """
    message = _fresh(session, message_id)
    _still_a_problem(message, "retried")
    if message.status == MessageStatus.UNCERTAIN and not not_received:
        raise Invalid(("not_received",), "this text may already have reached the patient, and a second one cannot "
                                         "be taken back: ask them, and retry with not_received only if it did not "
                                         "arrive")
    patient = session.get(Patient, message.patient_id)
    medium = consent.CALLED[message.channel]
    if not consent.agrees(patient, message.channel):
        raise Conflict(f"{patient.given_name} {patient.family_name} has turned {medium} off; turn it on on their "
                       "page first if they ask for it")
    recipient = consent.address(patient, message.channel)
    if not recipient:
        raise Conflict(f"{patient.given_name} {patient.family_name} has no "
                       f"{'e-mail address' if message.channel == Channel.EMAIL else 'phone number'} on record now; "
                       "add one on their page, then retry")
    _not_out_of_date(session, message, now)
    location = session.get(Location, message.location_id) if message.location_id is not None else None
    message.recipient, message.status = recipient, MessageStatus.PENDING
    message.lease_until = message.worker = None
    message.next_attempt_at = outside_quiet_hours(location, now) if location else now
    message.dismissed_at = message.dismissed_by = None
    session.flush()
    log.info("message %s (%s by %s) retried by user %s", message.id, message.kind.value, message.channel.value,
             actor.id)
    return message


def dismiss(session: Session, *, actor: User, message_id: int, now: datetime) -> PatientMessage:
    """Take a failed or uncertain message off the desk's list (the patient was called, or got it after all)."""
    message = _fresh(session, message_id)
    _still_a_problem(message, "dismissed")
    message.dismissed_at, message.dismissed_by = now, actor.username
    session.flush()
    log.info("message %s dismissed by user %s", message.id, actor.id)
    return message


def _fresh(session: Session, message_id: int) -> PatientMessage:
    message = locked(session, PatientMessage, message_id)
    if message is None:
        raise NotFound("message", f"{message_id} (it may have been erased with its patient)")
    return message


def _still_a_problem(message: PatientMessage, verb: str) -> None:
    if message.status not in PROBLEMS:
        raise Conflict(f"message {message.id} is {STATUS_WORDS[message.status]} now, so it was not {verb}: someone "
                       "retried it or it was settled meanwhile; look at the list again")
    if message.dismissed_at is not None and verb == "dismissed":
        raise Conflict(f"message {message.id} was dismissed already"
                       + (f" by {message.dismissed_by}" if message.dismissed_by else "") + "; nothing was changed")


def _not_out_of_date(session: Session, message: PatientMessage, now: datetime) -> None:
    """A message about a session that has begun, or that later news replaced, would only confuse the patient."""
    if message.appointment_id is None:
        return
    appointment = session.get(Appointment, message.appointment_id)
    if appointment is not None and appointment.starts_at <= now:
        raise Conflict(f"the session message {message.id} is about has begun; sending it now would only confuse "
                       "the patient")
    later = session.exec(select(PatientMessage).where(
        PatientMessage.appointment_id == message.appointment_id, PatientMessage.channel == message.channel,
        PatientMessage.id > message.id, PatientMessage.kind.in_(NEWS)).order_by(PatientMessage.id)).first()
    if later is not None:
        what = later.kind.value.replace("_", " ")
        raise Conflict(f"a later message about the same session (message {later.id}, {what}) tells what is true "
                       "now; retry that one if it did not arrive")
