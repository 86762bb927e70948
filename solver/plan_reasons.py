"""Why each session a plan proposal leaves out is left out: its own reason, read off the answer.

A proposal that places three of five shockwave sessions must tell the desk
what stops the fourth where the answer left it room (its spacing after the
third runs past the plan's end, or no certified clinician is free that week)
and that the fifth comes after the fourth; one sentence for the whole plan,
repeated on every line, tells neither. So each unplaced session gets the
first of these that holds, most fundamental first, with the sessions the
answer places kept where they are:

- ``after_unplaced``: a session it must follow is not placed (the one before
  it in its line, its same-visit leader, a session of a line that must come
  first); ``after`` names it;
- ``dates``: no time at all is left between the earliest bookable moment and
  the plan's end;
- ``spacing`` / ``same_visit`` / ``before``: its spacing after the session
  before it (``after``), its same-visit leader's end, or the end of the line
  that must come first leaves no time within the plan's dates;
- ``closed``: the clinic is not open long enough at any time that leaves;
- ``patient_windows``: the patient's weekly times minus blackout dates leave
  none of it; ``not_allowed`` says the same of a problem that does not tell
  opening hours and the patient's times apart;
- ``patient_busy``: the patient's other appointments take the rest;
- ``no_clinician`` / ``plan_clinician`` / ``no_room`` / ``no_device``: no
  certified clinician (the line's own one, where the line must keep one), no
  room, or not enough units of a device type (``noun``) is free in the live
  schedule at any of those times;
- ``no_common_time``: each is free at some of those times, never all at once;
- ``taken``: the plan's own placed sessions take every time still left;
  ``noun`` names what they take most (the patient, clinicians, rooms, units);
- ``free_time_unused``: a time is still free; the search stopped before it.

``window`` is the span of starts the reason speaks of (UTC minutes: first,
after last), so the desk can be told when. Pure interval arithmetic over the
free windows: no model, no database.
"""

from dataclasses import dataclass

from solver.intervals import (
    Intervals,
    at_least,
    intersect,
    intersect_all,
    normalize,
    starts_fitting,
    subtract,
    union,
)
from solver.night_reasons import Role
from solver.plan_greedy import spacing_bounds
from solver.plans import Candidate, PlanProblem, Placement, SameClinician, SessionKind, blocked

NEVER: Intervals = []


@dataclass(frozen=True)
class Unplaced:
    """A session the answer leaves out, and the first thing that stops it (see the module's list of codes)."""

    kind: str
    index: int
    code: str
    window: tuple[int, int] | None = None
    after: tuple[str, int] | None = None
    noun: str = ""


def unplaced_sessions(problem: PlanProblem, placements: tuple[Placement, ...]) -> list[Unplaced]:
    """Every session missing from ``placements``, in the plan's order, each with its own reason."""
    placed = {(p.kind, p.index): p for p in placements}
    reasons = _Reasons(problem, placed)
    return [reasons.of(kind, index) for kind in problem.kinds for index in range(kind.count)
            if (kind.key, index) not in placed]


class _Reasons:
    """The reasons against one answer: what its placed sessions hold of the patient, clinicians, rooms and units."""

    def __init__(self, problem: PlanProblem, placed: dict[tuple[str, int], Placement]):
        self.problem, self.placed = problem, placed
        self.held: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for placement in placed.values():
            kind = problem.kind(placement.kind)
            cleaning = {unit.id: unit.cleaning for pool in kind.devices for unit in pool.units}
            for resource, ident in (("patient", 0), ("clinician", placement.clinician), ("room", placement.room),
                                    *(("device", unit) for unit in placement.devices)):
                if ident is None:
                    continue
                span = ((placement.start, placement.start + kind.duration) if resource == "patient"
                        else blocked(kind, placement.start, cleaning.get(ident, 0) if resource == "device" else 0))
                self.held.setdefault((resource, ident), []).append(span)

    def of(self, kind: SessionKind, index: int) -> Unplaced:
        def reason(code: str, window: Intervals = NEVER, **details) -> Unplaced:
            return Unplaced(kind.key, index, code, _hull(window), **details)

        waits_for = self._first_missing_leader(kind, index)
        if waits_for is not None:
            return reason("after_unplaced", after=waits_for)
        problem = self.problem
        dates = problem.dates or (problem.day_starts[0], problem.day_start(len(problem.day_starts)))
        window = starts_fitting(normalize([dates]), 0, kind.duration)
        if not self._points(window):
            return reason("dates")
        for code, after, low, high in self._rules(kind, index):
            narrowed = intersect(window, [(low, window[-1][1] if high is None else high)])
            if not self._points(narrowed):
                return reason(code, window, after=after)
            window = narrowed
        layers = [("closed", problem.open_hours), ("patient_windows", problem.windows),
                  ("not_allowed", problem.allowed), ("patient_busy", problem.patient_free)]
        for code, free in layers:
            if free is None:
                continue
            narrowed = intersect(window, starts_fitting(normalize(free), 0, kind.duration))
            if not self._points(narrowed):
                return reason(code, window)
            window = narrowed
        roles = self._roles(kind)
        for role in roles:
            if not self._points(intersect(window, role.calendar)):
                return reason(_off(role), window, noun=role.noun)
        common = intersect_all([window, *(role.calendar for role in roles)])
        if not self._points(common):
            return reason("no_common_time", window, noun=", ".join(role.noun for role in roles))
        own_sessions = self._held_starts("patient", 0, 0, kind.duration)  # the patient is in one session at a time
        competing = [*roles, Role("patient", "the patient", common, subtract(common, own_sessions))]
        if self._points(intersect_all([common, *(role.open for role in competing)])):
            return reason("free_time_unused", common)
        total = self._points(common)
        busiest = max(competing, key=lambda role: total - self._points(intersect(common, role.open)))
        return reason("taken", common, noun=busiest.noun)

    def _first_missing_leader(self, kind: SessionKind, index: int) -> tuple[str, int] | None:
        """The first session this one must follow that the answer does not place."""
        leaders = [(kind.key, index - 1)] if index > 0 else []
        problem = self.problem
        for link in problem.same_visits:
            if link.then == kind.key and index < problem.kind(link.first).count:
                leaders.append((link.first, index))
        for link in problem.befores:
            if link.then == kind.key:
                leaders += [(link.first, i) for i in range(problem.kind(link.first).count)]
        return next((leader for leader in leaders if leader not in self.placed), None)

    def _rules(self, kind: SessionKind, index: int):
        """(code, the session it is about, lowest start, bound no start reaches) per rule tying it to the answer."""
        problem = self.problem
        if index > 0:
            previous = self.placed[kind.key, index - 1]
            bounds = spacing_bounds(problem, kind, previous)
            lows, highs = bounds if bounds is not None else ([problem.day_start(len(problem.day_starts))], [])
            earliest = max([previous.start + kind.duration, *lows])
            yield "spacing", (kind.key, index - 1), earliest, min(highs, default=None)
        for link in problem.same_visits:
            if link.then == kind.key and index < problem.kind(link.first).count:
                leader = self.placed[link.first, index]
                end = leader.start + problem.kind(link.first).duration
                yield "same_visit", (link.first, index), end, end + 1
        for link in problem.befores:
            if link.then == kind.key:
                first = problem.kind(link.first)
                last = max(range(first.count), key=lambda i: self.placed[first.key, i].start)
                yield "before", (first.key, last), self.placed[first.key, last].start + first.duration, None

    def _roles(self, kind: SessionKind) -> list[Role]:
        """Clinicians (only the line's own one once it has one and must keep it), a room if needed, each device type."""
        clinicians = kind.clinicians
        noun = "clinicians"
        if kind.same_clinician == SameClinician.REQUIRED:
            kept = {p.clinician for p in self.placed.values() if p.kind == kind.key}
            if kept:
                clinicians = tuple(c for c in clinicians if c.id in kept)
                noun = ", ".join(c.name for c in clinicians) or "the line's clinician"
        roles = [self._role(kind, "clinician", noun, clinicians, 1)]
        if kind.needs_room:
            roles.append(self._role(kind, "room", "rooms", kind.rooms, 1))
        roles += [self._role(kind, "device", pool.type_name, pool.units, pool.count)
                  for pool in kind.devices if pool.count]
        return roles

    def _role(self, kind: SessionKind, resource: str, noun: str, candidates: tuple[Candidate, ...],
              count: int) -> Role:
        if len(candidates) < count:
            return Role(resource, noun, NEVER, NEVER)
        calendars, opens = [], []
        for candidate in candidates:
            cleaning = candidate.cleaning if resource == "device" else 0
            span_start, span_end = blocked(kind, 0, cleaning)
            calendar = starts_fitting(normalize(candidate.free), -span_start, span_end)
            calendars.append(calendar)
            opens.append(subtract(calendar, self._held_starts(resource, candidate.id, -span_start, span_end)))
        if count == 1:
            return Role(resource, noun, union(*calendars), union(*opens))
        return Role(resource, noun, at_least(calendars, count), at_least(opens, count))

    def _held_starts(self, resource: str, ident: int, before: int, after: int) -> Intervals:
        """Starts whose span ``[start - before, start + after)`` would overlap what the answer holds there."""
        return normalize((low - after + 1, high + before) for low, high in self.held.get((resource, ident), []))

    def _points(self, starts: Intervals) -> int:
        """How many starts on the slot grid lie in ``starts`` (a normalized set)."""
        grid, origin = self.problem.grid, self.problem.grid_origin
        return sum((origin - low) // grid - (origin - high) // grid for low, high in starts)


def _hull(window: Intervals) -> tuple[int, int] | None:
    return (window[0][0], window[-1][1]) if window else None


def _off(role: Role) -> str:
    if role.resource == "clinician":
        return "no_clinician" if role.noun == "clinicians" else "plan_clinician"
    return f"no_{role.resource}"
