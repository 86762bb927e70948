"""The night as a compact CP-SAT model, for all its sessions or for a neighbourhood of them.

Per free session: a presence literal (booked sessions are always present), a
start on the grid, one literal per eligible clinician (not per day) and one
per unit class for each room or device need (``night_index``). Per clinician
a NoOverlap; per unit class a Cumulative of its size (a NoOverlap where it
has one unit) that also holds each unit's own down time as fixed blocks;
per patient a NoOverlap. Sessions outside the neighbourhood are constants:
their spans enter the same constraints as fixed intervals; their part of the
first two levels is a constant left out, while the quality level counts it,
so that level's value and bound are the whole night's.

One model optimizes one level of the lexicographic objective (``LEVELS``):

* ``placed``: the priority points of the waiting sessions placed (maximized);
* ``sooner``: with the points held at least at their best value, the days
  from the night's first day to each placed waiting session (minimized): the
  earlier day wins when all else is equal;
* ``quality``: with which sessions are placed and on which day held as they
  are, the weighted sum of ``night_check.QUALITY_WEIGHTS`` (minimized).
  Holding the days (not only the two values) keeps the span of a
  clinician's day linear; times within the day, clinicians and rooms stay
  free.
"""

from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from solver.intervals import Intervals, intersect
from solver.night_check import QUALITY_WEIGHTS
from solver.night_greedy import earlier_window, spacing_window
from solver.local_day import local_day
from solver.night_index import Need, NightIndex, SessionInfo
from solver.night_problem import DAY
from solver.plans import Placement, blocked

LEVELS = ("placed", "sooner", "quality")


@dataclass
class Choice:
    """What the model decided for one session: the unit classes are turned into units by ``night_units``."""

    key: str
    start: int
    clinician: int
    classes: dict[Need, dict[int, int]]
    """need -> unit class -> how many of its units."""


@dataclass
class _Item:
    info: SessionInfo
    present: object
    step: object = None
    start: object = 0
    day: object = None
    day_cases: dict[int, object] = field(default_factory=dict)
    late: object = None
    first_step: int = 0
    clinicians: dict[int, object] = field(default_factory=dict)
    classes: dict[Need, dict[int, object]] = field(default_factory=dict)
    units: dict[Need, dict[int, object]] = field(default_factory=dict)
    moved: object = None
    last_day: int = 0


class NightModel:
    """One level's model over the sessions in ``free``; ``fixed`` are the placements of every other placed one."""

    def __init__(self, index: NightIndex, free: set[str], fixed: dict[str, Placement], level: str, *,
                 floor: int = 0, days: dict[str, int] | None = None, within: tuple[int, int] | None = None,
                 held: dict[str, int] | None = None):
        """``floor``: the free sessions' least priority points (levels after the first); ``days``: the day of each
        free waiting session placed (the quality level; a free waiting session missing from it stays waiting);
        ``within``: the only starts a neighbourhood's sessions may take, which keeps its model small; ``held``:
        free sessions' starts kept as they are, so only who serves them is chosen (a hand-over neighbourhood)."""
        self.index, self.problem, self.level = index, index.problem, level
        self.fixed, self.days, self.within, self.held = fixed, days, within, held or {}
        self.model = cp_model.CpModel()
        self.items: dict[str, _Item] = {}
        self.team_choices: list[tuple[list[_Item], dict[int, object]]] = []
        self.seen: dict[tuple, object] = {}
        self.firsts: dict[tuple[int, int], tuple] = {}
        self.busiest = None
        self.window = self._window(free)
        for key in sorted(free):
            self._item(index.sessions[key])
        self._resources()
        self._spacings()
        self._teams()
        self._objective(floor)

    # --- sessions ----------------------------------------------------------------------

    def _window(self, free: set[str]) -> tuple[int, int]:
        """The time the free sessions can reach, with a day either side for buffers and fixed neighbours."""
        if self.within is not None:
            return self.within[0] - DAY, self.within[1] + DAY
        starts = [self.index.sessions[key].starts for key in free]
        low = min((s[0][0] for s in starts if s), default=0)
        high = max((s[-1][1] for s in starts if s), default=0)
        return low - DAY, high + DAY

    def _domain(self, starts: Intervals) -> cp_model.Domain:
        grid, origin, ranges = self.problem.grid, self.problem.grid_origin, []
        for low, high in starts:
            first, last = -(-(low - origin) // grid), (high - 1 - origin) // grid
            if first <= last:
                ranges.append([first, last])
        return cp_model.Domain.FromIntervals(ranges)

    def _item(self, info: SessionInfo) -> None:
        model, key = self.model, info.key
        starts = self._allowed(info)
        domain = self._domain(starts)
        present = model.NewConstant(1) if info.booked is not None else model.NewBoolVar(f"placed {key}")
        item = _Item(info, present)
        self.items[key] = item
        if domain.is_empty() or (info.waiting is not None and self.days is not None and key not in self.days):
            model.Add(present == 0)
            return
        item.step = model.NewIntVarFromDomain(domain, f"step {key}")
        item.first_step = domain.min()
        item.start = self.problem.grid_origin + self.problem.grid * item.step
        item.clinicians = self._choose(item, {c: o for c, o in info.clinicians.items()}, starts, 1, "clinician")
        for need, (count, options) in info.needs.items():
            item.classes[need] = self._choose(item, options, starts, 1 if count == 1 else None, need)
            item.units[need] = self._units(item, need, count)
        if info.waiting is not None:
            item.day, item.day_cases = local_day(model, self.problem, item.start, item.step, starts, self._domain,
                                                 f"day {key}")
            item.last_day = self.problem.day_of(starts[-1][1] - 1)
        if info.booked is not None and domain.size() > 1:
            item.moved = model.NewBoolVar(f"{key} moved")
            current = (info.booked.start - self.problem.grid_origin) // self.problem.grid
            model.Add(item.step == current).OnlyEnforceIf(item.moved.Not())
            model.Add(item.step != current).OnlyEnforceIf(item.moved)

    def _allowed(self, info: SessionInfo) -> Intervals:
        """The session's starts, narrowed by the day held (quality level) and by fixed neighbours' spacing."""
        starts = info.starts
        if self.within is not None:
            starts = intersect(starts, [self.within])
        if self.days is not None and info.waiting is not None and info.key in self.days:
            day = self.days[info.key]
            starts = intersect(starts, [(self.problem.day_start(day), self.problem.day_start(day + 1))])
        if info.key in self.held:
            starts = intersect(starts, [(self.held[info.key], self.held[info.key] + 1)])
        rule = self.index.spacing_before.get(info.key)
        if rule is not None and rule.earlier in self.fixed:
            earlier = self.index.sessions[rule.earlier]
            starts = intersect(starts, spacing_window(self.problem, rule, self.fixed[rule.earlier], earlier.kind))
        for rule in self.index.spacing_after.get(info.key, []):
            if rule.later in self.fixed:
                starts = intersect(starts, earlier_window(self.problem, rule, self.fixed[rule.later], info.kind))
        return starts

    def _choose(self, item: _Item, options: dict, starts: Intervals, count: int | None, need) -> dict[int, object]:
        """One literal per option, each tying the start to its times; ``count`` of them chosen when the session is
        present (None: as many as ``_units`` needs)."""
        literals = {}
        for target, option in options.items():
            fit = intersect(starts, option.starts)
            if not fit:
                continue
            literal = self.model.NewBoolVar(f"{item.info.key} {need} {target}")
            if fit != starts:
                self.model.AddLinearExpressionInDomain(item.step, self._domain(fit)).OnlyEnforceIf(literal)
            literals[target] = literal
        if count is not None:
            self.model.Add(sum(literals.values()) == count * item.present)
        return literals

    def _units(self, item: _Item, need, count: int) -> dict[int, object]:
        """How many units each chosen class gives: one where one unit is needed, else from several classes (two
        laser units of different cleaning times are two classes)."""
        literals = item.classes[need]
        if count == 1:
            return dict(literals)
        units = {}
        for ident, literal in literals.items():
            most = min(count, self.index.classes[ident].size)
            amount = units[ident] = self.model.NewIntVar(0, most, "")
            self.model.Add(amount >= 1).OnlyEnforceIf(literal)
            self.model.Add(amount == 0).OnlyEnforceIf(literal.Not())
        self.model.Add(sum(units.values()) == count * item.present)
        return units

    # --- resources -----------------------------------------------------------------------

    def _resources(self) -> None:
        clinicians: dict[int, list] = {}
        classes: dict[int, tuple[list, list]] = {}
        patients: dict[int, list] = {}
        for item in self.items.values():
            if item.step is None:
                continue
            info = item.info
            kind = info.kind
            for ident, literal in item.clinicians.items():
                option = info.clinicians[ident]
                clinicians.setdefault(ident, []).append(self._interval(item, option, literal))
            for need, literals in item.classes.items():
                _, options = info.needs[need]
                for ident, literal in literals.items():
                    intervals, demands = classes.setdefault(ident, ([], []))
                    intervals.append(self._interval(item, options[ident], literal))
                    demands.append(item.units[need][ident])
            patients.setdefault(info.patient, []).append(
                self.model.NewOptionalFixedSizeIntervalVar(item.start, kind.duration, item.present, ""))
        self._fixed_spans(clinicians, classes, patients)
        for intervals in clinicians.values():
            self.model.AddNoOverlap(intervals)
        for intervals in patients.values():
            if len(intervals) > 1:
                self.model.AddNoOverlap(intervals)
        for ident, (intervals, demands) in classes.items():
            unit_class = self.index.classes[ident]
            for low, high in self._clip(self.index.class_blocks(unit_class)):
                intervals.append(self.model.NewIntervalVar(low, high - low, high, ""))
                demands.append(1)
            if unit_class.size == 1:
                self.model.AddNoOverlap(intervals)
            else:
                self.model.AddCumulative(intervals, demands, unit_class.size)

    def _interval(self, item: _Item, option, literal):
        return self.model.NewOptionalFixedSizeIntervalVar(item.start - option.span_before,
                                                          option.span_before + option.span_after, literal, "")

    def _clip(self, spans) -> list[tuple[int, int]]:
        low, high = self.window
        return [(max(a, low), min(b, high)) for a, b in spans if b > low and a < high]

    def _fixed_spans(self, clinicians: dict, classes: dict, patients: dict) -> None:
        """Sessions outside the neighbourhood, where they meet its resources, as fixed intervals."""
        low, high = self.window
        for key, placement in self.fixed.items():
            if key in self.items or placement.start >= high or placement.start < low:
                continue
            info = self.index.sessions[key]
            kind = info.kind
            if placement.clinician in clinicians:
                clinicians[placement.clinician].append(self._constant(*blocked(kind, placement.start)))
            if info.patient in patients:
                patients[info.patient].append(self._constant(placement.start, placement.start + kind.duration))
            units = [("room", placement.room)] if placement.room is not None else []
            units += [("device", unit) for unit in placement.devices]
            for role, unit in units:
                ident = self.index.class_of.get((role, unit))
                if ident in classes:
                    cleaning = self.index.classes[ident].cleaning
                    classes[ident][0].append(self._constant(*blocked(kind, placement.start, cleaning)))
                    classes[ident][1].append(1)

    def _constant(self, low: int, high: int):
        return self.model.NewIntervalVar(low, high - low, high, "")

    # --- plan rules --------------------------------------------------------------------

    def _spacings(self) -> None:
        model = self.model
        for rule in self.problem.spacings:
            later, earlier = self.items.get(rule.later), self.items.get(rule.earlier)
            if later is not None and earlier is None and rule.earlier not in self.fixed:
                model.Add(later.present == 0)  # its earlier session waits and stays waiting
            if earlier is not None and later is None and rule.later in self.fixed:
                model.Add(earlier.present == 1)
            if later is None or earlier is None or later.step is None:
                continue
            model.AddImplication(later.present, earlier.present)
            if earlier.step is None:
                continue
            when = later.present
            model.Add(later.start >= earlier.start + earlier.info.kind.duration).OnlyEnforceIf(when)
            if rule.min_days is not None:
                model.Add(later.day - earlier.day >= rule.min_days).OnlyEnforceIf(when)
            if rule.max_days is not None:
                model.Add(later.day - earlier.day <= rule.max_days).OnlyEnforceIf(when)
            if rule.min_hours is not None:
                model.Add(later.start - earlier.start >= 60 * rule.min_hours).OnlyEnforceIf(when)
            if rule.max_hours is not None:
                model.Add(later.start - earlier.start <= 60 * rule.max_hours).OnlyEnforceIf(when)

    def _teams(self) -> None:
        for members in self.index.teams.values():
            free = [self.items[key] for key in members if key in self.items]
            if not free:
                continue
            held = {self.fixed[key].clinician for key in members if key in self.fixed}
            if held:
                for item in free:
                    for ident, literal in item.clinicians.items():
                        if ident not in held:
                            self.model.Add(literal == 0)
                continue
            chosen: dict[int, object] = {}
            for item in free:
                for ident, literal in item.clinicians.items():
                    if ident not in chosen:
                        chosen[ident] = self.model.NewBoolVar("")
                    self.model.AddImplication(literal, chosen[ident])
            self.model.AddAtMostOne(chosen.values())
            self.team_choices.append((free, chosen))

    # --- the level's objective ---------------------------------------------------------------

    def _objective(self, floor: int) -> None:
        waiting = [item for item in self.items.values() if item.info.waiting is not None]
        self.points = sum(item.info.priority * item.present for item in waiting)
        if self.level == "placed":
            self.value = self.points
            self.model.Maximize(self.points)
            return
        self.model.Add(self.points >= floor)
        if self.level == "sooner":
            terms = []
            for item in waiting:
                if item.day is None:
                    continue
                late = item.late = self.model.NewIntVar(0, max(0, item.last_day - self.index.first_day), "")
                self.model.Add(late == item.day - self.index.first_day).OnlyEnforceIf(item.present)
                self.model.Add(late == 0).OnlyEnforceIf(item.present.Not())
                terms.append(late)
            self.value = sum(terms)
            self.model.Minimize(self.value)
            return
        self.value = self._quality()
        self.model.Minimize(self.value)

    def _quality(self):
        """The quality level of the whole night: the fixed sessions' part is counted too, as constants, so the
        model's value and bound are the night's (with a class change standing for a unit change)."""
        model, problem = self.model, self.problem
        seen_before, loads, spans, fixed_minutes = set(), {}, {}, {}
        constant = 0
        for key, placement in self.fixed.items():
            if key in self.items:
                continue
            info = self.index.sessions[key]
            seen_before.add((info.patient, info.kind.key, placement.clinician))
            loads[placement.clinician] = loads.get(placement.clinician, 0) + info.kind.duration
            low, high = blocked(info.kind, placement.start)
            day = (placement.clinician, problem.day_of(placement.start))
            fixed_minutes[day] = fixed_minutes.get(day, 0) + high - low
            known = spans.get(day, (low, high))
            spans[day] = (min(known[0], low), max(known[1], high))
            if info.booked is not None:
                current = info.booked.current
                constant += QUALITY_WEIGHTS["moved_session"] * (placement.start != current.start)
                constant += QUALITY_WEIGHTS["changed_resource"] * (
                    (placement.clinician != current.clinician) + (placement.room != current.room)
                    + len(set(placement.devices) - set(current.devices)))
        constant += QUALITY_WEIGHTS["extra_clinician_for_a_patient"] * len(seen_before)
        self.fixed_loads = loads
        seen = self.seen
        work: dict[int, list] = {}
        busy: dict[tuple[int, int], list] = {}
        firsts = self.firsts
        changes, moves = [], []
        for item in self.items.values():
            if item.step is None:
                continue
            info = item.info
            day = self._quality_day(item)
            low_offset, high_offset = blocked(info.kind, 0)
            for ident, literal in item.clinicians.items():
                key = (info.patient, info.kind.key, ident)
                if key not in seen_before:
                    if key not in seen:
                        seen[key] = model.NewBoolVar("")
                    model.AddImplication(literal, seen[key])
                work.setdefault(ident, []).append(info.kind.duration * literal)
                first, last = self._day_span(firsts, spans, ident, day)
                model.Add(first <= item.start + low_offset).OnlyEnforceIf(literal)
                model.Add(last >= item.start + high_offset).OnlyEnforceIf(literal)
                busy.setdefault((ident, day), []).append((high_offset - low_offset) * literal)
            if info.booked is not None:
                current = info.booked.current
                changes += [literal for ident, literal in item.clinicians.items() if ident != current.clinician]
                now = self.index.classes_used(current)
                changes += [literal for literals in item.classes.values() for ident, literal in literals.items()
                            if ident not in now]
                if item.moved is not None:
                    moves.append(item.moved)
        busiest = self.busiest = model.NewIntVar(max(loads.values(), default=0), sum(
            i.info.kind.duration for i in self.items.values()) + max(loads.values(), default=0), "busiest")
        for ident, terms in work.items():
            model.Add(busiest >= loads.get(ident, 0) + sum(terms))
        for (ident, day), minutes in busy.items():  # redundant, for the bound: a day spans at least its work
            first, last = firsts[ident, day]
            model.Add(last - first >= fixed_minutes.get((ident, day), 0) + sum(minutes))
        weights = QUALITY_WEIGHTS
        untouched = sum(high - low for day, (low, high) in spans.items() if day not in firsts)
        return (constant + weights["clinician_day_span_minute"] * untouched + weights["extra_clinician_for_a_patient"] * sum(seen.values())
                + weights["busiest_clinician_minute"] * busiest
                + weights["clinician_day_span_minute"] * sum(last - first for first, last in firsts.values())
                + weights["moved_session"] * sum(moves) + weights["changed_resource"] * sum(changes))

    def _day_span(self, firsts: dict, spans: dict, clinician: int, day: int) -> tuple:
        """The first and last minute ``clinician`` is busy on ``day``, fixed sessions' spans included."""
        if (clinician, day) not in firsts:
            low = self.problem.day_start(day) - DAY
            first = self.model.NewIntVar(low, low + 3 * DAY, "")
            last = self.model.NewIntVar(low, low + 3 * DAY, "")
            self.model.Add(first <= last)
            if (clinician, day) in spans:
                known_low, known_high = spans[clinician, day]
                self.model.Add(first <= known_low)
                self.model.Add(last >= known_high)
            firsts[clinician, day] = (first, last)
        return firsts[clinician, day]

    # --- hints and answers -------------------------------------------------------------------

    def _quality_day(self, item: _Item) -> int:
        """The day a free session's minutes count for in the quality level: its booked day, or the day held."""
        info = item.info
        return self.problem.day_of(info.booked.start) if info.booked is not None else self.days[info.key]

    def hint(self, placements: dict[str, Placement]) -> None:
        """Every variable's value in ``placements`` (the best answer so far). A complete hint is an answer CP-SAT
        checks at once; an incomplete one (days, team choices, the quality level's spans were once left out) has
        to be completed by search first, and pieces of 2 s were seen ending with no answer at all."""
        model, problem = self.model, self.problem
        present: dict[str, Placement] = {}
        for key, item in self.items.items():
            placement = placements.get(key) if item.step is not None else None
            if item.info.waiting is not None:
                model.AddHint(item.present, placement is not None)
            if item.step is None:
                continue
            if placement is not None:
                present[key] = placement
            step = (placement.start - problem.grid_origin) // problem.grid if placement else item.first_step
            model.AddHint(item.step, step)
            used = self.index.classes_used(placement) if placement else {}
            for ident, literal in item.clinicians.items():
                model.AddHint(literal, placement is not None and ident == placement.clinician)
            for need, literals in item.classes.items():
                for ident, literal in literals.items():
                    model.AddHint(literal, ident in used)
                    amount = item.units[need][ident]
                    if amount is not literal:
                        model.AddHint(amount, used.get(ident, 0))
            if item.moved is not None:
                model.AddHint(item.moved, placement.start != item.info.booked.start)
            if item.day is not None:
                day = problem.day_of(problem.grid_origin + problem.grid * step)
                model.AddHint(item.day, day)
                for number, case in item.day_cases.items():
                    model.AddHint(case, number == day)
                if item.late is not None:
                    model.AddHint(item.late, day - self.index.first_day if placement else 0)
        for members, chosen in self.team_choices:
            serving = {present[item.info.key].clinician for item in members if item.info.key in present}
            for ident, literal in chosen.items():
                model.AddHint(literal, ident in serving)
        if self.busiest is not None:
            self._hint_quality(present)

    def _hint_quality(self, present: dict[str, Placement]) -> None:
        """The quality level's own variables for the free sessions ``present``, with the fixed ones' spans."""
        model, problem = self.model, self.problem
        served = {(self.items[key].info.patient, self.items[key].info.kind.key, p.clinician)
                  for key, p in present.items()}
        for key, literal in self.seen.items():
            model.AddHint(literal, key in served)
        loads = dict(self.fixed_loads)
        spans: dict[tuple[int, int], tuple[int, int]] = {}

        def cover(clinician: int, day: int, kind, start: int) -> None:
            low, high = blocked(kind, start)
            known = spans.get((clinician, day), (low, high))
            spans[clinician, day] = (min(known[0], low), max(known[1], high))

        for key, placement in self.fixed.items():
            if key not in self.items:
                cover(placement.clinician, problem.day_of(placement.start), self.index.sessions[key].kind,
                      placement.start)
        for key, placement in present.items():
            item = self.items[key]
            loads[placement.clinician] = loads.get(placement.clinician, 0) + item.info.kind.duration
            cover(placement.clinician, self._quality_day(item), item.info.kind, placement.start)
        for (clinician, day), (first, last) in self.firsts.items():
            low = problem.day_start(day) - DAY
            earliest, latest = spans.get((clinician, day), (low, low))
            model.AddHint(first, earliest)
            model.AddHint(last, latest)
        model.AddHint(self.busiest, max(loads.values(), default=0))

    def choices(self, solver: cp_model.CpSolver) -> list[Choice]:
        result = []
        for key, item in self.items.items():
            if item.step is None or not solver.BooleanValue(item.present):
                continue
            clinician = next(ident for ident, literal in item.clinicians.items() if solver.BooleanValue(literal))
            classes = {need: {ident: solver.Value(amount) for ident, amount in item.units[need].items()
                              if solver.Value(amount) > 0} for need in item.classes}
            result.append(Choice(key, solver.Value(item.start), clinician, classes))
        return result
