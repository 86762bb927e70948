"""A lower bound on a plan's quality level from each kind's sessions alone, and the clinician who gives it.

CP-SAT's own bound on the quality level is what propagation finds at the
root: each session's earliest day under the spacing rules. It cannot see
that one clinician for a whole kind (continuity of care) keeps the sessions
to that clinician's free days, and proving it by search took seconds (the
24-session sij_rehab plan at least 48 h apart: bound 300, optimum 318, proven
after 1.2 s to more than 3 s, or not at all).

The relaxation places each kind on its own, for one clinician and for all
of them: every session at the first start, on the grid, at which the patient,
the plan's allowed time, that clinician and some room and device units are
free, no earlier than the rules from the session before allow (order, days
apart, hours apart; the upper limits are left out). In any schedule that
places the whole kind, a session starts no earlier than its start in that
chain: by induction along the kind, since the earliest next start only
grows with the previous one. So the chain's days bound the kind's days.

Per kind: with continuity of care, the cheapest of one clinician throughout
(their chain, and the last-clinician term when they are not the patient's
last clinician) or at least one extra clinician (its weight and the chain of
all of them); otherwise the chain of all of them. The plan's other kinds,
its links and the preferred times are left out, so each term only
underestimates; their sum bounds the quality level of every schedule that
places every session.
"""

from bisect import bisect_right
from dataclasses import dataclass

from solver.intervals import Intervals, at_least, intersect, normalize, starts_fitting, union
from solver.plan_check import WEIGHTS
from solver.plans import Candidate, PlanProblem, SameClinician, SessionKind, blocked


@dataclass(frozen=True)
class Relaxation:
    """``bound`` on the quality level of a fully placed plan; ``clinicians`` the one per kind that gives it."""

    bound: int
    clinicians: dict[str, int]


def quality_bound(problem: PlanProblem) -> Relaxation | None:
    """The relaxation's bound, or None when some kind cannot be placed in full even on its own."""
    bound, clinicians = 0, {}
    for kind in problem.kinds:
        if kind.count == 0:
            continue
        everyone = _chain_cost(problem, kind, kind.clinicians)
        if everyone is None:
            return None
        if kind.same_clinician == SameClinician.NONE:
            bound += everyone
            continue
        alone = {}
        for clinician in kind.clinicians:
            days = _chain_cost(problem, kind, (clinician,))
            if days is not None:
                alone[clinician.id] = days + _not_last(problem, kind, clinician)
        options = list(alone.values())
        if kind.same_clinician == SameClinician.PREFERRED:
            options.append(WEIGHTS["extra_clinician_for_a_kind"] + everyone)
        if not options:
            return None
        bound += min(options)
        if alone and min(alone.values()) == min(options):
            clinicians[kind.key] = min(alone, key=lambda ident: (alone[ident], ident))
    return Relaxation(bound, clinicians)


def _not_last(problem: PlanProblem, kind: SessionKind, clinician: Candidate) -> int:
    """The last-clinician term of a kind given wholly by ``clinician``."""
    listed = problem.last_clinician in {c.id for c in kind.clinicians}
    return WEIGHTS["not_previous_clinician"] * kind.count if listed and clinician.id != problem.last_clinician else 0


def _starts(problem: PlanProblem, kind: SessionKind, clinicians: tuple[Candidate, ...]) -> Intervals:
    """Where a session of the kind may start with one of ``clinicians``, some room and enough units free."""
    def free_for(candidate: Candidate, cleaning: int = 0) -> Intervals:
        low, high = blocked(kind, 0, cleaning)
        return starts_fitting(normalize(candidate.free), -low, high)

    starts = intersect(starts_fitting(normalize(problem.allowed), 0, kind.duration),
                       starts_fitting(normalize(problem.patient_free), 0, kind.duration))
    starts = intersect(starts, union(*(free_for(c) for c in clinicians)))
    if kind.needs_room:
        starts = intersect(starts, union(*(free_for(room) for room in kind.rooms)))
    for pool in kind.devices:
        if pool.count > 0:
            starts = intersect(starts, at_least([free_for(unit, unit.cleaning) for unit in pool.units], pool.count))
    return starts


def _chain_cost(problem: PlanProblem, kind: SessionKind, clinicians: tuple[Candidate, ...]) -> int | None:
    """The kind's days from the horizon's start, each session as early as the one before allows, and what
    missing the preferred times costs at least: a session starts at or after its chain start, so it either
    pays for that day and a time not preferred, or waits for the first preferred start."""
    starts = _starts(problem, kind, clinicians)
    preferred = normalize(problem.preferred)
    liked = intersect(starts, starts_fitting(preferred, 0, kind.duration)) if preferred else None
    cost, previous = 0, None
    for _ in range(kind.count):
        low = starts[0][0] if starts else 0
        if previous is not None:
            low = max(low, previous + kind.duration)
            if kind.min_gap_hours is not None:
                low = max(low, previous + 60 * kind.min_gap_hours)
            if kind.min_gap_days is not None:
                low = max(low, problem.day_start(problem.day_of(previous) + kind.min_gap_days))
        previous = _first_start(starts, low, problem.grid, problem.grid_origin)
        if previous is None:
            return None
        session = problem.day_of(previous)
        if liked is not None:
            waited = _first_start(liked, previous, problem.grid, problem.grid_origin)
            session = min(session + WEIGHTS["not_preferred_time"],
                          problem.day_of(waited) if waited is not None else session + WEIGHTS["not_preferred_time"])
        cost += session
    return cost


def _first_start(starts: Intervals, low: int, grid: int, origin: int) -> int | None:
    """The first grid minute in ``starts`` at or after ``low``."""
    for begin, end in starts[max(bisect_right(starts, (low, low)) - 1, 0):]:
        begin = max(begin, low)
        first = begin + (-(begin - origin)) % grid
        if first < end:
            return first
    return None
