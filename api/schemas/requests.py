"""Schemas of the public request pages and of the front desk's handling of requests."""

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from api.schemas.common import Ident, Instant, Schema, Text
from api.schemas.people import PatientFields, PatientPublic
from data.enums import RequestKind, RequestStatus
from scheduler.visit_requests import REACH_YOU, Waiting


class PublicServiceOut(Schema):
    kind: RequestKind
    name: str
    minutes: int


class PublicLocationOut(Schema):
    """A location as the public pages show it: its times are written in its zone and locale."""

    id: int
    name: str
    time_zone: str
    locale: str


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
            raise PydanticCustomError("contact_missing", REACH_YOU)  # no "Value error, " prefix: a visitor reads it
        return self


class RequestStatusOut(Schema):
    """What the status link shows: no names, no contact details; times with the location's offset."""

    kind: RequestKind
    status: RequestStatus
    service: str
    start: datetime
    end: datetime
    location_id: int
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
    location_id: int
    location: str
    plan_progress: str | None
    move_requested: bool
    confirmed_at: datetime | None = Field(description="When the patient confirmed this session; null: not yet")
    cancel_until: datetime = Field(description="The patient may cancel from their page until then; later: a call")


class OfferOut(Schema):
    """A waitlist offer as the patient's page shows it; times with the location's offset."""

    appointment_id: int
    status: Literal["open", "booked", "gone"] = Field(description="open: may be accepted until hold_expires_at; "
                                                              "booked: accepted; gone: lapsed or released")
    service: str
    start: datetime
    end: datetime
    location_id: int
    location: str
    hold_expires_at: datetime | None


class VisitRequestOut(Schema):
    """A request as the front desk sees it, with existing patients who may be the visitor.

    Times carry the location's offset, as everywhere else in the API.
    """

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
    moves_from: datetime | None = Field(description="A move's session: when it is booked now")
    possible_matches: list[PatientPublic]

    @classmethod
    def of(cls, answer: Waiting) -> "VisitRequestOut":
        request, hold = answer.request, answer.hold
        zone = ZoneInfo(hold.location.time_zone)
        local = lambda moment: moment.astimezone(zone) if moment else None  # noqa: E731
        people = lambda patient: PatientPublic.model_validate(patient, from_attributes=True)  # noqa: E731
        return cls(
            id=request.id, kind=request.kind, status=request.status, created_at=local(request.created_at),
            service_id=hold.service_id, location_id=hold.location_id, start=local(hold.starts_at),
            end=local(hold.ends_at), hold_expires_at=local(hold.hold_expires_at), reason=request.reason,
            new_patient=request.new_patient, patient=people(answer.patient),
            moves_appointment_id=request.moves_appointment_id,
            moves_from=local(answer.moving.starts_at) if answer.moving else None,
            possible_matches=[people(p) for p in answer.possible_matches],
        )


class ConfirmIn(Schema):
    patient_id: Ident | None = Field(default=None, description="The existing patient the visitor is; "
                                                               "left out: keep the record made from the request")


class DeclineIn(Schema):
    reason: Text = Field(min_length=1, max_length=300, description="Shown to the visitor on the status page")


class LinkOut(Schema):
    url: str
