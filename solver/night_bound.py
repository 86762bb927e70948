"""An upper bound on the priority points a night can place, from a relaxation that does not depend on the search.

CP-SAT's own bound on a model of a few thousand sessions says little (a
linear relaxation of NoOverlap and Cumulative is weak) and the neighbourhood
search proves nothing. So the placements level gets a second bound: a linear
programme (GLOP) over (session, clinician, day) shares and the units each
unit class gives a session on a day, where

* each session is placed at most once (a booked one exactly once), its
  clinician share and the units its needs take from the classes agree day by day;
* energy: for every clinician or unit class, every day and every window
  that some session's possible spans cover, the minutes of the sessions that
  can only lie inside that window fit in the minutes free in it;
* a plan's later session is placed on a day no more than its earlier one is
  placed on the days the spacing allows before it.

Any schedule is a solution of it, so its optimum bounds every schedule's
points: "at most N can be placed". The sooner level gets a simple bound of its
own (``sooner_bound``) and the quality level a programme of its own
(``night_quality_bound``), so every level reports one even where the whole
model did not run.
"""

import time

from ortools.linear_solver import pywraplp

from solver.intervals import Intervals, intersect, total
from solver.night_index import NightIndex, SessionInfo
from solver.plans import blocked

WINDOWS_PER_DAY = 40
"""Energy windows per resource and day: the whole day, and the windows of sessions that may move (a fixed
session's own span bounds nothing); more is tighter and slower."""


def placement_bound(index: NightIndex, *, until: float) -> float | None:
    """The relaxation's optimum, or None when it could not be solved by ``until`` (a monotonic clock time)."""
    seconds = until - time.perf_counter()
    if seconds <= 0 or not index.problem.waiting:
        return None if index.problem.waiting else 0.0
    solver = pywraplp.Solver.CreateSolver("GLOP")
    placed: dict[str, list] = {}
    daily: dict[str, dict[int, list]] = {}
    energy: dict[tuple[str, int, int], list] = {}  # (role, resource, day) -> [(low, high, minutes, variable)]
    used_by_pinned: dict[tuple[str, int, int], list[tuple[int, int]]] = {}
    for number, info in enumerate(index.sessions.values()):
        if number % 50 == 0 and time.perf_counter() > until:
            return None  # building the programme alone would overrun the night's time limit
        if info.pinned:
            _pinned(index, info, used_by_pinned)
            continue
        placed[info.key], daily[info.key] = _session(index, solver, info, energy)
    for key, shares in placed.items():
        info = index.sessions[key]
        if info.booked is not None:
            if not shares:
                return None  # a booked session the relaxation cannot serve: the night is not as the model sees it
            add_row(solver, [(share, 1) for share in shares], 1, 1)
        elif shares:
            add_row(solver, [(share, 1) for share in shares], 0, 1)
    for rule in index.problem.spacings:
        _spacing(solver, rule, daily.get(rule.earlier, {}), daily.get(rule.later, {}))
    free = {("clinician", c.id): c.free for info in index.sessions.values() for c in info.kind.clinicians}
    free |= {("class", unit_class.ident): [] for unit_class in index.classes}
    for number, ((role, ident, day), shares) in enumerate(energy.items()):
        if number % 20 == 0 and time.perf_counter() > until:
            return None
        _energy(index, solver, shares, day, used_by_pinned.get((role, ident, day), []),
                _free_of(index, free, role, ident))
    objective = solver.Objective()
    for key, shares in placed.items():
        if index.sessions[key].waiting is not None:
            for share in shares:
                objective.SetCoefficient(share, index.sessions[key].priority)
    objective.SetMaximization()
    solver.SetTimeLimit(int(max(1, min(until - time.perf_counter(), 3600) * 1000)))
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    return solver.Objective().Value()


def add_row(solver, terms: list, low: float, high: float) -> None:
    """``low <= sum(coefficient * share) <= high``, written row by row (the natural API's sums are slow here)."""
    row = solver.Constraint(low, high)
    for share, coefficient in terms:
        row.SetCoefficient(share, row.GetCoefficient(share) + coefficient)


def _spacing(solver, rule, earlier: dict[int, list], later: dict[int, list]) -> None:
    """Placed on day d, the later session needs the earlier one on a day the rule allows before d."""
    least = max(rule.min_days or 0, ((rule.min_hours or 0) - 1) // 24)
    most = min(d for d in (rule.max_days, None if rule.max_hours is None else rule.max_hours // 24 + 1)
               if d is not None) if (rule.max_days, rule.max_hours) != (None, None) else None
    for day, shares in later.items():
        allowed = [share for other, others in earlier.items() for share in others
                   if day - other >= least and (most is None or day - other <= most)]
        add_row(solver, [(share, 1) for share in shares] + [(share, -1) for share in allowed], -solver.infinity(), 0)


def _session(index: NightIndex, solver, info: SessionInfo, energy: dict) -> tuple[list, dict[int, list]]:
    """The session's clinician shares (one per clinician and day); its class shares follow them day by day."""
    problem = index.problem
    shares, by_day = [], {}
    for ident, option in info.clinicians.items():
        for day, starts in _by_day(index, option.starts):
            share = solver.NumVar(0, 1, "")
            shares.append(share)
            by_day.setdefault(day, []).append(share)
            low, high = starts[0][0] - option.span_before, starts[-1][1] - 1 + option.span_after
            energy.setdefault(("clinician", ident, day), []).append(
                (low, high, option.span_before + option.span_after, share))
    for need, (count, options) in info.needs.items():
        for day, day_shares in by_day.items():
            class_shares = []
            for ident, option in options.items():
                starts = intersect(option.starts, _day(problem, day))
                if not starts:
                    continue
                share = solver.NumVar(0, min(count, index.classes[ident].size), "")  # units of this class
                class_shares.append(share)
                low, high = starts[0][0] - option.span_before, starts[-1][1] - 1 + option.span_after
                energy.setdefault(("class", ident, day), []).append(
                    (low, high, option.span_before + option.span_after, share))
            add_row(solver, [(share, 1) for share in class_shares] + [(share, -count) for share in day_shares], 0, 0)
    return shares, by_day


def _by_day(index: NightIndex, starts: Intervals) -> list[tuple[int, Intervals]]:
    if not starts:
        return []
    problem = index.problem
    days = range(problem.day_of(starts[0][0]), problem.day_of(starts[-1][1] - 1) + 1)
    return [(day, part) for day in days if (part := intersect(starts, _day(problem, day)))]


def _day(problem, day: int) -> Intervals:
    return [(problem.day_start(day), problem.day_start(day + 1))]


def _pinned(index: NightIndex, info: SessionInfo, used: dict) -> None:
    """A pinned session uses its clinician and classes whatever the relaxation does."""
    current, kind = info.booked.current, info.kind
    day = index.problem.day_of(current.start)
    used.setdefault(("clinician", current.clinician, day), []).append(blocked(kind, current.start))
    for role, unit in ([("room", current.room)] if current.room is not None else []) + [
            ("device", unit) for unit in current.devices]:
        if (role, unit) in index.class_of:
            cleaning = index.classes[index.class_of[role, unit]].cleaning
            used.setdefault(("class", index.class_of[role, unit], day), []).append(
                blocked(kind, current.start, cleaning))


def _energy(index: NightIndex, solver, shares: list, day: int, pinned: list, free: list[Intervals]) -> None:
    """For the whole day and each distinct window of the sessions' spans: their minutes fit in the free ones."""
    problem = index.problem
    whole = (problem.day_start(day) - 120, problem.day_start(day + 1) + 120)
    windows = sorted({(low, high) for low, high, minutes, _ in shares if high - low > minutes})  # sessions that may move
    if len(windows) > WINDOWS_PER_DAY - 1:  # spread over the day
        step = len(windows) / (WINDOWS_PER_DAY - 1)
        windows = [windows[int(number * step)] for number in range(WINDOWS_PER_DAY - 1)]
    windows = {whole, *windows}
    for low, high in windows:
        inside = [(share, minutes) for a, b, minutes, share in shares if low <= a and b <= high]
        if not inside:
            continue
        window = [(low, high)]
        minutes = sum(total(intersect(each, window)) for each in free)
        held = sum(total(intersect(intersect(each, window), [span])) for each in free for span in pinned)
        add_row(solver, inside, -solver.infinity(), minutes - held)


def _free_of(index: NightIndex, free: dict, role: str, ident: int) -> list[Intervals]:
    """The free time of a clinician, or of each unit of a class."""
    if role == "clinician":
        return [free[role, ident]]
    return [unit.free for unit in index.classes[ident].units]


def sooner_bound(index: NightIndex, points: int) -> float:
    """A lower bound on the days summed by the sooner level, given at least ``points`` priority points placed.

    Each waiting session placed costs at least its earliest possible day; which sessions make up the points is
    relaxed to a fractional choice (cheapest days per point first), so any answer with those points costs more.
    """
    waiting = [(index.problem.day_of(info.starts[0][0]) - index.first_day, info.priority)
               for info in index.sessions.values() if info.waiting is not None and info.starts and info.priority > 0]
    bound, needed = 0.0, points
    for days, priority in sorted(waiting, key=lambda w: w[0] / w[1]):
        if needed <= 0:
            break
        share = min(1.0, needed / priority)
        bound += share * max(days, 0)
        needed -= share * priority
    return bound
