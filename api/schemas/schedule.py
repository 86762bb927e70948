"""The schedule screen's one read: resources, sessions and unavailable time of a location over whole local days."""

from datetime import date, datetime

from pydantic import BaseModel, Field

from data.enums import AppointmentStatus, ResourceKind
from scheduler.rosters import Named
from scheduler.schedule_screen import ScheduleView


def resource_key(kind: ResourceKind, ident: int) -> str:
    """One id space for the calendar component: clinician-3, device-1, room-2."""
    return f"{kind.value}-{ident}"


class ScheduleLocation(BaseModel):
    id: int
    name: str
    time_zone: str
    locale: str


class ScheduleResourceOut(BaseModel):
    id: str
    kind: ResourceKind
    resource_id: int
    name: str
    detail: str


class ScheduleSessionOut(BaseModel):
    """A session or hold; times in the location's zone. ``resource_ids`` are the screen's resource ids it holds."""

    appointment_id: int
    status: AppointmentStatus
    start: datetime
    end: datetime
    hold_expires_at: datetime | None
    patient: Named
    service: Named
    plan_progress: str | None
    resource_ids: list[str]
    version: int = Field(description='+1 with every change; a change sent with If-Match: W/"<version>" is made only '
                                     "on what the screen shows (else 412)")
    patient_confirmed_at: datetime | None = Field(None, description="When the patient confirmed from their page")
    proposed_in: int | None = Field(None, description="A hold of this plan's proposal: booked by confirming the "
                                                      "plan, released by discarding or editing it")
    answers_request: int | None = Field(None, description="A hold of this public request, still waiting for an "
                                                          "answer: booked by confirming the request, released by "
                                                          "declining it")


class UnavailableOut(BaseModel):
    resource_id: str
    start: datetime
    end: datetime
    cause: str


class ScheduleOut(BaseModel):
    location: ScheduleLocation
    first_day: date
    days: int
    grid_minutes: int = Field(description="Sessions start on this local wall-clock grid: a click or a drag on the "
                                          "screen snaps to it")
    resources: list[ScheduleResourceOut]
    sessions: list[ScheduleSessionOut]
    unavailable: list[UnavailableOut]

    @classmethod
    def of(cls, view: ScheduleView, grid_minutes: int) -> "ScheduleOut":
        location = view.location
        return cls(
            location=ScheduleLocation(id=location.id, name=location.name, time_zone=location.zone.key,
                                      locale=location.locale),
            first_day=view.first_day, days=view.days, grid_minutes=grid_minutes,
            resources=[ScheduleResourceOut(id=resource_key(r.kind, r.id), kind=r.kind, resource_id=r.id, name=r.name,
                                           detail=r.detail) for r in view.resources],
            sessions=[ScheduleSessionOut(
                appointment_id=s.appointment_id, status=s.status, start=s.starts_at, end=s.ends_at,
                hold_expires_at=s.hold_expires_at, patient=Named(id=s.patient_id, name=s.patient_name),
                service=Named(id=s.service_id, name=s.service_name), plan_progress=s.plan_progress,
                resource_ids=[resource_key(kind, ident) for kind, ident in s.resources], version=s.version,
                patient_confirmed_at=s.patient_confirmed_at, proposed_in=s.proposed_in,
                answers_request=s.answers_request) for s in view.sessions],
            unavailable=[UnavailableOut(resource_id=resource_key(u.kind, u.id), start=u.starts_at, end=u.ends_at,
                                        cause=u.cause) for u in view.unavailable],
        )
