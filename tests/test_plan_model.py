"""The CP-SAT plan model: always valid, never worse than greedy, and it can say what binds."""

from dataclasses import replace

from hypothesis import given, settings

from solver.plan_check import check
from solver.plan_greedy import place_greedily
from solver.plan_model import BindingRule, Explanation, Limits, Outcome, explain_unplaced, solve_plan
from solver.plans import SameVisit
from tests.test_plan_rules import DIAGNOSIS, EMTT, ESWT, NOVAK, at, daily, plan, small_plans

FAST = Limits(time_limit=2.0, workers=1)


@settings(max_examples=60, deadline=None)
@given(small_plans())
def test_every_solver_answer_passes_the_checker_and_places_at_least_what_greedy_places(problem):
    solution = solve_plan(problem, FAST)
    assert check(problem, solution) == []
    assert len(solution.placements) >= len(place_greedily(problem).placements)


def test_the_model_places_what_greedy_misses():
    """Exactly 5 days apart, patient free on days 0, 1 and 6: first-fit takes day 0 and is stuck."""
    course = replace(ESWT, count=2, devices=(), needs_room=False, min_gap_days=5, max_gap_days=5)
    problem = plan(course, allowed=[(at(day, 8), at(day, 18)) for day in (0, 1, 6)])
    greedy, solved = place_greedily(problem), solve_plan(problem, FAST)
    assert len(greedy.placements) == 1
    assert len(solved.placements) == 2 and check(problem, solved) == []
    assert solved.status == "optimal" and solved.objective == solved.bound


def test_48_hours_apart_push_the_second_session_past_the_next_calendar_day():
    """From 17:00 on day 1, one day apart would allow day 2; 48 h ask for 17:00 on day 3 or later."""
    course = replace(ESWT, count=2, devices=(), needs_room=False, min_gap_days=1, max_gap_days=None,
                     min_gap_hours=48)
    problem = plan(course, patient_free=[(at(1, 17), at(15, 0))])
    solved = solve_plan(problem, FAST)
    first, second = sorted(solved.placements, key=lambda p: p.index)
    assert first.start == at(1, 17) and second.start >= at(3, 17)
    assert check(problem, solved) == [] and solved.status == "optimal"


def test_the_model_keeps_a_most_hours_rule_that_greedy_cannot():
    """48-50 h apart and the patient free only late on day 2: first-fit takes 8:00 on day 0 and is stuck."""
    course = replace(ESWT, count=2, devices=(), needs_room=False, min_gap_days=None, max_gap_days=None,
                     min_gap_hours=48, max_gap_hours=50)
    problem = plan(course, patient_free=[(at(0, 8), at(0, 18)), (at(2, 16), at(2, 18))])
    greedy, solved = place_greedily(problem), solve_plan(problem, FAST)
    assert len(greedy.placements) == 1
    assert len(solved.placements) == 2 and check(problem, solved) == []
    first, second = sorted(p.start for p in solved.placements)
    assert second >= at(2, 16) and 48 * 60 <= second - first <= 50 * 60


def test_explanation_names_the_hours_rule():
    """Three sessions 72 h apart need days 0, 3 and 6; the plan has days 0-5."""
    course = replace(ESWT, count=3, devices=(), needs_room=False, min_gap_days=None, max_gap_days=None,
                     min_gap_hours=72)
    problem = plan(course, allowed=daily(8, 18, days=6))
    assert len(solve_plan(problem, FAST).placements) == 2
    assert explain_unplaced(problem, FAST) == Explanation(Outcome.BINDING_RULES,
                                                          (BindingRule("spacing_hours", "eswt"),))


def test_continuity_of_care_is_preferred():
    course = replace(ESWT, count=3, devices=(), needs_room=False)
    solution = solve_plan(plan(course), FAST)
    assert len({p.clinician for p in solution.placements}) == 1
    assert solution.status == "optimal"


def test_explanation_names_the_spacing_rule():
    course = replace(ESWT, count=4, devices=(), needs_room=False, min_gap_days=5, max_gap_days=10)
    problem = plan(course, allowed=daily(8, 18, days=12))
    assert len(solve_plan(problem, FAST).placements) == 3
    assert explain_unplaced(problem, FAST) == Explanation(Outcome.BINDING_RULES, (BindingRule("spacing", "eswt"),))


def test_explanation_names_the_same_visit_link():
    """EMTT must follow ESWT at once, but its only technician is free just at opening time."""
    eswt = replace(ESWT, count=1, devices=(), needs_room=False, min_gap_days=None, max_gap_days=None,
                   buffer_before=0, buffer_after=0)
    technician = replace(NOVAK, free=[(at(day, 8), at(day, 8, 20)) for day in range(15)])
    emtt = replace(EMTT, count=1, clinicians=(technician,))
    problem = plan(eswt, emtt, same_visits=(SameVisit("eswt", "emtt"),))
    assert len(solve_plan(problem, FAST).placements) == 1
    assert explain_unplaced(problem, FAST) == Explanation(Outcome.BINDING_RULES,
                                                          (BindingRule("same_visit", "eswt", "emtt"),))


def test_nothing_to_explain_when_everything_fits():
    assert explain_unplaced(plan(DIAGNOSIS), FAST).outcome == Outcome.FITS


def test_no_rule_to_blame_when_there_is_no_free_time():
    busy = replace(DIAGNOSIS, count=2, clinicians=(replace(NOVAK, free=[(at(0, 8), at(0, 8, 40))]),))
    assert explain_unplaced(plan(busy), FAST) == Explanation(Outcome.NO_CAPACITY)
