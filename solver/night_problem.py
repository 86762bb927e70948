"""One location's night as plain data: what is booked, what waits, the rules between them, and an answer.

Shared by the greedy placer (``night_greedy``), the CP-SAT model
(``night_model``), the bound (``night_bound``), the search (``replan``) and the
independent checker (``night_check``). Times are minutes since the Unix epoch
(UTC); a session's start lies on the grid ``grid_origin + k * grid``.
"""

from bisect import bisect_right
from dataclasses import dataclass

from solver.intervals import Intervals
from solver.plans import Placement, SessionKind

DAY = 24 * 60


@dataclass(frozen=True)
class BookedSession:
    """A booked appointment; ``current`` is how it is served now.

    ``may_start`` are the other starts the clinic's policy allows it to move
    to (the patient is told); empty, its time stays.
    """

    id: int
    patient: int
    kind: SessionKind
    start: int
    current: Placement
    keep_clinician: bool = False
    may_start: Intervals = ()


@dataclass(frozen=True)
class WaitingSession:
    """A session without a time yet: placed somewhere in ``starts``, or left waiting.

    ``team`` names sessions that must share one clinician (a plan line that
    requires the same clinician throughout); ``priority`` is 1 (low) to 5.
    """

    key: str
    patient: int
    kind: SessionKind
    starts: Intervals
    priority: int = 3
    team: str | None = None


@dataclass(frozen=True)
class Spacing:
    """``later`` only if ``earlier`` is placed, after it ends, and within the spacing given.

    Days count local calendar days between the two starts (``min_days`` 5:
    Monday then Saturday or later); hours count elapsed time between the two
    starts (``min_hours`` 48: "at least 48 h apart", whatever the days).
    """

    earlier: str
    later: str
    min_days: int | None = None
    max_days: int | None = None
    min_hours: int | None = None
    max_hours: int | None = None


@dataclass(frozen=True)
class NightProblem:
    """Everything one location's night needs; ``day_starts`` are its local midnights, in order."""

    booked: tuple[BookedSession, ...] = ()
    waiting: tuple[WaitingSession, ...] = ()
    spacings: tuple[Spacing, ...] = ()
    day_starts: tuple[int, ...] = ()
    grid: int = 15
    grid_origin: int = 0

    def day_of(self, minute: int) -> int:
        """The local calendar day of ``minute``: an index into ``day_starts``, or a UTC day number without them."""
        if not self.day_starts:
            return minute // DAY
        return max(bisect_right(self.day_starts, minute) - 1, 0)

    def day_start(self, day: int) -> int:
        """The first minute of local day ``day`` (days past the last known midnight are 24 h long)."""
        if not self.day_starts:
            return day * DAY
        if day < len(self.day_starts):
            return self.day_starts[max(day, 0)]
        return self.day_starts[-1] + (day - len(self.day_starts) + 1) * DAY

    def first_day(self) -> int:
        """The day sooner treatment is counted from: the first local day of the night's sessions."""
        starts = [w.starts[0][0] for w in self.waiting if w.starts] + [b.start for b in self.booked]
        return self.day_of(min(starts)) if starts else 0

    def on_grid(self, minute: int) -> bool:
        return (minute - self.grid_origin) % self.grid == 0


@dataclass(frozen=True)
class Stage:
    """One level of the lexicographic objective: its value in the answer and the best value provably possible.

    ``sense`` is "max" (placements) or "min"; ``bound`` is CP-SAT's proof for
    the stage's model (None when nothing was proved); ``relaxation`` is an
    independent bound from ``night_bound`` where one exists.
    """

    name: str
    sense: str
    value: int
    bound: float | None = None
    relaxation: float | None = None
    status: str = "unknown"

    @property
    def best_bound(self) -> float | None:
        bounds = [b for b in (self.bound, self.relaxation) if b is not None]
        if not bounds:
            return None
        return min(bounds) if self.sense == "max" else max(bounds)

    @property
    def gap(self) -> float | None:
        """How far the value may be from the best possible, relative to the value (0 = proven optimal)."""
        bound = self.best_bound
        if bound is None:
            return None
        return max(0.0, (bound - self.value) if self.sense == "max" else (self.value - bound)) / max(1, abs(self.value))


@dataclass(frozen=True)
class ReplanSolution:
    """Every booked session's placement (``kind`` is its id) and the placed waiting ones' (``kind`` is their key).

    ``stages`` are the objective's levels in order: "placed" (priority
    points of the waiting sessions placed), "sooner" (days from the night's
    first day to each placed waiting session, summed) and "quality"
    (continuity, balance, idle gaps, moves and changed resources, weighted
    by ``night_model.QUALITY_WEIGHTS``). ``greedy`` is the same stages' values
    for the greedy answer.
    """

    placements: tuple[Placement, ...]
    status: str
    stages: tuple[Stage, ...] = ()
    greedy: dict[str, int] | None = None
    first_solution_seconds: float | None = None
    seconds: float = 0.0

    def stage(self, name: str) -> Stage | None:
        return next((stage for stage in self.stages if stage.name == name), None)

    @property
    def objective(self) -> int | None:
        """The placements level's value: priority points of the waiting sessions placed."""
        placed = self.stage("placed")
        return None if placed is None else placed.value

    @property
    def bound(self) -> float | None:
        placed = self.stage("placed")
        return None if placed is None else placed.best_bound

    @property
    def gap(self) -> float | None:
        placed = self.stage("placed")
        return None if placed is None else placed.gap
