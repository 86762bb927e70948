"""The nightly re-plan of one location: the best night found within the time limit, level by level.

Booked sessions keep the time promised to the patient, unless the clinic's
policy lets the run move them by a few minutes (``BookedSession.may_start``);
each may get another clinician (unless continuity requires the same one),
room or device units among those free then. Waiting sessions (waitlist
requests, plan sessions not yet placed) are placed or left waiting, within
their allowed starts, with spacing rules between the sessions of one plan
line and, where a plan requires it, one clinician for all of them.

The objective is lexicographic (``night_model.LEVELS``): priority points
placed, then sooner treatment, then quality. Each level is optimized with
the earlier ones held, and reports its value and the best value provably
possible. Each level starts from the best answer so far (the greedy one at
first) and improves it in two ways:

* one model of the whole night when it is small enough to build and search
  quickly (``WHOLE_NIGHT``): proves optimality or gives CP-SAT's bound;
* large neighbourhood search: a few days, one clinician's sessions, a few
  patients' plans, or the waiting sessions left over are freed, the rest held,
  and that piece re-solved in a few seconds; a better piece, once its units
  are assigned and the whole night passes ``check_night``, is kept.

The placements level also gets an independent bound from a relaxation
(``night_bound``), so its gap means something at any size. The whole call,
model building included, stays within its time limit; the greedy answer is
the fallback and a run never returns anything worse.
"""

import random
import time
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from solver.night_bound import placement_bound
from solver.night_check import check_night, measure
from solver.night_greedy import place_greedily
from solver.night_index import NightIndex
from solver.night_model import LEVELS, NightModel
from solver.night_problem import NightProblem, ReplanSolution, Stage
from solver.night_units import assign_units
from solver.plan_model import Limits
from solver.plans import Placement

WHOLE_NIGHT = 700
"""Free sessions up to which a level is first searched as one model (above it, neighbourhoods only)."""

SHARES = {"placed": 0.6, "sooner": 0.15, "quality": 0.25}
"""Each level's share of the time left when it starts; what a level does not use passes to the next."""

PIECE_SECONDS = 3.0
MARGIN = 0.03
"""Of the time limit, kept back for the last answer's unit colouring and check."""


@dataclass
class _Level:
    name: str
    sense: str
    bound: float | None = None
    status: str = "unknown"


@dataclass
class _Search:
    problem: NightProblem
    index: NightIndex
    best: dict[str, Placement]
    deadline: float
    workers: int
    rng: random.Random = field(default_factory=lambda: random.Random(20261129))
    piece: int = 60
    first_solution: float | None = None
    began: float = 0.0
    refused: int = 0

    # --- one level -------------------------------------------------------------------------

    def improve(self, name: str, until: float) -> Stage:
        level = _Level(name, "max" if name == "placed" else "min")
        movable = [key for key, info in self.index.sessions.items() if not info.pinned]
        if len(movable) <= WHOLE_NIGHT and self._left(until) > 0.5:
            self._solve(level, set(movable), until, whole=True)
        while level.status != "optimal" and self._left(until) > 0.3:
            self._solve(level, self._neighbourhood(), until, whole=False)
        value = measure(self.problem, self.best.values())[name]
        if level.bound is not None and level.status != "optimal" and _reached(level, value):
            level.status = "optimal"
        return Stage(name, level.sense, value, level.bound, status=level.status)

    def _left(self, until: float) -> float:
        return min(until, self.deadline) - time.perf_counter()

    def _solve(self, level: _Level, free: set[str], until: float, *, whole: bool) -> None:
        fixed = {key: placement for key, placement in self.best.items() if key not in free}
        values = measure(self.problem, self.best.values())
        floor = sum(self.index.sessions[key].priority for key in free if key in self.best)
        days = {key: self.problem.day_of(self.best[key].start) for key in free
                if key in self.best and self.index.sessions[key].waiting is not None}
        night = NightModel(self.index, free, fixed, level.name, floor=floor,
                           days=days if level.name == "quality" else None)
        night.hint(self.best)
        seconds = self._left(until) if whole else min(PIECE_SECONDS, self._left(until))
        if seconds <= 0.05:
            return
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = seconds
        solver.parameters.num_workers = self.workers
        status = solver.Solve(night.model)
        if status == cp_model.OPTIMAL and not whole:
            self.piece = min(int(self.piece * 1.25) + 1, 600)
        elif not whole:
            self.piece = max(int(self.piece * 0.8), 15)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return
        if whole:
            level.bound = solver.BestObjectiveBound()
            level.status = "optimal" if status == cp_model.OPTIMAL else "feasible"
        self._keep(night, solver, fixed, level.name, values)

    def _keep(self, night: NightModel, solver: cp_model.CpSolver, fixed: dict[str, Placement], name: str,
              values: dict[str, int]) -> None:
        """The piece's answer joined to the rest, if its units can be assigned, it passes the check and it is
        no worse on this level or an earlier one."""
        placements = assign_units(self.index, night.choices(solver), fixed)
        if placements is None:
            self.refused += 1
            return
        candidate = {**fixed, **{p.kind: p for p in placements}}
        new = measure(self.problem, candidate.values())
        order = LEVELS[: LEVELS.index(name) + 1]
        if _key(new, order) > _key(values, order):
            return
        if check_night(self.problem, ReplanSolution(tuple(candidate.values()), "candidate")):
            self.refused += 1
            return
        self.best = candidate
        if self.first_solution is None and _key(new, order) < _key(values, order):
            self.first_solution = time.perf_counter() - self.began

    # --- neighbourhoods ----------------------------------------------------------------------

    def _neighbourhood(self) -> set[str]:
        """A piece of about ``piece`` sessions, chosen in one of four ways, with their plan partners."""
        way = self.rng.choice([self._days, self._clinician, self._patients, self._leftovers])
        chosen = way()
        for key in list(chosen):
            chosen |= self._partners(key)
        movable = [key for key in chosen if not self.index.sessions[key].pinned]
        if len(movable) > 2 * self.piece:
            movable = self.rng.sample(movable, 2 * self.piece)
        return set(movable)

    def _waiting_left(self) -> list[str]:
        return [w.key for w in self.problem.waiting if w.key not in self.best and w.starts]

    def _days(self) -> set[str]:
        """Everything placed on two or three days, and the waiting sessions that could go there."""
        first = self.problem.day_of(min(p.start for p in self.best.values())) if self.best else 0
        last = self.problem.day_of(max(p.start for p in self.best.values())) if self.best else 0
        day = self.rng.randint(first, max(first, last))
        low = self.problem.day_start(day)
        high = self.problem.day_start(day + self.rng.choice([2, 3]))
        return self._around(low, high, lambda key: True)

    def _clinician(self) -> set[str]:
        """One clinician's sessions over a few days, and the waiting sessions they could serve then."""
        clinician = self.rng.choice(sorted({p.clinician for p in self.best.values()}))
        start = self.rng.choice([p.start for p in self.best.values() if p.clinician == clinician])
        low = self.problem.day_start(self.problem.day_of(start) - 2)
        high = self.problem.day_start(self.problem.day_of(start) + 3)
        return self._around(low, high, lambda key: clinician in self.index.sessions[key].clinicians)

    def _patients(self) -> set[str]:
        """A few patients' sessions, and whatever is placed with their clinicians on those days."""
        patients = self.rng.sample(sorted({info.patient for info in self.index.sessions.values()}),
                                   k=min(3, len(self.index.sessions)))
        mine = {key for key, info in self.index.sessions.items() if info.patient in patients}
        days = {self.problem.day_of(self.best[key].start) for key in mine if key in self.best}
        clinicians = {self.best[key].clinician for key in mine if key in self.best}
        others = {key for key, placement in self.best.items()
                  if placement.clinician in clinicians and self.problem.day_of(placement.start) in days}
        return mine | set(self.rng.sample(sorted(others), k=min(len(others), self.piece)))

    def _leftovers(self) -> set[str]:
        """Some waiting sessions left over, and what is placed on the days and clinicians they could use."""
        left = self._waiting_left()
        if not left:
            return self._days()
        chosen = set(self.rng.sample(left, k=min(len(left), max(3, self.piece // 6))))
        nearby = set()
        for key in chosen:
            info = self.index.sessions[key]
            low, high = info.starts[0][0], info.starts[-1][1]
            nearby |= {other for other, placement in self.best.items()
                       if low - 60 <= placement.start < high and placement.clinician in info.clinicians}
        return chosen | set(self.rng.sample(sorted(nearby), k=min(len(nearby), self.piece)))

    def _around(self, low: int, high: int, wanted) -> set[str]:
        placed = [key for key, placement in self.best.items() if low <= placement.start < high and wanted(key)]
        waiting = [key for key in self._waiting_left()
                   if wanted(key) and self.index.sessions[key].starts[0][0] < high
                   and self.index.sessions[key].starts[-1][1] > low]
        self.rng.shuffle(placed)
        self.rng.shuffle(waiting)
        room = max(self.piece - len(waiting) // 2, self.piece // 2)
        return set(placed[:room]) | set(waiting[: self.piece])

    def _partners(self, key: str) -> set[str]:
        """The sessions a spacing rule or a team ties to ``key``."""
        partners = set()
        before = self.index.spacing_before.get(key)
        if before is not None:
            partners.add(before.earlier)
        partners |= {rule.later for rule in self.index.spacing_after.get(key, [])}
        waiting = self.index.sessions[key].waiting
        if waiting is not None and waiting.team is not None:
            partners |= set(self.index.teams[waiting.team])
        return partners


def _key(values: dict[str, int], order: tuple[str, ...]) -> tuple:
    return tuple(-values[name] if name == "placed" else values[name] for name in order)


def _reached(level: _Level, value: int) -> bool:
    if level.sense == "max":
        return value >= level.bound - 1e-6
    return value <= level.bound + 1e-6


def replan(problem: NightProblem, limits: Limits = Limits()) -> ReplanSolution:
    """The best night found within the limits; the greedy answer when nothing better is."""
    began = time.perf_counter()
    deadline = began + limits.time_limit * (1 - MARGIN)
    greedy = place_greedily(problem)
    greedy_values = measure(problem, greedy)
    if not problem.booked and not problem.waiting:
        return ReplanSolution(greedy, "optimal", tuple(Stage(name, "max" if name == "placed" else "min",
                                                             greedy_values[name], greedy_values[name],
                                                             status="optimal") for name in LEVELS),
                              greedy=greedy_values, seconds=time.perf_counter() - began)
    index = NightIndex(problem)
    search = _Search(problem, index, {p.kind: p for p in greedy}, deadline, limits.workers, began=began)
    relaxation = placement_bound(index, until=began + limits.time_limit * 0.15)
    stages = []
    for number, name in enumerate(LEVELS):
        share = SHARES[name] / sum(SHARES[later] for later in LEVELS[number:])
        until = time.perf_counter() + share * max(0.0, deadline - time.perf_counter())
        stage = search.improve(name, until)
        if name == "placed" and relaxation is not None:
            stage = Stage(stage.name, stage.sense, stage.value, stage.bound, relaxation,
                          "optimal" if stage.value >= relaxation - 1e-6 else stage.status)
        stages.append(stage)
    placements = tuple(search.best.values())
    status = "optimal" if all(stage.status == "optimal" for stage in stages) else (
        "feasible" if placements != greedy else "greedy")
    return ReplanSolution(placements, status, tuple(stages), greedy=greedy_values,
                          first_solution_seconds=search.first_solution, seconds=time.perf_counter() - began)
