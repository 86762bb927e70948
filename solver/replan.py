"""Re-planning booked sessions without moving them: who, which room and which units serve each.

The times promised to patients are fixed; each session may get another
clinician (unless continuity requires the same one), room or device units,
among the candidates free at that time once the re-planned sessions' own
bookings are set aside. CP-SAT chooses, with objective tiers as named,
weighted terms (``WEIGHTS``): continuity of care, then a balanced workload,
then the fewest changes. The current assignment is the hint, and a result
worse than it is never returned: the answer is then "change nothing".
"""

import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

from solver.intervals import contains
from solver.plan_model import Limits
from solver.plans import Candidate, Placement, SessionKind, blocked

WEIGHTS = {"extra_clinician_for_a_patient": 10_000, "busiest_clinician_minute": 10, "changed_resource": 1}


@dataclass(frozen=True)
class BookedSession:
    """A booked appointment whose time stays; ``current`` is how it is served now."""

    id: int
    patient: int
    kind: SessionKind
    start: int
    current: Placement
    keep_clinician: bool = False


@dataclass(frozen=True)
class ReplanSolution:
    placements: tuple[Placement, ...]
    status: str
    objective: float | None = None
    bound: float | None = None
    first_solution_seconds: float | None = None
    seconds: float = 0.0

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        return abs(self.bound - self.objective) / max(1.0, abs(self.objective))


def cost_of_current(sessions: tuple[BookedSession, ...]) -> int:
    """The objective of changing nothing, computed like the model's."""
    seen = {(s.patient, s.kind.key, s.current.clinician) for s in sessions}
    return (WEIGHTS["extra_clinician_for_a_patient"] * len(seen)
            + WEIGHTS["busiest_clinician_minute"] * _busiest_now(sessions))


def _busiest_now(sessions: tuple[BookedSession, ...]) -> int:
    loads: dict[int, int] = {}
    for session in sessions:
        loads[session.current.clinician] = loads.get(session.current.clinician, 0) + session.kind.duration
    return max(loads.values(), default=0)


def fits(session: BookedSession, candidate: Candidate, cleaning: bool) -> bool:
    span = blocked(session.kind, session.start, candidate.cleaning if cleaning else 0)
    return contains(candidate.free, *span)


def check_replan(sessions: tuple[BookedSession, ...], solution: ReplanSolution) -> list[str]:
    """Independent of the model: each session fully served by free, eligible resources, none used twice at once."""
    problems, by_id, used = [], {s.id: s for s in sessions}, {}
    if sorted(p.kind for p in solution.placements) != sorted(str(s.id) for s in sessions):
        problems.append("the answer does not place every session exactly once")
    for placement in solution.placements:
        session = by_id.get(int(placement.kind))
        if session is None:
            continue
        kind = session.kind
        clinicians = {c.id: c for c in kind.clinicians}
        if placement.start != session.start:
            problems.append(f"session {session.id} was moved")
        if session.keep_clinician and placement.clinician != session.current.clinician:
            problems.append(f"session {session.id} changed clinician although continuity requires the same one")
        roles = [("clinician", clinicians.get(placement.clinician), False)]
        if kind.needs_room:
            roles.append(("room", {r.id: r for r in kind.rooms}.get(placement.room), False))
        units = {u.id: u for pool in kind.devices for u in pool.units}
        if len(placement.devices) != sum(pool.count for pool in kind.devices):
            problems.append(f"session {session.id} has the wrong number of device units")
        roles += [("device", units.get(unit), True) for unit in placement.devices]
        for role, candidate, cleaning in roles:
            if candidate is None:
                problems.append(f"session {session.id}: its {role} is not eligible")
            elif not fits(session, candidate, cleaning):
                problems.append(f"session {session.id}: {candidate.name} is not free then")
            else:
                used.setdefault((role, candidate.id), []).append(
                    blocked(kind, session.start, candidate.cleaning if cleaning else 0))
    for (role, ident), spans in used.items():
        spans.sort()
        if any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])):
            problems.append(f"{role} {ident} serves two sessions at once")
    return problems


class _FirstSolution(cp_model.CpSolverSolutionCallback):
    def __init__(self, began: float):
        super().__init__()
        self.began, self.seconds = began, None

    def on_solution_callback(self) -> None:
        if self.seconds is None:
            self.seconds = time.perf_counter() - self.began


def replan(sessions: tuple[BookedSession, ...], limits: Limits = Limits()) -> ReplanSolution:
    """The best assignment found within the limits; the current one when nothing better is found."""
    began = time.perf_counter()
    current = ReplanSolution(tuple(s.current for s in sessions), status="unchanged")
    if not sessions:
        return current
    model = cp_model.CpModel()
    choices: dict[tuple[int, str], list[tuple[int, cp_model.IntVar]]] = {}
    per_resource: dict[tuple[str, int], list] = {}
    changes, loads = [], {}

    def choose(session: BookedSession, role: str, need: str, candidates, count: int, now_using: set[int],
               cleaning: bool):
        """Pick ``count`` of the candidates for one need of a session ("clinician", "room", a device type)."""
        options = []
        for candidate in candidates:
            if role == "clinician" and session.keep_clinician and candidate.id != session.current.clinician:
                continue
            if candidate.id not in now_using and not fits(session, candidate, cleaning):
                continue
            literal = model.NewBoolVar(f"{session.id} {role} {candidate.id}")
            start, end = blocked(session.kind, session.start, candidate.cleaning if cleaning else 0)
            per_resource.setdefault((role, candidate.id), []).append(
                model.NewOptionalFixedSizeIntervalVar(start, end - start, literal, ""))
            model.AddHint(literal, candidate.id in now_using)
            if candidate.id not in now_using:
                changes.append(literal)
            options.append((candidate.id, literal))
        model.Add(sum(literal for _, literal in options) == count)
        choices[session.id, need] = options

    for session in sessions:
        kind, now = session.kind, session.current
        choose(session, "clinician", "clinician", kind.clinicians, 1, {now.clinician}, cleaning=False)
        if kind.needs_room:
            choose(session, "room", "room", kind.rooms, 1, {now.room}, cleaning=False)
        for pool in kind.devices:
            choose(session, "device", f"device {pool.type_name}", pool.units, pool.count, set(now.devices),
                   cleaning=True)
        for clinician_id, literal in choices[session.id, "clinician"]:
            loads.setdefault(clinician_id, []).append(kind.duration * literal)
    for intervals in per_resource.values():
        model.AddNoOverlap(intervals)

    seen: dict[tuple[int, str], dict[int, cp_model.IntVar]] = {}
    seen_now = {(s.patient, s.kind.key, s.current.clinician) for s in sessions}
    for session in sessions:
        for clinician_id, literal in choices[session.id, "clinician"]:
            group = seen.setdefault((session.patient, session.kind.key), {})
            if clinician_id not in group:
                group[clinician_id] = model.NewBoolVar(f"patient {session.patient} sees {clinician_id}")
                model.AddHint(group[clinician_id], (session.patient, session.kind.key, clinician_id) in seen_now)
            model.AddImplication(literal, group[clinician_id])
    busiest = model.NewIntVar(0, sum(s.kind.duration for s in sessions), "busiest clinician's minutes")
    model.AddHint(busiest, _busiest_now(sessions))
    for terms in loads.values():
        model.Add(busiest >= sum(terms))
    cost = (WEIGHTS["extra_clinician_for_a_patient"] * sum(v for group in seen.values() for v in group.values())
            + WEIGHTS["busiest_clinician_minute"] * busiest + WEIGHTS["changed_resource"] * sum(changes))
    model.Add(cost <= cost_of_current(sessions))  # never worse than what is booked now
    model.Minimize(cost)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = limits.time_limit
    solver.parameters.num_workers = limits.workers
    solver.parameters.cp_model_probing_level = 0
    if limits.workers <= 2:  # the default portfolio at this size proves a weak bound; LP-based ones prove it
        for name in ["max_lp", "core"][: max(limits.workers, 1)]:
            solver.parameters.subsolvers.append(name)
    first = _FirstSolution(began)
    status = solver.Solve(model, first)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ReplanSolution(current.placements, status=f"unchanged ({solver.StatusName(status).lower()})",
                              seconds=time.perf_counter() - began)

    def picked(session_id: int, role: str) -> list[int]:
        return [ident for ident, literal in choices[session_id, role] if solver.BooleanValue(literal)]

    placements = tuple(
        Placement(str(s.id), 0, s.start, picked(s.id, "clinician")[0],
                  picked(s.id, "room")[0] if s.kind.needs_room else None,
                  tuple(sorted(unit for pool in s.kind.devices for unit in picked(s.id, f"device {pool.type_name}"))))
        for s in sessions
    )
    return ReplanSolution(placements, status=solver.StatusName(status).lower(), objective=solver.ObjectiveValue(),
                          bound=solver.BestObjectiveBound(), first_solution_seconds=first.seconds,
                          seconds=time.perf_counter() - began)
