"""Placing a treatment plan with CP-SAT, and explaining why it does not fit.

The model, in the manner of OR-Tools' scheduling examples:

* each session has a start on the slot grid and a presence literal (a plan
  may be placed in part), and a calendar-day variable tied to its start, so
  spacing rules count days in the clinic's zone;
* each possible clinician, room and device unit is an optional fixed-size
  interval (buffers and cleaning included) whose start must lie in that
  resource's free time in the live schedule; per resource a NoOverlap keeps the
  plan's own sessions apart, per device type a redundant Cumulative bounds how
  many units the plan uses at once;
* the patient is a NoOverlap over the sessions themselves;
* the plan's rules (order and spacing within a kind, in calendar days and
  in elapsed hours between starts, same-visit links,
  diagnosis-first ordering, same clinician required) are constraints that an
  explanation can switch off one by one through assumption literals;
* the objective is a sum of named, weighted terms (``WEIGHTS``): place every
  session first, then continuity of care, then the patient's preferred
  times, then finish early.

The greedy placement is the hint, and a solve never returns fewer placed
sessions than the hint: if CP-SAT does worse within its time limit, the hint
is the answer.
"""

import time
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from ortools.sat.python import cp_model

from solver.intervals import Intervals, intersect, starts_fitting, union
from solver.plan_greedy import place_greedily
from solver.plans import PlanProblem, PlanSolution, Placement, SameClinician, SessionKind, blocked

WEIGHTS = {
    "placed_session": 100_000,
    "extra_clinician_for_a_kind": 400,
    "previous_clinician": 100,
    "preferred_time": 20,
    "day_used": 1,
}


@dataclass(frozen=True)
class Limits:
    time_limit: float = 2.0
    workers: int = 2


@dataclass(frozen=True)
class BindingRule:
    """A plan rule that, together with the others named, makes the whole plan impossible."""

    code: str
    kind: str | None = None
    other: str | None = None


class Outcome(StrEnum):
    FITS = "fits"
    BINDING_RULES = "binding_rules"
    NO_CAPACITY = "no_capacity"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class Explanation:
    """Why not every session was placed: the rules that bind, or another outcome."""

    outcome: Outcome
    rules: tuple[BindingRule, ...] = ()


def _solver(limits: Limits, workers: int | None = None) -> cp_model.CpSolver:
    """A solver with the budget; probing is off: on these models it eats the budget before any search."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = limits.time_limit
    solver.parameters.num_workers = workers or limits.workers
    solver.parameters.cp_model_probing_level = 0
    return solver


def solve_plan(problem: PlanProblem, limits: Limits = Limits()) -> PlanSolution:
    """The best placement found within the limits, never worse than greedy first-fit."""
    began = time.perf_counter()
    greedy = place_greedily(problem)
    model = _PlanModel(problem)
    model.hint(greedy)
    solver = _solver(limits)
    status = solver.Solve(model.model)
    name = solver.StatusName(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return PlanSolution(greedy.placements, status=f"greedy ({name.lower()})",
                            seconds=time.perf_counter() - began)
    solution = PlanSolution(
        model.placements(solver), status=name.lower(), objective=solver.ObjectiveValue(),
        bound=solver.BestObjectiveBound(), seconds=time.perf_counter() - began,
    )
    if len(solution.placements) < len(greedy.placements):
        return PlanSolution(greedy.placements, status="greedy (better than the solver's)",
                            seconds=solution.seconds)
    return solution


def explain_unplaced(problem: PlanProblem, limits: Limits = Limits()) -> Explanation:
    """Which rules stop the whole plan from fitting.

    All sessions are required and each rule hangs on an assumption literal;
    CP-SAT's sufficient assumptions for infeasibility name the binding rules.
    Infeasible with no rule to blame means there is simply not enough free
    time of the clinicians, rooms or devices (or the patient) in the horizon.
    """
    model = _PlanModel(problem, explain=True)
    solver = _solver(limits, workers=1)  # assumption cores need a single worker
    status = solver.Solve(model.model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Explanation(Outcome.FITS)
    if status != cp_model.INFEASIBLE:
        return Explanation(Outcome.TIMED_OUT)
    core = set(solver.SufficientAssumptionsForInfeasibility())
    rules = tuple(rule for literal, rule in model.rules if literal.Index() in core)
    return Explanation(Outcome.BINDING_RULES if rules else Outcome.NO_CAPACITY, rules)


class _PlanModel:
    def __init__(self, problem: PlanProblem, *, explain: bool = False):
        self.problem, self.explain = problem, explain
        self.model = cp_model.CpModel()
        self.rules: list[tuple[cp_model.IntVar, BindingRule]] = []
        self.origin = problem.grid_origin
        self.sessions = [(kind, index) for kind in problem.kinds for index in range(kind.count)]
        self.present, self.step, self.day = {}, {}, {}
        self.clinician, self.room, self.unit = {}, {}, {}
        self.kind_clinicians: dict[str, list] = {}
        self._sessions()
        self._resources()
        self._patient()
        self._plan_rules()
        if not explain:
            self._objective()

    # Helpers

    def _rule(self, code: str, kind: str | None = None, other: str | None = None) -> list:
        """An enforcement literal for a plan rule: an assumption when explaining, nothing otherwise."""
        if not self.explain:
            return []
        rule = BindingRule(code, kind, other)
        for literal, known in self.rules:
            if known == rule:
                return [literal]
        literal = self.model.NewBoolVar(f"rule {code} {kind} {other}")
        self.model.AddAssumption(literal)
        self.rules.append((literal, rule))
        return [literal]

    def _domain(self, starts: Intervals) -> cp_model.Domain:
        """Grid steps whose start minute lies in ``starts`` (relative to the grid origin)."""
        grid, ranges = self.problem.grid, []
        for low, high in starts:
            first, last = -(-(low - self.origin) // grid), (high - 1 - self.origin) // grid
            if first <= last:
                ranges.append([first, last])
        return cp_model.Domain.FromIntervals(ranges)

    def start(self, kind: SessionKind, index: int):
        return self.origin + self.problem.grid * self.step[kind.key, index]

    # Variables and constraints

    def _sessions(self) -> None:
        problem = self.problem
        allowed = problem.open_hours if self.explain and problem.open_hours is not None else problem.allowed
        day_starts = list(problem.day_starts)
        day_ends = day_starts[1:] + [day_starts[-1] + 2 * 24 * 60]
        for kind, index in self.sessions:
            key = (kind.key, index)
            starts = intersect(starts_fitting(allowed, 0, kind.duration),
                               starts_fitting(problem.patient_free, 0, kind.duration))
            starts = intersect(starts, union(*(
                starts_fitting(c.free, kind.buffer_before, kind.duration + kind.buffer_after)
                for c in kind.clinicians)))
            domain = self._domain(starts)
            name = f"{kind.key}#{index}"
            self.present[key] = self.model.NewBoolVar(f"placed {name}")
            if domain.is_empty():
                self.step[key] = self.model.NewConstant(0)
                self.model.Add(self.present[key] == 0)
            else:
                self.step[key] = self.model.NewIntVarFromDomain(domain, f"step {name}")
            if self.explain:
                self.model.Add(self.present[key] == 1)
            day = self.model.NewIntVar(0, len(day_starts) - 1, f"day {name}")
            low, high = self.model.NewIntVar(min(day_starts), max(day_ends), ""), self.model.NewIntVar(
                min(day_starts), max(day_ends), "")
            self.model.AddElement(day, day_starts, low)
            self.model.AddElement(day, day_ends, high)
            start = self.start(kind, index)
            self.model.Add(start >= low).OnlyEnforceIf(self.present[key])
            self.model.Add(start < high).OnlyEnforceIf(self.present[key])
            self.day[key] = day
            if self.explain:
                self._windows(kind, index)

    def _windows(self, kind: SessionKind, index: int) -> None:
        """The patient's windows as a rule an explanation may blame; the plan's dates always hold."""
        problem, start = self.problem, self.start(kind, index)
        if problem.windows is not None:
            domain = self._domain(starts_fitting(problem.windows, 0, kind.duration))
            self.model.AddLinearExpressionInDomain(self.step[kind.key, index], domain).OnlyEnforceIf(
                self._rule("patient_windows"))
        if problem.dates is not None:
            first, last = problem.dates
            self.model.Add(start >= first)
            self.model.Add(start + kind.duration <= last)

    def _choose(self, kind: SessionKind, index: int, candidates, store: dict, count: int, cleaning: bool):
        """Pick ``count`` of the candidates for one session; each chosen one must be free then."""
        key, start = (kind.key, index), self.start(kind, index)
        chosen = []
        for candidate in candidates:
            extra = candidate.cleaning if cleaning else 0
            span_start, span_end = blocked(kind, 0, extra)
            domain = self._domain(starts_fitting(candidate.free, -span_start, span_end))
            if domain.is_empty():
                continue
            literal = self.model.NewBoolVar(f"{kind.key}#{index} uses {candidate.name}")
            self.model.AddLinearExpressionInDomain(self.step[key], domain).OnlyEnforceIf(literal)
            self.model.AddImplication(literal, self.present[key])
            interval = self.model.NewOptionalFixedSizeIntervalVar(
                start + span_start, span_end - span_start, literal, f"{kind.key}#{index} on {candidate.name}")
            store.setdefault(candidate.id, []).append((key, literal, interval))
            chosen.append(literal)
        self.model.Add(sum(chosen) == count * self.present[key])
        return chosen

    def _resources(self) -> None:
        for kind, index in self.sessions:
            self._choose(kind, index, kind.clinicians, self.clinician, 1, cleaning=False)
            if kind.needs_room:
                self._choose(kind, index, kind.rooms, self.room, 1, cleaning=False)
            for pool in kind.devices:
                self._choose(kind, index, pool.units, self.unit, pool.count, cleaning=True)
        for store in (self.clinician, self.room, self.unit):
            for uses in store.values():
                self.model.AddNoOverlap([interval for _, _, interval in uses])
        self._device_pools()

    def _device_pools(self) -> None:
        """Redundant: the plan never uses more units of a type at once than the type has."""
        pools: dict[str, tuple[int, list, list]] = {}
        for kind, index in self.sessions:
            for pool in kind.devices:
                key = (kind.key, index)
                span_start, span_end = blocked(kind, 0, max((u.cleaning for u in pool.units), default=0))
                interval = self.model.NewOptionalFixedSizeIntervalVar(
                    self.start(kind, index) + span_start, span_end - span_start, self.present[key],
                    f"{kind.key}#{index} needs {pool.type_name}")
                capacity, intervals, demands = pools.setdefault(pool.type_name, (len(pool.units), [], []))
                intervals.append(interval)
                demands.append(pool.count)
        for capacity, intervals, demands in pools.values():
            self.model.AddCumulative(intervals, demands, capacity)

    def _patient(self) -> None:
        self.model.AddNoOverlap([
            self.model.NewOptionalFixedSizeIntervalVar(self.start(kind, index), kind.duration,
                                                       self.present[kind.key, index], f"patient {kind.key}#{index}")
            for kind, index in self.sessions
        ])

    def _plan_rules(self) -> None:
        problem, model = self.problem, self.model
        for kind in problem.kinds:
            for i, j in pairwise(range(kind.count)):
                earlier, later = (kind.key, i), (kind.key, j)
                model.AddImplication(self.present[later], self.present[earlier])
                model.Add(self.start(kind, j) >= self.start(kind, i) + kind.duration).OnlyEnforceIf(
                    self.present[later])
                if kind.min_gap_days is not None or kind.max_gap_days is not None:
                    spacing = [self.present[later], *self._rule("spacing", kind.key)]
                    gap = self.day[later] - self.day[earlier]
                    if kind.min_gap_days is not None:
                        model.Add(gap >= kind.min_gap_days).OnlyEnforceIf(spacing)
                    if kind.max_gap_days is not None:
                        model.Add(gap <= kind.max_gap_days).OnlyEnforceIf(spacing)
                if kind.min_gap_hours is not None or kind.max_gap_hours is not None:
                    spacing = [self.present[later], *self._rule("spacing_hours", kind.key)]
                    elapsed = self.start(kind, j) - self.start(kind, i)
                    if kind.min_gap_hours is not None:
                        model.Add(elapsed >= 60 * kind.min_gap_hours).OnlyEnforceIf(spacing)
                    if kind.max_gap_hours is not None:
                        model.Add(elapsed <= 60 * kind.max_gap_hours).OnlyEnforceIf(spacing)
            if kind.same_clinician != SameClinician.NONE:
                self._continuity(kind)
        for link in problem.same_visits:
            first, then = problem.kind(link.first), problem.kind(link.then)
            rule = self._rule("same_visit", first.key, then.key)
            for index in range(min(first.count, then.count)):
                model.AddImplication(self.present[then.key, index], self.present[first.key, index])
                model.Add(self.start(then, index) == self.start(first, index) + first.duration).OnlyEnforceIf(
                    [self.present[then.key, index], *rule])
        for order in problem.befores:
            first, then = problem.kind(order.first), problem.kind(order.then)
            rule = self._rule("before", first.key, then.key)
            for j in range(then.count):
                for i in range(first.count):
                    model.AddImplication(self.present[then.key, j], self.present[first.key, i])
                    model.Add(self.start(then, j) >= self.start(first, i) + first.duration).OnlyEnforceIf(
                        [self.present[then.key, j], *rule])

    def _continuity(self, kind: SessionKind) -> None:
        """One clinician per kind: required as a rule, or preferred through the objective."""
        used = {}
        for clinician_id, uses in self.clinician.items():
            literals = [literal for (key, _), literal, _ in uses if key == kind.key]
            if literals:
                used[clinician_id] = self.model.NewBoolVar(f"{kind.key} uses clinician {clinician_id}")
                for literal in literals:
                    self.model.AddImplication(literal, used[clinician_id])
        self.kind_clinicians[kind.key] = list(used.values())
        if kind.same_clinician == SameClinician.REQUIRED:
            self.model.Add(sum(used.values()) <= 1).OnlyEnforceIf(self._rule("same_clinician", kind.key))

    def _objective(self) -> None:
        problem, terms = self.problem, []
        terms += [WEIGHTS["placed_session"] * present for present in self.present.values()]
        for literals in self.kind_clinicians.values():
            terms += [-WEIGHTS["extra_clinician_for_a_kind"] * literal for literal in literals]
        if problem.last_clinician in self.clinician:
            terms += [WEIGHTS["previous_clinician"] * literal for _, literal, _ in self.clinician[problem.last_clinician]]
        if problem.preferred:
            for kind, index in self.sessions:
                key = (kind.key, index)
                liked = self.model.NewBoolVar(f"{kind.key}#{index} at a preferred time")
                self.model.AddImplication(liked, self.present[key])
                self.model.AddLinearExpressionInDomain(
                    self.step[key], self._domain(starts_fitting(problem.preferred, 0, kind.duration))
                ).OnlyEnforceIf(liked)
                terms.append(WEIGHTS["preferred_time"] * liked)
        terms += [-WEIGHTS["day_used"] * day for day in self.day.values()]
        self.model.Maximize(sum(terms))

    # Hints and answers

    def hint(self, solution: PlanSolution) -> None:
        placed = {(p.kind, p.index): p for p in solution.placements}
        for kind, index in self.sessions:
            key, placement = (kind.key, index), placed.get((kind.key, index))
            self.model.AddHint(self.present[key], placement is not None)
            if placement is None:
                continue
            self.model.AddHint(self.step[key], (placement.start - self.origin) // self.problem.grid)
            self.model.AddHint(self.day[key], self.problem.day_of(placement.start))
            for store, ids in ((self.clinician, {placement.clinician}), (self.room, {placement.room}),
                               (self.unit, set(placement.devices))):
                for resource_id, uses in store.items():
                    for use_key, literal, _ in uses:
                        if use_key == key:
                            self.model.AddHint(literal, resource_id in ids)

    def placements(self, solver: cp_model.CpSolver) -> tuple[Placement, ...]:
        def chosen(store: dict, key) -> list[int]:
            return sorted(resource_id for resource_id, uses in store.items()
                          for use_key, literal, _ in uses if use_key == key and solver.BooleanValue(literal))

        result = []
        for kind, index in self.sessions:
            key = (kind.key, index)
            if not solver.BooleanValue(self.present[key]):
                continue
            rooms = chosen(self.room, key)
            result.append(Placement(
                kind=kind.key, index=index, start=self.origin + self.problem.grid * solver.Value(self.step[key]),
                clinician=chosen(self.clinician, key)[0], room=rooms[0] if rooms else None,
                devices=tuple(chosen(self.unit, key)),
            ))
        return tuple(result)
