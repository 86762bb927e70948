"""Why each waiting session the night did not place is still waiting: the one thing that binds, read off the answer.

The front desk acts on a reason, not on a solver status: widen the patient's
window, add a shift, place the plan's earlier session first. So each session
left waiting gets the first of these that holds, most fundamental first:

- ``no_allowed_start``: its window (the patient's days and times, the horizon,
  the patient's other appointments) holds no start on the grid;
- ``no_clinician`` / ``plan_clinician_off`` / ``no_room`` / ``no_device``: no
  certified clinician (the plan's own clinician, where the plan requires one),
  no room or not enough units of a device type are on hand at any start of
  that window, whatever is booked;
- ``no_common_time``: each is on hand at some start, never all at one;
- ``earlier_not_placed``: the session before it in its plan waits too;
- ``spacing``: the spacing after the placed earlier session leaves no start
  where everything is on hand;
- ``taken``: every remaining start is taken in the final answer; the reason
  names the kind of resource that takes the most of them (clinicians, rooms,
  units of a device type, or the patient's own other sessions);
- ``free_start_unused``: a start is still free; the search stopped before it
  used it.

Computed against the final placements (the answer as written), with the busy
spans of ``night_greedy.Book`` and interval arithmetic over sets of starts, so
a two-week window costs its intervals, not its minutes. Pure: no model, no
database.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from solver.intervals import Intervals, at_least, intersect, intersect_all, normalize, starts_fitting, subtract, union
from solver.night_greedy import Book, spacing_window
from solver.night_problem import NightProblem, WaitingSession
from solver.plans import Candidate, Placement, SessionKind


@dataclass(frozen=True)
class LeftWaiting:
    """A waiting session the answer does not place, and why (``code`` for programs, ``reason`` for people)."""

    key: str
    code: str
    reason: str


@dataclass(frozen=True)
class Role:
    """One resource a session needs: the starts where it is on hand at all (``calendar``), and those still open in
    the answer (``open``). Also what a plan proposal's reasons are read from (solver/plan_reasons.py)."""

    resource: str
    noun: str
    calendar: Intervals
    open: Intervals


def left_waiting(problem: NightProblem, placements: Iterable[Placement]) -> list[LeftWaiting]:
    """The waiting sessions missing from ``placements``, in the problem's order, each with its binding reason."""
    placed = {placement.kind: placement for placement in placements}
    book = Book()
    for session in problem.booked:
        book.take_session(session.patient, session.kind, placed.get(str(session.id), session.current))
    for waiting in problem.waiting:
        if waiting.key in placed:
            book.take_session(waiting.patient, waiting.kind, placed[waiting.key])
    team_clinician = {w.team: placed[w.key].clinician for w in problem.waiting if w.team and w.key in placed}
    reasons = _Reasons(problem, book, placed)
    return [reasons.of(waiting, team_clinician.get(waiting.team)) for waiting in problem.waiting
            if waiting.key not in placed]


class _Reasons:
    """The reasons against one answer; each candidate's starts are worked out once, for every session of its service."""

    def __init__(self, problem: NightProblem, book: Book, placed: dict[str, Placement]):
        self.problem, self.book, self.placed = problem, book, placed
        self.spacing = {rule.later: rule for rule in problem.spacings}
        self.kinds = {waiting.key: waiting.kind for waiting in problem.waiting}
        self.starts: dict[tuple, tuple[Intervals, Intervals]] = {}

    def of(self, waiting: WaitingSession, clinician: int | None) -> LeftWaiting:
        def reason(code: str, text: str) -> LeftWaiting:
            return LeftWaiting(waiting.key, code, text)

        window = normalize(waiting.starts)
        if not self.points(window):
            return reason("no_allowed_start", "no allowed start: the patient's days and times, within the "
                                            "horizon and around their other appointments, leave no time")
        roles = self.roles(waiting.kind, clinician)
        for role in roles:
            if not self.points(intersect(window, role.calendar)):
                return reason(*_off(role, clinician))
        window = intersect_all([window, *(role.calendar for role in roles)])
        if not self.points(window):
            return reason("no_common_time", "no start in the patient's window has everything it needs on hand at "
                                            "once (" + ", ".join(role.noun for role in roles) + ")")
        rule = self.spacing.get(waiting.key)
        if rule is not None:
            earlier = self.placed.get(rule.earlier)
            if earlier is None:
                return reason("earlier_not_placed", f"the earlier session of its plan ({rule.earlier}) is not placed")
            window = intersect(window, spacing_window(self.problem, rule, earlier, self.kinds[rule.earlier]))
            if not self.points(window):
                return reason("spacing", f"the spacing after {rule.earlier} leaves no start")
        duration = waiting.kind.duration
        patient = Role("patient", "the patient's other sessions", window, subtract(window, normalize(
            (low - duration + 1, high) for low, high in self.book.spans.get(("patient", waiting.patient), []))))
        total = self.points(window)
        taken = [(total - self.points(intersect(window, role.open)), -order, role)
                 for order, role in enumerate((*roles, patient))]
        if self.points(intersect_all([window, *(role.open for _, _, role in taken)])):
            return reason("free_start_unused", "a start in its window is still free: the search ended before it "
                                               "placed the session there")
        most, _, role = max(taken, key=lambda entry: entry[:2])
        return reason("taken", f"every start in its window is taken: {role.noun} (busy at {most} of {total} starts)")

    def roles(self, kind: SessionKind, clinician: int | None) -> list[Role]:
        """Clinicians (only the plan's own one, if given), a room if the service needs one, and each device type."""
        clinicians = [c for c in kind.clinicians if clinician in (None, c.id)]
        roles = [self.role(kind, "clinician", "the plan's clinician" if clinician else "clinicians", clinicians, 1)]
        if kind.needs_room:
            roles.append(self.role(kind, "room", "rooms", kind.rooms, 1))
        roles += [self.role(kind, "device", f"{pool.type_name} units", pool.units, pool.count)
                  for pool in kind.devices if pool.count]
        return roles

    def role(self, kind: SessionKind, resource: str, noun: str, candidates, count: int) -> Role:
        starts = [self.candidate_starts(kind, resource, candidate) for candidate in candidates]
        if len(starts) < count:
            return Role(resource, noun, [], [])
        if count == 1:
            return Role(resource, noun, union(*(calendar for calendar, _ in starts)),
                         union(*(free for _, free in starts)))
        return Role(resource, noun, at_least([calendar for calendar, _ in starts], count),
                     at_least([free for _, free in starts], count))

    def candidate_starts(self, kind: SessionKind, resource: str, candidate: Candidate) -> tuple[Intervals, Intervals]:
        """Where ``candidate`` could start a session of ``kind`` at all (its calendar), and where it still can."""
        cleaning = candidate.cleaning if resource == "device" else 0
        key = (id(candidate), resource, kind.duration, kind.buffer_before, kind.buffer_after)
        if key not in self.starts:
            after = kind.duration + kind.buffer_after + cleaning
            calendar = starts_fitting(candidate.free, kind.buffer_before, after)
            busy = normalize((low - after + 1, high + kind.buffer_before)
                             for low, high in self.book.spans.get((resource, candidate.id), []))
            self.starts[key] = (calendar, subtract(calendar, busy))
        return self.starts[key]

    def points(self, starts: Intervals) -> int:
        """How many grid starts lie in ``starts`` (a normalized set)."""
        grid, origin = self.problem.grid, self.problem.grid_origin
        return sum(-((origin - high) // grid) + ((origin - low) // grid) for low, high in starts)


def _off(role: Role, clinician: int | None) -> tuple[str, str]:
    if role.resource == "device":
        return "no_device", f"not enough {role.noun} are in service at any start in the patient's window"
    if role.resource == "room":
        return "no_room", "no suitable room is available at any start in the patient's window"
    if clinician is not None:
        return "plan_clinician_off", "the clinician its plan requires is not on shift in the patient's window"
    return "no_clinician", "no certified clinician on shift in the patient's window"
