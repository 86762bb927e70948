"""Request and response schemas of the clinic catalog.

Each entity has a ``...Fields`` model (everything an admin sets, fully
validated), ``...Create`` (the same, as a request body), ``...Update`` (every
field optional; merged into the stored record and re-validated as ``Fields``)
and ``...Public`` (what the API returns).
"""

from datetime import datetime, time
from itertools import groupby
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (AfterValidator, BeforeValidator, EmailStr, Field, StringConstraints, ValidationError,
                      ValidationInfo, field_validator, model_validator)
from pydantic_core import InitErrorDetails, PydanticCustomError

from api.schemas.common import (
    Code,
    Ident,
    Instant,
    Locale,
    Name,
    Schema,
    SingleLine,
    Text,
    TimeZoneName,
    WallClock,
    Weekday,
    Whole,
    partial,
    require_disjoint,
    spelled,
)
from api.schemas.people import Phone
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


def _upper(value):
    return value.upper() if isinstance(value, str) else value


def _web_page(value: str) -> str:
    url = urlsplit(value)
    if url.scheme not in ("http", "https") or not url.hostname or " " in value:
        raise ValueError("give the web page's full address, e.g. https://clinic.example.org/midtown")
    return value


# Each part of a location's contact details: an emptied field (the admin form's) means none.
AddressLine = Annotated[Annotated[SingleLine, StringConstraints(min_length=1, max_length=120)] | None,
                        BeforeValidator(_empty_is_none)]
City = Annotated[Annotated[SingleLine, StringConstraints(min_length=1, max_length=80)] | None,
                 BeforeValidator(_empty_is_none)]
State = Annotated[Annotated[str, BeforeValidator(_upper), *spelled(
    r"^[A-Z]{2,3}$", "give the state's postal abbreviation, 2 or 3 letters, e.g. NY")] | None,
    BeforeValidator(_empty_is_none)]
PostalCode = Annotated[Annotated[str, BeforeValidator(_upper), *spelled(
    r"^[A-Z0-9][A-Z0-9 -]{1,10}[A-Z0-9]$",
    "give the postal code in letters and digits (spaces or dashes between), e.g. 10016 or 10016-4321")] | None,
    BeforeValidator(_empty_is_none)]
ContactPhone = Annotated[Phone | None, BeforeValidator(_empty_is_none)]
WebPage = Annotated[Annotated[str, StringConstraints(max_length=300), AfterValidator(_web_page)] | None,
                    BeforeValidator(_empty_is_none)]
ADDRESS_PARTS = {"address_line": "street", "city": "city", "state": "state", "postal_code": "postal code"}


class OpeningHours(Span):
    weekday: Weekday
    starts: WallClock = Field(description="Opening time, local wall clock")
    ends: WallClock = Field(description="Closing time, local wall clock")


class LocationFields(Schema):
    name: Name
    address: Text = Field(default="", max_length=300, description="The address as written (free text)")
    address_line: AddressLine = Field(default=None, description=(
        "Street and number, e.g. '44 East 30th Street'; the address in parts (street, city, state, postal code) "
        "is all given or all empty, and a location is published to slot finders once it is given"))
    city: City = None
    state: State = Field(default=None, description="Postal abbreviation, e.g. NY")
    postal_code: PostalCode = Field(default=None, description="e.g. 10016")
    phone: ContactPhone = Field(default=None, description="The front desk's number, e.g. +1 212 555 0100")
    website: WebPage = Field(default=None, description="The location's web page, e.g. https://clinic.example.org")
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

    @model_validator(mode="after")
    def _address_whole(self):
        """A slot finder needs every part of an address; half of one is refused at the first missing part."""
        given = [getattr(self, name) is not None for name in ADDRESS_PARTS]
        if any(given) and not all(given):
            missing = next(name for name, there in zip(ADDRESS_PARTS, given) if not there)
            raise ValidationError.from_exception_data(type(self).__name__, [InitErrorDetails(
                type=PydanticCustomError("incomplete_address", "give the whole address (street, city, state and "
                                         "postal code) or leave all four empty: the {part} is missing",
                                         {"part": ADDRESS_PARTS[missing]}),
                loc=(missing,), input=None)])
        return self


class LocationCreate(LocationFields):
    pass


def _as_in_fields(name: str):
    return Field(default=None, description=LocationFields.model_fields[name].description)


class LocationUpdate(partial(LocationFields, "LocationFieldsUpdate")):
    # partial() keeps only the types: an emptied time or contact field must still read as "none" here.
    address_line: AddressLine = _as_in_fields("address_line")
    city: City = _as_in_fields("city")
    state: State = _as_in_fields("state")
    postal_code: PostalCode = _as_in_fields("postal_code")
    phone: ContactPhone = _as_in_fields("phone")
    website: WebPage = _as_in_fields("website")
    quiet_from: QuietTime = _as_in_fields("quiet_from")
    quiet_until: QuietTime = _as_in_fields("quiet_until")


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
    cleaning_minutes: Whole = Field(default=0, ge=0, le=240, description="Cleaning/setup time between patients")
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
    count: Whole = Field(default=1, ge=1, le=10)


class ServiceFields(Schema):
    code: Code
    name: Name
    duration_minutes: Whole = Field(gt=0, le=8 * 60)
    required_certification: Certification | None = Field(default=None, description="None: any clinician")
    room_kind: RoomKind | None = Field(default=None, description="None: no room needed (telehealth)")
    buffer_before_minutes: Whole = Field(default=0, ge=0, le=120)
    buffer_after_minutes: Whole = Field(default=0, ge=0, le=120)
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
