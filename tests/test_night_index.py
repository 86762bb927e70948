"""The night's index (``solver/night_index.py``): where each session could be served, worked out once per
candidate and span and shared between sessions, never between two services that see one clinician differently."""

from solver.night_index import NightIndex
from solver.night_problem import NightProblem, WaitingSession
from solver.plans import Candidate, SessionKind
from tests.test_plan_rules import at, daily


def test_one_clinician_free_at_different_times_for_two_services_keeps_each_services_hours():
    mornings, afternoons = Candidate(1, "Anna", daily(8, 12)), Candidate(1, "Anna", daily(13, 18))
    manual = SessionKind("manual", "Manual therapy", 1, 30, (mornings,))
    gait = SessionKind("gait", "Gait analysis", 1, 30, (afternoons,))
    day = [(at(1, 0), at(2, 0))]
    waiting = tuple(WaitingSession(f"{kind.key}-{n}", 100 + n, kind, day) for n in range(3) for kind in (manual, gait))
    index = NightIndex(NightProblem(waiting=waiting))
    for n in range(3):
        assert index.sessions[f"manual-{n}"].clinicians[1].starts == [(at(1, 8), at(1, 11, 30) + 1)]
        assert index.sessions[f"gait-{n}"].clinicians[1].starts == [(at(1, 13), at(1, 17, 30) + 1)]
