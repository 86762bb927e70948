"""A lower bound on a night's quality level, from a linear programme over who serves each session.

The quality level keeps which sessions are placed and on which day (and a
booked session's time, unless the clinic lets the night move it). What is
left is mostly an assignment of clinicians, and continuity of care (1,000
per extra clinician a patient sees for a service) dominates it. Counting
one clinician per patient and service bounds that part loosely: where a
clinician is busy with someone else at one of a course's times, or off
shift, the course needs a second one, and the bound does not see it (on a
600-session night, 228 where the best answers found had 275-300).

The programme (HiGHS) has a share x(s, c) of each session s per clinician c
who could serve it, and y(p, c) >= x(s, c) for the patient and service p
of s, with
* each session served once: sum over c of x(s, c) = 1 (a session that must
  keep its clinician, or a pinned one, has only that one);
* a session whose time is held may go only to a clinician certified and
  free then, and a clinician serves at most one of them at any moment (a
  row per clinician and start of such a session: the sessions then running);
* a booked session the clinic lets move has its share split over the starts
  it could take with each clinician (on the grid, the clinician free), each
  like a held session's, each start but its own paying for the move;
* a waiting session, whose time may still change within its day, may go to
  a clinician who could serve it some time that day, and each clinician's
  day holds at most its free minutes;
* the sessions of a team (a plan line with one clinician) share shares;
* the busiest clinician's minutes are at least each clinician's load;
* each clinician-day's span (first to last minute) covers the minutes of
  the sessions it serves and the time around every held one;
* a booked session changes clinician by the share it does not keep.
Its optimum is at most any answer's quality level. The span and move rows
(2026-12-01) raised the bound on the same answers of the 600-session nights
at 80 % booked: pt 313,691 to 318,605, sports 371,092 to 382,501 (gaps
9.0 % to 7.6 % and 6.1 % to 3.2 %); demo, whose idle time lies mostly
around waiting sessions, by 0.1 %.
"""

import heapq
import math
import time

from solver.highs import Programme
from solver.intervals import Intervals, grid_points, intersect, total, union
from solver.night_check import QUALITY_WEIGHTS, fits
from solver.night_index import NightIndex, SessionInfo
from solver.plans import Placement, blocked

DETAILED_SHARES = 3_000
"""Up to this many (session, clinician who could serve it) pairs, the programme also has the span and move rows
(below); above it they cost more time than the bound's share of the level has, for little (measured 2026-12-01 on
first fit's answers, HiGHS's interior point method: 1,200 sessions at 80 % booked, pt 2.3 s → 3.3 s and sports
1.0 s → 9.2 s for 0.4 % and 1.5 % more; 2,000 sessions, sports 2.6 s → 29 s and demo 15 s → 26 s for 0.6 % and
0.0 %), and each clinician-day's span counts its sessions' own minutes. The 600-session nights have 1,000-2,300."""

TIMED_COLUMNS = 50_000
"""At most this many (session, clinician, start) shares for the booked sessions the clinic lets move; above it
(moves of hours) each clinician-day's free minutes stand in for their times, as for the waiting sessions. At 600
sessions sports has a few thousand; giving the waiting sessions such shares too made demo's programme take 4 times
as long (GLOP, 12.5 s) for a bound 0.2 % higher."""


def quality_bound(index: NightIndex, placements: list[Placement], *, until: float, threads: int = 1) -> float:
    """The programme's optimum for the sessions placed as in ``placements``, never below the simple count
    (one clinician per patient and service, the average load, the sessions' own minutes); that count alone when
    the programme cannot be solved by ``until`` (a monotonic clock time)."""
    floor = simple_bound(index, placements)
    if not placements or until - time.perf_counter() <= 0:
        return floor
    programme = _Programme(index, placements, until)
    value = programme.solve(threads)
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
        self.detailed = sum(len(index.sessions[p.kind].clinicians) for p in placements) <= DETAILED_SHARES
        self.timed = self._timed_starts(placements) if self.detailed else None
        """(booked session, clinician) -> the starts it could take, for the sessions the clinic lets move; None when
        there would be more than ``TIMED_COLUMNS``."""
        self.lp = Programme()
        self.placements = placements
        self.shares: dict[str, dict[int, int]] = {}  # session -> clinician -> column
        self.courses: dict[tuple[int, str, int], int] = {}
        self.held: dict[int, list[tuple[int, int, int]]] = {}  # clinician -> (low, high, share), time held
        self.daily: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}
        """(clinician, day) -> (earliest, latest minute its span can reach, its minutes, share): times not held."""
        self.spans: dict[tuple[int, int], list[tuple[int, int, bool, int]]] = {}
        """(clinician, day) -> (earliest, latest minute, whether the session is held there, share): every session
        on a day it keeps, for the clinician-day's span."""
        self.unspanned = 0
        """The minutes of sessions on no one day (a booked one whose moves may cross midnight): their own."""

    def solve(self, threads: int) -> float | None:
        lp = self.lp
        for number, placement in enumerate(self.placements):
            if number % 50 == 0 and time.perf_counter() > self.until:
                return None
            if not self._session(self.index.sessions[placement.kind], placement):
                return None  # a session no clinician can serve as the level holds it: nothing to bound
        if not (self._at_once() and self._days()):
            return None  # out of time
        self._teams()
        busiest = lp.column(0, math.inf, QUALITY_WEIGHTS["busiest_clinician_minute"])
        loads: dict[int, list] = {}
        for key, shares in self.shares.items():
            for clinician, share in shares.items():
                loads.setdefault(clinician, []).append((share, self.index.sessions[key].kind.duration))
        for terms in loads.values():
            lp.row([(busiest, -1), *terms], high=0)
        for course in self.courses.values():
            lp.add_cost(course, QUALITY_WEIGHTS["extra_clinician_for_a_patient"])
        if self.detailed:
            constant = QUALITY_WEIGHTS["clinician_day_span_minute"] * self.unspanned
            self._spans()
        else:
            constant = QUALITY_WEIGHTS["clinician_day_span_minute"] * _own_minutes(self.index, self.placements)
        for key, shares in self.shares.items():
            booked = self.index.sessions[key].booked
            if booked is None:
                continue
            constant += QUALITY_WEIGHTS["changed_resource"]
            kept = shares.get(booked.current.clinician)
            if kept is not None:
                lp.add_cost(kept, -QUALITY_WEIGHTS["changed_resource"])
        value = lp.minimum(self.until - time.perf_counter(), threads)
        if value is None:
            return None
        return constant + value - 1  # a unit below, for the solver's tolerance on a whole number

    def _session(self, info: SessionInfo, placement: Placement) -> bool:
        held = self._time_held(info)
        day = self._day_kept(info, placement)
        kept = info.pinned or (info.booked is not None and info.booked.keep_clinician)
        options = [placement.clinician] if kept else [c.id for c in info.kind.clinicians
                                                       if self._could(info, placement, c.id, held, day)]
        if not options:
            return False
        shares = self.shares[info.key] = {c: self.lp.column() for c in options}
        self.lp.row([(share, 1) for share in shares.values()], 1, 1)
        for clinician, share in shares.items():
            course = (info.patient, info.kind.key, clinician)
            if course not in self.courses:
                self.courses[course] = self.lp.column()
            self.lp.row([(share, 1), (self.courses[course], -1)], high=0)
            if held:
                self._at(clinician, placement.start, info, share)
            elif info.booked is not None and self.timed is not None:  # a booked one the clinic lets move
                self._timed(info, clinician, share)
            elif day is not None:
                low, high = blocked(info.kind, 0)
                (first, last), = self._day(day)
                self.daily.setdefault((clinician, day), []).append((first + low, last + high, high - low, share))
                self.spans.setdefault((clinician, day), []).append((low, high, False, share))
        if not held and day is None and self.timed is None:
            low, high = blocked(info.kind, placement.start)
            self.unspanned += high - low
        return True

    def _at(self, clinician: int, start: int, info: SessionInfo, share: int) -> None:
        """``share`` holds ``clinician`` from ``start``: at that moment and in that day's span."""
        low, high = blocked(info.kind, start)
        self.held.setdefault(clinician, []).append((low, high, share))
        self.spans.setdefault((clinician, self.problem.day_of(start)), []).append((low, high, True, share))

    def _timed(self, info: SessionInfo, clinician: int, share: int) -> None:
        """A booked session's share split over the starts it could take with ``clinician``, each like a held
        session, each but its own start paying for the move."""
        minutes = self.timed.get((info.key, clinician), [info.booked.start])
        starts = [self.lp.column(cost=0 if minute == info.booked.start else QUALITY_WEIGHTS["moved_session"])
                  for minute in minutes]
        self.lp.row([(share, 1), *((start, -1) for start in starts)], 0, 0)
        for minute, start in zip(minutes, starts):
            self._at(clinician, minute, info, start)

    def _timed_starts(self, placements: list[Placement]) -> dict[tuple[str, int], list[int]] | None:
        """Where each booked session the clinic lets move could start with each clinician who could serve it: on
        the grid, within its allowed starts, the clinician free for its whole span; and where it starts now."""
        timed, count = {}, 0
        for placement in placements:
            info = self.index.sessions[placement.kind]
            if self._time_held(info) or info.booked is None:
                continue
            for clinician, option in info.clinicians.items():
                minutes = set(grid_points(intersect(info.starts, option.starts), self.problem.grid,
                                          self.problem.grid_origin))
                if clinician == placement.clinician:
                    minutes.add(placement.start)
                if clinician == info.booked.current.clinician:
                    minutes.add(info.booked.start)
                timed[info.key, clinician] = sorted(minutes)
                count += len(minutes)
            if count > TIMED_COLUMNS or time.perf_counter() > self.until:
                return None
        return timed

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
        """A clinician serves at most one held session at any moment: one row per start of one of them, over the
        shares then running (a sweep: with the starts of sessions whose time may move, a clinician has thousands)."""
        for spans in self.held.values():
            if time.perf_counter() > self.until:
                return False
            ending: list[tuple[int, int]] = []  # (high, share) of the spans begun so far
            ordered = sorted(spans)
            for number, (low, high, share) in enumerate(ordered):
                heapq.heappush(ending, (high, share))
                while ending[0][0] <= low:
                    heapq.heappop(ending)
                if len(ending) > 1 and (number + 1 == len(ordered) or ordered[number + 1][0] != low):
                    self.lp.row([(running, 1) for _, running in ending], high=1)
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
            self.lp.row([(share, minutes) for _, _, minutes, share in terms]
                        + [(share, minutes) for share, minutes in held if minutes], high=total(free))
        return True

    def _spans(self) -> None:
        """Each clinician-day's span, from its first minute to its last: at least the minutes of the sessions it
        serves, and around every held one it serves (idle time between held sessions counts; a session whose time
        may still move within the day counts its own minutes). Minutes of the day, not of the night: the night's
        run to tens of millions."""
        lp, weight = self.lp, QUALITY_WEIGHTS["clinician_day_span_minute"]
        for (clinician, day), terms in self.spans.items():
            origin, length = self.problem.day_start(day), self.problem.day_start(day + 1) - self.problem.day_start(day)
            earliest = min(low - origin if held else low for low, _, held, _ in terms)
            latest = max(high - origin if held else length + high for _, high, held, _ in terms)
            first, last = lp.column(earliest, latest, -weight), lp.column(earliest, latest, weight)
            lp.row([(last, 1), (first, -1), *((share, -(high - low)) for low, high, _, share in terms)], low=0)
            for low, high, held, share in terms:
                if held:
                    lp.row([(last, 1), (share, earliest - (high - origin))], low=earliest)
                    lp.row([(first, 1), (share, latest - (low - origin))], high=latest)

    def _teams(self) -> None:
        """The sessions of one team share their clinician, so their shares agree."""
        for members in self.index.teams.values():
            placed = [key for key in members if key in self.shares]
            for key in placed[1:]:
                first, other = self.shares[placed[0]], self.shares[key]
                for clinician in first.keys() | other.keys():
                    terms = [(first[clinician], 1)] if clinician in first else []
                    self.lp.row(terms + ([(other[clinician], -1)] if clinician in other else []), 0, 0)

