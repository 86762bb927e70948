"""Request and response schemas of optimization runs: what a run did, how good it is, and who is still waiting."""

from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import Field

from api.schemas.common import Day, Ident, Schema
from data.enums import RunStatus, RunTrigger
from data.tables import OptimizationRun


class RunRequest(Schema):
    location_id: Ident
    night: Day | None = Field(default=None, description="The night to record; default: the location's today")


class StagePublic(Schema):
    """One level of the lexicographic objective: the answer's value and what is provably possible."""

    name: str = Field(description="placed (priority points, the more the better), sooner (days waited, summed) "
                                  "or quality (continuity, balance, idle gaps, moves, changed resources)")
    sense: str = Field(description="max or min")
    value: int
    bound: float | None = Field(description="CP-SAT's proven bound for the level")
    relaxation: float | None = Field(description="An independent relaxation's bound, where one exists")
    gap: float | None = Field(description="Distance to the better of the two bounds, relative to the value")
    status: str


class LeftWaitingPublic(Schema):
    """A session the run left waiting, and the reason that binds."""

    key: str
    patient_id: int
    service_id: int
    priority: int
    code: str = Field(description="no_allowed_start, no_clinician, plan_clinician_off, no_room, no_device, "
                                  "plan_clinician_gone, no_common_time, earlier_not_placed, spacing, taken, "
                                  "free_start_unused or booking_refused")
    reason: str
    request_id: int | None = None
    plan_id: int | None = None
    sequence: int | None = None


class RunPublic(Schema):
    """A run's record; times in the location's zone (``time_zone``), as the changes' times are."""

    id: int
    location_id: int
    time_zone: str
    run_date: date
    trigger: RunTrigger
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    objective: float | None = Field(description="Priority points of the waiting sessions placed")
    bound: float | None = Field(description="At most this many points can be placed (the better of the two bounds)")
    gap: float | None
    solver_gap: float | None = Field(description="The placed level's gap to CP-SAT's bound")
    relaxation_gap: float | None = Field(description="The placed level's gap to the relaxation's bound")
    points_waiting: int = Field(description="Priority points of every session waiting when the run began")
    first_solution_seconds: float | None
    sessions_placed: int
    stages: list[StagePublic]
    greedy: dict[str, int | float] = Field(description="First-fit's value of each level (and the quality's parts)")
    changes: list[dict] = Field(description="Empty in a brief list (``brief=true``); ``change_counts`` stays")
    waiting: list[LeftWaitingPublic] = Field(description="Empty in a brief list; ``waiting_count`` stays")
    change_counts: dict[str, int] = Field(description="How many changes of each action (move, plan_session, ...)")
    waiting_count: int = Field(description="How many sessions the run left waiting")
    error: str

    @classmethod
    def of(cls, run: OptimizationRun, time_zone: str, *, brief: bool = False, **extra) -> "RunPublic":
        """The record; ``brief``: without its changes and waiting list (a history of 30 nights at 2,000 sessions
        each was 4 MB with them), their counts kept."""
        zone = ZoneInfo(time_zone)
        recorded = {name: getattr(run, name) for name in RunPublic.model_fields if hasattr(run, name)}
        counts = Counter(change.get("action", "") for change in run.changes or ())
        return cls.model_validate({
            **recorded, "time_zone": time_zone, "started_at": run.started_at.astimezone(zone),
            "finished_at": run.finished_at.astimezone(zone) if run.finished_at else None,
            "change_counts": dict(sorted(counts.items())), "waiting_count": len(run.waiting or ()),
            **({"changes": [], "waiting": []} if brief else {}), **extra})


class SessionNames(Schema):
    patient_id: int
    service_id: int


class RunNames(Schema):
    """The names behind the ids in a run's record, as the catalog has them now."""

    patients: dict[int, str]
    services: dict[int, str]
    clinicians: dict[int, str]
    rooms: dict[int, str]
    devices: dict[int, str]
    appointments: dict[int, SessionNames] = Field(description="Whose session and which service each changed "
                                                              "appointment is")


class RunDetail(RunPublic):
    names: RunNames


class NightHoldPublic(Schema):
    """A hold a nightly run placed that still waits for the desk to book or release it."""

    appointment_id: int
    run_id: int
    run_date: date
    action: str = Field(description="waitlist_hold (a waitlist request's offer) or plan_session (a plan's session)")
    request_id: int | None = None
    plan_id: int | None = None
    sequence: int | None = Field(None, description="The session's number in its plan")
