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

* one model of the whole night, up to a size (``WHOLE_FIRST``, ``WHOLE_LAST``):
  proves optimality or gives CP-SAT's bound;
* large neighbourhood search: a few days, one clinician's sessions, a few
  patients' plans, or the waiting sessions left over are freed, the rest held,
  and that piece re-solved in a few seconds; at the quality level also a few
  patients' whole courses, and hand-overs (the clinicians of a course, times
  held, choose again who serves whom); a better piece, once its units are
  assigned and the whole night passes ``check_night``, is kept.

Where the night is mostly booked, the placements level first solves the
night on a grid of minutes as one integer programme (``night_slots``,
HiGHS): its answer, made a schedule with every time held, is where the
neighbourhoods start, and its bound is the one that sees short gaps. Where
the grid with a column per clinician would be too large, its pooled form
gives that bound alone (solved as a programme) and the neighbourhoods start
from first fit.

The placements level also gets an independent bound from a relaxation
(``night_bound``), and the quality level one from a programme of its own
(``night_quality_bound``), so their gaps mean something at any size. The whole call,
model building included, stays within its time limit; the greedy answer is
the fallback and a run never returns anything worse.
"""

import math
import random
import time
from dataclasses import dataclass, field, replace

from ortools.sat.python import cp_model

from solver.night_bound import placement_bound, sooner_bound
from solver.night_check import check_night, check_problem, measure
from solver.night_greedy import place_greedily
from solver.night_index import NightIndex
from solver.night_model import LEVELS, NightModel
from solver.night_problem import NightProblem, ReplanSolution, Stage
from solver.night_quality_bound import quality_bound
from solver.night_slots import COLUMNS_PER_SECOND, MAX_COLUMNS, SlotModel
from solver.night_units import assign_units, keep_units
from solver.plan_model import Limits
from solver.plans import Placement

WHOLE_FIRST = 700
WHOLE_LAST = 1500
WHOLE_SHARE = {"placed": 0.5, "sooner": 0.5, "quality": 0.1}
"""Up to ``WHOLE_FIRST`` movable sessions a level is first searched as one model, for its ``WHOLE_SHARE`` of the
level's time, then by neighbourhoods; up to ``WHOLE_LAST`` neighbourhoods come first and the whole model, started
from their best answer, gets the last share (it proves a bound, and on tight nights its own search is strong)
when at most ``WHOLE_FIRST`` of them are waiting; above that, neighbourhoods only. Measured (2026-11-29, 2 cores):
on a tight 1,094-session night (438 waiting) the whole model proved the optimum (258) in 82 s where
neighbourhoods alone reached 252 in 60 s; on an empty 1,200-session night neighbourhoods reached 2,656 in 60 s,
the whole model 2,607, and (2026-11-30) the whole model of an empty pt night of 1,200 found no answer at all in
its 15.6 s; at 2,000 sessions the whole model's presolve alone took 20-40 s. A waiting session is what makes
the model hard: its presence, day and time are open, where a booked one only chooses among resources.

The quality level's whole model still proves small nights at once, but at 600 sessions its bound is far below
the programme's (``night_quality_bound``) and hand-overs find more in its time (2026-11-30, quiet machine, 60 s,
the quality reached with a share of 0.5 / 0.1: demo s1 344,352 / 342,033, demo s2 358,748 / 346,703, pt s1
346,866 / 347,015, sports s1 395,198 / 394,338)."""

SHARES = {"placed": 0.6, "sooner": 0.15, "quality": 0.25}
"""Each level's share of the time left when it starts; what a level does not use passes to the next."""

QUALITY_BOUND_SHARE = 0.2
"""At most this share of the quality level's time goes to its bound (``night_quality_bound``; 0.1-0.5 s at 600
sessions); when the programme is not solved in it, the simple count stands."""

HAND_OVERS = 3
"""How many times more often the quality level picks a hand-over than each other kind of neighbourhood."""

SLOT_SHARES = {"build": 0.1, "placed": 0.6, "pooled": 0.25}
"""Where the night's grid model (``night_slots``) can be built, at most this share of the time limit goes to
building it, and this share of the placements level's time to solving it with whole numbers (HiGHS), before the
neighbourhoods go on from its answer. Measured on the 2,000-session nights at 80 % booked (2026-11-30, quiet
machine): built in 3 s; pt proven at 354 points in 52 s, sports 322.5 in 45 s, where the neighbourhoods alone had
reached 306 and 309 in 300 s. A pooled grid gives a bound and no answer, so it gets less: its programme takes 1-2 s
where it pays (pt 1,094 sessions at 59 % booked: 649 and 664 points against the day relaxation's 902), but 18 s to
more than 40 s on empty 600-session nights (sports, the hospital family; 2026-12-01), time the search needs."""

PIECE_SECONDS = 2.0
MARGIN = 0.03
"""Of the time limit, kept back for the last answer's unit colouring and check: the first half of it goes to giving
its rooms and units again so that booked sessions keep theirs (``_Search.recolour``)."""


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
    slots: SlotModel | None = None
    keeping: float = 0.0
    """The longest a piece's answer has taken to be joined, coloured, counted and checked (``_keep``): the search
    stops that much before the deadline, so the last piece's answer is kept in time (0.15 s on average on pt's
    2,000-session night at 80 % booked, where a 10 s call has nothing to spare)."""

    # --- one level -------------------------------------------------------------------------

    def improve(self, name: str, until: float, relaxation: float | None = None) -> Stage:
        """The level optimized from the best answer so far, until proven optimal (by CP-SAT or by reaching the
        relaxation's bound) or out of time."""
        level = _Level(name, "max" if name == "placed" else "min")
        movable = [key for key, info in self.index.sessions.items() if not info.pinned]
        waiting = sum(1 for key in movable if self.index.sessions[key].waiting is not None)
        whole_last = WHOLE_FIRST < len(movable) <= WHOLE_LAST and waiting <= WHOLE_FIRST
        whole = None if relaxation is None else (  # levels count whole points or minutes
            int(relaxation + 1e-6) if level.sense == "max" else math.ceil(relaxation - 1e-6))
        done = lambda: level.status == "optimal" or (  # noqa: E731
            whole is not None
            and _reached(_Level(name, level.sense, whole), measure(self.problem, self.best.values())[name]))
        if len(movable) <= WHOLE_FIRST and not done():
            self._solve(level, set(movable), time.perf_counter() + WHOLE_SHARE[name] * self._left(until), whole=True)
        pieces = 0
        last = until - (WHOLE_SHARE[name] * self._left(until) if whole_last else 0)
        while not done() and self._left(last) > 0.3:
            free, within, held = self._neighbourhood(name)
            self._solve(level, free, last, whole=False, within=within, held=held)
            pieces += 1
            if name == "placed" and pieces % 10 == 0:
                self._fill(last)
        if name == "placed":
            self._fill(until)
        if whole_last and not done() and self._left(until) > 1.0:
            self._solve(level, set(movable), until, whole=True)
        value = measure(self.problem, self.best.values())[name]
        if level.bound is not None:  # optimal only where the night's own count reaches the bound: the quality model
            # counts a change of room or unit class, and the units coloured afterwards may change within a class
            level.status = "optimal" if _reached(level, value) else "feasible"
        return Stage(name, level.sense, value, level.bound, status=level.status)

    def through_slots(self, until: float) -> float | None:
        """The grid model's answer (``night_slots``) made a schedule: its times and clinicians held, the rooms,
        units and anything its grid could not see decided by the night's own model, and kept like a piece's.
        Returns HiGHS's bound on the grid model's points, which no schedule exceeds (None if nothing found)."""
        found = self.slots.solve(self.best, time.perf_counter() + 0.85 * self._left(until), self.workers)
        if found is None:
            return None
        chosen, bound = found
        values = measure(self.problem, self.best.values())
        free = {key for key in chosen if not self.index.sessions[key].pinned}
        fixed = {key: placement for key, placement in self.best.items() if self.index.sessions[key].pinned}
        night = NightModel(self.index, free, fixed, "placed", held={key: chosen[key][0] for key in free})
        night.hint({key: Placement(key, 0, start, clinician) for key, (start, clinician) in chosen.items()})
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.1, self._left(until))
        solver.parameters.num_workers = self.workers
        if solver.Solve(night.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            self._keep(night, solver, fixed, values)
        return bound

    def _fill(self, until: float) -> None:
        """First fit for the waiting sessions the pieces left over, around the best answer: cheap, and it places
        what a piece never happened to free (as many as it can by ``until``)."""
        filled = place_greedily(self.problem, tuple(self.best.values()), until=time.perf_counter() + self._left(until))
        if len(filled) > len(self.best) and not check_night(self.problem, ReplanSolution(filled, "filled")):
            self.best = {p.kind: p for p in filled}

    def _left(self, until: float) -> float:
        return min(until, self.deadline - self.keeping) - time.perf_counter()

    def _seconds(self, until: float, whole: bool) -> float:
        """What a solve may take now: the time left, or a piece's few seconds of it."""
        return self._left(until) if whole else min(PIECE_SECONDS, self._left(until))

    def _solve(self, level: _Level, free: set[str], until: float, *, whole: bool,
               within: tuple[int, int] | None = None, held: bool = False) -> None:
        if self._seconds(until, whole) <= 0.05:
            return
        fixed = {key: placement for key, placement in self.best.items() if key not in free}
        values = measure(self.problem, self.best.values())
        floor = sum(self.index.sessions[key].priority for key in free if key in self.best)
        days = {key: self.problem.day_of(self.best[key].start) for key in free
                if key in self.best and self.index.sessions[key].waiting is not None}
        night = NightModel(self.index, free, fixed, level.name, floor=floor,
                           days=days if level.name == "quality" else None, within=within,
                           held={key: self.best[key].start for key in free} if held else None)
        night.hint(self.best)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.05, self._seconds(until, whole))  # less what building took
        solver.parameters.num_workers = self.workers
        # Presolve probing stays on: with it off (cp_model_probing_level = 0) OR-Tools 9.15 called a piece
        # INFEASIBLE whose hint was a valid answer, and the process then aborted ('Check failed:
        # heuristics.fixed_search != nullptr'); reproduced on a saved piece, OPTIMAL with probing on.
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
        self._keep(night, solver, fixed, values)

    def _keep(self, night: NightModel, solver: cp_model.CpSolver, fixed: dict[str, Placement],
              values: dict[str, int]) -> None:
        """The piece's answer joined to the rest, if its units can be assigned, it passes the check and it is
        no worse lexicographically (an equal answer is kept: moving sideways helps the search)."""
        began = time.perf_counter()
        self._join(night, solver, fixed, values)
        self.keeping = max(self.keeping, time.perf_counter() - began)

    def _join(self, night: NightModel, solver: cp_model.CpSolver, fixed: dict[str, Placement],
              values: dict[str, int]) -> None:
        placements = assign_units(self.index, night.choices(solver), fixed)
        if placements is not None:
            self._offer({**fixed, **{p.kind: p for p in placements}}, values)

    def _offer(self, candidate: dict[str, Placement], values: dict[str, int]) -> None:
        """``candidate`` becomes the best answer if it is no worse than the one worth ``values`` and passes the
        check."""
        new = measure(self.problem, candidate.values())
        if _key(new, LEVELS) > _key(values, LEVELS):  # never worse, on this level or any other
            return
        if check_night(self.problem, ReplanSolution(tuple(candidate.values()), "candidate")):
            return
        self.best = candidate
        if self.first_solution is None and _key(new, LEVELS) < _key(values, LEVELS):
            self.first_solution = time.perf_counter() - self.began

    def recolour(self, until: float) -> None:
        """The best answer's rooms and units given again, so that more booked sessions keep theirs
        (``night_units.keep_units``), by ``until``."""
        values = measure(self.problem, self.best.values())
        self._offer({p.kind: p for p in keep_units(self.index, list(self.best.values()), until)}, values)

    # --- neighbourhoods ----------------------------------------------------------------------

    def _neighbourhood(self, level: str) -> tuple[set[str], tuple[int, int], bool]:
        """A piece of about ``piece`` sessions, the days it may use, and whether its times are held; chosen in one of
        four ways, and for the quality level also by freeing a few patients' whole courses or by a hand-over."""
        ways = [self._days, self._clinician, self._patients, self._leftovers]
        if level == "quality":
            ways += [self._courses] + [self._hand_overs] * HAND_OVERS
        way = self.rng.choice(ways)
        if way == self._hand_overs:
            return *way(), True
        low, high, wanted = way()
        placed = [key for key, placement in self.best.items()
                  if low <= placement.start < high and not self.index.sessions[key].pinned and wanted(key)]
        waiting = [key for key in self._waiting_left() if wanted(key) and self._reaches(key, low, high)]
        self.rng.shuffle(placed)
        self.rng.shuffle(waiting)
        chosen = set(waiting[: max(3, self.piece // 3)])
        chosen |= set(placed[: self.piece - len(chosen)])
        for key in list(chosen):
            chosen |= {partner for partner in self._partners(key)
                       if (partner in self.best and low <= self.best[partner].start < high)
                       or (partner not in self.best and self._reaches(partner, low, high))}
        return chosen, (low, high), False

    def _reaches(self, key: str, low: int, high: int) -> bool:
        starts = self.index.sessions[key].starts
        return bool(starts) and starts[0][0] < high and starts[-1][1] > low

    def _waiting_left(self) -> list[str]:
        return [w.key for w in self.problem.waiting if w.key not in self.best and w.starts]

    def _span_of_days(self, minute: int, before: int, after: int) -> tuple[int, int]:
        day = self.problem.day_of(minute)
        return self.problem.day_start(day - before), self.problem.day_start(day + after)

    def _days(self):
        """Everything on two or three days, and the waiting sessions that could go there."""
        minute = self.rng.choice([p.start for p in self.best.values()])
        low, high = self._span_of_days(minute, 0, self.rng.choice([2, 3]))
        return low, high, lambda key: True

    def _clinician(self):
        """One clinician's sessions over five days, and the waiting sessions they could serve then."""
        clinician = self.rng.choice(sorted({p.clinician for p in self.best.values()}))
        minute = self.rng.choice([p.start for p in self.best.values() if p.clinician == clinician])
        low, high = self._span_of_days(minute, 2, 3)
        return low, high, lambda key: clinician in self.index.sessions[key].clinicians

    def _patients(self):
        """A handful of patients' sessions over four days, with whatever shares their clinicians then."""
        minute = self.rng.choice([p.start for p in self.best.values()])
        low, high = self._span_of_days(minute, 1, 3)
        patients = {self.index.sessions[key].patient for key, p in self.best.items() if low <= p.start < high}
        patients = set(self.rng.sample(sorted(patients), k=min(len(patients), 4)))
        clinicians = {self.best[key].clinician for key in self.best if self.index.sessions[key].patient in patients}
        return low, high, lambda key: (self.index.sessions[key].patient in patients
                                       or (key in self.best and self.best[key].clinician in clinicians))

    def _courses(self):
        """Every session of a few patients over the whole night, with what their clinicians serve meanwhile."""
        everyone = sorted({info.patient for info in self.index.sessions.values()})
        patients = set(self.rng.sample(everyone, k=min(6, len(everyone))))
        starts = [p.start for key, p in self.best.items() if self.index.sessions[key].patient in patients]
        if not starts:
            return self._days()
        low = self.problem.day_start(self.problem.day_of(min(starts)))
        high = self.problem.day_start(self.problem.day_of(max(starts)) + 1)
        return low, high, lambda key: self.index.sessions[key].patient in patients

    def _hand_overs(self) -> tuple[set[str], tuple[int, int]]:
        """A course seen by several clinicians, and everything they and one more who could take it serve on the
        course's days, every time held: only who serves whom changes, so the model stays small however many
        sessions it frees, and a clinician busy with another patient at one of the course's times can hand that
        session over and take the course (what freeing a few courses alone cannot do)."""
        courses: dict[tuple[int, str], list[str]] = {}
        for key in sorted(self.best):
            info = self.index.sessions[key]
            courses.setdefault((info.patient, info.kind.key), []).append(key)
        spread = [keys for keys in courses.values() if len({self.best[key].clinician for key in keys}) > 1]
        keys = self.rng.choice(spread or list(courses.values()))
        clinicians = {self.best[key].clinician for key in keys}
        others = set.intersection(*(set(self.index.sessions[key].clinicians) for key in keys)) - clinicians
        if others:
            clinicians.add(self.rng.choice(sorted(others)))
        days = {self.problem.day_of(self.best[key].start) for key in keys}
        low, high = self.problem.day_start(min(days)), self.problem.day_start(max(days) + 1)
        return {key for key, placement in self.best.items() if self.problem.day_of(placement.start) in days
                and placement.clinician in clinicians and not self.index.sessions[key].pinned}, (low, high)

    def _leftovers(self):
        """A waiting session left over, three days of its window, and what else could use those days."""
        left = self._waiting_left()
        if not left:
            return self._days()
        starts = self.index.sessions[self.rng.choice(left)].starts
        minute = self.rng.choice(starts)[0]
        low, high = self._span_of_days(minute, 1, 2)
        return low, high, lambda key: True

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


def _least(*bounds: float | None) -> float | None:
    """The tightest of the placements bounds that were found."""
    return min((bound for bound in bounds if bound is not None), default=None)


def _reached(level: _Level, value: int) -> bool:
    if level.sense == "max":
        return value >= level.bound - 1e-6
    return value <= level.bound + 1e-6


def without(problem: NightProblem, solution: ReplanSolution, dropped: set[str]) -> ReplanSolution:
    """The answer less the waiting sessions in ``dropped`` (the booking check refused their times when the answer
    was written), every level measured again. A level whose value changed, and every level after it (each was
    solved with the ones before it fixed), is no longer proven optimal."""
    if not dropped:
        return solution
    placements = tuple(placement for placement in solution.placements if placement.kind not in dropped)
    final = measure(problem, placements)
    stages, changed = [], False
    for stage in solution.stages:
        changed = changed or final[stage.name] != stage.value
        stages.append(replace(stage, value=final[stage.name],
                              status="feasible" if changed and stage.status == "optimal" else stage.status))
    status = "optimal" if all(stage.status == "optimal" for stage in stages) else "feasible"
    return replace(solution, placements=placements, status=status, stages=tuple(stages))


def replan(problem: NightProblem, limits: Limits = Limits()) -> ReplanSolution:
    """The best night found within the limits; the greedy answer when nothing better is.

    A night that is not well formed (``check_problem``) is refused with a ``ValueError`` naming what is wrong.
    """
    began = time.perf_counter()
    malformed = check_problem(problem)
    if malformed:
        raise ValueError("the night cannot be solved as given: " + "; ".join(malformed[:10]))
    deadline = began + limits.time_limit * (1 - MARGIN)
    greedy = place_greedily(problem)
    greedy_values = measure(problem, greedy)
    nothing = not problem.booked and not problem.waiting
    index = None if nothing else NightIndex(problem)
    if nothing or time.perf_counter() >= deadline:  # first fit and the index took the whole limit: it is the answer
        return ReplanSolution(greedy, "optimal" if nothing else "greedy", tuple(
            Stage(name, "max" if name == "placed" else "min", greedy_values[name],
                  greedy_values[name] if nothing else None, status="optimal" if nothing else "unknown")
            for name in LEVELS), greedy=greedy_values, seconds=time.perf_counter() - began)
    search = _Search(problem, index, {p.kind: p for p in greedy}, deadline, limits.workers, began=began)
    relaxation = placement_bound(index, until=began + limits.time_limit * 0.15)
    search.slots = SlotModel(index, until=time.perf_counter() + limits.time_limit * SLOT_SHARES["build"],
                             max_columns=min(MAX_COLUMNS, int(COLUMNS_PER_SECOND * limits.time_limit)))
    stages = []
    for number, name in enumerate(LEVELS):
        share = SHARES[name] / sum(SHARES[later] for later in LEVELS[number:])
        until = time.perf_counter() + share * max(0.0, deadline - time.perf_counter())
        if name != "placed":
            if name == "sooner":
                stage, floor = search.improve(name, until), sooner_bound(index, stages[0].value)
            else:  # the level holds which sessions are placed and their days: the bound holds for its answers
                floor = quality_bound(index, list(search.best.values()), until=time.perf_counter() + QUALITY_BOUND_SHARE
                                      * max(0.0, until - time.perf_counter()), threads=limits.workers)
                stage = search.improve(name, until, floor)
            reached = stage.value <= floor + 1e-6
            stages.append(replace(stage, relaxation=floor, status="optimal" if reached else stage.status))
            continue
        share = SLOT_SHARES["pooled" if search.slots.pooled else "placed"]
        slots_until = time.perf_counter() + share * max(0.0, until - time.perf_counter())
        if search.slots.pooled:  # a bound only; it is solved as a programme in a few seconds and the search goes on
            relaxation = _least(relaxation, search.slots.bound(slots_until, limits.workers))
        elif search.slots.built:
            relaxation = _least(relaxation, search.through_slots(slots_until))
        stage = search.improve(name, until, relaxation)
        if relaxation is not None:  # points are whole: a bound of 64.7 says at most 64
            relaxation = float(int(relaxation + 1e-6))
            stage = Stage(stage.name, stage.sense, stage.value, stage.bound, relaxation,
                          "optimal" if stage.value >= relaxation else stage.status)
        stages.append(stage)
    search.recolour(began + limits.time_limit * (1 - MARGIN / 2))
    placements = tuple(search.best.values())
    final = measure(problem, placements)
    for number, stage in enumerate(stages):  # a later level's pieces may place more (never less), and the units
        if final[stage.name] != stage.value:  # given again count fewer changes: report the answer
            reached = stage.best_bound is not None and _reached(_Level(stage.name, stage.sense, stage.best_bound),
                                                                final[stage.name])
            stages[number] = replace(stage, value=final[stage.name], status="optimal" if reached else stage.status)
    status = "optimal" if all(stage.status == "optimal" for stage in stages) else (
        "feasible" if set(placements) != set(greedy) else "greedy")
    return ReplanSolution(placements, status, tuple(stages), greedy=greedy_values,
                          first_solution_seconds=search.first_solution, seconds=time.perf_counter() - began)
