"""Request and response schemas of plan templates and patients' treatment plans."""

from datetime import date, datetime, time, timedelta

from pydantic import Field, StrictBool, field_validator, model_validator

from api.schemas.booking import AppointmentPublic
from api.schemas.catalog import Span, require_disjoint_per_weekday
from api.schemas.common import Code, Day, Ident, Name, Schema, Text, WallClock, Weekday, Whole, partial
from data.enums import LinkKind, PlanStatus, SameClinicianRule, WaitlistStatus

MAX_PLAN_DAYS = 180
MAX_GAP_HOURS = 24 * MAX_PLAN_DAYS


class PlanLineIn(Schema):
    """A service given ``count`` times; consecutive sessions' starts are spaced in calendar days and/or hours."""

    service_id: Ident
    count: Whole = Field(ge=1, le=30)
    min_gap_days: Whole | None = Field(default=None, ge=0, le=MAX_PLAN_DAYS,
                                     description="Calendar days at least between sessions")
    max_gap_days: Whole | None = Field(default=None, ge=0, le=MAX_PLAN_DAYS,
                                     description="Calendar days at most between sessions")
    min_gap_hours: Whole | None = Field(default=None, ge=0, le=MAX_GAP_HOURS,
                                      description="Hours at least from one session's start to the next's (ESWT: 48)")
    max_gap_hours: Whole | None = Field(default=None, ge=1, le=MAX_GAP_HOURS, description=(
        "Hours at most from one session's start to the next's (two sessions of one patient never start together)"))
    same_clinician: SameClinicianRule = SameClinicianRule.PREFERRED

    @model_validator(mode="after")
    def _gaps_in_order(self):
        if None not in (self.min_gap_days, self.max_gap_days) and self.max_gap_days < self.min_gap_days:
            raise ValueError(f"max_gap_days ({self.max_gap_days}) is below min_gap_days ({self.min_gap_days})")
        if None not in (self.min_gap_hours, self.max_gap_hours) and self.max_gap_hours < self.min_gap_hours:
            raise ValueError(f"max_gap_hours ({self.max_gap_hours}) is below min_gap_hours ({self.min_gap_hours})")
        return self

    @model_validator(mode="after")
    def _hours_agree_with_days(self):
        """Refuse only what no two starts can keep, clock changes included.

        Starts ``d`` calendar days apart are more than ``24 * (d - 1) - 1`` hours
        apart and less than ``24 * (d + 1) + 1`` (a day has 23 to 25 hours), so
        e.g. at least 2 days and at most 40 hours is kept by 17:00 then 9:00 two
        days later, while at least 3 days and at most 40 hours never is.
        """
        if None not in (self.min_gap_days, self.max_gap_hours) and self.max_gap_hours < 24 * (self.min_gap_days - 1):
            raise ValueError(
                f"max_gap_hours ({self.max_gap_hours}) can never be kept with min_gap_days ({self.min_gap_days}): "
                f"sessions {self.min_gap_days} calendar days apart start about {24 * (self.min_gap_days - 1)} h "
                "or more apart")
        if None not in (self.max_gap_days, self.min_gap_hours) and self.min_gap_hours > 24 * (self.max_gap_days + 1):
            raise ValueError(
                f"min_gap_hours ({self.min_gap_hours}) can never be kept with max_gap_days ({self.max_gap_days}): "
                f"sessions {self.max_gap_days} calendar days apart start less than about "
                f"{24 * (self.max_gap_days + 1)} h apart")
        return self


class PlanLinkIn(Schema):
    kind: LinkKind = Field(description="same_visit: 'then' right after 'first'; before: every 'first' first")
    first_service_id: Ident
    then_service_id: Ident

    @model_validator(mode="after")
    def _two_services(self):
        if self.first_service_id == self.then_service_id:
            raise ValueError("a link joins two different services")
        return self


class PlanRules(Schema):
    """Lines and links, shared by templates and plans: each service once, links only between lines."""

    lines: list[PlanLineIn] = Field(default_factory=list, max_length=12)
    links: list[PlanLinkIn] = Field(default_factory=list, max_length=12)

    @field_validator("lines")
    @classmethod
    def _each_service_once(cls, lines: list[PlanLineIn]) -> list[PlanLineIn]:
        services = [line.service_id for line in lines]
        if len(set(services)) != len(services):
            raise ValueError("a service has more than one line; give one line with a count")
        return lines

    @model_validator(mode="after")
    def _links_between_lines(self):
        services = {line.service_id for line in self.lines}
        for index, link in enumerate(self.links):
            for side in (link.first_service_id, link.then_service_id):
                if services and side not in services:
                    raise ValueError(f"link {index} names service {side}, which has no line in the plan")
        return self

    @model_validator(mode="after")
    def _links_can_all_be_kept(self):
        """Each link orders two services (same_visit: 'then' right after 'first'; before: every 'first' first), so
        links that lead back to where they began can never all be kept: the plan could place none of their
        sessions (found by a probe: "EMTT before ESWT" and "ESWT before EMTT" both accepted, nothing placed)."""
        seen: dict[tuple[int, int], int] = {}
        after: dict[int, list[int]] = {}
        for index, link in enumerate(self.links):
            pair = (link.first_service_id, link.then_service_id)
            if pair in seen:
                raise ValueError(f"links {seen[pair]} and {index} both order service {pair[0]} before service "
                                 f"{pair[1]}; give one link per pair")
            seen[pair] = index
            after.setdefault(pair[0], []).append(pair[1])
        for start in after:
            path = _back_to(start, after, [start])
            if path:
                raise ValueError("these links lead back to where they began and can never all be kept: service "
                                 + " before service ".join(str(service) for service in path))
        return self


def _back_to(start: int, after: dict[int, list[int]], path: list[int]) -> list[int] | None:
    """A path of links from ``path``'s last service back to ``start`` (the path itself, closed), if any."""
    for then in after.get(path[-1], ()):
        if then == start:
            return [*path, start]
        if then not in path:
            found = _back_to(start, after, [*path, then])
            if found:
                return found
    return None


class TemplateFields(PlanRules):
    code: Code
    name: Name
    description: Text = Field(default="", max_length=500)
    lines: list[PlanLineIn] = Field(min_length=1, max_length=12)


class TemplateCreate(TemplateFields):
    pass


TemplateUpdate = partial(TemplateFields, "TemplateUpdate")


class TemplatePublic(TemplateFields):
    id: int


class PlanWindowIn(Span):
    weekday: Weekday
    preferred: StrictBool = Field(default=False, description="A time the patient likes best (soft)")


class PlanCreate(PlanRules):
    """A plan for a patient; lines and links are copied from the template when left out."""

    patient_id: Ident
    location_id: Ident
    template_id: Ident | None = None
    earliest_start: Day
    latest_end: Day = Field(description="Last day a session may take place on")
    priority: Whole = Field(default=3, ge=1, le=5, description="1 lowest, 5 highest")
    windows: list[PlanWindowIn] = Field(default_factory=list, max_length=21,
                                        description="When the patient can come; none: any opening hour")
    blackouts: list[Day] = Field(default_factory=list, max_length=100)

    @field_validator("windows")
    @classmethod
    def _windows_disjoint(cls, windows: list[PlanWindowIn]) -> list[PlanWindowIn]:
        """As opening hours and shifts: two overlapping times on one weekday were kept (found by a probe)."""
        return require_disjoint_per_weekday(windows, "windows")

    @model_validator(mode="after")
    def _dates(self):
        if self.latest_end < self.earliest_start:  # both days count: a plan of one day ends the day it starts
            raise ValueError("latest_end must not be before earliest_start")
        if self.latest_end - self.earliest_start > timedelta(days=MAX_PLAN_DAYS):
            raise ValueError(f"a plan spans at most {MAX_PLAN_DAYS} days")
        if not self.lines and self.template_id is None:
            raise ValueError("give lines, or a template_id to copy them from")
        return self


PlanUpdate = partial(PlanCreate, "PlanUpdate")


class PlanSessionPublic(Schema):
    service_id: int
    sequence: int = Field(description="1 for the first session of the line")
    appointment: AppointmentPublic | None
    clinician_name: str | None = Field(default=None, description="Who gives the placed session")
    room_name: str | None = None
    device_names: list[str] = Field(default_factory=list, description="The device units it uses")
    unplaced_reason: str = Field(description="Why this session is not placed; empty when it is")


class PlanPublic(Schema):
    id: int
    status: PlanStatus
    patient_id: int
    patient_name: str
    location_id: int
    template_id: int | None
    template_name: str | None
    earliest_start: date
    latest_end: date
    priority: int
    lines: list[PlanLineIn]
    links: list[PlanLinkIn]
    windows: list[PlanWindowIn]
    blackouts: list[date]
    sessions: list[PlanSessionPublic]


class ProposalPublic(Schema):
    plan: PlanPublic
    placed: int
    unplaced: int
    solver_status: str
    objective: float | None
    bound: float | None
    seconds: float


class WaitlistCreate(Schema):
    """A patient waiting for a service: any day in the dates, starting and ending within the daily window."""

    patient_id: Ident
    service_id: Ident
    earliest_day: Day
    latest_day: Day
    earliest_time: WallClock = time(7, 0)
    latest_time: WallClock = time(20, 0)
    priority: Whole = Field(default=3, ge=1, le=5, description="1 lowest, 5 highest")

    @model_validator(mode="after")
    def _in_order(self):
        if self.latest_day < self.earliest_day:
            raise ValueError("latest_day must not be before earliest_day")
        if self.latest_day - self.earliest_day > timedelta(days=MAX_PLAN_DAYS):
            raise ValueError(f"wait at most {MAX_PLAN_DAYS} days")
        if self.latest_time <= self.earliest_time:
            raise ValueError("latest_time must be after earliest_time")
        return self


class WaitlistPublic(WaitlistCreate):
    id: int
    status: WaitlistStatus
    appointment_id: int | None
    created_at: datetime = Field(description="When the patient was put on the waitlist (UTC: a request belongs to no "
                                             "one location)")
    offer: AppointmentPublic | None = Field(default=None, description=(
        "The hold offered to the patient (after a cancellation or by the nightly run) and what became of it: "
        "pending while it waits for the desk to confirm with the patient, booked once confirmed, cancelled when "
        "released or lapsed. Times in the offer's location's zone"))

    @classmethod
    def of(cls, request, offer) -> "WaitlistPublic":
        """``request`` (a WaitlistRequest) with its offered appointment, if any."""
        listed = cls.model_validate(request, from_attributes=True)
        listed.offer = AppointmentPublic.of(offer) if offer is not None else None
        return listed
