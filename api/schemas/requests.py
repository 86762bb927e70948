"""Schemas of the public request pages and of the front desk's handling of requests."""

from datetime import datetime

from pydantic import Field, model_validator

from api.schemas.common import Ident, Instant, Schema, Text
from api.schemas.people import PatientFields, PatientPublic
from data.enums import RequestKind, RequestStatus


class PublicServiceOut(Schema):
    kind: RequestKind
    name: str
    minutes: int


class PublicSlotOut(Schema):
    """A free time and place; nothing about anyone else's bookings."""

    start: datetime
    end: datetime
    location_id: int
    location_name: str


class VisitRequestIn(PatientFields):
    """A visitor's request: the chosen slot, who they are, how to reach them and why they come."""

    kind: RequestKind
    location_id: Ident
    start: Instant
    reason: Text = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _reachable(self):
        if self.kind == RequestKind.MOVE:
            raise ValueError("moves are asked for from the patient's own page")
        if not self.phone and not self.email:
            raise ValueError("give a phone number or an e-mail address so the clinic can reach you")
        return self


class RequestStatusOut(Schema):
    """What the status link shows: no names, no contact details."""

    kind: RequestKind
    status: RequestStatus
    service: str
    start: datetime
    end: datetime
    location: str
    decline_reason: str
    hold_expires_at: datetime | None


class RequestCreated(RequestStatusOut):
    status_url: str = Field(description="The visitor's private status page; keep it")


class MoveIn(Schema):
    appointment_id: Ident
    location_id: Ident
    start: Instant


class UpcomingOut(Schema):
    appointment_id: int
    service_id: int
    service: str
    start: datetime
    end: datetime
    location: str
    plan_progress: str | None
    move_requested: bool


class VisitRequestOut(Schema):
    """A request as the front desk sees it, with existing patients who may be the visitor."""

    id: int
    kind: RequestKind
    status: RequestStatus
    created_at: datetime
    service_id: int
    location_id: int
    start: datetime
    end: datetime
    hold_expires_at: datetime | None
    reason: str
    new_patient: bool
    patient: PatientPublic
    moves_appointment_id: int | None
    possible_matches: list[PatientPublic]


class ConfirmIn(Schema):
    patient_id: Ident | None = Field(default=None, description="The existing patient the visitor is; "
                                                               "left out: keep the record made from the request")


class DeclineIn(Schema):
    reason: Text = Field(min_length=1, max_length=300, description="Shown to the visitor on the status page")


class LinkOut(Schema):
    url: str
