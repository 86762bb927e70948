"""The greedy placer: what a front desk working down the waiting list would do; the baseline and the warm start."""

from bisect import bisect_right, insort

from solver.intervals import Intervals, contains, grid_points, intersect, normalize
from solver.night_problem import DAY, NightProblem, Spacing, WaitingSession
from solver.plans import Placement, SessionKind, blocked


class Book:
    """Busy spans per resource and patient, sorted, to test a span against its neighbours."""

    def __init__(self):
        self.spans: dict[tuple, list[tuple[int, int]]] = {}

    def free(self, key: tuple, low: int, high: int) -> bool:
        spans = self.spans.get(key, [])
        at = bisect_right(spans, (low, high))
        return (at == 0 or spans[at - 1][1] <= low) and (at == len(spans) or spans[at][0] >= high)

    def take(self, key: tuple, low: int, high: int) -> None:
        insort(self.spans.setdefault(key, []), (low, high))

    def take_session(self, patient: int, kind: SessionKind, placement: Placement) -> None:
        self.take(("patient", patient), placement.start, placement.start + kind.duration)
        self.take(("clinician", placement.clinician), *blocked(kind, placement.start))
        if placement.room is not None:
            self.take(("room", placement.room), *blocked(kind, placement.start))
        cleaning = {unit.id: unit.cleaning for pool in kind.devices for unit in pool.units}
        for unit in placement.devices:
            self.take(("device", unit), *blocked(kind, placement.start, cleaning[unit]))


def place_greedily(problem: NightProblem, start: tuple[Placement, ...] | None = None) -> tuple[Placement, ...]:
    """Place waiting sessions by priority, each at its earliest free time, around ``start`` (by default the booked
    sessions as they are: first fit, the baseline the search must beat; later the search's best answer, to fill
    what its pieces left over)."""
    book = Book()
    placements = list(start if start is not None else (s.current for s in problem.booked))
    placed: dict[str, Placement] = {p.kind: p for p in placements}
    sessions = {str(s.id): (s.patient, s.kind) for s in problem.booked}
    sessions |= {w.key: (w.patient, w.kind) for w in problem.waiting}
    for placement in placements:
        book.take_session(*sessions[placement.kind], placement)
    team_clinician = {w.team: placed[w.key].clinician for w in problem.waiting
                      if w.team is not None and w.key in placed}
    spacing = {rule.later: rule for rule in problem.spacings}
    kinds = {w.key: w.kind for w in problem.waiting}
    for waiting in sorted(problem.waiting, key=lambda w: -w.priority):
        if waiting.key in placed:
            continue
        rule = spacing.get(waiting.key)
        starts = waiting.starts
        if rule is not None:
            earlier = placed.get(rule.earlier)
            if earlier is None:
                continue
            starts = intersect(starts, spacing_window(problem, rule, earlier, kinds[rule.earlier]))
        starts = intersect(starts, _before_later(problem, waiting, placed, kinds))
        placement = earliest(problem, book, waiting, starts, team_clinician.get(waiting.team))
        if placement is None:
            continue
        placed[waiting.key] = placement
        placements.append(placement)
        book.take_session(waiting.patient, waiting.kind, placement)
        if waiting.team is not None:
            team_clinician[waiting.team] = placement.clinician
    return tuple(placements)


def _before_later(problem: NightProblem, waiting: WaitingSession, placed: dict[str, Placement],
                  kinds: dict[str, SessionKind]) -> Intervals:
    """The starts that keep every spacing rule with an already placed later session (the search may leave one)."""
    starts: Intervals = [(-(10 ** 12), 10 ** 12)]
    for rule in problem.spacings:
        if rule.earlier == waiting.key and rule.later in placed:
            starts = intersect(starts, earlier_window(problem, rule, placed[rule.later], waiting.kind))
    return starts


def earlier_window(problem: NightProblem, rule: Spacing, later: Placement, kind: SessionKind) -> Intervals:
    """The starts ``rule`` leaves for its earlier session (of ``kind``) once the later one is placed."""
    day = problem.day_of(later.start)
    low, high = later.start - 400 * DAY, later.start - kind.duration + 1
    if rule.max_days is not None:
        low = max(low, problem.day_start(day - rule.max_days))
    if rule.min_days is not None:
        high = min(high, problem.day_start(day - rule.min_days + 1))
    if rule.max_hours is not None:
        low = max(low, later.start - 60 * rule.max_hours)
    if rule.min_hours is not None:
        high = min(high, later.start - 60 * rule.min_hours + 1)
    return [(low, high)] if low < high else []


def spacing_window(problem: NightProblem, rule: Spacing, earlier: Placement, kind: SessionKind) -> Intervals:
    """The starts ``rule`` leaves for its later session once the earlier one is placed."""
    day = problem.day_of(earlier.start)
    low = max(earlier.start + kind.duration, problem.day_start(day + (rule.min_days or 0)),
              earlier.start + 60 * (rule.min_hours or 0))
    high = earlier.start + 400 * DAY
    if rule.max_days is not None:
        high = min(high, problem.day_start(day + rule.max_days + 1))
    if rule.max_hours is not None:
        high = min(high, earlier.start + 60 * rule.max_hours + 1)
    return [(low, high)] if low < high else []


def earliest(problem: NightProblem, book: Book, waiting: WaitingSession, starts: Intervals,
             clinician: int | None) -> Placement | None:
    """The first start in ``starts`` where a clinician (``clinician`` if given), a room and units are free."""
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
