"""The greedy placer: what a front desk working down the waiting list would do; the baseline and the warm start."""

import math
import time
from bisect import bisect_right, insort

from solver.intervals import Intervals, contains, intersect, normalize
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

    def first_clear(self, key: tuple, free: Intervals | None, start: int, before: int, after: int,
                    stop: float = math.inf) -> float:
        """The earliest start at or after ``start`` whose span ``[s - before, s + after)`` lies inside one interval
        of ``free`` (anywhere, when None) and meets none of ``key``'s spans; infinity if there is none. Every start
        it passes over fails one of the two, so a scan may jump to it without missing a place. Once past ``stop``
        it gives up and returns where it got to (a start that is not clear sooner, which is all a caller that has
        already found one at ``stop`` needs)."""
        spans = self.spans.get(key, [])
        while start < stop:
            if free is not None:
                at = bisect_right(free, (start - before, math.inf)) - 1
                if at < 0 or start + after > free[at][1]:
                    at += 1
                    while at < len(free) and free[at][1] - free[at][0] < before + after:
                        at += 1
                    if at == len(free):
                        return math.inf
                    start = max(start, free[at][0] + before)
            low, high = start - before, start + after
            at = bisect_right(spans, (low, high))
            if at > 0 and spans[at - 1][1] > low:
                start = spans[at - 1][1] + before
            elif at < len(spans) and spans[at][0] < high:
                start = spans[at][1] + before
            else:
                return start
        return start

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


def place_greedily(problem: NightProblem, start: tuple[Placement, ...] | None = None,
                   until: float = math.inf) -> tuple[Placement, ...]:
    """Place waiting sessions by priority, each at its earliest free time, around ``start`` (by default the booked
    sessions as they are: first fit, the baseline the search must beat; later the search's best answer, to fill
    what its pieces left over, stopping where it is at ``until``, a ``time.perf_counter()`` time)."""
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
    followers: dict[str, list[Spacing]] = {}
    for rule in problem.spacings:
        followers.setdefault(rule.earlier, []).append(rule)
    kinds = {w.key: w.kind for w in problem.waiting}
    for waiting in sorted(problem.waiting, key=lambda w: -w.priority):
        if waiting.key in placed:
            continue
        if time.perf_counter() > until:
            break
        rule = spacing.get(waiting.key)
        starts = waiting.starts
        if rule is not None:
            earlier = placed.get(rule.earlier)
            if earlier is None:
                continue
            starts = intersect(starts, spacing_window(problem, rule, earlier, kinds[rule.earlier]))
        starts = intersect(starts, _before_later(problem, waiting, followers.get(waiting.key, []), placed))
        placement = earliest(problem, book, waiting, starts, team_clinician.get(waiting.team))
        if placement is None:
            continue
        placed[waiting.key] = placement
        placements.append(placement)
        book.take_session(waiting.patient, waiting.kind, placement)
        if waiting.team is not None:
            team_clinician[waiting.team] = placement.clinician
    return tuple(placements)


def _before_later(problem: NightProblem, waiting: WaitingSession, followers: list[Spacing],
                  placed: dict[str, Placement]) -> Intervals:
    """The starts that keep every spacing rule (``followers``: those whose earlier session is ``waiting``) with an
    already placed later session (the search may leave one)."""
    starts: Intervals = [(-(10 ** 12), 10 ** 12)]
    for rule in followers:
        if rule.later in placed:
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
    """The first start in ``starts`` where a clinician (``clinician`` if given), a room and units are free.

    Where a start fails, the scan jumps to the first start at which the patient and every kind of resource could
    each be free again (``Book.first_clear``), not to the next grid minute: on a full fortnight on a 5-minute grid
    a session that fits nowhere would otherwise test thousands of starts (9 s for 1,700 waiting sessions)."""
    kind = waiting.kind
    clinicians = [c for c in kind.clinicians if clinician in (None, c.id)]
    needs = [("clinician", clinicians, 1, False)]
    if kind.needs_room:
        needs.append(("room", kind.rooms, 1, False))
    needs += [("device", pool.units, pool.count, True) for pool in kind.devices]

    def first_free(role: str, candidates, count: int, cleaning: bool, start: int) -> list[int]:
        chosen = []
        for candidate in candidates:
            span = blocked(kind, start, candidate.cleaning if cleaning else 0)
            if contains(candidate.free, *span) and book.free((role, candidate.id), *span):
                chosen.append(candidate.id)
                if len(chosen) == count:
                    break
        return chosen

    def ready(role: str, candidates, count: int, cleaning: bool, start: int) -> float:
        """The earliest start from ``start`` on at which ``count`` of the candidates could each be free."""
        clear: list[float] = []
        for candidate in candidates:
            if len(clear) >= count and clear[count - 1] == start:
                break
            insort(clear, book.first_clear(
                (role, candidate.id), candidate.free, start, kind.buffer_before,
                kind.duration + kind.buffer_after + (candidate.cleaning if cleaning else 0),
                stop=clear[count - 1] if len(clear) >= count else math.inf))
        return start if count == 0 else clear[count - 1] if len(clear) >= count else math.inf

    points = normalize(starts)
    start = _on_grid(problem, points, -math.inf)
    while start is not None:
        soonest = book.first_clear(("patient", waiting.patient), None, start, 0, kind.duration)
        for need in needs:  # the first need that fails here says how far to jump
            if soonest > start:
                break
            soonest = ready(*need, start)
        if soonest == start:
            who, *others = [first_free(*need, start) for need in needs]
            room = others.pop(0) if kind.needs_room else [None]
            return Placement(waiting.key, 0, start, who[0], room[0], tuple(sorted(u for us in others for u in us)))
        start = None if soonest == math.inf else _on_grid(problem, points, soonest)
    return None


def _on_grid(problem: NightProblem, starts: Intervals, minute: float) -> int | None:
    """The first grid minute in ``starts`` at or after ``minute``."""
    at = max(0, bisect_right(starts, (minute, math.inf)) - 1)
    for low, high in starts[at:]:
        first = low if minute <= low else math.ceil(minute)
        first += (-(first - problem.grid_origin)) % problem.grid
        if first < high:
            return first
    return None
