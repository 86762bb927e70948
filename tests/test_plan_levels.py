"""The plan proposal's objective levels: what each is worth, the relaxation that bounds quality, and the proofs.

A proposal is solved level by level: sessions placed, then the quality cost
of ``plan_check.measure``. These tests pin down what each quality term counts,
that the CP-SAT model's objective is exactly that count (for any placement,
not only the optimum), that the relaxation of ``plan_bound`` never promises
more than a real schedule gives, and that a proposal says which level is
proven and how.
"""

from dataclasses import replace

from hypothesis import given, settings
from ortools.sat.python import cp_model

from solver.plan_bound import Relaxation, quality_bound
from solver.plan_check import check, measure
from solver.plan_greedy import place_greedily
from solver.plan_model import Limits, _PlanModel, solve_plan
from solver.plans import DevicePool, PlanSolution, SameClinician
from tests.test_plan_rules import (
    BERGER,
    DAY,
    DIAGNOSIS,
    ESWT,
    GYM,
    NOVAK,
    PHYSIO,
    SMALL_DAYS,
    STORZ_1,
    STORZ_2,
    TREATMENT_ROOM,
    WEBER,
    at,
    daily,
    plan,
    session,
    small_plans,
)

FAST = Limits(time_limit=2.0, workers=1)
MORNINGS = daily(8, 11, SMALL_DAYS)
COURSE = replace(ESWT, devices=(), needs_room=False, same_clinician=SameClinician.PREFERRED,
                 min_gap_days=2, max_gap_days=5)


def on_days(clinician, days):
    return replace(clinician, free=[(at(day, 8), at(day, 18)) for day in days])


def quality(problem, solution) -> int:
    return measure(problem, solution.placements)["quality"]


# --- what each quality term counts ------------------------------------------------------------


def test_measure_counts_every_quality_term():
    """Two clinicians for one course, the first session not with the patient's last clinician, the second in the
    afternoon when mornings are preferred, on days 1 and 3."""
    course = replace(COURSE, count=2, min_gap_days=None, max_gap_days=None)
    problem = plan(course, preferred=daily(8, 12), last_clinician=NOVAK.id)
    placements = (session(course, 0, at(1, 9), WEBER), session(course, 1, at(3, 14), NOVAK))
    assert measure(problem, placements) == {
        "placed": 2, "quality": 400 + 100 + 20 + 4, "extra_clinician_for_a_kind": 1, "not_previous_clinician": 1,
        "not_preferred_time": 1, "day_from_start": 4}


def test_the_last_clinician_counts_only_where_they_may_give_the_session():
    course = replace(COURSE, count=1)
    assert measure(plan(course, last_clinician=BERGER.id), (session(course, 0, at(0, 9), WEBER),))[
        "not_previous_clinician"] == 0


def test_a_course_without_continuity_counts_no_extra_clinician():
    course = replace(COURSE, count=2, same_clinician=SameClinician.NONE)
    placements = (session(course, 0, at(0, 9), WEBER), session(course, 1, at(2, 9), NOVAK))
    assert measure(plan(course), placements)["extra_clinician_for_a_kind"] == 0


# --- the model's objective is the measure ------------------------------------------------------


def fixed_to(problem, placements, level: str, floor: int = 0) -> tuple[str, float, set[int]]:
    """Solve the model with every variable fixed to the hint: (status, objective, variables left unhinted)."""
    model = _PlanModel(problem)
    model.level(level, floor)
    model.hint(placements)
    proto = model.model.Proto()
    fixed = {index for index, variable in enumerate(proto.variables)
             if len(bounds := list(variable.domain)) == 2 and bounds[0] == bounds[1]}
    unhinted = set(range(len(proto.variables))) - set(proto.solution_hint.vars) - fixed
    solver = cp_model.CpSolver()
    solver.parameters.fix_variables_to_their_hinted_value = True
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 10
    status = solver.Solve(model.model)
    return solver.StatusName(status), solver.ObjectiveValue(), unhinted


@settings(max_examples=40, deadline=None)
@given(small_plans())
def test_any_first_fit_answer_is_a_complete_hint_worth_exactly_its_measure(problem):
    """Every variable is hinted (auxiliaries too) and the hint is a solution of the model, whose objective on each
    level is what ``measure`` counts: so a level's CP-SAT bound bounds the measure, and the search starts from it."""
    for variant in (problem, replace(problem, preferred=MORNINGS)):
        placements = place_greedily(variant).placements
        worth = measure(variant, placements)
        assert fixed_to(variant, placements, "placed") == ("OPTIMAL", worth["placed"], set())
        assert fixed_to(variant, placements, "quality", floor=worth["placed"]) == ("OPTIMAL", worth["quality"], set())


def test_a_clinician_seen_with_other_free_time_by_another_kind_keeps_each_kinds_view():
    """Weber gives diagnosis any time but ESWT only in the afternoon; the diagnosis room is free only in the
    morning. Busy blocks from ESWT's view would shut Weber's mornings for the diagnosis too."""
    afternoons = replace(WEBER, free=daily(13, 18))
    eswt = replace(COURSE, count=1, clinicians=(afternoons,))
    morning_room = replace(TREATMENT_ROOM, free=daily(8, 12))
    diagnosis = replace(DIAGNOSIS, clinicians=(WEBER,), rooms=(morning_room,))
    problem = plan(eswt, diagnosis)
    placements = place_greedily(problem).placements
    assert len(placements) == 2
    assert fixed_to(problem, placements, "quality", floor=2)[0] == "OPTIMAL"
    solution = solve_plan(problem, FAST)
    assert len(solution.placements) == 2 and check(problem, solution) == []


def model_optimum(problem) -> PlanSolution:
    """The model's own best answer on the quality level with every session placed, found without any hint."""
    model = _PlanModel(problem)
    model.level("quality", floor=len(model.sessions))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 10
    assert solver.Solve(model.model) == cp_model.OPTIMAL
    return PlanSolution(model.placements(solver))


def test_the_model_keeps_a_session_in_its_clinicians_free_time_wherever_the_session_may_start():
    """The patient is free throughout, the only clinician only on day 9: the model must not find day 0."""
    problem = plan(replace(COURSE, count=1, clinicians=(on_days(NOVAK, [9]),)))
    solution = model_optimum(problem)
    assert [p.start // DAY for p in solution.placements] == [9] and check(problem, solution) == []


def test_the_model_keeps_rooms_and_units_in_their_free_time_and_cleaning():
    """The room is free from day 3, one unit is in service until day 5: the first session takes the other unit on
    day 3, the second waits for the first unit's cleaning."""
    room = replace(TREATMENT_ROOM, free=[(at(3, 0), at(15, 0))])
    serviced = replace(STORZ_1, free=[(at(5, 0), at(15, 0))])
    course = replace(ESWT, count=2, rooms=(room,), devices=(DevicePool("shockwave device", 1, (serviced, STORZ_2)),),
                     min_gap_days=None, max_gap_days=None)
    problem = plan(course)
    solution = model_optimum(problem)
    assert [p.start // DAY for p in sorted(solution.placements, key=lambda p: p.index)] == [3, 3]
    assert check(problem, solution) == []


# --- the levels of a proposal -------------------------------------------------------------------


def test_the_placed_level_is_proven_without_search_when_first_fit_places_everything():
    problem = plan(replace(COURSE, count=3))
    solution = solve_plan(problem, FAST)
    placed, quality_level = solution.stages
    assert (placed.name, placed.value, placed.bound, placed.status) == ("placed", 3, 3, "optimal")
    assert quality_level.name == "quality" and quality_level.sense == "min"
    assert solution.objective == quality_level.value == quality(problem, solution)
    assert solution.status == "optimal" and solution.bound == solution.objective


def test_the_placed_level_is_searched_and_proven_when_first_fit_misses_a_session():
    """Exactly 5 days apart, patient free on days 0, 1 and 6: first fit takes day 0 and is stuck."""
    course = replace(COURSE, count=2, min_gap_days=5, max_gap_days=5)
    problem = plan(course, allowed=[(at(day, 8), at(day, 18)) for day in (0, 1, 6)])
    solution = solve_plan(problem, FAST)
    placed = solution.stages[0]
    assert (placed.value, placed.bound, placed.status) == (2, 2, "optimal")
    assert [p.start // DAY for p in sorted(solution.placements, key=lambda p: p.index)] == [1, 6]


def test_every_session_placed_comes_before_any_quality():
    """The only way to place both sessions is a second clinician (400) on a late day; one session alone costs 0."""
    course = replace(COURSE, count=2, clinicians=(on_days(WEBER, [0]), on_days(NOVAK, [12])), max_gap_days=None)
    problem = plan(course)
    solution = solve_plan(problem, FAST)
    assert len(solution.placements) == 2
    assert measure(problem, solution.placements)["extra_clinician_for_a_kind"] == 1


def test_cp_sat_proves_what_the_relaxation_cannot_see():
    """Diagnosis and physiotherapy each fit on day 0 alone (the relaxation: 0 days), but the patient's hour a day
    holds only one of them, so one waits for day 1. CP-SAT proves 1, and its bound is the measure's."""
    problem = plan(DIAGNOSIS, PHYSIO, allowed=daily(8, 9))
    solution = solve_plan(problem, FAST)
    stage = solution.stages[1]
    assert (stage.value, stage.bound, stage.relaxation, stage.status) == (1, 1.0, 0, "optimal")
    assert solution.status == "optimal"


# --- the relaxation ------------------------------------------------------------------------------

WEBER_EVERY_THIRD_DAY = on_days(WEBER, [0, 3, 6, 9, 12])
NOVAK_FROM_DAY_1 = on_days(NOVAK, range(1, 15))
SWITCHING = replace(COURSE, count=3, clinicians=(WEBER_EVERY_THIRD_DAY, NOVAK_FROM_DAY_1))


def test_first_fit_switches_clinician_where_keeping_one_costs_only_days():
    """Day 0 with Weber, then Novak on days 2 and 4 (earlier than Weber's day 3): 0 + 2 + 4 days and a second
    clinician; one clinician throughout costs days 0 + 3 + 6 (Weber) or 1 + 3 + 5 (Novak)."""
    problem = plan(SWITCHING)
    assert measure(problem, place_greedily(problem).placements)["quality"] == 406
    assert quality_bound(problem) == Relaxation(9, {"eswt": WEBER.id})


def test_the_proposal_keeps_the_clinician_the_relaxation_found_and_needs_no_search_to_prove_it():
    problem = plan(SWITCHING)
    solution = solve_plan(problem, FAST)
    stage = solution.stages[1]
    assert (stage.value, stage.relaxation, stage.bound, stage.status) == (9, 9, None, "optimal")
    assert {p.clinician for p in solution.placements} == {WEBER.id} and check(problem, solution) == []


def test_the_relaxation_counts_the_patients_last_clinician():
    """With Novak the patient's last clinician, Weber throughout costs 3 x 100 more than Novak throughout."""
    assert quality_bound(plan(SWITCHING, last_clinician=NOVAK.id)) == Relaxation(9, {"eswt": NOVAK.id})


def test_the_relaxation_never_offers_a_second_clinician_where_one_is_required():
    required = replace(SWITCHING, same_clinician=SameClinician.REQUIRED,
                       clinicians=(WEBER_EVERY_THIRD_DAY, on_days(NOVAK, [1])))
    assert quality_bound(plan(required)) == Relaxation(9, {"eswt": WEBER.id})
    assert quality_bound(plan(replace(required, clinicians=(on_days(NOVAK, [1]),)))) is None


def test_the_relaxation_keeps_hours_apart():
    """From 17:00 on day 0: 48 h apart is 17:00 on day 2, still open; 50 h apart is 19:00 on day 2, after closing,
    so days 0, 3 and 5 (one day apart alone would give 0, 1, 2)."""
    course = replace(COURSE, count=3, same_clinician=SameClinician.NONE, min_gap_days=1, max_gap_days=None)
    late = [(at(0, 17), at(15, 0))]
    assert quality_bound(plan(replace(course, count=2, min_gap_hours=48), patient_free=late)).bound == 0 + 2
    problem = plan(replace(course, min_gap_hours=50), patient_free=late)
    assert quality_bound(problem).bound == 0 + 3 + 5
    solution = solve_plan(problem, FAST)
    assert quality(problem, solution) == 8 and solution.status == "optimal"


def test_the_relaxation_weighs_waiting_for_a_preferred_time_against_missing_it():
    """Preferred: the afternoon of day 14. Waiting costs 14 days, missing it 20: the session waits."""
    course = replace(COURSE, count=1)
    problem = plan(course, preferred=[(at(14, 13), at(14, 18))])
    assert quality_bound(problem).bound == 14
    assert quality(problem, place_greedily(problem)) == 20
    solution = solve_plan(problem, FAST)  # first fit takes day 0; the search stops when it reaches the bound
    assert solution.placements[0].start >= at(14, 13) and quality(problem, solution) == 14
    assert solution.stages[1].status == "optimal"


def test_the_relaxation_uses_only_time_when_a_room_and_a_unit_are_free():
    """The only room is free from day 4 on: nothing starts earlier."""
    room = replace(GYM, free=[(at(4, 0), at(15, 0))])
    course = replace(ESWT, count=1, rooms=(room,))
    assert quality_bound(plan(course)).bound == 4


@settings(max_examples=60, deadline=None)
@given(small_plans())
def test_the_relaxation_never_promises_less_than_a_full_placement_costs(problem):
    """Whatever places every session, first fit's answer or the proposal's, costs at least the relaxation."""
    total = sum(kind.count for kind in problem.kinds)
    for variant in (problem, replace(problem, preferred=MORNINGS)):
        relaxation = quality_bound(variant)
        for solution in (place_greedily(variant), solve_plan(variant, FAST)):
            if len(solution.placements) == total:
                assert relaxation is not None and relaxation.bound <= quality(variant, solution)


@settings(max_examples=60, deadline=None)
@given(small_plans())
def test_every_level_reports_a_value_its_bounds_do_not_contradict(problem):
    solution = solve_plan(problem, FAST)
    assert check(problem, solution) == []
    placed, quality_level = solution.stages
    assert placed.value == len(solution.placements) and quality_level.value == quality(problem, solution)
    assert placed.bound is None or placed.bound >= placed.value
    for bound in (quality_level.bound, quality_level.relaxation):
        assert bound is None or bound <= quality_level.value
    if quality_level.relaxation is not None and quality_level.value <= quality_level.relaxation:
        assert quality_level.status == "optimal"


def test_a_plan_nobody_can_place_reports_its_levels():
    problem = plan(replace(PHYSIO, clinicians=(replace(BERGER, free=[]),)))
    solution = solve_plan(problem, FAST)
    placed, quality_level = solution.stages
    assert solution.placements == () and (placed.value, placed.bound, placed.status) == (0, 0, "optimal")
    assert quality_level.value == solution.objective == 0


def test_with_a_session_left_out_the_rest_are_still_placed_soonest_by_search_alone():
    """Diagnosis is impossible (nobody free), so no relaxation applies; ESWT still goes on days 0, 2 and 4."""
    nobody = replace(DIAGNOSIS, clinicians=(replace(WEBER, free=[]),))
    problem = plan(replace(COURSE, count=3), nobody)
    solution = solve_plan(problem, FAST)
    assert [p.start // DAY for p in sorted(solution.placements, key=lambda p: p.index)] == [0, 2, 4]
    placed, quality_level = solution.stages
    assert placed.value == 3 and quality_level.relaxation is None and quality_level.status == "optimal"


def test_a_session_left_out_sits_at_its_earliest_start_so_no_solution_is_worth_more_than_its_measure():
    """The second session cannot be placed (exactly 5 days apart, only days 0 and 1 allowed); were it free to sit on
    day 1 while left out, a solution's objective would count that day although nothing is placed there."""
    course = replace(COURSE, count=2, min_gap_days=5, max_gap_days=5)
    problem = plan(course, allowed=[(at(day, 8), at(day, 18)) for day in (0, 1)])
    model = _PlanModel(problem)
    model.level("quality", floor=1)
    model.model.Add(model.present["eswt", 1] == 0)
    model.model.Add(model.day["eswt", 1] == 1)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    assert solver.Solve(model.model) == cp_model.INFEASIBLE
