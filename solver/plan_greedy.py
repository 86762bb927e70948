"""First-fit placement of a treatment plan: the baseline a peer booking system would give.

Each session in turn goes to the earliest slot that keeps every rule given
the sessions already placed; nothing placed is ever moved. This is what the
CP-SAT model must beat, its warm start, and its fallback when time runs out,
so its one promise is that whatever it returns passes ``plan_check.check``.

The start sets are computed with interval arithmetic (free windows minus what
this plan already holds, fitted to each span), so the cost follows the number
of free windows, not the number of minutes in the horizon.
"""

from solver.intervals import (
    Interval,
    Intervals,
    at_least,
    contains,
    grid_points,
    intersect,
    normalize,
    starts_fitting,
    subtract,
    union,
)
from solver.plans import (
    Candidate,
    DevicePool,
    PlanProblem,
    PlanSolution,
    Placement,
    SameClinician,
    SessionKind,
    blocked,
)


def place_greedily(problem: PlanProblem) -> PlanSolution:
    """Place the plan kind by kind (those that must come first, first), each session as early as it fits.

    A session that does not fit ends its kind: the later ones would be out of
    order. A same-visit follower is placed straight after its leader, before
    the leader's next session takes the time.
    """
    placer = _Placer(problem)
    for kind in _kind_order(problem):
        for index in range(kind.count):
            if (kind.key, index) not in placer.placed and not placer.place_with_followers(kind, index):
                break
    return PlanSolution(tuple(placer.placed.values()), status="greedy")


def _kind_order(problem: PlanProblem) -> list[SessionKind]:
    """The plan's kinds with every Before and SameVisit leader ahead of its follower; a cycle keeps plan order."""
    keys = {kind.key for kind in problem.kinds}
    leaders = {kind.key: set() for kind in problem.kinds}
    for link in (*problem.befores, *problem.same_visits):
        if link.then in keys and link.first in keys and link.first != link.then:
            leaders[link.then].add(link.first)
    order: list[SessionKind] = []
    waiting = list(problem.kinds)
    while waiting:
        done = {kind.key for kind in order}
        ready = next((kind for kind in waiting if leaders[kind.key] <= done), waiting[0])
        order.append(ready)
        waiting.remove(ready)
    return order


class _Placer:
    """The placements so far and what they hold: the patient's time and each clinician, room and unit."""

    def __init__(self, problem: PlanProblem):
        self.problem = problem
        self.placed: dict[tuple[str, int], Placement] = {}
        self.patient_busy: list[Interval] = []
        self.held: dict[tuple[str, int], list[Interval]] = {}
        self.kinds = {kind.key: kind for kind in problem.kinds}
        self.allowed = normalize(self.problem.allowed)
        self.patient_free = normalize(self.problem.patient_free)

    def place_with_followers(self, kind: SessionKind, index: int) -> bool:
        """Place a session and, at once, the same-visit sessions that must start when it ends.

        Done before anything else is placed, so that the leader's next
        session cannot take the minutes right after it.
        """
        if not self._place(kind, index):
            return False
        for link in self.problem.same_visits:
            follower = self.kinds.get(link.then)
            if link.first != kind.key or follower is None or index >= follower.count:
                continue
            if (follower.key, index) not in self.placed:
                self.place_with_followers(follower, index)
        return True

    def _place(self, kind: SessionKind, index: int) -> bool:
        """Book the earliest start with a free clinician, room and units; False if there is none."""
        common = self._session_starts(kind, index)
        rooms: list[tuple[Candidate, Intervals]] = []
        if kind.needs_room:
            rooms = [(room, self._free_starts("room", room, kind)) for room in sorted(kind.rooms, key=_by_id)]
            common = intersect(common, union(*(starts for _, starts in rooms)))
        pools = []
        for pool in kind.devices:
            candidates = [(u, self._free_starts("device", u, kind, u.cleaning)) for u in _own_units(kind, pool)]
            if pool.count > 0:
                common = intersect(common, at_least([starts for _, starts in candidates], pool.count))
            pools.append((pool.count, candidates))
        if not common:
            return False

        choice = None
        for clinician in self._clinicians(kind, index):
            starts = intersect(common, self._free_starts("clinician", clinician, kind))
            start = next(grid_points(starts, self.problem.grid, self.problem.grid_origin), None)
            if start is not None and (choice is None or start < choice[0]):
                choice = (start, clinician)
        if choice is None:
            return False
        start, clinician = choice

        room = next((room for room, starts in rooms if _at(starts, start)), None)
        units = []
        for count, candidates in pools:
            units += [unit for unit, starts in candidates if _at(starts, start)][:count]
        self._hold(kind, index, start, clinician, room, units)
        return True

    def _session_starts(self, kind: SessionKind, index: int) -> Intervals:
        """Starts the plan, the patient and the sessions already placed allow, before looking at staff and rooms."""
        patient_free = subtract(self.patient_free, normalize(self.patient_busy))
        starts = intersect(
            starts_fitting(self.allowed, 0, kind.duration), starts_fitting(patient_free, 0, kind.duration))
        lows: list[int] = []
        highs: list[int] = []
        if index > 0:
            previous = self.placed.get((kind.key, index - 1))
            if previous is None:
                return []
            lows.append(previous.start + kind.duration)
            spacing = spacing_bounds(self.problem, kind, previous)
            if spacing is None:
                return []
            lows += spacing[0]
            highs += spacing[1]
        for link in self.problem.same_visits:
            leader_kind = self.kinds.get(link.first)
            if link.then != kind.key or leader_kind is None or index >= min(leader_kind.count, kind.count):
                continue
            leader = self.placed.get((leader_kind.key, index))
            if leader is None:
                return []
            lows.append(leader.start + leader_kind.duration)
            highs.append(leader.start + leader_kind.duration + 1)
        for link in self.problem.befores:
            first = self.kinds.get(link.first)
            if link.then != kind.key or first is None:
                continue
            leaders = [self.placed.get((first.key, i)) for i in range(first.count)]
            if None in leaders:
                return []
            lows += [leader.start + first.duration for leader in leaders]
        return _between(starts, lows, highs)

    def _clinicians(self, kind: SessionKind, index: int) -> list[Candidate]:
        """Who may give the session, best first: the kind's usual clinician, the patient's last one, lowest id."""
        previous = self.placed.get((kind.key, index - 1))
        usual = previous.clinician if previous and kind.same_clinician != SameClinician.NONE else None
        if usual is not None and kind.same_clinician == SameClinician.REQUIRED:
            return [c for c in kind.clinicians if c.id == usual]
        return sorted(kind.clinicians, key=lambda c: (c.id != usual, c.id != self.problem.last_clinician, c.id))

    def _free_starts(self, role: str, candidate: Candidate, kind: SessionKind, cleaning: int = 0) -> Intervals:
        """Starts at which ``candidate`` is free for the whole blocked span, around what this plan already holds."""
        free = subtract(normalize(candidate.free), normalize(self.held.get((role, candidate.id), [])))
        span_start, span_end = blocked(kind, 0, cleaning)
        return starts_fitting(free, -span_start, span_end)

    def _hold(self, kind: SessionKind, index: int, start: int, clinician: Candidate, room: Candidate | None,
              units: list[Candidate]):
        self.placed[kind.key, index] = Placement(
            kind.key, index, start, clinician.id, room.id if room else None, tuple(unit.id for unit in units))
        self.patient_busy.append((start, start + kind.duration))
        self.held.setdefault(("clinician", clinician.id), []).append(blocked(kind, start))
        if room is not None:
            self.held.setdefault(("room", room.id), []).append(blocked(kind, start))
        for unit in units:
            self.held.setdefault(("device", unit.id), []).append(blocked(kind, start, unit.cleaning))


def spacing_bounds(problem: PlanProblem, kind: SessionKind,
                   previous: Placement) -> tuple[list[int], list[int]] | None:
    """The minutes the next start may not precede (lows) and must precede (highs), after ``previous``.

    Days count local calendar days, hours the elapsed time between the
    two starts; each rule given adds its bound. None when no calendar day
    of the horizon is the right number of days away.
    """
    day_starts = problem.day_starts
    day = problem.day_of(previous.start)
    lows, highs = [], []
    if kind.min_gap_hours is not None:
        lows.append(previous.start + 60 * kind.min_gap_hours)
    if kind.max_gap_hours is not None:
        highs.append(previous.start + 60 * kind.max_gap_hours + 1)
    if kind.min_gap_days is not None:
        first_day = day + kind.min_gap_days
        if first_day > 0:
            if first_day >= len(day_starts):
                return None
            lows.append(day_starts[first_day])
    if kind.max_gap_days is not None:
        last_day = day + kind.max_gap_days
        if last_day < 0:
            return None
        if last_day + 1 < len(day_starts):
            highs.append(day_starts[last_day + 1])
    return lows, highs


def _between(starts: Intervals, lows: list[int], highs: list[int]) -> Intervals:
    """The starts no earlier than every low and before every high."""
    if not starts:
        return []
    low, high = max(lows, default=starts[0][0]), min(highs, default=starts[-1][1])
    return intersect(starts, [(low, high)]) if low < high else []


def _own_units(kind: SessionKind, pool: DevicePool) -> list[Candidate]:
    """The pool's units, lowest id first, leaving out any unit another pool of the kind also lists.

    A unit listed by two pools would count towards both, so a session could
    not be given exactly each pool's count; such units are not used at all.
    """
    elsewhere = {unit.id for other in kind.devices if other is not pool for unit in other.units}
    return sorted((unit for unit in pool.units if unit.id not in elsewhere), key=_by_id)


def _by_id(candidate: Candidate) -> int:
    return candidate.id


def _at(starts: Intervals, start: int) -> bool:
    return contains(starts, start, start + 1)
