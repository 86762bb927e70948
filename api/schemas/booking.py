"""Request and response schemas of availability, holds, appointments and the audit log."""

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, StrictBool, model_validator

from api.schemas.common import Ident, Instant, Schema, Text, Whole
from data.enums import AppointmentStatus, ResourceKind
from data.tables import Appointment
from scheduler.rosters import Named  # a record and its name, as rosters show them: one schema, not two


def _distinct(device_ids: list[int]) -> list[int]:
    if len(set(device_ids)) != len(device_ids):
        raise ValueError("a device is listed more than once")
    return device_ids


DeviceIds = Annotated[list[Ident], Field(max_length=10), AfterValidator(_distinct)]


class SlotPublic(Schema):
    """A bookable slot and the exact resources that would serve it; times in the location's zone."""

    start: datetime
    end: datetime
    location_id: int
    clinician: Named
    room: Named | None
    devices: list[Named]


class ReasonPublic(Schema):
    code: str
    message: str


class AvailabilityPublic(Schema):
    slots: list[SlotPublic]
    reasons: list[ReasonPublic] = Field(description="Why there is no slot (only when slots is empty)")


class SlotRequest(Schema):
    """A start time for a service and patient; resources left out are chosen for you."""

    service_id: Ident
    patient_id: Ident
    start: Instant
    clinician_id: Ident | None = None
    room_id: Ident | None = None
    device_ids: DeviceIds = Field(default_factory=list)


class HoldCreate(SlotRequest):
    minutes: Whole | None = Field(default=None, ge=1, le=24 * 60, description="Time to live; default from settings")


class AppointmentCreate(Schema):
    """Either ``{"hold_id": ...}`` to book one's hold, or a slot to book directly."""

    hold_id: Ident | None = None
    service_id: Ident | None = None
    patient_id: Ident | None = None
    start: Instant | None = None
    clinician_id: Ident | None = None
    room_id: Ident | None = None
    device_ids: DeviceIds = Field(default_factory=list)

    @model_validator(mode="after")
    def _hold_or_slot(self):
        slot_fields = {"service_id", "patient_id", "start", "clinician_id", "room_id", "device_ids"}
        given = self.model_fields_set & slot_fields
        if self.hold_id is not None:
            if given:
                raise ValueError(f"give hold_id alone; {', '.join(sorted(given))} come from the hold")
        elif None in (self.service_id, self.patient_id, self.start):
            raise ValueError("give hold_id, or service_id, patient_id and start")
        return self

    def slot(self) -> SlotRequest:
        return SlotRequest.model_validate(self.model_dump(exclude={"hold_id"}))


class RescheduleRequest(Schema):
    start: Instant
    clinician_id: Ident | None = None
    room_id: Ident | None = None
    device_ids: DeviceIds = Field(default_factory=list)
    outside_plan: StrictBool = Field(default=False, description=(
        "A session of a confirmed treatment plan keeps the plan's rules (its clinic, dates, the patient's windows "
        "and blackout days, spacing from its neighbours, links): a move that breaks one is refused (409, each "
        "broken rule under blockers) unless this is true, because the patient agreed to that time"))


class CancelRequest(Schema):
    reason: Text = Field(min_length=1, max_length=300, description="Why, in words: kept in the audit log")


class AppointmentPublic(Schema):
    id: int
    status: AppointmentStatus
    service_id: int
    patient_id: int
    location_id: int
    start: datetime
    end: datetime
    clinician_id: int | None
    room_id: int | None
    device_ids: list[int]
    hold_expires_at: datetime | None
    cancel_reason: str
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(description='+1 with every change; send it back as If-Match: W/"<version>" to change the '
                                     "appointment only if it is still what you read (else 412)")

    @classmethod
    def of(cls, appointment: Appointment) -> "AppointmentPublic":
        zone = ZoneInfo(appointment.location.time_zone)
        local = lambda moment: moment.astimezone(zone) if moment else None  # noqa: E731
        clinicians = appointment.resource_ids(ResourceKind.CLINICIAN)
        rooms = appointment.resource_ids(ResourceKind.ROOM)
        return cls(
            id=appointment.id, status=appointment.status, service_id=appointment.service_id,
            patient_id=appointment.patient_id, location_id=appointment.location_id,
            start=local(appointment.starts_at), end=local(appointment.ends_at),
            clinician_id=clinicians[0] if clinicians else None, room_id=rooms[0] if rooms else None,
            device_ids=appointment.resource_ids(ResourceKind.DEVICE),
            hold_expires_at=local(appointment.hold_expires_at), cancel_reason=appointment.cancel_reason,
            created_by_id=appointment.created_by_id, created_at=local(appointment.created_at),
            updated_at=local(appointment.updated_at), version=appointment.version,
        )


class AuditPublic(Schema):
    id: int
    at: datetime
    actor: str
    action: str
    appointment_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
