"""The night on a time grid, for nights whose free time is cut into pieces by fixed bookings.

On a mostly booked night the sessions whose time is fixed (booked, not
allowed to move) leave many short gaps. ``night_bound`` counts minutes per
resource and day and cannot tell a 45-minute session from three 15-minute
gaps (pt, 2,000 sessions, 80 % booked: "at most 1,230 points" where the
search found 306), and the neighbourhoods of ``replan`` free only a few days
at a time. This model looks at the night minute by minute instead, as one
integer programme over

* a column per (session that may move, start) that survives the filter
  below, and per (session, start, clinician who could serve it then); a
  fixed session has only its clinician columns;
* per clinician and check minute: at most one of its sessions (exact, since a
  column holds one clinician for the whole span);
* per *pool* of unit classes and check minute: the sessions whose need may
  only use the pool's classes fit in its units free then, less the fixed
  sessions' (Hall's condition: any schedule serves them from the pool; for
  one class of identical units this is exact, interval colouring);
* per patient and check minute: one session; per session: placed at most
  once (a booked one exactly once); a plan's later start only with an earlier
  one the spacing allows; a team's sessions with one clinician.

The check minutes are those at which some span may begin (``_checks``): two
spans that overlap both hold the later one's first minute.

A start survives only if every pool of clinicians and of classes that its
choices lie in keeps room for it over its whole span, minute by minute, once
the fixed sessions are counted.

Every schedule is a solution (each session at its start with its clinician),
so the programme's bound (HiGHS) bounds the points of every schedule. Its
whole-number answers give times and clinicians; ``replan`` turns them into a
schedule with its own model, times held (rooms and units, which the pools
count but do not name), and keeps it only if it passes ``check_night``.
Measured on pt 2,000 sessions, 80 % booked (2026-11-30): 16k surviving
starts, 105k columns, 354 points proven optimal in about 50 s, where the
neighbourhoods had reached 306 in 300 s.

It grows with the surviving starts, so it is built only while its columns
are few enough (``MAX_COLUMNS``); on an empty night ``night_bound``'s is the
one to use. Between the two, where the starts are few enough but not the
starts with each clinician, the model is *pooled*: no clinician columns,
and the clinicians counted per pool and check minute like the units. That
is a relaxation (each start has some clinician free for its whole span, but
the model sees only how many are free at each minute, not who serves
whom), so it gives a bound and no schedule. Measured (2026-12-01, pt
1,094 sessions, 59 % booked, 194k columns in full): pooled 31k columns,
built in 4.5 s, programme bound 649 in 3.4 s, where the day relaxation says
902 and the full programme 558 (in 126 s). On demo's 2,000-session night
at 80 % booked it says 1,107, the day relaxation's figure: there the gap to
the 1,047 found lies in who serves whom (its optimal starts held, CP-SAT
could place at most 1,035 points), which only the full model sees.
"""

import math
import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from solver.highs import SOLUTION_FEASIBLE, highs_lp, merged, quiet_highs
from solver.intervals import Intervals, contains, intersect, union
from solver.night_greedy import earlier_window, spacing_window
from solver.night_index import NightIndex, SessionInfo
from solver.plans import Placement, blocked

MAX_COLUMNS = 150_000
"""Above about this many columns (surviving starts, each with its clinicians) the model is not built: pt and
sports 2,000 sessions at 80 % booked have 105k and 91k, and HiGHS solves them in 30-50 s; demo's 2,000-session
night, whose requests may go to any of 25 clinicians, has 342k, and its presolve alone did not end in 100 s."""

COLUMNS_PER_SECOND = 1_000
"""The grid gets a column per clinician only up to this many columns per second of the call's time limit (and
``MAX_COLUMNS``); above that it is pooled. pt's 1,094-session night at 59 % booked (seed 2) has 146k such columns:
its programme alone took HiGHS 21.5 s, and in a 60 s call the whole-number search gave no bound at all, so the call
reported the day relaxation's 902 where the programme says 551; pooled, the same night's bound comes in seconds.
pt's 2,000-session night (105k columns) is proven optimal in 30-50 s of a 300 s call, within this budget."""

OVERRUN = 0.15
"""HiGHS checks its time limit between steps, and a step of cut separation at the root was seen to take 3.5 s
past a 16 s limit: it is given this share less than the time it has."""

SIMPLEX_PROBE = 0.1
"""The share of the grid model's time in which the simplex must solve its linear programme to be the LP solver of
the search with whole numbers; otherwise the interior point method is (``SlotModel._simplex_suffices``)."""

SECONDS_PER_COLUMN = 5e-5
"""The least time HiGHS is started with, per column: on a large model single steps (presolve, an interior point
iteration, crossover) outlast a short time limit. pt's 2,000-session night (105k columns) in a 10 s run, its grid
built just in time, left HiGHS about 1.5 s and the call ended at 12.9 s; below 5 s it is not started there."""

Pool = tuple[str, frozenset]
"""("clinician", clinician ids) or ("class", unit class ids)."""


@dataclass
class _Rows:
    """A linear model written once, solved as a programme or with whole numbers."""

    columns: list[tuple[str, int, int | None]] = field(default_factory=list)
    """(session key, start, clinician or None for the session's own start column)."""
    rows: list[tuple[list[tuple[int, int]], float, float]] = field(default_factory=list)
    points: dict[int, int] = field(default_factory=dict)
    teams: set[int] = field(default_factory=set)
    """Columns that stand for a team's choice of clinician (key: the team)."""

    def column(self, key: str, start: int, clinician: int | None) -> int:
        self.columns.append((key, start, clinician))
        return len(self.columns) - 1

    def row(self, terms: list[tuple[int, int]], low: float, high: float) -> None:
        if terms := merged(terms):
            self.rows.append((terms, low, high))


class SlotModel:
    """The night's grid model; ``built`` is False when too many starts survive or time ran out; ``pooled`` when
    only its bound is to be had."""

    def __init__(self, index: NightIndex, *, until: float, max_columns: int = MAX_COLUMNS):
        self.index, self.problem = index, index.problem
        self.pooled = False
        """Its clinicians counted by pools, as the units are (a bound only): the clinician columns would pass
        ``max_columns``."""
        self.origin, end = index.horizon
        self.length = end - self.origin
        self.built = False
        self.lp_solver: str | None = None
        """The LP solver the last ``solve`` gave HiGHS's search: "simplex", or "ipm" where the simplex was slow."""
        self.lines = _Rows()
        self.starts: dict[str, dict[int, int]] = {}  # moving session -> start -> its column
        self.served: dict[str, dict[tuple[int, int], int]] = {}  # session -> (start, clinician) -> column
        fixed, moving = [], []
        for info in index.sessions.values():
            (fixed if _fixed(info) else moving).append(info)
        self.fixed = {info.key for info in fixed}
        self._short: dict[tuple[Pool, int], np.ndarray] = {}
        self._within: dict[tuple[int, int], list[int]] = {}
        if not self.problem.waiting:
            return
        residual = self._residual(fixed, until)
        if residual is None:
            return
        survivors, starts, served = {}, 0, 0
        for number, info in enumerate(moving):
            survivors[info.key] = self._surviving(info, residual)
            starts += len(survivors[info.key])
            if not self.pooled:
                served += _served_at(info, survivors[info.key])
                self.pooled = starts + served > max_columns
            if starts > max_columns or (number % 50 == 0 and time.perf_counter() > until):
                return
        self.built = self._write(fixed, survivors, residual, until)

    # --- what the fixed sessions leave ---------------------------------------------------------

    def _mask(self, intervals: Intervals) -> np.ndarray:
        row = np.zeros(self.length + 1, dtype=np.int32)
        for low, high in intervals:
            low, high = min(max(low - self.origin, 0), self.length), min(max(high - self.origin, 0), self.length)
            if low < high:
                row[low] += 1
                row[high] -= 1
        return np.cumsum(row[:-1]).astype(np.int32)

    def _residual(self, fixed: list[SessionInfo], until: float) -> dict[Pool, np.ndarray] | None:
        """Each pool's free members minute by minute, less the fixed sessions; None if they do not fit or time
        ran out (``until``)."""
        index = self.index
        self.clinician_free: dict[int, Intervals] = {}
        for kind in {id(info.kind): info.kind for info in index.sessions.values()}.values():  # each kind once
            for clinician in kind.clinicians:
                self.clinician_free[clinician.id] = union(self.clinician_free.get(clinician.id, []), clinician.free)
        for info in fixed:
            if info.pinned:  # kept as it is, whatever the catalog says now: its own span is its clinician's
                span = blocked(info.kind, info.booked.start)
                self.clinician_free[info.booked.current.clinician] = union(
                    self.clinician_free.get(info.booked.current.clinician, []), [span])
        units = {unit_class.ident: [union(unit.free, index._pinned_spans.get((unit_class.role, unit.id), []))
                                    for unit in unit_class.units] for unit_class in index.classes}
        self.choices = {info.key: _choices(index, info) for info in index.sessions.values()}
        family = {pool for found in self.choices.values() for pool, *_ in found}
        self.within = {pool: [other for other in family if other[0] == pool[0] and pool[1] <= other[1]]
                       for pool in family}
        residual = {}
        for pool in family:
            if time.perf_counter() > until:
                return None
            role, members = pool
            frees = [self.clinician_free.get(c, []) for c in members] if role == "clinician" else [
                free for ident in members for free in units[ident]]
            residual[pool] = sum((self._mask(free) for free in frees), np.zeros(self.length, dtype=np.int32))
        for info in fixed:
            start = info.booked.start
            for pool, count, before, after in self.choices[info.key]:
                low, high = max(start - before - self.origin, 0), max(start + after - self.origin, 0)
                for wider in self.within[pool]:
                    residual[wider][low:high] -= count
        if any(row.min() < 0 for row in residual.values()):
            return None  # the fixed sessions do not fit as the pools see them: the night is not as assumed
        return residual

    def _surviving(self, info: SessionInfo, residual: dict[Pool, np.ndarray]) -> np.ndarray:
        """The session's grid starts at which every pool around its choices keeps room for it."""
        candidates = self._grid_starts(info)
        for pool, count, before, after in self.choices[info.key]:
            for wider in self.within[pool]:
                if (wider, count) not in self._short:  # minutes short of ``count``, summed: shared by the sessions
                    self._short[wider, count] = np.concatenate(([0], np.cumsum(residual[wider] < count)))
                short = self._short[wider, count]
                low = np.clip(candidates - before - self.origin, 0, self.length)
                high = np.clip(candidates + after - self.origin, 0, self.length)
                candidates = candidates[short[high] - short[low] == 0]
        return candidates

    def _grid_starts(self, info: SessionInfo) -> np.ndarray:
        """Grid starts where a clinician and a class for every need could serve, and fixed partners allow."""
        if not info.clinicians:
            return np.zeros(0, dtype=np.int64)
        allowed = union(*[option.starts for option in info.clinicians.values()])
        for _count, options in info.needs.values():
            allowed = intersect(allowed, union(*[option.starts for option in options.values()]))
        for rule, partner in self._fixed_partners(info.key):
            if rule.later == info.key:
                window = spacing_window(self.problem, rule, partner, self.index.sessions[rule.earlier].kind)
            else:
                window = earlier_window(self.problem, rule, partner, info.kind)
            allowed = intersect(allowed, window)
        grid, origin = self.problem.grid, self.problem.grid_origin
        points = [np.arange(low + (origin - low) % grid, high, grid, dtype=np.int64) for low, high in allowed]
        if info.booked is not None and any(low <= info.booked.start < high for low, high in allowed):
            points.append(np.array([info.booked.start], dtype=np.int64))  # its own start, on the grid or not
        return np.unique(np.concatenate(points)) if points else np.zeros(0, dtype=np.int64)

    def _fixed_partners(self, key: str) -> list:
        """Spacing rules between ``key`` and a fixed session, with that session's placement."""
        index, found = self.index, []
        rules = [index.spacing_before[key]] if key in index.spacing_before else []
        for rule in rules + index.spacing_after.get(key, []):
            other = rule.earlier if rule.later == key else rule.later
            if other in self.fixed:
                found.append((rule, index.sessions[other].booked.current))
        return found

    # --- the rows -----------------------------------------------------------------------------

    def _write(self, fixed, survivors, residual, until) -> bool:
        lines = self.lines
        self.checks = self._checks(fixed, survivors, residual)
        clinician_rows: dict[tuple[int, int], list[int]] = {}
        pool_rows: dict[tuple[Pool, int], list[tuple[int, int]]] = {}
        patient_rows: dict[tuple[int, int], list[int]] = {}
        patient_busy: dict[int, list[tuple[int, int]]] = {}
        pinned_at: dict[int, list[tuple[int, int]]] = {}
        for info in fixed:
            start = info.booked.start
            if info.pinned:
                pinned_at.setdefault(info.booked.current.clinician, []).append(
                    blocked(info.kind, start))
            elif not self.pooled:  # pooled, its clinician is counted in the pools' residual already
                self._serve(info, start, None, clinician_rows)
            patient_busy.setdefault(info.patient, []).append((start, start + info.kind.duration))
        for number, key in enumerate(survivors):
            info = self.index.sessions[key]
            columns = self.starts[key] = {}
            for start in survivors[key].tolist():
                column = columns[start] = lines.column(key, start, None)
                if info.waiting is not None and info.priority:
                    lines.points[column] = info.priority
                if not self.pooled:
                    self._serve(info, start, column, clinician_rows)
                for pool, count, before, after in self.choices[key]:
                    if pool[0] == "class" or self.pooled:
                        for minute in self._minutes(start, before, after):
                            for wider in self.within[pool]:
                                pool_rows.setdefault((wider, minute), []).append((column, count))
                for minute in self._minutes(start, 0, info.kind.duration):
                    patient_rows.setdefault((info.patient, minute), []).append(column)
            terms = [(column, 1) for column in columns.values()]
            if info.booked is not None:
                if not terms:
                    return False  # a booked session that cannot keep any start: the model would be infeasible
                lines.row(terms, 1, 1)
            else:
                lines.row(terms, 0, 1)
            if number % 50 == 0 and time.perf_counter() > until:
                return False
        self._capacity_rows(clinician_rows, pool_rows, patient_rows, residual, pinned_at, patient_busy)
        self._spacing_rows()
        if not self.pooled:
            self._team_rows()
        return time.perf_counter() <= until

    def _serve(self, info: SessionInfo, start: int, column: int | None, clinician_rows: dict) -> None:
        """The clinician columns of a session at ``start``: exactly one when it is there."""
        served = self.served.setdefault(info.key, {})
        terms = []
        for clinician, option in info.clinicians.items():
            if not contains(option.starts, start, start + 1):
                continue
            share = served[start, clinician] = self.lines.column(info.key, start, clinician)
            terms.append((share, 1))
            for minute in self._minutes(start, option.span_before, option.span_after):
                clinician_rows.setdefault((clinician, minute), []).append(share)
        if column is None:
            self.lines.row(terms, 1, 1)
        else:
            self.lines.row(terms + [(column, -1)], 0, 0)

    def _checks(self, fixed, survivors, residual) -> np.ndarray:
        """The minutes at which the rows count what is running: wherever a span (a session's, its clinician's or
        a unit's) may begin, or a pool's free members drop. Two spans that overlap both hold the later one's first
        minute, so counting there is exact. Counting on grid minutes alone missed spans that meet between them
        (demo, tight, 1,200 sessions: a gait assessment's set-up begins 10 minutes before the grid, while its
        clinician's previous session ends on it), and 9 of the 654 points the programme found could not be served."""
        found = [np.flatnonzero(np.diff(row) < 0) + 1 + self.origin for row in residual.values()]
        sessions = [(info, np.array([info.booked.start], dtype=np.int64)) for info in fixed] + [
            (self.index.sessions[key], starts) for key, starts in survivors.items()]
        for info, starts in sessions:  # a span begins at the start less its own buffer, a clinician's or a unit's
            befores = {0, info.kind.buffer_before} | {before for _, _, before, _ in self.choices[info.key]} | {
                option.span_before for option in info.clinicians.values()}
            found += [starts - before for before in befores]
        return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)

    def _minutes(self, start: int, before: int, after: int) -> list[int]:
        """The check minutes within the span from ``before`` ahead of ``start`` to ``after`` past it (kept per
        span: sessions of one service at one start ask for the same ones; the caller must not change the list)."""
        span = (start - before, start + after)
        if span not in self._within:
            checks = self.checks
            self._within[span] = checks[np.searchsorted(checks, span[0]):np.searchsorted(checks, span[1])].tolist()
        return self._within[span]

    def _capacity_rows(self, clinician_rows, pool_rows, patient_rows, residual, pinned_at, patient_busy) -> None:
        lines, free = self.lines, {}
        for (clinician, minute), terms in clinician_rows.items():
            if clinician not in free:
                free[clinician] = self._mask(self.clinician_free.get(clinician, [])) - self._mask(
                    pinned_at.get(clinician, []))
            left = self._at(free[clinician], minute)
            if len(terms) > left:
                lines.row([(term, 1) for term in terms], -np.inf, left)
        for (pool, minute), terms in pool_rows.items():
            left = self._at(residual[pool], minute)
            if sum(units for _, units in terms) > left:
                lines.row(terms, -np.inf, left)
        for (patient, minute), terms in patient_rows.items():
            left = 1 - sum(1 for low, high in patient_busy.get(patient, []) if low <= minute < high)
            if len(terms) > left:
                lines.row([(term, 1) for term in terms], -np.inf, left)

    def _at(self, row: np.ndarray, minute: int) -> int:
        return int(row[minute - self.origin]) if 0 <= minute - self.origin < self.length else 0

    def _spacing_rows(self) -> None:
        """A later start only with an earlier start the rule allows; a fixed partner narrowed the starts already."""
        problem = self.problem
        for rule in problem.spacings:
            later, earlier = self.starts.get(rule.later), self.starts.get(rule.earlier)
            if later is None or earlier is None:
                if earlier is None and later and rule.earlier not in self.fixed:
                    self.lines.row([(column, 1) for column in later.values()], 0, 0)  # its earlier one waits
                if later is None and earlier and rule.later in self.fixed:
                    self.lines.row([(column, 1) for column in earlier.values()], 1, 1)
                continue
            kind = self.index.sessions[rule.earlier].kind
            days: dict[int, tuple[list, set]] = {}
            for start, column in later.items():
                window = earlier_window(problem, rule, Placement(rule.later, 0, start, 0), kind)
                allowed = {other for begin, other in earlier.items() if any(low <= begin < high for low, high in window)}
                self.lines.row([(column, 1)] + [(other, -1) for other in allowed], -np.inf, 0)
                columns, union_of = days.setdefault(problem.day_of(start), ([], set()))
                columns.append((column, 1))
                union_of |= allowed
            for columns, allowed in days.values():  # the same for a day's starts at once: tighter as a programme
                if len(columns) > 1:
                    self.lines.row(columns + [(other, -1) for other in allowed], -np.inf, 0)

    def _team_rows(self) -> None:
        """A team's sessions share one clinician: each takes at most what the team's choice of it allows."""
        for team, members in self.index.teams.items():
            chosen = {}
            for key in members:
                by_clinician: dict[int, list[tuple[int, int]]] = {}
                for (_, clinician), share in self.served.get(key, {}).items():
                    by_clinician.setdefault(clinician, []).append((share, 1))
                for clinician, terms in by_clinician.items():
                    if clinician not in chosen:
                        chosen[clinician] = self.lines.column(team, 0, clinician)
                        self.lines.teams.add(chosen[clinician])
                    self.lines.row(terms + [(chosen[clinician], -1)], -np.inf, 0)
            self.lines.row([(column, 1) for column in chosen.values()], 0, 1)

    # --- solving ------------------------------------------------------------------------------

    def solve(self, hint: dict[str, Placement], until: float, threads: int = 1) -> tuple[
            dict[str, tuple[int, int]], float] | None:
        """Whole numbers (HiGHS): each placed session's (start, clinician), and the proven bound on the points,
        which no schedule exceeds; None if nothing was found by ``until``, or if the time is too short to start
        (``SECONDS_PER_COLUMN``). ``hint`` (the best answer so far) is the first solution, so an answer is never
        worse than it; ``threads`` as the night's CP-SAT workers."""
        seconds = until - time.perf_counter()
        if not self.built or self.pooled or seconds <= max(0.1, SECONDS_PER_COLUMN * len(self.lines.columns)):
            return None
        self.lp_solver = "simplex" if self._simplex_suffices(SIMPLEX_PROBE * seconds, threads) else "ipm"
        highs = quiet_highs(threads)
        highs.setOptionValue("mip_lp_solver", self.lp_solver)
        highs.setOptionValue("time_limit", max(0.1, until - time.perf_counter()) * (1 - OVERRUN))
        highs.passModel(self._highs_model(whole=True))
        start = highspy.HighsSolution()
        start.col_value = self._values(hint)
        start.value_valid = True
        highs.setSolution(start)
        highs.run()
        info = highs.getInfo()
        if info.primal_solution_status != SOLUTION_FEASIBLE or not math.isfinite(info.mip_dual_bound):
            return None
        values = highs.getSolution().col_value
        chosen = {key: (start, clinician) for number, (key, start, clinician) in enumerate(self.lines.columns)
                  if clinician is not None and number not in self.lines.teams and values[number] > 0.5}
        return chosen, info.mip_dual_bound

    def bound(self, until: float, threads: int = 1) -> float | None:
        """The programme's optimum (whole numbers aside), which no schedule's points exceed; None if not solved by
        ``until``. What a pooled model is for: it has no answers to give, only this bound."""
        seconds = until - time.perf_counter()
        if not self.built or seconds <= max(0.1, SECONDS_PER_COLUMN * len(self.lines.columns)):
            return None
        highs = self._programme(seconds * (1 - OVERRUN), threads)
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return highs.getInfo().objective_function_value

    def _simplex_suffices(self, seconds: float, threads: int) -> bool:
        """Whether the dual simplex solves the programme (whole numbers aside) within ``seconds``.

        HiGHS's branch and bound begins with that solve, by the simplex unless told otherwise. On pt and sports
        (2,000 sessions, 80 % booked) it takes 2-3 s and the search that follows, warm-started node by node, proves
        the optimum in 30-50 s; with the interior point method for every LP the same proof took 56 and 104 s. On
        demo's tight 3,000-session night the simplex had not solved the first LP after 145 s (bound: the sum of all
        points), where the interior point method solves it in 20 s and the search then reached 785 points against
        a bound of 849 (the simplex: 724 against 3,254). So the simplex is tried first, for a short while."""
        highs = self._programme(max(0.05, seconds), threads, solver="simplex")
        return highs.getModelStatus() == highspy.HighsModelStatus.kOptimal

    def _programme(self, seconds: float, threads: int, solver: str | None = None) -> "highspy.Highs":
        """HiGHS, having run the programme (whole numbers aside) for at most ``seconds``."""
        highs = quiet_highs(threads)
        if solver is not None:
            highs.setOptionValue("solver", solver)
        highs.setOptionValue("time_limit", seconds)
        highs.passModel(self._highs_model(whole=False))
        highs.run()
        return highs

    def _highs_model(self, whole: bool) -> "highspy.HighsLp":
        lines = self.lines
        cost = np.zeros(len(lines.columns))
        cost[list(lines.points)] = list(lines.points.values())
        return highs_lp(cost, np.zeros(len(cost)), np.ones(len(cost)), lines.rows, maximize=True, whole=whole)

    def _values(self, placements: dict[str, Placement]) -> list[float]:
        """The columns of ``placements``: a session's start and clinician, a team's clinician."""
        chosen = {(key, p.start, p.clinician) for key, p in placements.items()}
        starts = {(key, p.start) for key, p in placements.items()}
        served = {(key, p.clinician) for key, p in placements.items()}
        values = []
        for number, (key, start, clinician) in enumerate(self.lines.columns):
            if number in self.lines.teams:
                value = any((member, clinician) in served for member in self.index.teams[key])
            else:
                value = (key, start, clinician) in chosen if clinician is not None else (key, start) in starts
            values.append(float(value))
        return values


def _served_at(info: SessionInfo, starts: np.ndarray) -> int:
    """How many (start, clinician) columns the session's ``starts`` make."""
    count = 0
    for option in info.clinicians.values():
        lows = np.array([low for low, _ in option.starts], dtype=np.int64)
        highs = np.array([high for _, high in option.starts], dtype=np.int64)
        at = np.searchsorted(lows, starts, side="right") - 1
        count += int(np.count_nonzero((at >= 0) & (starts < highs[np.maximum(at, 0)])))
    return count


def _fixed(info: SessionInfo) -> bool:
    """Booked at a time that cannot change: pinned, or without other starts."""
    return info.pinned or (info.booked is not None and len(info.starts) == 1
                           and info.starts[0][1] - info.starts[0][0] == 1)


def _choices(index: NightIndex, info: SessionInfo) -> list[tuple[Pool, int, int, int]]:
    """The session's pools as (pool, units, span before, span after): its clinicians, then each need's classes.

    A class need's span is the shortest among its classes (their cleaning times differ), so the pool never
    counts more than the session surely holds."""
    kind = info.kind
    if info.pinned:
        current = info.booked.current
        found = [(("clinician", frozenset([current.clinician])), 1, kind.buffer_before,
                  kind.duration + kind.buffer_after)]
        for ident, count in index.classes_used(current).items():
            found.append((("class", frozenset([ident])), count, kind.buffer_before,
                          kind.duration + kind.buffer_after + index.classes[ident].cleaning))
        return found
    found = []
    if info.clinicians:
        option = next(iter(info.clinicians.values()))
        found.append((("clinician", frozenset(info.clinicians)), 1, option.span_before, option.span_after))
    for count, options in info.needs.values():
        if options:
            found.append((("class", frozenset(options)), count, min(o.span_before for o in options.values()),
                          min(o.span_after for o in options.values())))
    return found
