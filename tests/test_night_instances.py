"""The benchmark's night generators make valid nights, and on small ones ``replan`` keeps every rule and never
places fewer priority points than first fit, reporting stage values that are what its placements are worth.

Small nights (40-120 sessions) from each of the three families, two seeds,
booked, empty and tight; 2 s and one CP-SAT worker a night.
"""

import pytest

from bench.instances import FAMILIES, generate
from solver.night_check import check_night, measure
from solver.night_greedy import place_greedily
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
