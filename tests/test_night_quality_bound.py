"""The quality level's bound (``solver.night_quality_bound``): it sees a second clinician forced on a patient, and it
never claims better than an answer reaches, nor than CP-SAT proves possible."""

import random
import time

import pytest

from bench.instances import generate
from solver.night_check import measure
from solver.night_greedy import place_greedily
from solver.night_index import NightIndex
from solver.night_problem import BookedSession, NightProblem, Spacing
from solver.night_quality_bound import quality_bound, simple_bound
from solver.plan_model import Limits
from solver.plans import Candidate, Placement, SessionKind
from solver.replan import replan
from tests.test_plan_rules import at, daily
from tests.test_replan import ANNA, BEN, waiting

DAYS = tuple(at(day, 0) for day in range(14))
BEN_MORNINGS = Candidate(BEN.id, "Ben", daily(8, 10))
MANUAL = SessionKind("manual", "Manual therapy", 1, 30, (ANNA, BEN_MORNINGS))


def bound(problem: NightProblem, placements) -> float:
    return quality_bound(NightIndex(problem), list(placements), until=time.perf_counter() + 30)


def test_a_second_clinician_forced_on_a_patient_is_counted():
    """Patient 1 is seen at 9:00 and 11:00; only Anna works at 11:00, and at 9:00 she must keep patient 2, so patient
    1 sees Ben and Anna. One clinician per patient and service would say 2 clinicians in all; the bound says 3."""
    sessions = (
        BookedSession(1, 1, MANUAL, at(1, 9), Placement("1", 0, at(1, 9), BEN.id)),
        BookedSession(2, 1, MANUAL, at(1, 11), Placement("2", 0, at(1, 11), ANNA.id)),
        BookedSession(3, 2, MANUAL, at(1, 9), Placement("3", 0, at(1, 9), ANNA.id), keep_clinician=True),
    )
    problem = NightProblem(sessions, day_starts=DAYS)
    solution = replan(problem, Limits(time_limit=2.0, workers=1))
    best = measure(problem, solution.placements)
    assert best["extra_clinician_for_a_patient"] == 3
    value = bound(problem, solution.placements)
    # 3 clinician-patient pairs, Anna's 60 minutes as the busiest, the sessions' own 90 minutes (Anna's real span,
    # 9:00-11:30, is longer: the bound does not see idle time)
    assert 3 * 1000 + 5 * 60 + 90 - 1 <= value <= best["quality"]
    assert solution.stage("quality").relaxation == value


def small_night(seed: int) -> NightProblem:
    """Booked sessions on two clinicians, some kept, some the clinic lets move; waiting requests, a team, a spacing."""
    rng = random.Random(seed)
    sessions, requests, taken = [], [], set()
    for ident in range(1, 9):
        day, hour = rng.randint(1, 3), rng.randint(8, 16)
        clinician = rng.choice([ANNA, BEN_MORNINGS if hour < 10 else ANNA])
        if (clinician.id, day, hour) in taken:
            continue
        taken.add((clinician.id, day, hour))
        start = at(day, hour)
        sessions.append(BookedSession(ident, rng.randint(1, 4), MANUAL, start, Placement(str(ident), 0, start,
                                      clinician.id), keep_clinician=rng.random() < 0.2,
                                      may_start=[(start - 30, start + 31)] if rng.random() < 0.3 else ()))
    for n in range(5):
        day, hour = rng.randint(1, 3), rng.randint(8, 15)
        requests.append(waiting(f"w{n}", rng.randint(1, 4), [(at(day, hour), at(day, hour + 2))], 1 + n % 3, MANUAL,
                                team="t" if n in (3, 4) else None))
    return NightProblem(tuple(sessions), tuple(requests), spacings=(Spacing("w0", "w1", min_hours=1),), grid=30,
                        day_starts=DAYS)


@pytest.mark.parametrize("seed", range(8))
def test_the_bound_never_claims_better_than_cp_sat_proves(seed):
    """On small nights CP-SAT proves the quality level's optimum; the programme may be loose, never above it."""
    problem = small_night(seed)
    solution = replan(problem, Limits(time_limit=5.0, workers=1))
    stage = solution.stage("quality")
    value = bound(problem, solution.placements)
    assert stage.bound is not None and stage.bound >= stage.value - 1e-6, "the whole model proves these small nights"
    assert value <= stage.value
    assert value > simple_bound(NightIndex(problem), list(solution.placements)), "the programme sees more than that"


@pytest.mark.parametrize("family", ["demo", "pt", "sports"])
def test_on_the_benchmark_families_the_bound_stays_below_every_answer(family):
    """Kept sessions whose shift was cut, moves within an hour, teams, lunch breaks, days across a clock change: the
    bound stays at or below first fit's answer and the solver's, and above the simple count where courses clash."""
    problem = generate(family, 300, 7, booked_share=0.8).problem
    for placements in (place_greedily(problem), replan(problem, Limits(time_limit=4.0, workers=1)).placements):
        value = bound(problem, placements)
        assert simple_bound(NightIndex(problem), list(placements)) < value <= measure(problem, placements)["quality"]
