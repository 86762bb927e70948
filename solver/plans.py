"""A treatment plan as a scheduling problem, and what a solution to it looks like.

Plain, immutable data shared by the CP-SAT model (``plan_model``), the greedy
first-fit placer (``plan_greedy``) and the independent checker
(``plan_check``). Times are whole minutes since the Unix epoch (UTC), as in
``solver.availability``; every resource comes with the minutes it is free in
the live schedule (shifts, maintenance and existing bookings already removed).

Session kinds are the plan's lines ("5 x ESWT, 5-10 days apart"); sessions are
numbered 0..count-1 within their kind and take place in that order. Spacing
between consecutive sessions is counted between their starts, in local
calendar days (``min_gap_days``/``max_gap_days``) and in elapsed whole hours
(``min_gap_hours``/``max_gap_hours``, "at least 48 h apart"); every rule given
holds.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from solver.intervals import Intervals

if TYPE_CHECKING:
    from solver.night_problem import Stage

DAY = 24 * 60


class SameClinician(StrEnum):
    """Continuity of care for the sessions of one kind."""

    NONE = "none"
    PREFERRED = "preferred"
    REQUIRED = "required"


@dataclass(frozen=True)
class Candidate:
    """A clinician, room or device unit that could serve a kind of session, and when it is free."""

    id: int
    name: str
    free: Intervals
    cleaning: int = 0


@dataclass(frozen=True)
class DevicePool:
    """``count`` units of one device type are needed at once; ``units`` are the ones that could serve."""

    type_name: str
    count: int
    units: tuple[Candidate, ...]


@dataclass(frozen=True)
class SessionKind:
    """One line of the plan: a service given ``count`` times with spacing rules between consecutive sessions."""

    key: str
    name: str
    count: int
    duration: int
    clinicians: tuple[Candidate, ...]
    buffer_before: int = 0
    buffer_after: int = 0
    needs_room: bool = False
    rooms: tuple[Candidate, ...] = ()
    devices: tuple[DevicePool, ...] = ()
    min_gap_days: int | None = None
    max_gap_days: int | None = None
    min_gap_hours: int | None = None
    max_gap_hours: int | None = None
    same_clinician: SameClinician = SameClinician.NONE


@dataclass(frozen=True)
class SameVisit:
    """Session i of ``then`` starts the moment session i of ``first`` ends (e.g. ESWT then EMTT)."""

    first: str
    then: str


@dataclass(frozen=True)
class Before:
    """Every session of ``first`` ends before any session of ``then`` starts (diagnosis first)."""

    first: str
    then: str


@dataclass(frozen=True)
class PlanProblem:
    """Everything needed to place one patient's plan; nothing here talks to a database.

    ``allowed`` are the spans a session may occupy: opening hours, the
    patient's available weekly windows, minus blackout dates, between the
    plan's earliest start and latest end. ``preferred`` are spans the patient
    likes better (soft). ``patient_free`` is when the patient has no other
    appointment. ``day_starts`` are the local midnights (UTC minutes) covering
    the horizon, so spacing rules count calendar days in the clinic's zone.

    ``open_hours``, ``windows`` (the patient's availability minus blackouts)
    and ``dates`` (earliest start, latest end) are the parts ``allowed`` is
    made of; when given, an explanation can tell which of them binds.
    """

    kinds: tuple[SessionKind, ...]
    allowed: Intervals
    patient_free: Intervals
    day_starts: tuple[int, ...]
    same_visits: tuple[SameVisit, ...] = ()
    befores: tuple[Before, ...] = ()
    preferred: Intervals = field(default_factory=list)
    open_hours: Intervals | None = None
    windows: Intervals | None = None
    dates: tuple[int, int] | None = None
    grid: int = 15
    grid_origin: int = 0
    last_clinician: int | None = None

    def kind(self, key: str) -> SessionKind:
        return next(kind for kind in self.kinds if kind.key == key)

    def day_of(self, minute: int) -> int:
        """Index of the local calendar day containing ``minute``."""
        low, high = 0, len(self.day_starts) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.day_starts[middle] <= minute:
                low = middle
            else:
                high = middle - 1
        return low

    def day_start(self, day: int) -> int:
        """The first minute of local day ``day``; past the last known midnight days are 24 h long."""
        if day < len(self.day_starts):
            return self.day_starts[max(day, 0)]
        return self.day_starts[-1] + (day - len(self.day_starts) + 1) * DAY


@dataclass(frozen=True)
class Placement:
    """Where and with whom one session takes place."""

    kind: str
    index: int
    start: int
    clinician: int
    room: int | None = None
    devices: tuple[int, ...] = ()


@dataclass(frozen=True)
class PlanSolution:
    """What a placer proposes; sessions missing from ``placements`` are unplaced.

    ``stages`` are the CP-SAT model's objective levels in order, each with its
    value and proven bound: "placed" (sessions placed, maximized), then
    "quality" (a cost, minimized; ``plan_check.measure``). ``objective`` and
    ``bound`` are the quality level's, the one level whose value the
    proposal's reader cannot see in the placements themselves.
    """

    placements: tuple[Placement, ...]
    status: str = "unknown"
    objective: float | None = None
    bound: float | None = None
    seconds: float = 0.0
    stages: tuple["Stage", ...] = ()

    def placed(self, kind: str, index: int) -> Placement | None:
        return next((p for p in self.placements if p.kind == kind and p.index == index), None)


def blocked(kind: SessionKind, start: int, cleaning: int = 0) -> tuple[int, int]:
    """What a clinician, room or device unit is held for by a session starting at ``start``."""
    return start - kind.buffer_before, start + kind.duration + kind.buffer_after + cleaning
