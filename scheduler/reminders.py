"""Reminders before each booked session, at the configured offsets (``CLINIC_REMINDER_HOURS``, default 48 and 2).

An offset is elapsed time: the 48-hour reminder of a 9:00 session on the
day clocks spring forward goes at 8:00 two days before (47 hours of wall
clock would be 9:00); the text names the session's time in the location's
zone either way. A run of :func:`remind_due` (every ``reminder_seconds`` in
``clinic serve`` and ``clinic worker``) writes, through the outbox, the
reminders coming due in the next :data:`LOOKAHEAD`, each to be sent at its
exact moment; written so shortly before, they carry the patient's current
address and the session's current time. Their change key names the session,
the offset and the start, ``reminder:{id}:{hours}h:{start in UTC}``: a run
repeated (or two workers at once) tells once, and a moved session is reminded
again of its new time.

Which reminders a session gets (:func:`planned`):

- none whose moment had passed when the session was booked or moved to its
  time: the booking or move message has just told the patient (a session
  booked an hour ahead gets no reminder; three hours ahead, the 2-hour one);
- a moment inside the location's quiet hours moves to their end; a reminder
  that would then go at or after the start is not sent;
- a reminder that would go nearer to the next (closer) reminder's moment than
  to its own is dropped: the job did not run for a day and the 48-hour
  reminder is a day late, or quiet hours pushed a 12-hour one to the morning
  the 2-hour one goes; two reminders at once remind no better than one.

A session cancelled, moved, checked in or marked a no-show before its
reminder went has that pending reminder deleted in the same transaction as
the change (:func:`on_appointment_change`, called from the audit trail), so
it is never sent; the history keeps what was sent. A move also clears the
patient's confirmation: they confirmed the old time.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, func
from sqlmodel import Session, select

from data.config import Settings
from data.db import serialized, session_scope
from data.enums import AppointmentStatus, MessageKind, MessageStatus
from data.tables import Appointment, AuditEntry, Location, PatientMessage
from scheduler.outbox import Telling, outside_quiet_hours, tell

# Written this long before they are due: more than a run's interval, so each goes at its exact moment.
LOOKAHEAD = timedelta(minutes=15)
# Audit actions that give a booked session its time: a reminder due before them is not sent.
TIMED_BY = ("book", "reschedule", "nightly_move")


@dataclass(frozen=True)
class Reminder:
    hours: int
    due: datetime  # start - hours
    goes_at: datetime  # due, or now if later, moved out of quiet hours


def planned(*, starts_at: datetime, timed_at: datetime, hours: tuple[int, ...], location: Location,
            now: datetime) -> list[Reminder]:
    """The reminders a session starting at ``starts_at``, given that time at ``timed_at``, still gets."""
    kept: list[Reminder] = []
    for offset in sorted(hours):  # closest first: a farther one goes only if it goes before the closer one
        due = starts_at - timedelta(hours=offset)
        if due <= timed_at:
            continue
        goes_at = outside_quiet_hours(location, max(due, now))
        if goes_at >= starts_at or (kept and goes_at - due > kept[-1].goes_at - goes_at):
            continue  # too late to help, or nearer to the closer reminder than to its own moment
        kept.append(Reminder(offset, due, goes_at))
    return kept


def change_key(appointment: Appointment, hours: int) -> str:
    return f"reminder:{appointment.id}:{hours}h:{appointment.starts_at.astimezone(UTC).isoformat()}"


def remind_due(engine: Engine, *, settings: Settings, now: datetime) -> int:
    """Write the reminders due before ``now + LOOKAHEAD`` that are not written yet; how many messages were written."""
    hours = settings.reminder_hours
    if not hours:
        return 0
    with session_scope(serialized(engine)) as session:
        session.info["settings"] = settings
        sessions = session.exec(
            select(Appointment).where(Appointment.status == AppointmentStatus.BOOKED, Appointment.starts_at > now,
                                      Appointment.starts_at <= now + LOOKAHEAD + timedelta(hours=max(hours)))
            .order_by(Appointment.starts_at, Appointment.id)).all()
        timed = _timed_at(session, [appointment.id for appointment in sessions])
        coming = [(appointment, reminder) for appointment in sessions
                  for reminder in planned(starts_at=appointment.starts_at, hours=hours, now=now,
                                          timed_at=timed.get(appointment.id, appointment.created_at),
                                          location=appointment.location)
                  if reminder.due <= now + LOOKAHEAD]
        coming = _still_booked(session, coming)
        told = set(session.exec(select(PatientMessage.change_key).where(
            PatientMessage.kind == MessageKind.REMINDER,
            PatientMessage.appointment_id.in_({appointment.id for appointment, _ in coming}))))
        written = 0
        for appointment, reminder in coming:
            key = change_key(appointment, reminder.hours)
            if key in told:
                continue
            written += len(tell(session, Telling(MessageKind.REMINDER, key, appointment.patient_id,
                                                 appointment.location_id, appointment.id, due=reminder.goes_at),
                                now=now))
        return written


def _still_booked(session: Session, coming: list[tuple[Appointment, Reminder]]) -> list[tuple[Appointment, Reminder]]:
    """The reminders whose session is still booked at the same time, each session share-locked until the reminders
    are written: a cancellation or move committed meanwhile is seen here, one under way waits and then withdraws
    what was written (PostgreSQL; SQLite runs one writer at a time)."""
    ids = {appointment.id for appointment, _ in coming}
    if not ids:
        return []
    now_is = {ident: (status, starts_at) for ident, status, starts_at in session.exec(
        select(Appointment.id, Appointment.status, Appointment.starts_at).where(Appointment.id.in_(ids))
        .with_for_update(read=True))}
    return [(appointment, reminder) for appointment, reminder in coming
            if now_is.get(appointment.id) == (AppointmentStatus.BOOKED, appointment.starts_at)]


def _timed_at(session: Session, appointment_ids: list[int]) -> dict[int, datetime]:
    """When each session was last booked or moved to its current time (from the audit trail)."""
    if not appointment_ids:
        return {}
    return dict(session.exec(
        select(AuditEntry.appointment_id, func.max(AuditEntry.at))
        .where(AuditEntry.appointment_id.in_(appointment_ids), AuditEntry.action.in_(TIMED_BY))
        .group_by(AuditEntry.appointment_id)).all())


def on_appointment_change(session: Session, *, appointment: Appointment, before: dict | None) -> None:
    """A booked session that is no longer booked, or is booked at another time, is not reminded of what was."""
    if not before or before.get("status") != AppointmentStatus.BOOKED.value:
        return
    moved = datetime.fromisoformat(before["starts_at"]) != appointment.starts_at
    if appointment.status == AppointmentStatus.BOOKED and not moved:
        return
    if moved and appointment.patient_confirmed_at is not None:  # a desk move clears it with the move's own UPDATE
        appointment.patient_confirmed_at = None
    session.exec(delete(PatientMessage).where(
        PatientMessage.appointment_id == appointment.id, PatientMessage.kind == MessageKind.REMINDER,
        PatientMessage.status == MessageStatus.PENDING))
