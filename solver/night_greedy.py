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


def place_greedily(problem: NightProblem) -> tuple[Placement, ...]:
    """Keep every booked session as it is; place waiting ones by priority, each at its earliest free time.

    The CP-SAT search starts from this answer and never returns a worse one.
    """
    book = Book()
    placements = [s.current for s in problem.booked]
    for session in problem.booked:
        book.take_session(session.patient, session.kind, session.current)
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
            starts = intersect(starts, spacing_window(problem, rule, earlier, kinds[rule.earlier]))
        placement = earliest(problem, book, waiting, starts, team_clinician.get(waiting.team))
        if placement is None:
            continue
        placed[waiting.key] = placement
        placements.append(placement)
        book.take_session(waiting.patient, waiting.kind, placement)
        if waiting.team is not None:
            team_clinician[waiting.team] = placement.clinician
    return tuple(placements)


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
