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
from solver import night_quality_bound
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
    # 3 clinician-patient pairs, Anna's 60 minutes as the busiest, Anna's day from 9:00 to 11:30 (her sessions' own
    # 60 minutes and the idle time between them: both are held where they are) and Ben's 30 minutes
    assert 3 * 1000 + 5 * 60 + 150 + 30 - 1 <= value <= best["quality"]
    assert solution.stage("quality").relaxation == value


def test_a_move_that_spares_a_patient_a_second_clinician_is_paid_for():
    """Patient 1 is seen by Anna at 9:00 and by Ben at 11:00 (Ben works 11-12 only); the clinic lets the 11:00
    session move by an hour, but Anna must keep patient 2 at 11:00. The best night moves it to Anna earlier (one
    clinician for patient 1, one move). The bound sees that Anna can take it only at another time, so the move's
    50 counts, and that her day still runs from 9:00 to 11:30; counting only a day's free minutes it saw neither
    (2,541)."""
    ben_late = Candidate(BEN.id, "Ben", daily(11, 12))
    manual = SessionKind("manual", "Manual therapy", 1, 30, (ANNA, ben_late))
    sessions = (
        BookedSession(1, 1, manual, at(1, 9), Placement("1", 0, at(1, 9), ANNA.id)),
        BookedSession(2, 1, manual, at(1, 11), Placement("2", 0, at(1, 11), BEN.id),
                      may_start=[(at(1, 10), at(1, 12) + 1)]),
        BookedSession(3, 2, manual, at(1, 11), Placement("3", 0, at(1, 11), ANNA.id), keep_clinician=True),
    )
    problem = NightProblem(sessions, day_starts=DAYS)
    solution = replan(problem, Limits(time_limit=2.0, workers=1))
    best = measure(problem, solution.placements)
    assert (best["quality"], best["moved_session"], best["extra_clinician_for_a_patient"]) == (2652, 1, 2)
    # 2 pairs, Anna's 90 minutes as the busiest, her day 9:00-11:30, the move, one session changing clinician
    assert 2 * 1000 + 5 * 90 + 150 + 50 + 2 - 1 <= bound(problem, solution.placements) <= best["quality"]


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


@pytest.mark.parametrize("detailed", [True, False], ids=["span and move rows", "free minutes only"])
@pytest.mark.parametrize("family", ["demo", "pt", "sports"])
def test_on_the_benchmark_families_the_bound_stays_below_every_answer(family, detailed, monkeypatch):
    """Kept sessions whose shift was cut, moves within an hour, teams, lunch breaks, days across a clock change: the
    bound stays at or below first fit's answer and the solver's, and above the simple count where courses clash;
    with the span and move rows of a night this size, and without them (a large night's form)."""
    if not detailed:
        monkeypatch.setattr(night_quality_bound, "DETAILED_SHARES", 0)
    problem = generate(family, 300, 7, booked_share=0.8).problem
    for placements in (place_greedily(problem), replan(problem, Limits(time_limit=4.0, workers=1)).placements):
        value = bound(problem, placements)
        assert simple_bound(NightIndex(problem), list(placements)) < value <= measure(problem, placements)["quality"]
