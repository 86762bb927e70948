"""What a patient does from their own page (the link in every message): confirm a session, or cancel it.

Both go through the booking code with the patient as the actor, so the audit
trail says the patient did it and a cancellation does everything the front
desk's does in the same transaction: the time is freed and offered to the
waitlist, the patient's waiting move requests of it are withdrawn, its
pending reminders are withdrawn and the patient is told. A patient may cancel
only until ``patient_cancel_hours`` before the session (a late cancellation
leaves a gap nobody can fill, so the clinic wants to hear it on the phone);
confirming is possible until the session starts. A confirmation is kept on
the appointment (``patient_confirmed_at``) for the schedule and the roster; a
move clears it (``scheduler.reminders``).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from data.config import Settings
from data.enums import AppointmentStatus
from data.errors import Conflict, NotFound
from data.locking import locked
from data.tables import Appointment, Location
from scheduler import audit, waitlist
from scheduler.visit_requests import cancel_until, linked_patient


@dataclass(frozen=True)
class PatientActor:
    """The patient acting on their own page, as the audit trail names them (no user account behind it)."""

    patient_id: int
    id: None = None

    @property
    def username(self) -> str:
        return f"patient {self.patient_id}"


def confirm(session: Session, *, token: str, appointment_id: int, now: datetime) -> Appointment:
    """The patient will come: recorded once (confirming again keeps the first confirmation)."""
    patient_id = linked_patient(session, token)
    appointment = _own_upcoming(session, patient_id, appointment_id, now)
    if appointment.patient_confirmed_at is None:
        before = audit.snapshot(appointment)
        appointment.patient_confirmed_at = appointment.updated_at = now  # a new version is a change: Last-Modified
        session.flush()
        audit.record(session, actor=PatientActor(patient_id), action="patient_confirm", appointment=appointment,
                     before=before, at=now)
    return appointment


def cancel(session: Session, *, token: str, appointment_id: int, now: datetime, settings: Settings) -> Appointment:
    """The patient will not come: cancelled as the desk would, or refused in words once it is too late."""
    patient_id = linked_patient(session, token)
    appointment = _own_upcoming(session, patient_id, appointment_id, now)
    if now > cancel_until(appointment.starts_at, settings):
        clinic = session.get(Location, appointment.location_id).name
        raise Conflict(f"This session starts in less than {settings.patient_cancel_hours} hours, too soon to cancel "
                       f"here. Please call {clinic} to cancel or move it.")
    return waitlist.cancel(session, actor=PatientActor(patient_id), appointment_id=appointment.id, now=now,
                           reason="cancelled by the patient from their page", settings=settings)


def _own_upcoming(session: Session, patient_id: int, appointment_id: int, now: datetime) -> Appointment:
    """The patient's own session, locked and fresh; refused in words unless it is booked and still ahead."""
    appointment = locked(session, Appointment, appointment_id)
    if appointment is None or appointment.patient_id != patient_id:
        raise NotFound("session", f"{appointment_id} on this page")
    if appointment.status == AppointmentStatus.CANCELLED:
        raise Conflict("This session is already cancelled.")
    if appointment.status != AppointmentStatus.BOOKED or appointment.starts_at <= now:
        raise Conflict("This session has already started or taken place.")
    return appointment
