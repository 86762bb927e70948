"""Erasing a patient's personal data, keeping their history pseudonymous (docs/design.md, invariant 7).

The patient row stays, so every session, plan, waitlist entry, request and
audit entry that refers to it keeps its meaning ("patient 12 had shockwave
therapy with Dana on 3 March"); what identifies or describes the person is
overwritten in place: name, birth date, phone and e-mail, the reason they
gave on a public request, and every free text staff wrote about their
sessions (a cancellation or decline reason may name the patient or their
health), in the appointments and in the audit snapshots alike. Their messages are deleted. Their own
page's link is revoked and their sessions' ``updated_at`` moves on, so
subscribed calendars re-read the events, which then carry no initials.

Erasure waits until nothing is still to come for the patient: a live hold, a
booked session not over yet or a waitlist entry still waiting or offered is
named in a 409, for the front desk to cancel or close first (the clinic would
not want a session quietly dropped). Erasing an erased patient changes nothing.
"""

from datetime import date, datetime

from sqlalchemy import delete, or_
from sqlmodel import Session, select

from data.entities import described
from data.enums import AppointmentStatus, WaitlistStatus
from data.errors import Conflict, NotFound
from data.locking import locked
from data.tables import (
    Appointment, AuditEntry, Patient, PatientLink, PatientMessage, User, VisitRequest, WaitlistRequest,
)
from scheduler import audit, secret_links

ERASED_NAME = "Erased"
ERASED_BIRTH_DATE = date(1900, 1, 1)  # the earliest birth date the API accepts: "unknown"
ERASED_TEXT = "[erased]"


def erase(session: Session, *, actor: User | None, patient_id: int, now: datetime) -> Patient:
    """Pseudonymize the patient once nothing is still to come for them; audited as ``erase``."""
    patient = locked(session, Patient, patient_id)
    if patient is None:
        raise NotFound("patient", patient_id)
    if patient.erased_at is not None:
        return patient
    blockers = still_to_come(session, patient_id, now)
    if blockers:
        raise Conflict(f"patient {patient_id} cannot be erased while sessions or waitlist entries are still to "
                       "come; cancel or close them first", blockers)
    pseudonymize(session, patient, now)
    audit.record_erasure(session, actor=actor, patient_id=patient_id, at=now)
    session.flush()
    return patient


def still_to_come(session: Session, patient_id: int, now: datetime) -> list[str]:
    """The patient's live holds, sessions not over yet and waiting waitlist entries, described."""
    live_hold = (Appointment.status == AppointmentStatus.PENDING) & (Appointment.hold_expires_at > now)
    ahead = Appointment.status.in_([AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED]) & (Appointment.ends_at > now)
    appointments = session.exec(select(Appointment).where(Appointment.patient_id == patient_id, or_(live_hold, ahead))
                                .order_by(Appointment.starts_at, Appointment.id))
    # An offered entry counts even when its hold has lapsed or was released: the sweeper would put it back to
    # waiting, for a patient no one may serve any more.
    waiting = session.exec(select(WaitlistRequest).where(
        WaitlistRequest.patient_id == patient_id,
        WaitlistRequest.status.in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED])).order_by(WaitlistRequest.id))
    return [*described(appointments),
            *(f"waitlist entry {w.id} ({w.status.value})" for w in waiting)]


def pseudonymize(session: Session, patient: Patient, now: datetime) -> None:
    """Overwrite everything that identifies or describes the patient; references and history stay."""
    patient.given_name, patient.family_name = ERASED_NAME, f"patient #{patient.id}"
    patient.birth_date, patient.phone, patient.email, patient.erased_at = ERASED_BIRTH_DATE, None, None, now
    secret_links.revoke(session, PatientLink, "patient_id", patient.id)
    # Messages hold names, addresses and times in words, and links to the patient's page: they go entirely.
    session.exec(delete(PatientMessage).where(PatientMessage.patient_id == patient.id))
    for request in session.exec(select(VisitRequest).where(VisitRequest.patient_id == patient.id)):
        request.reason, request.decline_reason = "", _scrubbed(request.decline_reason)
        request.contact_key = request.client_key = ""
    appointments = session.exec(select(Appointment).where(Appointment.patient_id == patient.id)).all()
    for appointment in appointments:
        appointment.cancel_reason, appointment.updated_at = _scrubbed(appointment.cancel_reason), now
    entries = session.exec(select(AuditEntry).where(AuditEntry.appointment_id.in_([a.id for a in appointments])))
    for entry in entries:
        entry.before, entry.after = _scrubbed_snapshot(entry.before), _scrubbed_snapshot(entry.after)
    session.flush()


def _scrubbed(text: str) -> str:
    return ERASED_TEXT if text else text


def _scrubbed_snapshot(snapshot: dict | None) -> dict | None:
    """A new dict (JSON columns notice reassignment, not mutation) without the free text."""
    if not snapshot or not snapshot.get("cancel_reason"):
        return snapshot
    return {**snapshot, "cancel_reason": ERASED_TEXT}
