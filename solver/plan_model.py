"""Placing a treatment plan with CP-SAT, and explaining why it does not fit.

The model, in the manner of OR-Tools' scheduling examples:

* each session has a start on the slot grid within the plan's allowed time
  and the patient's free time, a presence literal (a plan may be placed in
  part) and its local calendar day (``local_day``: one division where that is
  exact), so spacing rules count days in the clinic's zone; a session left
  out keeps its earliest start, so it leaves nothing to search;
* each possible clinician, room and device unit is an optional fixed-size
  interval (buffers and cleaning included); per resource a NoOverlap keeps
  the plan's own sessions apart and out of the resource's busy time in the
  live schedule (fixed intervals, ``_free_time``), per device type a
  redundant Cumulative bounds how many units the plan uses at once;
* the patient is a NoOverlap over the sessions themselves;
* the plan's rules (order and spacing within a kind, in calendar days and
  in elapsed hours between starts, same-visit links,
  diagnosis-first ordering, same clinician required) are constraints that an
  explanation can switch off one by one through assumption literals;
* the objective is lexicographic, solved level by level: first the sessions
  placed, then, with that many held as a constraint, the quality cost of
  ``plan_check.measure`` (``WEIGHTS``: an extra clinician for a kind with
  continuity of care, a session not with the patient's last clinician or
  not at a preferred time, each day from the horizon's start). One weighted
  sum with a placement weight that dwarfs the rest left CP-SAT without a
  useful bound, so a proposal never proved anything within its budget.
  Apart, the placed level is proven at once when first fit places every
  session (no more can be placed than there are), and the quality level has
  two bounds: CP-SAT's and the relaxation of ``plan_bound``, at which the
  search stops.

The greedy placement is the first hint, and a first fit that keeps each kind
with the clinician the relaxation found best for it the second (when it
places everything and costs less); each level's answer is the next level's
hint. Every hint sets every variable, auxiliaries included, so CP-SAT starts
from a complete solution. A solve never returns fewer placed sessions than
first fit: if CP-SAT does worse within its time limit, the hint is the answer.
"""

import time
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import pairwise

from ortools.sat.python import cp_model

from solver.intervals import Intervals, contains, intersect, normalize, starts_fitting, subtract
from solver.local_day import local_day
from solver.night_problem import Stage
from solver.plan_bound import Relaxation, quality_bound
from solver.plan_check import WEIGHTS, measure
from solver.plan_greedy import place_greedily
from solver.plans import PlanProblem, PlanSolution, Placement, SameClinician, SessionKind, blocked

PLACED_SHARE = 0.6
"""Of the time left, what the placed level may use when first fit leaves sessions out; the rest is quality's."""


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


def _solver(seconds: float, workers: int) -> cp_model.CpSolver:
    """A solver with the budget. Presolve probing stays on although it costs time: with it off, OR-Tools 9.15
    called a hinted model INFEASIBLE whose hint was a valid answer and then aborted the process (seen on the
    nightly model; see ``solver.replan``), and a plan proposal runs inside the web server."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(seconds, 0.01)
    solver.parameters.num_workers = workers
    return solver


def solve_plan(problem: PlanProblem, limits: Limits = Limits()) -> PlanSolution:
    """The best placement found within the limits, level by level, never placing fewer sessions than first fit."""
    began = time.perf_counter()
    deadline = began + limits.time_limit
    greedy = place_greedily(problem).placements
    model = _PlanModel(problem)
    total = len(model.sessions)
    if len(greedy) == total:  # nobody can place more sessions than the plan has
        best, placed = greedy, Stage("placed", "max", total, bound=total, status="optimal")
    else:
        seconds = (deadline - time.perf_counter()) * PLACED_SHARE
        best, placed = _improve(model, "placed", greedy, seconds, limits.workers)
    relaxation = quality_bound(problem) if placed.value == total else None
    if relaxation is not None and relaxation.clinicians:
        best = min((best, _first_fit_with(problem, relaxation.clinicians)),
                   key=lambda placements: (-len(placements), measure(problem, placements)["quality"]))
    value = measure(problem, best)["quality"]
    if relaxation is not None and value <= relaxation.bound:
        quality = Stage("quality", "min", value, relaxation=relaxation.bound, status="optimal")
    else:
        best, quality = _improve(model, "quality", best, deadline - time.perf_counter(), limits.workers,
                                 floor=placed.value, relaxation=relaxation)
    stages = (placed, quality)
    if all(stage.status == "optimal" for stage in stages):
        status = "optimal"
    else:
        status = f"greedy ({quality.status})" if best == greedy else "feasible"
    return PlanSolution(best, status=status, objective=quality.value, bound=quality.best_bound,
                        seconds=time.perf_counter() - began, stages=stages)


def _first_fit_with(problem: PlanProblem, clinicians: dict[str, int]) -> tuple[Placement, ...]:
    """First fit with each kind given only the clinician the relaxation found best for it (continuity first)."""
    kinds = tuple(replace(kind, clinicians=tuple(c for c in kind.clinicians if c.id == clinicians[kind.key]))
                  if kind.key in clinicians else kind for kind in problem.kinds)
    return place_greedily(replace(problem, kinds=kinds)).placements


class _StopAt(cp_model.CpSolverSolutionCallback):
    """Stops the search once a solution reaches the relaxation's bound: nothing better exists."""

    def __init__(self, target: float):
        super().__init__()
        self.target = target

    def on_solution_callback(self) -> None:
        if self.ObjectiveValue() <= self.target:
            self.StopSearch()


def _improve(model: "_PlanModel", level: str, best: tuple[Placement, ...], seconds: float, workers: int, *,
             floor: int = 0, relaxation: Relaxation | None = None) -> tuple[tuple[Placement, ...], Stage]:
    """One level solved from ``best``; its answer if at least as good there (and no worse before), and its stage."""
    problem = model.problem
    model.level(level, floor)
    model.hint(best)
    solver = _solver(seconds, workers)
    if relaxation is None:
        status = solver.Solve(model.model)
    else:
        status = solver.Solve(model.model, _StopAt(relaxation.bound))
    name = solver.StatusName(status).lower()
    found = model.placements(solver) if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None
    old = measure(problem, best)
    if found is not None:
        new = measure(problem, found)
        if new["placed"] > old["placed"] or (new["placed"] == old["placed"] and new[level] <= old[level]):
            best, old = found, new
    sense = "max" if level == "placed" else "min"
    bound = solver.BestObjectiveBound() if found is not None else None
    lower = relaxation.bound if relaxation is not None else None
    if lower is not None and old[level] <= lower:
        name = "optimal"
    return best, Stage(level, sense, old[level], bound=bound, relaxation=lower, status=name)


def explain_unplaced(problem: PlanProblem, limits: Limits = Limits()) -> Explanation:
    """Which rules stop the whole plan from fitting.

    All sessions are required and each rule hangs on an assumption literal;
    CP-SAT's sufficient assumptions for infeasibility name the binding rules.
    Infeasible with no rule to blame means there is simply not enough free
    time of the clinicians, rooms or devices (or the patient) in the horizon.
    """
    model = _PlanModel(problem, explain=True)
    solver = _solver(limits.time_limit, workers=1)  # assumption cores need a single worker
    status = solver.Solve(model.model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Explanation(Outcome.FITS)
    if status != cp_model.INFEASIBLE:
        return Explanation(Outcome.TIMED_OUT)
    core = set(solver.SufficientAssumptionsForInfeasibility())
    rules = tuple(rule for literal, rule in model.rules if literal.Index() in core)
    return Explanation(Outcome.BINDING_RULES if rules else Outcome.NO_CAPACITY, rules)


class _PlanModel:
    """The plan's variables and rules; ``level`` sets which objective the next solve optimizes."""

    def __init__(self, problem: PlanProblem, *, explain: bool = False):
        self.problem, self.explain = problem, explain
        self.model = cp_model.CpModel()
        self.rules: list[tuple[cp_model.IntVar, BindingRule]] = []
        self.origin = problem.grid_origin
        self.sessions = [(kind, index) for kind in problem.kinds for index in range(kind.count)]
        self.present, self.step, self.day, self.day_cases = {}, {}, {}, {}
        self.starts: dict[tuple[str, int], Intervals] = {}
        self.free_seen: dict[tuple[str, int], list] = {}
        self.first_step, self.first_day = {}, {}
        self.clinician, self.room, self.unit = {}, {}, {}
        self.chosen: dict[tuple[str, int], list[tuple[str, int, cp_model.IntVar]]] = {}
        self.kind_clinicians: dict[str, dict[int, cp_model.IntVar]] = {}
        self.extra: dict[str, cp_model.IntVar] = {}
        self.liked: dict[tuple[str, int], cp_model.IntVar] = {}
        self.floor_held = False
        self._sessions()
        self._resources()
        self._patient()
        self._plan_rules()
        if not explain:
            self._preferred_times()

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

    def _minute(self, step: int) -> int:
        return self.origin + self.problem.grid * step

    # Variables and constraints

    def _sessions(self) -> None:
        problem = self.problem
        allowed = problem.open_hours if self.explain and problem.open_hours is not None else problem.allowed
        for kind, index in self.sessions:
            key = (kind.key, index)
            starts = intersect(starts_fitting(normalize(allowed), 0, kind.duration),
                               starts_fitting(normalize(problem.patient_free), 0, kind.duration))
            self.starts[key] = starts
            domain = self._domain(starts)
            name = f"{kind.key}#{index}"
            self.present[key] = self.model.NewBoolVar(f"placed {name}")
            if self.explain:
                self.model.Add(self.present[key] == 1)
            if domain.is_empty():  # constants, not hinted: CP-SAT shares one variable per constant value
                self.step[key], self.first_step[key] = self.model.NewConstant(0), 0
                self.day[key], self.first_day[key], self.day_cases[key] = self.model.NewConstant(0), 0, {}
                self.model.Add(self.present[key] == 0)
                continue
            self.step[key] = self.model.NewIntVarFromDomain(domain, f"step {name}")
            self.first_step[key] = domain.min()
            self.first_day[key] = problem.day_of(self._minute(domain.min()))
            if not self.explain:  # a session left out waits at its earliest start instead of anywhere
                self.model.Add(self.step[key] == domain.min()).OnlyEnforceIf(self.present[key].Not())
            self.day[key], self.day_cases[key] = local_day(
                self.model, problem, self.start(kind, index), self.step[key], starts, self._domain, f"day {name}")
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

    def _choose(self, kind: SessionKind, index: int, candidates, role: str, store: dict, count: int, cleaning: bool):
        """Pick ``count`` of the candidates for one session; a candidate never free at its starts is left out."""
        key, start = (kind.key, index), self.start(kind, index)
        starts, chosen = self.starts[key], []
        for candidate in candidates:
            span_start, span_end = blocked(kind, 0, candidate.cleaning if cleaning else 0)
            free = normalize(candidate.free)
            domain = self._domain(intersect(starts, starts_fitting(free, -span_start, span_end)))
            if domain.is_empty():
                continue
            literal = self.model.NewBoolVar(f"{kind.key}#{index} uses {candidate.name}")
            self.model.AddImplication(literal, self.present[key])
            interval = self.model.NewOptionalFixedSizeIntervalVar(
                start + span_start, span_end - span_start, literal, f"{kind.key}#{index} on {candidate.name}")
            store.setdefault(candidate.id, []).append((key, literal, interval))
            # the span may lie wherever the session may start
            reach = (starts[0][0] + span_start, starts[-1][1] - 1 + span_end)
            self.free_seen.setdefault((role, candidate.id), []).append((free, reach, key, literal, domain))
            self.chosen.setdefault(key, []).append((role, candidate.id, literal))
            chosen.append(literal)
        self.model.Add(sum(chosen) == count * self.present[key])
        return chosen

    def _resources(self) -> None:
        for kind, index in self.sessions:
            self._choose(kind, index, kind.clinicians, "clinician", self.clinician, 1, cleaning=False)
            if kind.needs_room:
                self._choose(kind, index, kind.rooms, "room", self.room, 1, cleaning=False)
            for pool in kind.devices:
                self._choose(kind, index, pool.units, "device", self.unit, pool.count, cleaning=True)
        for role, store in (("clinician", self.clinician), ("room", self.room), ("device", self.unit)):
            for ident, uses in store.items():
                self.model.AddNoOverlap([interval for _, _, interval in uses] + self._free_time(role, ident))
        self._device_pools()

    def _free_time(self, role: str, ident: int) -> list:
        """Keeps each session on the resource within its free time: busy blocks for its NoOverlap, where they serve.

        As a domain of the start per (session, candidate) literal, free time
        made CP-SAT's presolve do interval arithmetic on hundreds of pieces per
        start, again in every neighbourhood of its search (0.3-0.8 s for 24
        sessions); as fixed intervals in the NoOverlap, where the plan's
        sessions could reach, it costs a fraction of that, and the NoOverlap
        pushes a start past them as the domain did. That needs every session
        to see the resource with the same free time (so it is in the
        product); where they differ, each literal keeps its domain instead.
        """
        seen = self.free_seen[role, ident]
        if any(free != seen[0][0] for free, *_ in seen):
            for _, _, key, literal, domain in seen:
                self.model.AddLinearExpressionInDomain(self.step[key], domain).OnlyEnforceIf(literal)
            return []
        low, high = min(reach[0] for _, reach, *_ in seen), max(reach[1] for _, reach, *_ in seen)
        return [self.model.NewFixedSizeIntervalVar(begin, end - begin, f"{role} {ident} busy")
                for begin, end in subtract([(low, high + 1)], seen[0][0])]

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
        """One clinician per kind: required as a rule, or preferred through the objective.

        A clinician counts as used for the kind exactly when one of its
        sessions is theirs (a maximum, not just an implication), so the
        count's lower bound is the number of clinicians the kind needs.
        """
        used = {}
        for clinician_id, uses in self.clinician.items():
            literals = [literal for (key, _), literal, _ in uses if key == kind.key]
            if literals:
                used[clinician_id] = self.model.NewBoolVar(f"{kind.key} uses clinician {clinician_id}")
                self.model.AddMaxEquality(used[clinician_id], literals)
        self.kind_clinicians[kind.key] = used
        if used and kind.count > 0:
            # its own variable, never below 0, so the objective's bound starts at 0 without any LP
            self.extra[kind.key] = self.model.NewIntVar(0, len(used) - 1, f"{kind.key} extra clinicians")
            self.model.Add(self.extra[kind.key] == sum(used.values()) - self.present[kind.key, 0])
        if kind.same_clinician == SameClinician.REQUIRED:
            self.model.Add(sum(used.values()) <= 1).OnlyEnforceIf(self._rule("same_clinician", kind.key))

    def _preferred_times(self) -> None:
        """A literal per session that may be true only when it starts (and ends) within the preferred times."""
        preferred = normalize(self.problem.preferred)
        if not preferred:
            return
        for kind, index in self.sessions:
            key = (kind.key, index)
            if not self.starts[key]:
                continue
            self.liked[key] = self.model.NewBoolVar(f"{kind.key}#{index} at a preferred time")
            self.model.AddImplication(self.liked[key], self.present[key])
            self.model.AddLinearExpressionInDomain(
                self.step[key], self._domain(starts_fitting(preferred, 0, kind.duration))
            ).OnlyEnforceIf(self.liked[key])

    # The objective's levels

    def level(self, name: str, floor: int = 0) -> None:
        """Optimize level ``name`` next; the quality level keeps at least ``floor`` sessions placed."""
        placed = sum(self.present.values())
        if name == "placed":
            self.model.Maximize(placed)
            return
        if not self.floor_held:
            self.model.Add(placed >= floor)
            self.floor_held = True
        self.model.Minimize(self._quality())

    def _quality(self):
        """``plan_check.measure``'s quality cost, as a linear expression of the model's variables."""
        problem, cost = self.problem, 0
        for kind in problem.kinds:
            used = self.kind_clinicians.get(kind.key)
            if used and kind.count > 0:
                cost += WEIGHTS["extra_clinician_for_a_kind"] * self.extra[kind.key]
        for kind, index in self.sessions:
            key = (kind.key, index)
            if problem.last_clinician in {c.id for c in kind.clinicians}:
                last = [literal for role, ident, literal in self.chosen.get(key, [])
                        if role == "clinician" and ident == problem.last_clinician]
                cost += WEIGHTS["not_previous_clinician"] * (self.present[key] - sum(last))
            if key in self.liked:
                cost += WEIGHTS["not_preferred_time"] * (self.present[key] - self.liked[key])
            # a session left out sits on its first day, so this is its day when placed and 0 when not
            first = self.first_day[key]
            cost += WEIGHTS["day_from_start"] * (self.day[key] - first + first * self.present[key])
        return cost

    # Hints and answers

    def hint(self, placements: tuple[Placement, ...]) -> None:
        """Every variable's value in ``placements``: a complete solution for CP-SAT to start from."""
        problem, model = self.problem, self.model
        model.ClearHints()
        placed = {(p.kind, p.index): p for p in placements}
        preferred = normalize(problem.preferred)
        for kind, index in self.sessions:
            key, placement = (kind.key, index), placed.get((kind.key, index))
            model.AddHint(self.present[key], placement is not None)
            if not self.starts[key]:
                continue
            step = (placement.start - self.origin) // problem.grid if placement else self.first_step[key]
            model.AddHint(self.step[key], step)
            day = problem.day_of(placement.start) if placement else self.first_day[key]
            model.AddHint(self.day[key], day)
            for number, literal in self.day_cases[key].items():
                model.AddHint(literal, number == day)
            held = set()
            if placement is not None:
                held = {("clinician", placement.clinician), ("room", placement.room),
                        *(("device", unit) for unit in placement.devices)}
            for role, ident, literal in self.chosen.get(key, []):
                model.AddHint(literal, (role, ident) in held)
            if key in self.liked:
                model.AddHint(self.liked[key], placement is not None and contains(
                    preferred, placement.start, placement.start + kind.duration))
        for kind_key, used in self.kind_clinicians.items():
            serving = {p.clinician for p in placements if p.kind == kind_key}
            for ident, literal in used.items():
                model.AddHint(literal, ident in serving)
            if kind_key in self.extra:
                model.AddHint(self.extra[kind_key], max(0, len(serving) - 1))

    def placements(self, solver: cp_model.CpSolver) -> tuple[Placement, ...]:
        result = []
        for kind, index in self.sessions:
            key = (kind.key, index)
            if not solver.BooleanValue(self.present[key]):
                continue
            chosen = {"clinician": [], "room": [], "device": []}
            for role, ident, literal in self.chosen.get(key, []):
                if solver.BooleanValue(literal):
                    chosen[role].append(ident)
            result.append(Placement(
                kind=kind.key, index=index, start=self._minute(solver.Value(self.step[key])),
                clinician=min(chosen["clinician"]), room=min(chosen["room"], default=None),
                devices=tuple(sorted(chosen["device"])),
            ))
        return tuple(result)
