"""A lower bound on a night's quality level, from a linear programme over who serves each session.

The quality level keeps which sessions are placed and on which day (and a
booked session's time, unless the clinic lets the night move it). What is
left is mostly an assignment of clinicians, and continuity of care (1,000
per extra clinician a patient sees for a service) dominates it. Counting
one clinician per patient and service bounds that part loosely: where a
clinician is busy with someone else at one of a course's times, or off
shift, the course needs a second one, and the bound does not see it (on a
600-session night, 228 where the best answers found had 275-300).

The programme (GLOP) has a share x(s, c) of each session s per clinician c
who could serve it, and y(p, c) >= x(s, c) for the patient and service p
of s, with
* each session served once: sum over c of x(s, c) = 1 (a session that must
  keep its clinician, or a pinned one, has only that one);
* a session whose time is held may go only to a clinician certified and
  free then, and a clinician serves at most one of them at any moment (a
  row per clinician and start of such a session: the sessions then running);
* a session whose time may still change within its day (a waiting one, or a
  booked one the clinic lets move) may go to a clinician who could serve it
  some time that day, and each clinician's day holds at most its free minutes;
* the sessions of a team (a plan line with one clinician) share shares;
* the busiest clinician's minutes are at least each clinician's load;
* a booked session changes clinician by the share it does not keep.
Its optimum, with the minutes of the sessions themselves as the least the
clinician-day spans can cost, is at most any answer's quality level.
"""

import time

from ortools.linear_solver import pywraplp

from solver.intervals import Intervals, intersect, total, union
from solver.night_bound import add_row
from solver.night_check import QUALITY_WEIGHTS, fits
from solver.night_index import NightIndex, SessionInfo
from solver.plans import Placement, blocked


def quality_bound(index: NightIndex, placements: list[Placement], *, until: float) -> float:
    """The programme's optimum for the sessions placed as in ``placements``, never below the simple count
    (one clinician per patient and service, the average load, the sessions' own minutes); that count alone when
    the programme cannot be solved by ``until`` (a monotonic clock time)."""
    floor = simple_bound(index, placements)
    if not placements or until - time.perf_counter() <= 0:
        return floor
    programme = _Programme(index, placements, until)
    value = programme.solve()
    return floor if value is None else max(floor, value)


def simple_bound(index: NightIndex, placements: list[Placement]) -> float:
    """One clinician per patient and service, the busiest at least the average load, each day at least its
    sessions' minutes: what the programme must beat, and what stands when it cannot be solved in time."""
    sessions = [index.sessions[p.kind] for p in placements]
    clinicians = {c.id for info in sessions for c in info.kind.clinicians} or {0}
    minutes = [info.kind.duration for info in sessions]
    return (QUALITY_WEIGHTS["extra_clinician_for_a_patient"] * len({(info.patient, info.kind.key) for info in sessions})
            + QUALITY_WEIGHTS["busiest_clinician_minute"] * max(sum(minutes) / len(clinicians), max(minutes, default=0))
            + QUALITY_WEIGHTS["clinician_day_span_minute"] * _own_minutes(index, placements))


def _own_minutes(index: NightIndex, placements: list[Placement]) -> int:
    """The minutes the sessions hold their clinicians: a clinician's day spans at least those of its sessions."""
    return sum(high - low for p in placements for low, high in [blocked(index.sessions[p.kind].kind, p.start)])


class _Programme:
    def __init__(self, index: NightIndex, placements: list[Placement], until: float):
        self.index, self.problem, self.until = index, index.problem, until
        self.solver = pywraplp.Solver.CreateSolver("GLOP")
        self.placements = placements
        self.shares: dict[str, dict[int, object]] = {}
        self.courses: dict[tuple[int, str, int], object] = {}
        self.held: dict[int, list[tuple[int, int, object]]] = {}  # clinician -> (low, high, share), time held
        self.daily: dict[tuple[int, int], list[tuple[int, int, int, object]]] = {}
        """(clinician, day) -> (earliest, latest minute its span can reach, its minutes, share): times not held."""

    def solve(self) -> float | None:
        solver, objective = self.solver, self.solver.Objective()
        for number, placement in enumerate(self.placements):
            if number % 50 == 0 and time.perf_counter() > self.until:
                return None
            if not self._session(self.index.sessions[placement.kind], placement):
                return None  # a session no clinician can serve as the level holds it: nothing to bound
        if not (self._at_once() and self._days()):
            return None  # out of time
        self._teams()
        busiest = solver.NumVar(0, solver.infinity(), "busiest")
        loads: dict[int, list] = {}
        for key, shares in self.shares.items():
            for clinician, share in shares.items():
                loads.setdefault(clinician, []).append((share, self.index.sessions[key].kind.duration))
        for clinician, terms in loads.items():
            row = solver.Constraint(-solver.infinity(), 0)
            row.SetCoefficient(busiest, -1)
            for share, minutes in terms:
                row.SetCoefficient(share, minutes)
        objective.SetCoefficient(busiest, QUALITY_WEIGHTS["busiest_clinician_minute"])
        for course in self.courses.values():
            objective.SetCoefficient(course, QUALITY_WEIGHTS["extra_clinician_for_a_patient"])
        constant = QUALITY_WEIGHTS["clinician_day_span_minute"] * _own_minutes(self.index, self.placements)
        for key, shares in self.shares.items():
            booked = self.index.sessions[key].booked
            if booked is None:
                continue
            constant += QUALITY_WEIGHTS["changed_resource"]
            kept = shares.get(booked.current.clinician)
            if kept is not None:
                objective.SetCoefficient(kept, -QUALITY_WEIGHTS["changed_resource"])
        objective.SetMinimization()
        solver.SetTimeLimit(int(max(1, (self.until - time.perf_counter()) * 1000)))
        if solver.Solve() != pywraplp.Solver.OPTIMAL:
            return None
        return constant + objective.Value() - 1  # a unit below, for the solver's tolerance on a whole number

    def _session(self, info: SessionInfo, placement: Placement) -> bool:
        held = self._time_held(info)
        day = self._day_kept(info, placement)
        kept = info.pinned or (info.booked is not None and info.booked.keep_clinician)
        options = [placement.clinician] if kept else [c.id for c in info.kind.clinicians
                                                       if self._could(info, placement, c.id, held, day)]
        if not options:
            return False
        shares = self.shares[info.key] = {c: self.solver.NumVar(0, 1, "") for c in options}
        row = self.solver.Constraint(1, 1)
        for clinician, share in shares.items():
            row.SetCoefficient(share, 1)
            course = (info.patient, info.kind.key, clinician)
            if course not in self.courses:
                self.courses[course] = self.solver.NumVar(0, 1, "")
            add_row(self.solver, [(share, 1), (self.courses[course], -1)], -self.solver.infinity(), 0)
            if held:
                low, high = blocked(info.kind, placement.start)
                self.held.setdefault(clinician, []).append((low, high, share))
            elif day is not None:
                low, high = blocked(info.kind, 0)
                (first, last), = self._day(day)
                self.daily.setdefault((clinician, day), []).append((first + low, last + high, high - low, share))
        return True

    def _time_held(self, info: SessionInfo) -> bool:
        """Whether the level keeps the session's start: a booked one the clinic does not let move."""
        return info.booked is not None and (info.pinned or not info.booked.may_start)

    def _day_kept(self, info: SessionInfo, placement: Placement) -> int | None:
        """The one day the session stays on at this level (None: a booked one whose moves may cross midnight)."""
        day = self.problem.day_of(placement.start)
        if info.booked is None:
            return day
        reach = [(info.booked.start, info.booked.start + 1), *info.booked.may_start]
        days = {self.problem.day_of(low) for low, _ in reach} | {self.problem.day_of(high - 1) for _, high in reach}
        return day if days == {day} else None

    def _could(self, info: SessionInfo, placement: Placement, clinician: int, held: bool, day: int | None) -> bool:
        booked = info.booked
        if booked is not None and placement.start == booked.current.start and clinician == booked.current.clinician:
            return True  # a booked session may keep whom it has, whatever the roster says now
        if held:
            candidate = next(c for c in info.kind.clinicians if c.id == clinician)
            return fits(info.kind, placement.start, candidate, False)
        option = info.clinicians.get(clinician)
        return option is not None and (day is None or bool(intersect(option.starts, self._day(day))))

    def _day(self, day: int) -> Intervals:
        return [(self.problem.day_start(day), self.problem.day_start(day + 1))]

    def _at_once(self) -> bool:
        """A clinician serves at most one held session at any moment: one row per start of one of them."""
        for spans in self.held.values():
            if time.perf_counter() > self.until:
                return False
            for moment in sorted({low for low, _, _ in spans}):
                running = [(share, 1) for low, high, share in spans if low <= moment < high]
                if len(running) > 1:
                    add_row(self.solver, running, -self.solver.infinity(), 1)
        return True

    def _days(self) -> bool:
        """The sessions whose time may change within their day fit, with the held ones' minutes there, in the
        clinician's free minutes over the time they can reach."""
        shifts: dict[int, Intervals] = {}  # a clinician's free time as the most generous service sees it
        for info in self.index.sessions.values():
            for candidate in info.kind.clinicians:
                shifts[candidate.id] = union(shifts.get(candidate.id, []), candidate.free)
        for (clinician, day), terms in self.daily.items():
            if time.perf_counter() > self.until:
                return False
            window = [(min(term[0] for term in terms), max(term[1] for term in terms))]
            free = intersect(shifts[clinician], window)
            held = [(share, total(intersect(free, [(low, high)]))) for low, high, share in self.held.get(clinician, [])]
            add_row(self.solver, [(share, minutes) for _, _, minutes, share in terms]
                    + [(share, minutes) for share, minutes in held if minutes], -self.solver.infinity(), total(free))
        return True

    def _teams(self) -> None:
        """The sessions of one team share their clinician, so their shares agree."""
        for members in self.index.teams.values():
            placed = [key for key in members if key in self.shares]
            for key in placed[1:]:
                first, other = self.shares[placed[0]], self.shares[key]
                for clinician in first.keys() | other.keys():
                    row = self.solver.Constraint(0, 0)
                    if clinician in first:
                        row.SetCoefficient(first[clinician], 1)
                    if clinician in other:
                        row.SetCoefficient(other[clinician], -1)

