"""Request and response schemas of the clinic catalog.

Each entity has a ``...Fields`` model (everything an admin sets, fully
validated), ``...Create`` (the same, as a request body), ``...Update`` (every
field optional; merged into the stored record and re-validated as ``Fields``)
and ``...Public`` (what the API returns).
"""

from datetime import datetime, time
from itertools import groupby
from typing import Annotated

from pydantic import BeforeValidator, EmailStr, Field, ValidationInfo, field_validator, model_validator

from api.schemas.common import (
    Code,
    Ident,
    Instant,
    Locale,
    Name,
    Schema,
    Text,
    TimeZoneName,
    WallClock,
    Weekday,
    partial,
    require_disjoint,
)
from data.enums import Certification, ExceptionKind, RoomKind

ARCHIVED = "When it was archived (it had history): kept so past sessions name it, no longer offered or booked"


class Span(Schema):
    """A local wall-clock span within one day."""

    starts: WallClock
    ends: WallClock

    @model_validator(mode="after")
    def _ends_after_starts(self):
        if self.ends <= self.starts:
            raise ValueError(f"ends ({self.ends}) must be after starts ({self.starts})")
        return self


class Window(Schema):
    """An absolute time window; both ends need an offset."""

    starts_at: Instant
    ends_at: Instant

    @model_validator(mode="after")
    def _ends_after_starts(self):
        if self.ends_at <= self.starts_at:
            raise ValueError(f"ends_at ({self.ends_at}) must be after starts_at ({self.starts_at})")
        return self


def require_disjoint_per_weekday(days: list, what: str) -> list:
    """Spans given for the same weekday must not overlap; errors name entries by list index."""
    indexed = sorted(enumerate(days), key=lambda item: item[1].weekday)
    for weekday, group in groupby(indexed, key=lambda item: item[1].weekday):
        group = list(group)
        require_disjoint(
            [(day.starts, day.ends) for _, day in group],
            f"{what} on weekday {weekday}: entries",
            positions=[index for index, _ in group],
        )
    return days


# Locations


def _empty_is_none(value):
    """An emptied time field (the admin form's) means no time."""
    return None if isinstance(value, str) and not value.strip() else value


QuietTime = Annotated[WallClock | None, BeforeValidator(_empty_is_none)]


class OpeningHours(Span):
    weekday: Weekday
    starts: WallClock = Field(description="Opening time, local wall clock")
    ends: WallClock = Field(description="Closing time, local wall clock")


class LocationFields(Schema):
    name: Name
    address: Text = Field(default="", max_length=300)
    time_zone: TimeZoneName = Field(description="IANA time zone, e.g. America/New_York")
    locale: Locale = Field(default="en-US", description=(
        "BCP 47 language tag for dates and times in the web app, e.g. en-US ('Tue, Dec 1') or en-GB ('Tue 1 Dec')"))
    opening_hours: list[OpeningHours] = Field(default_factory=list)
    quiet_from: QuietTime = Field(default=None, description=(
        "No patient message is sent from this local time (e.g. 21:00) until quiet_until; both or neither"))
    quiet_until: QuietTime = Field(default=None, validate_default=True, description=(
        "...until this local time (e.g. 08:00; before quiet_from: the quiet hours span midnight)"))

    @field_validator("opening_hours")
    @classmethod
    def _hours_disjoint(cls, hours: list[OpeningHours]) -> list[OpeningHours]:
        return require_disjoint_per_weekday(hours, "opening hours")

    @field_validator("quiet_until")
    @classmethod
    def _quiet_hours_whole(cls, until: time | None, info: ValidationInfo) -> time | None:
        if "quiet_from" not in info.data:
            return until  # quiet_from itself was refused
        start = info.data["quiet_from"]
        if (start is None) != (until is None):
            raise ValueError("give quiet hours as a start and an end (e.g. 21:00 until 08:00), or neither")
        if start is not None and start == until:
            raise ValueError(f"quiet hours from {start:%H:%M} until {until:%H:%M} cover no time; leave both empty "
                             "for none")
        return until


class LocationCreate(LocationFields):
    pass


class LocationUpdate(partial(LocationFields, "LocationFieldsUpdate")):
    # partial() keeps only the types: an emptied time field must still read as "none" here.
    quiet_from: QuietTime = Field(default=None, description=LocationFields.model_fields["quiet_from"].description)
    quiet_until: QuietTime = Field(default=None, description=LocationFields.model_fields["quiet_until"].description)


class LocationPublic(LocationFields):
    id: int


# Clinicians


class ShiftBreak(Span):
    pass


class WeeklyShift(Span):
    """A shift repeated every week, in the local wall-clock time of the clinician's location."""

    weekday: Weekday
    breaks: list[ShiftBreak] = Field(default_factory=list)

    @model_validator(mode="after")
    def _breaks_inside_and_disjoint(self):
        for index, pause in enumerate(self.breaks):
            if pause.starts < self.starts or pause.ends > self.ends:
                raise ValueError(f"break {index} ({pause.starts}-{pause.ends}) lies outside the shift")
        require_disjoint([(pause.starts, pause.ends) for pause in self.breaks], "breaks")
        return self


class ScheduleException(Window):
    """Time off, or an extra shift, on particular dates."""

    kind: ExceptionKind
    note: Text = Field(default="", max_length=200)


class ClinicianFields(Schema):
    name: Name
    title: Text = Field(default="", max_length=80, description="e.g. 'DC', 'PT, DPT'")
    email: EmailStr | None = None
    location_id: Ident = Field(description="The location whose time zone the shifts are in")
    certifications: list[Certification] = Field(default_factory=list)
    shifts: list[WeeklyShift] = Field(default_factory=list)
    exceptions: list[ScheduleException] = Field(default_factory=list)

    @field_validator("certifications")
    @classmethod
    def _each_certification_once(cls, certifications: list[Certification]) -> list[Certification]:
        if len(set(certifications)) != len(certifications):
            raise ValueError("a certification is listed more than once")
        return certifications

    @field_validator("shifts")
    @classmethod
    def _shifts_disjoint(cls, shifts: list[WeeklyShift]) -> list[WeeklyShift]:
        return require_disjoint_per_weekday(shifts, "shifts")


class ClinicianCreate(ClinicianFields):
    pass


ClinicianUpdate = partial(ClinicianFields, "ClinicianUpdate")


class ClinicianPublic(ClinicianFields):
    id: int
    archived_at: datetime | None = Field(default=None, description=ARCHIVED)


# Devices


class DeviceTypeFields(Schema):
    code: Code = Field(description="Short stable code, e.g. 'ultrasound'")
    name: Name


class DeviceTypeCreate(DeviceTypeFields):
    pass


DeviceTypeUpdate = partial(DeviceTypeFields, "DeviceTypeUpdate")


class DeviceTypePublic(DeviceTypeFields):
    id: int


class Maintenance(Window):
    reason: Text = Field(default="", max_length=200)


class DeviceFields(Schema):
    name: Name
    device_type_id: Ident
    location_id: Ident
    cleaning_minutes: int = Field(default=0, ge=0, le=240, description="Cleaning/setup time between patients")
    maintenance: list[Maintenance] = Field(default_factory=list)


class DeviceCreate(DeviceFields):
    pass


DeviceUpdate = partial(DeviceFields, "DeviceUpdate")


class DevicePublic(DeviceFields):
    id: int
    archived_at: datetime | None = Field(default=None, description=ARCHIVED)


# Rooms


class RoomFields(Schema):
    name: Name
    kind: RoomKind
    location_id: Ident


class RoomCreate(RoomFields):
    pass


RoomUpdate = partial(RoomFields, "RoomUpdate")


class RoomPublic(RoomFields):
    id: int
    archived_at: datetime | None = Field(default=None, description=ARCHIVED)


# Services


class DeviceNeed(Schema):
    device_type_id: Ident
    count: int = Field(default=1, ge=1, le=10)


class ServiceFields(Schema):
    code: Code
    name: Name
    duration_minutes: int = Field(gt=0, le=8 * 60)
    required_certification: Certification | None = Field(default=None, description="None: any clinician")
    room_kind: RoomKind | None = Field(default=None, description="None: no room needed (telehealth)")
    buffer_before_minutes: int = Field(default=0, ge=0, le=120)
    buffer_after_minutes: int = Field(default=0, ge=0, le=120)
    device_needs: list[DeviceNeed] = Field(default_factory=list)

    @field_validator("device_needs")
    @classmethod
    def _each_type_once(cls, needs: list[DeviceNeed]) -> list[DeviceNeed]:
        types = [need.device_type_id for need in needs]
        if len(set(types)) != len(types):
            raise ValueError("a device type is listed more than once; give one entry with a count")
        return needs


class ServiceCreate(ServiceFields):
    pass


ServiceUpdate = partial(ServiceFields, "ServiceUpdate")


class ServicePublic(ServiceFields):
    id: int
    archived_at: datetime | None = Field(default=None, description=ARCHIVED)
