"""The benchmark's night generators make valid nights, and on small ones ``replan`` keeps every rule and never
places fewer priority points than first fit, reporting stage values that are what its placements are worth.

Small nights (40-120 sessions) from each of the families, two seeds,
booked, empty and tight; 2 s and one CP-SAT worker a night.
"""

import pytest
from ortools.sat.python import cp_model

from bench.instances import FAMILIES, generate
from solver.night_check import check_night, measure
from solver.night_greedy import place_greedily
from solver.night_index import NightIndex
from solver.night_model import NightModel
from solver.night_problem import ReplanSolution
from solver.plan_model import Limits
from solver.replan import replan

SMALL = Limits(time_limit=2.0, workers=1)
NIGHTS = [(family, seed, size, options) for family in sorted(FAMILIES) for seed in (1, 2)
          for size, options in ((60, {"booked_share": 0.8}), (100, {"booked_share": 0.0}))]
NIGHTS += [(family, 3, 120, {"capacity": "tight"}) for family in sorted(FAMILIES)]


@pytest.mark.parametrize(("family", "seed", "size", "options"), NIGHTS,
                         ids=[f"{f}-{s}-{n}-{'-'.join(map(str, o.values()))}" for f, s, n, o in NIGHTS])
def test_replan_keeps_every_rule_and_places_at_least_what_first_fit_places(family, seed, size, options):
    problem = generate(family, size, seed, **options).problem
    solution = replan(problem, SMALL)
    assert check_night(problem, solution) == []
    worth = measure(problem, solution.placements)
    assert worth["placed"] >= measure(problem, place_greedily(problem))["placed"]
    assert [stage.name for stage in solution.stages] == ["placed", "sooner", "quality"]
    assert {stage.name: stage.value for stage in solution.stages} == {
        name: worth[name] for name in ("placed", "sooner", "quality")}
    assert all(stage.gap == 0 for stage in solution.stages if stage.status == "optimal")  # "optimal" is the night's


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_family_gives_the_same_night_for_the_same_seed_and_another_for_another(family):
    first, again = generate(family, 80, 5).problem, generate(family, 80, 5).problem
    assert first == again
    assert generate(family, 80, 6).problem != first


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("capacity", ["loose", "normal", "tight"])
def test_every_night_has_its_size_and_a_current_schedule_that_keeps_every_rule(family, capacity):
    for share in (0.0, 0.5, 1.0):
        instance = generate(family, 90, 4, booked_share=share, capacity=capacity)
        problem = instance.problem
        assert len(problem.booked) + len(problem.waiting) == 90
        assert len(problem.booked) == round(90 * share)
        current = ReplanSolution(tuple(s.current for s in problem.booked), status="current")
        assert check_night(problem, current) == []
        assert check_night(problem, ReplanSolution(place_greedily(problem), status="greedy")) == []


def test_the_pt_clinic_spaces_sessions_in_hours_and_days_across_the_clock_change():
    problem = generate("pt", 400, 1, booked_share=0.5).problem
    assert any(rule.min_hours for rule in problem.spacings) and any(rule.min_days for rule in problem.spacings)
    lengths = {later - earlier for earlier, later in zip(problem.day_starts, problem.day_starts[1:])}
    assert lengths == {23 * 60, 24 * 60} and problem.grid == 5


def test_the_sports_centre_has_moves_kept_clinicians_and_units_that_differ():
    instance = generate("sports", 400, 1)
    problem = instance.problem
    assert any(s.may_start for s in problem.booked) and any(s.keep_clinician for s in problem.booked)
    kinds = [s.kind for s in problem.booked] + [w.kind for w in problem.waiting]
    assert any(not kind.needs_room for kind in kinds)
    units = {u.id: u for kind in kinds for pool in kind.devices for u in pool.units}
    assert len({u.cleaning for u in units.values()}) > 1
    assert any(pool.count == 2 for kind in kinds for pool in kind.devices)
    assert any(len(w.kind.clinicians) == 1 for w in problem.waiting) and instance.facts["units_with_maintenance"]
    assert {later - earlier for earlier, later in zip(problem.day_starts, problem.day_starts[1:])} == {
        24 * 60, 25 * 60}



def test_the_hospital_has_three_weeks_off_grid_durations_two_lane_sessions_and_the_april_clock_change():
    problem = generate("hospital", 400, 1).problem
    lengths = [later - earlier for earlier, later in zip(problem.day_starts, problem.day_starts[1:])]
    assert len(problem.day_starts) == 21 and lengths.count(25 * 60) == 1 and problem.grid == 10
    kinds = [s.kind for s in problem.booked] + [w.kind for w in problem.waiting]
    assert any(kind.duration % problem.grid for kind in kinds)
    assert any(pool.count == 2 for kind in kinds for pool in kind.devices)
    assert any(rule.min_hours for rule in problem.spacings) and any(rule.min_days for rule in problem.spacings)
    assert any(s.may_start for s in problem.booked) and any(s.keep_clinician for s in problem.booked)

@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("level", ["placed", "sooner", "quality"])
def test_the_best_answer_so_far_is_a_complete_hint_that_the_model_accepts_as_it_is(family, level):
    """Every variable of a level's model, whole night or a piece of three days, is hinted with the answer it
    starts from, and that hint alone (each variable fixed to it) is a solution worth what ``measure`` says: an
    incomplete hint must first be completed by search, and 2 s pieces were seen ending with no answer at all."""
    problem = generate(family, 160, 4, booked_share=0.6).problem
    index = NightIndex(problem)
    best = {placement.kind: placement for placement in place_greedily(problem)}
    worth = measure(problem, best.values())
    movable = {key for key, info in index.sessions.items() if not info.pinned}
    low, high = problem.day_start(index.first_day + 2), problem.day_start(index.first_day + 5)
    piece = {key for key in movable if (key in best and low <= best[key].start < high)
             or (key not in best and index.sessions[key].starts and index.sessions[key].starts[0][0] < high
                 and index.sessions[key].starts[-1][1] > low)}
    for free, within in ((movable, None), (piece, (low, high))):
        fixed = {key: placement for key, placement in best.items() if key not in free}
        days = {key: problem.day_of(best[key].start) for key in free
                if key in best and index.sessions[key].waiting is not None}
        floor = sum(index.sessions[key].priority for key in free if key in best)
        night = NightModel(index, free, fixed, level, floor=floor, days=days if level == "quality" else None,
                           within=within)
        night.hint(best)
        proto = night.model.proto
        hinted = set(proto.solution_hint.vars)
        unhinted = [number for number, variable in enumerate(proto.variables)
                    if number not in hinted and len(set(variable.domain)) > 1]  # constants need no hint
        assert unhinted == []
        solver = cp_model.CpSolver()
        solver.parameters.fix_variables_to_their_hinted_value = True
        solver.parameters.num_workers = 1
        assert solver.Solve(night.model) == cp_model.OPTIMAL
        if within is None or level == "quality":  # the first two levels count only the piece's own sessions
            assert solver.ObjectiveValue() == worth[level]
