"""The audit trail: every change to an appointment, with who, when, before and after."""

from datetime import UTC, datetime

from sqlmodel import Session

from data.enums import ResourceKind
from data.tables import Appointment, AuditEntry, User
from scheduler import metrics, outbox, reminders

SYSTEM = "system"


def _utc(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def snapshot(appointment: Appointment) -> dict:
    """The facts of an appointment a person would want to compare, JSON-ready, times in UTC."""
    return {
        "status": appointment.status.value if appointment.status else None,
        "service_id": appointment.service_id,
        "patient_id": appointment.patient_id,
        "location_id": appointment.location_id,
        "starts_at": _utc(appointment.starts_at),
        "ends_at": _utc(appointment.ends_at),
        "clinician_ids": appointment.resource_ids(ResourceKind.CLINICIAN),
        "room_ids": appointment.resource_ids(ResourceKind.ROOM),
        "device_ids": appointment.resource_ids(ResourceKind.DEVICE),
        "hold_expires_at": _utc(appointment.hold_expires_at),
        "cancel_reason": appointment.cancel_reason,
    }


def record(
    session: Session, *, actor: User | None, action: str, appointment: Appointment, before: dict | None, at: datetime
) -> None:
    """The change's audit entry, and in the same transaction what the patient must be told of it (and the pending
    reminders of a time that no longer stands withdrawn)."""
    entry = AuditEntry(
        at=at,
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else SYSTEM,
        action=action,
        appointment_id=appointment.id,
        before=before,
        after=snapshot(appointment),
    )
    session.add(entry)
    metrics.count_appointment_change(session, action=action, before=before)
    reminders.on_appointment_change(session, appointment=appointment, before=before)
    if action in outbox.TOLD:
        session.flush()
        outbox.on_appointment_change(session, action=action, appointment=appointment, before=before, at=at,
                                     change_key=f"audit:{entry.id}")


def record_erasure(session: Session, *, actor: User | None, patient_id: int, at: datetime) -> None:
    """Who erased which patient and when: the entry names the patient's id, never the data that was erased."""
    session.add(AuditEntry(at=at, actor_id=actor.id if actor else None, actor=actor.username if actor else SYSTEM,
                           action="erase", before=None, after={"patient_id": patient_id}))
