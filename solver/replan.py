"""The nightly re-plan of one location: who serves each booked session, and which waiting sessions get a time.

Booked sessions keep the time promised to the patient, unless the clinic's
policy lets the run move them by a few minutes (``BookedSession.may_start``);
each may get another clinician (unless continuity requires the same one),
room or device units among those free then. Waiting sessions (waitlist
requests, plan sessions not yet placed) are placed or left waiting, within
their allowed starts, with spacing rules between the sessions of one plan
line and, where a plan requires it, one clinician for all of them.

CP-SAT minimizes one cost whose tiers are weighted terms (``WEIGHTS``), each
tier worth more than any realistic amount of the next: waiting sessions left
unplaced, weighted by priority; continuity of care (distinct clinicians per
patient and service); workload balance (the busiest clinician's minutes) and
idle gaps (the span of each clinician's day); then moved sessions and changed
resources. The warm start is the current schedule plus the greedy placement
of the waiting sessions, with every variable hinted, and its cost bounds the
answer: a run never returns anything worse than that start.

Times are minutes since the Unix epoch (UTC); a session's start lies on the
grid ``grid_origin + k * grid``.
"""

import time
from bisect import bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from solver.intervals import Intervals, contains, grid_points, intersect, normalize, starts_fitting, union
from solver.plan_model import Limits
from solver.plans import Candidate, Placement, SessionKind, blocked

WEIGHTS = {
    "unplaced_priority_point": 1_000_000,
    "extra_clinician_for_a_patient": 10_000,
    "busiest_clinician_minute": 10,
    "clinician_day_span_minute": 1,
    "moved_session": 50,
    "changed_resource": 1,
}
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
    """``later`` only if ``earlier`` is placed, after it ends, ``min_days``-``max_days`` calendar days after it."""

    earlier: str
    later: str
    min_days: int | None = None
    max_days: int | None = None


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


@dataclass(frozen=True)
class ReplanSolution:
    """Every booked session's placement (``kind`` is its id) and the placed waiting ones' (``kind`` is their key).

    ``objective`` is the answer's cost as ``cost`` counts it (not the model's
    value, which may carry slack until proven optimal); ``bound`` is CP-SAT's
    proven lower bound.
    """

    placements: tuple[Placement, ...]
    status: str
    objective: float | None = None
    bound: float | None = None
    first_solution_seconds: float | None = None
    seconds: float = 0.0
    start_cost: int | None = None

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))


@dataclass
class _Tally:
    """The parts of the cost of one schedule, as the model counts them."""

    unplaced: int = 0
    seen: set = field(default_factory=set)
    loads: dict = field(default_factory=dict)
    days: dict = field(default_factory=dict)
    moved: int = 0
    changed: int = 0


def cost(problem: NightProblem, placements: Iterable[Placement]) -> int:
    """The objective of a schedule, computed without the model: the model's cost must agree with it."""
    placed = {p.kind: p for p in placements}
    tally = _Tally()
    for session in problem.booked:
        placement = placed[str(session.id)]
        _count(problem, tally, session.patient, session.kind, placement)
        tally.moved += placement.start != session.start
        tally.changed += (placement.clinician != session.current.clinician) + (placement.room != session.current.room)
        tally.changed += len(set(placement.devices) - set(session.current.devices))
    for waiting in problem.waiting:
        if waiting.key in placed:
            _count(problem, tally, waiting.patient, waiting.kind, placed[waiting.key])
        else:
            tally.unplaced += waiting.priority
    spans = sum(high - low for low, high in tally.days.values())
    return (WEIGHTS["unplaced_priority_point"] * tally.unplaced
            + WEIGHTS["extra_clinician_for_a_patient"] * len(tally.seen)
            + WEIGHTS["busiest_clinician_minute"] * max(tally.loads.values(), default=0)
            + WEIGHTS["clinician_day_span_minute"] * spans
            + WEIGHTS["moved_session"] * tally.moved + WEIGHTS["changed_resource"] * tally.changed)


def _count(problem: NightProblem, tally: _Tally, patient: int, kind: SessionKind, placement: Placement) -> None:
    clinician = placement.clinician
    tally.seen.add((patient, kind.key, clinician))
    tally.loads[clinician] = tally.loads.get(clinician, 0) + kind.duration
    low, high = blocked(kind, placement.start)
    key = (clinician, problem.day_of(placement.start))
    known = tally.days.get(key, (low, high))
    tally.days[key] = (min(known[0], low), max(known[1], high))


def cost_of_current(problem: NightProblem) -> int:
    """The cost of changing nothing and placing nothing."""
    return cost(problem, (s.current for s in problem.booked))


def fits(kind: SessionKind, start: int, candidate: Candidate, cleaning: bool) -> bool:
    return contains(candidate.free, *blocked(kind, start, candidate.cleaning if cleaning else 0))


def _on_grid(problem: NightProblem, minute: int) -> bool:
    return (minute - problem.grid_origin) % problem.grid == 0


# --- the independent checker ------------------------------------------------------------


def check_night(problem: NightProblem, solution: ReplanSolution) -> list[str]:
    """Independent of the model: every rule a night's answer must keep, as messages (empty when it keeps them all)."""
    problems: list[str] = []
    placed: dict[str, Placement] = {}
    for placement in solution.placements:
        if placement.kind in placed:
            problems.append(f"session {placement.kind} is placed twice")
        placed[placement.kind] = placement
    known = {str(s.id) for s in problem.booked} | {w.key for w in problem.waiting}
    problems += [f"session {key} is not part of the night" for key in placed.keys() - known]
    used: dict[tuple[str, int], list[tuple[int, int]]] = {}
    patients: dict[int, list[tuple[int, int]]] = {}
    for session in problem.booked:
        placement = placed.get(str(session.id))
        if placement is None:
            problems.append(f"booked session {session.id} lost its place")
            continue
        if placement.start != session.start and not (
                contains(session.may_start, placement.start, placement.start + 1) and _on_grid(problem, placement.start)):
            problems.append(f"session {session.id} was moved")
        if session.keep_clinician and placement.clinician != session.current.clinician:
            problems.append(f"session {session.id} changed clinician although continuity requires the same one")
        problems += _served(str(session.id), session.kind, placement, used, session.current)
        patients.setdefault(session.patient, []).append((placement.start, placement.start + session.kind.duration))
    teams: dict[str, set[int]] = {}
    for waiting in problem.waiting:
        placement = placed.get(waiting.key)
        if placement is None:
            continue
        if not contains(waiting.starts, placement.start, placement.start + 1) or not _on_grid(problem, placement.start):
            problems.append(f"session {waiting.key} starts outside its allowed times")
        problems += _served(waiting.key, waiting.kind, placement, used, None)
        patients.setdefault(waiting.patient, []).append((placement.start, placement.start + waiting.kind.duration))
        if waiting.team is not None:
            teams.setdefault(waiting.team, set()).add(placement.clinician)
    problems += [f"sessions of {team} have different clinicians" for team, ids in teams.items() if len(ids) > 1]
    problems += _spacing_broken(problem, placed)
    for (role, ident), spans in used.items():
        if _overlapping(spans):
            problems.append(f"{role} {ident} serves two sessions at once")
    problems += [f"patient {patient} is in two sessions at once" for patient, spans in patients.items()
                 if _overlapping(spans)]
    return problems


def _served(key: str, kind: SessionKind, placement: Placement, used: dict, current: Placement | None) -> list[str]:
    """The session's clinician, room and units are eligible and free then; their spans are noted in ``used``."""
    problems = []
    units = {unit.id: unit for pool in kind.devices for unit in pool.units}
    kept = {} if current is None or placement.start != current.start else {
        "clinician": {current.clinician}, "room": {current.room}, "device": set(current.devices)}
    roles = [("clinician", {c.id: c for c in kind.clinicians}.get(placement.clinician), False, placement.clinician)]
    if kind.needs_room:
        roles.append(("room", {r.id: r for r in kind.rooms}.get(placement.room), False, placement.room))
    if len(placement.devices) != sum(pool.count for pool in kind.devices):
        problems.append(f"session {key} has the wrong number of device units")
    for pool in kind.devices:
        if sum(unit in {u.id for u in pool.units} for unit in placement.devices) != pool.count:
            problems.append(f"session {key} does not have {pool.count} {pool.type_name} unit(s)")
    roles += [("device", units.get(unit), True, unit) for unit in placement.devices]
    for role, candidate, cleaning, ident in roles:
        if candidate is None:
            problems.append(f"session {key}: its {role} {ident} is not eligible")
            continue
        if ident not in kept.get(role, ()) and not fits(kind, placement.start, candidate, cleaning):
            problems.append(f"session {key}: {candidate.name} is not free then")
        used.setdefault((role, ident), []).append(blocked(kind, placement.start, candidate.cleaning if cleaning else 0))
    return problems


def _spacing_broken(problem: NightProblem, placed: dict[str, Placement]) -> list[str]:
    problems = []
    kinds = {w.key: w.kind for w in problem.waiting}
    for rule in problem.spacings:
        later, earlier = placed.get(rule.later), placed.get(rule.earlier)
        if later is None:
            continue
        if earlier is None:
            problems.append(f"session {rule.later} is placed but {rule.earlier} before it is not")
            continue
        if later.start < earlier.start + kinds[rule.earlier].duration:
            problems.append(f"session {rule.later} starts before {rule.earlier} ends")
        days = problem.day_of(later.start) - problem.day_of(earlier.start)
        if (rule.min_days is not None and days < rule.min_days) or (rule.max_days is not None and days > rule.max_days):
            problems.append(f"session {rule.later} is {days} days after {rule.earlier}")
    return problems


def _overlapping(spans: list[tuple[int, int]]) -> bool:
    spans = sorted(spans)
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))


# --- the greedy placer: the baseline and the warm start ------------------------------------


class _Book:
    """Busy spans per resource and patient, sorted, to test a span against its neighbours."""

    def __init__(self):
        self.spans: dict[tuple, list[tuple[int, int]]] = {}

    def free(self, key: tuple, low: int, high: int) -> bool:
        spans = self.spans.get(key, [])
        at = bisect_right(spans, (low, high))
        return (at == 0 or spans[at - 1][1] <= low) and (at == len(spans) or spans[at][0] >= high)

    def take(self, key: tuple, low: int, high: int) -> None:
        insort(self.spans.setdefault(key, []), (low, high))


def place_greedily(problem: NightProblem) -> tuple[Placement, ...]:
    """Keep every booked session as it is; place waiting ones by priority, each at its earliest free time.

    What a front desk working down the waiting list would do; the CP-SAT
    model must do at least as well.
    """
    book = _Book()
    placements = [s.current for s in problem.booked]
    for session in problem.booked:
        _take(book, session.patient, session.kind, session.current)
    placed: dict[str, Placement] = {}
    team_clinician: dict[str, int] = {}
    spacing = {rule.later: rule for rule in problem.spacings}
    kinds = {w.key: w.kind for w in problem.waiting}
    for waiting in sorted(problem.waiting, key=lambda w: -w.priority):
        rule = spacing.get(waiting.key)
        starts = waiting.starts
        if rule is not None:
            earlier = placed.get(rule.earlier)
            if earlier is None:
                continue
            starts = intersect(starts, _spacing_window(problem, rule, earlier, kinds[rule.earlier]))
        placement = _earliest(problem, book, waiting, starts, team_clinician.get(waiting.team))
        if placement is None:
            continue
        placed[waiting.key] = placement
        placements.append(placement)
        _take(book, waiting.patient, waiting.kind, placement)
        if waiting.team is not None:
            team_clinician[waiting.team] = placement.clinician
    return tuple(placements)


def _spacing_window(problem: NightProblem, rule: Spacing, earlier: Placement, kind: SessionKind) -> Intervals:
    day = problem.day_of(earlier.start)
    first = day + (rule.min_days or 0)
    low = max(earlier.start + kind.duration, _day_start(problem, first))
    high = _day_start(problem, day + rule.max_days + 1) if rule.max_days is not None else low + 366 * DAY
    return [(low, high)] if low < high else []


def _day_start(problem: NightProblem, day: int) -> int:
    if not problem.day_starts:
        return day * DAY
    if day < len(problem.day_starts):
        return problem.day_starts[max(day, 0)]
    return problem.day_starts[-1] + (day - len(problem.day_starts) + 1) * DAY


def _take(book: _Book, patient: int, kind: SessionKind, placement: Placement) -> None:
    book.take(("patient", patient), placement.start, placement.start + kind.duration)
    book.take(("clinician", placement.clinician), *blocked(kind, placement.start))
    if placement.room is not None:
        book.take(("room", placement.room), *blocked(kind, placement.start))
    cleaning = {unit.id: unit.cleaning for pool in kind.devices for unit in pool.units}
    for unit in placement.devices:
        book.take(("device", unit), *blocked(kind, placement.start, cleaning[unit]))


def _earliest(problem: NightProblem, book: _Book, waiting: WaitingSession, starts: Intervals,
              clinician: int | None) -> Placement | None:
    kind = waiting.kind

    def first_free(role: str, candidates, count: int, start: int, cleaning: bool) -> list[int] | None:
        chosen = []
        for candidate in candidates:
            span = blocked(kind, start, candidate.cleaning if cleaning else 0)
            if contains(candidate.free, *span) and book.free((role, candidate.id), *span):
                chosen.append(candidate.id)
                if len(chosen) == count:
                    return chosen
        return None if count else []

    clinicians = [c for c in kind.clinicians if clinician in (None, c.id)]
    for start in grid_points(normalize(starts), problem.grid, problem.grid_origin):
        if not book.free(("patient", waiting.patient), start, start + kind.duration):
            continue
        who = first_free("clinician", clinicians, 1, start, False)
        room = first_free("room", kind.rooms, 1, start, False) if kind.needs_room else [None]
        units = [first_free("device", pool.units, pool.count, start, True) for pool in kind.devices]
        if who and room and all(u is not None for u in units):
            return Placement(waiting.key, 0, start, who[0], room[0], tuple(sorted(u for us in units for u in us)))
    return None


# --- the model ------------------------------------------------------------------------------


@dataclass
class _Item:
    """One session in the model: a booked one (``booked``) or a waiting one."""

    key: str
    patient: int
    kind: SessionKind
    present: cp_model.IntVar
    start: object
    step: cp_model.IntVar | None
    fixed: int | None
    starts: Intervals
    booked: BookedSession | None = None
    waiting: WaitingSession | None = None
    moved: cp_model.IntVar | None = None
    day: object = 0
    options: dict = field(default_factory=dict)


class _NightModel:
    def __init__(self, problem: NightProblem):
        self.problem = problem
        self.model = cp_model.CpModel()
        self.items: list[_Item] = []
        self.by_resource: dict[tuple[str, int], list] = {}
        self.clinician_days: dict[tuple[int, int], list] = {}
        self.changes: list = []
        for session in problem.booked:
            self._booked(session)
        for waiting in problem.waiting:
            self._waiting(waiting)
        for item in self.items:
            self._serve(item)
        for intervals in self.by_resource.values():
            self.model.AddNoOverlap(intervals)
        self._patients()
        self._spacings()
        self._teams()
        self._objective()

    def _domain(self, starts: Intervals) -> cp_model.Domain:
        grid, origin, ranges = self.problem.grid, self.problem.grid_origin, []
        for low, high in normalize(starts):
            first, last = -(-(low - origin) // grid), (high - 1 - origin) // grid
            if first <= last:
                ranges.append([first, last])
        return cp_model.Domain.FromIntervals(ranges)

    def _variable(self, key: str, starts: Intervals) -> tuple[cp_model.IntVar | None, object]:
        domain = self._domain(starts)
        if domain.is_empty():
            return None, 0
        step = self.model.NewIntVarFromDomain(domain, f"step {key}")
        return step, self.problem.grid_origin + self.problem.grid * step

    def _booked(self, session: BookedSession) -> None:
        key, present = str(session.id), self.model.NewConstant(1)
        if not session.may_start:
            self.items.append(_Item(key, session.patient, session.kind, present, session.start, None, session.start,
                                    [(session.start, session.start + 1)], booked=session))
            return
        starts = union([(session.start, session.start + 1)], list(session.may_start))
        step, start = self._variable(key, starts)
        moved = self.model.NewBoolVar(f"{key} moved")
        current = (session.start - self.problem.grid_origin) // self.problem.grid
        self.model.Add(step == current).OnlyEnforceIf(moved.Not())
        self.model.Add(step != current).OnlyEnforceIf(moved)
        self.items.append(_Item(key, session.patient, session.kind, present, start, step, None, starts,
                                booked=session, moved=moved))

    def _waiting(self, waiting: WaitingSession) -> None:
        present = self.model.NewBoolVar(f"placed {waiting.key}")
        step, start = self._variable(waiting.key, waiting.starts)
        if step is None:
            self.model.Add(present == 0)
        self.items.append(_Item(waiting.key, waiting.patient, waiting.kind, present, start, step, None,
                                normalize(waiting.starts), waiting=waiting))

    def _serve(self, item: _Item) -> None:
        kind = item.kind
        self._choose(item, "clinician", kind.clinicians, 1, cleaning=False)
        if kind.needs_room:
            self._choose(item, "room", kind.rooms, 1, cleaning=False)
        for pool in kind.devices:
            self._choose(item, "device", pool.units, pool.count, cleaning=True, need=f"device {pool.type_name}")
        if item.fixed is None:
            item.day = sum(day * literal for (_, day), literal in item.options["clinician"].items())
        else:
            item.day = self.problem.day_of(item.fixed)

    def _choose(self, item: _Item, role: str, candidates, count: int, *, cleaning: bool, need: str | None = None):
        """Pick ``count`` candidates for one need; a clinician's choice is split by day when the time may vary."""
        booked, options = item.booked, {}
        now_using = set()
        if booked is not None:
            now_using = {"clinician": {booked.current.clinician}, "room": {booked.current.room},
                         "device": set(booked.current.devices)}[role]
        for candidate in candidates:
            if role == "clinician" and booked is not None and booked.keep_clinician and candidate.id != booked.current.clinician:
                continue
            span_start, span_end = blocked(item.kind, 0, candidate.cleaning if cleaning else 0)
            fit = intersect(starts_fitting(candidate.free, -span_start, span_end), item.starts)
            if candidate.id in now_using:
                fit = union(fit, [(booked.start, booked.start + 1)])
            if item.fixed is not None:
                if fit:
                    options[candidate.id, self.problem.day_of(item.fixed)] = self._use(item, role, candidate, None,
                                                                                       span_start, span_end)
                continue
            days = self._days_of(fit) if role == "clinician" else [(None, fit)]
            for day, part in days:
                if part and not self._domain(part).is_empty():
                    options[candidate.id, day] = self._use(item, role, candidate, part, span_start, span_end)
        self.model.Add(sum(options.values()) == count * item.present)
        item.options[need or role] = options
        if booked is not None:
            self.changes += [literal for (ident, _), literal in options.items() if ident not in now_using]

    def _use(self, item: _Item, role: str, candidate: Candidate, starts: Intervals | None, span_start: int,
             span_end: int) -> cp_model.IntVar:
        literal = self.model.NewBoolVar(f"{item.key} uses {role} {candidate.id}")
        if starts is not None:
            self.model.AddLinearExpressionInDomain(item.step, self._domain(starts)).OnlyEnforceIf(literal)
        self.by_resource.setdefault((role, candidate.id), []).append(
            self.model.NewOptionalFixedSizeIntervalVar(item.start + span_start, span_end - span_start, literal, ""))
        return literal

    def _days_of(self, starts: Intervals) -> list[tuple[int, Intervals]]:
        """``starts`` cut at the local midnights, as (day, part)."""
        if not starts:
            return []
        first, last = self.problem.day_of(starts[0][0]), self.problem.day_of(starts[-1][1] - 1)
        parts = ((day, intersect(starts, [(_day_start(self.problem, day), _day_start(self.problem, day + 1))]))
                 for day in range(first, last + 1))
        return [(day, part) for day, part in parts if part]

    def _patients(self) -> None:
        by_patient: dict[int, list] = {}
        for item in self.items:
            by_patient.setdefault(item.patient, []).append(
                self.model.NewOptionalFixedSizeIntervalVar(item.start, item.kind.duration, item.present, ""))
        for intervals in by_patient.values():
            if len(intervals) > 1:
                self.model.AddNoOverlap(intervals)

    def _spacings(self) -> None:
        items = {item.key: item for item in self.items}
        for rule in self.problem.spacings:
            earlier, later = items[rule.earlier], items[rule.later]
            self.model.AddImplication(later.present, earlier.present)
            self.model.Add(later.start >= earlier.start + earlier.kind.duration).OnlyEnforceIf(later.present)
            if rule.min_days is not None:
                self.model.Add(later.day - earlier.day >= rule.min_days).OnlyEnforceIf(later.present)
            if rule.max_days is not None:
                self.model.Add(later.day - earlier.day <= rule.max_days).OnlyEnforceIf(later.present)

    def _teams(self) -> None:
        self.teams: dict[str, dict[int, cp_model.IntVar]] = {}
        for item in self.items:
            if item.waiting is None or item.waiting.team is None:
                continue
            team = self.teams.setdefault(item.waiting.team, {})
            for (ident, _), literal in item.options["clinician"].items():
                if ident not in team:
                    team[ident] = self.model.NewBoolVar(f"{item.waiting.team} with {ident}")
                self.model.AddImplication(literal, team[ident])
        for team in self.teams.values():
            self.model.AddAtMostOne(team.values())

    def _objective(self) -> None:
        model, terms = self.model, []
        self.seen: dict[tuple[int, str, int], cp_model.IntVar] = {}
        loads: dict[int, list] = {}
        self.spans: dict[tuple[int, int], tuple[cp_model.IntVar, cp_model.IntVar]] = {}
        self.idle_day_hint: dict[tuple[int, int], int] = {}
        total = sum(item.kind.duration for item in self.items)
        seen_by: dict[tuple[int, str, int], list] = {}
        for item in self.items:
            if item.waiting is not None:
                terms.append(WEIGHTS["unplaced_priority_point"] * item.waiting.priority * (1 - item.present))
            if item.moved is not None:
                terms.append(WEIGHTS["moved_session"] * item.moved)
            low_offset, high_offset = blocked(item.kind, 0)
            for (ident, day), literal in item.options["clinician"].items():
                seen = self.seen.get((item.patient, item.kind.key, ident))
                if seen is None:
                    seen = self.seen[item.patient, item.kind.key, ident] = model.NewBoolVar("")
                model.AddImplication(literal, seen)
                seen_by.setdefault((item.patient, item.kind.key, ident), []).append(literal)
                loads.setdefault(ident, []).append(item.kind.duration * literal)
                first, last = self._span(ident, day)
                model.Add(first <= item.start + low_offset).OnlyEnforceIf(literal)
                model.Add(last >= item.start + high_offset).OnlyEnforceIf(literal)
        for key, literals in seen_by.items():  # and only then: no slack for the objective to carry
            model.AddBoolOr(literals).OnlyEnforceIf(self.seen[key])
        self.busiest = model.NewIntVar(0, total, "busiest clinician's minutes")
        for load in loads.values():
            model.Add(self.busiest >= sum(load))
        terms.append(WEIGHTS["extra_clinician_for_a_patient"] * sum(self.seen.values()))
        terms.append(WEIGHTS["busiest_clinician_minute"] * self.busiest)
        terms.append(WEIGHTS["clinician_day_span_minute"] * sum(last - first for first, last in self.spans.values()))
        terms.append(WEIGHTS["changed_resource"] * sum(self.changes))
        self.cost = sum(terms)
        model.Minimize(self.cost)

    def _span(self, clinician: int, day: int) -> tuple[cp_model.IntVar, cp_model.IntVar]:
        """The first and last minute clinician ``clinician`` is busy on ``day`` (equal when not busy at all)."""
        if (clinician, day) not in self.spans:
            low = _day_start(self.problem, day) - DAY
            high = low + 3 * DAY
            first, last = self.model.NewIntVar(low, high, ""), self.model.NewIntVar(low, high, "")
            self.model.Add(first <= last)
            self.spans[clinician, day] = (first, last)
            self.idle_day_hint[clinician, day] = low
        return self.spans[clinician, day]

    def hint(self, placements: tuple[Placement, ...]) -> None:
        """Every variable, from a complete schedule."""
        placed = {p.kind: p for p in placements}
        chosen_days: dict[tuple[int, int], tuple[int, int]] = {}
        for item in self.items:
            placement = placed.get(item.key)
            if item.waiting is not None:  # a booked session's presence is the shared constant 1: no hint
                self.model.AddHint(item.present, placement is not None)
            if item.step is not None:
                step = self._domain(item.starts).min()
                if placement is not None:
                    step = (placement.start - self.problem.grid_origin) // self.problem.grid
                self.model.AddHint(item.step, step)
            if item.moved is not None:
                self.model.AddHint(item.moved, placement.start != item.booked.start)
            ids = set() if placement is None else {placement.clinician, placement.room, *placement.devices}
            day = self.problem.day_of(placement.start) if placement is not None else None
            for need, options in item.options.items():
                for (ident, option_day), literal in options.items():
                    on = ident in ids and (option_day is None or option_day == day)
                    if need == "clinician":
                        on = placement is not None and ident == placement.clinician and option_day == day
                    self.model.AddHint(literal, on)
            if placement is not None:
                low, high = blocked(item.kind, placement.start)
                key = (placement.clinician, day)
                known = chosen_days.get(key, (low, high))
                chosen_days[key] = (min(known[0], low), max(known[1], high))
        team_of = {item.waiting.team: placed[item.key].clinician for item in self.items
                   if item.waiting is not None and item.waiting.team is not None and item.key in placed}
        for team, members in self.teams.items():
            for ident, literal in members.items():
                self.model.AddHint(literal, team_of.get(team) == ident)
        seen = {(item.patient, item.kind.key, placed[item.key].clinician) for item in self.items if item.key in placed}
        for key, literal in self.seen.items():
            self.model.AddHint(literal, key in seen)
        loads: dict[int, int] = {}
        for item in self.items:
            if item.key in placed:
                loads[placed[item.key].clinician] = loads.get(placed[item.key].clinician, 0) + item.kind.duration
        self.model.AddHint(self.busiest, max(loads.values(), default=0))
        for key, (first, last) in self.spans.items():
            low, high = chosen_days.get(key, (None, None))
            if low is None:
                low = high = self.idle_day_hint[key]
            self.model.AddHint(first, low)
            self.model.AddHint(last, high)

    def placements(self, solver: cp_model.CpSolver) -> tuple[Placement, ...]:
        result = []
        for item in self.items:
            if not solver.BooleanValue(item.present):
                continue
            start = item.fixed if item.fixed is not None else solver.Value(item.start)

            def picked(need: str) -> list[int]:
                return sorted(ident for (ident, _), literal in item.options[need].items() if solver.BooleanValue(literal))

            kind = item.kind
            result.append(Placement(
                item.key, 0, start, picked("clinician")[0], picked("room")[0] if kind.needs_room else None,
                tuple(sorted(u for pool in kind.devices for u in picked(f"device {pool.type_name}")))))
        return tuple(result)


class _FirstSolution(cp_model.CpSolverSolutionCallback):
    def __init__(self, began: float):
        super().__init__()
        self.began, self.seconds = began, None

    def on_solution_callback(self) -> None:
        if self.seconds is None:
            self.seconds = time.perf_counter() - self.began


def replan(problem: NightProblem, limits: Limits = Limits()) -> ReplanSolution:
    """The best night found within the limits; the warm start (current schedule plus greedy) when nothing better is."""
    began = time.perf_counter()
    start = place_greedily(problem)
    start_cost = cost(problem, start)
    fallback = ReplanSolution(start, status="greedy", objective=start_cost, start_cost=start_cost)
    if not problem.booked and not problem.waiting:
        return fallback
    night = _NightModel(problem)
    night.hint(start)
    night.model.Add(night.cost <= start_cost)  # never worse than the warm start
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = limits.time_limit
    solver.parameters.num_workers = limits.workers
    solver.parameters.cp_model_probing_level = 0
    if limits.workers <= 2:  # the default portfolio at this size proves a weak bound; LP-based ones prove it
        for name in ["max_lp", "core"][: max(limits.workers, 1)]:
            solver.parameters.subsolvers.append(name)
    first = _FirstSolution(began)
    status = solver.Solve(night.model, first)
    seconds = time.perf_counter() - began
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ReplanSolution(start, status=f"greedy ({solver.StatusName(status).lower()})", objective=start_cost,
                              start_cost=start_cost, seconds=seconds)
    placements = night.placements(solver)
    return ReplanSolution(placements, status=solver.StatusName(status).lower(), objective=cost(problem, placements),
                          bound=solver.BestObjectiveBound(), first_solution_seconds=first.seconds, seconds=seconds,
                          start_cost=start_cost)
