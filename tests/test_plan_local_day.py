"""A session's local calendar day in the CP-SAT model: one division where that is exact, cases where it is not.

The calendar here has the spring clock change of a zone five hours behind
UTC: local midnight moves from 05:00 to 04:00 UTC after day 2, so that day is
23 hours long and every later midnight is an hour earlier than whole days from
the first one. Opening hours are untouched by that; the first hour after a
later midnight is not: whole days from the first midnight still count it as
the day before.
"""

from dataclasses import replace

from ortools.sat.python import cp_model

from solver.intervals import grid_points
from solver.local_day import division_is_exact, local_day
from solver.plan_check import check
from solver.plans import PlanProblem
from tests.test_plan_levels import model_optimum
from tests.test_plan_rules import ESWT, WEBER, plan

HOUR, DAY = 60, 24 * 60
MIDNIGHTS = tuple(5 * HOUR + day * DAY - (HOUR if day > 2 else 0) for day in range(8))
CALENDAR = PlanProblem(kinds=(), allowed=[], patient_free=[], day_starts=MIDNIGHTS)


def local(day: int, hour: int, minute: int = 0) -> int:
    return MIDNIGHTS[day] + hour * HOUR + minute


def opening_hours(days=range(7), first: int = 8, last: int = 18):
    return [(local(day, first), local(day, last)) for day in days]


def steps(starts, grid: int = 15) -> cp_model.Domain:
    return cp_model.Domain.FromIntervals([[-(-low // grid), (high - 1) // grid] for low, high in starts
                                          if -(-low // grid) <= (high - 1) // grid])


def days_of_every_start(starts, grid: int = 15) -> dict[int, int]:
    """The model's day for each start on the grid in ``starts``, one solve per start."""
    found = {}
    for minute in grid_points(starts, grid):
        model = cp_model.CpModel()
        step = model.NewIntVarFromDomain(steps(starts, grid), "step")
        day, _ = local_day(model, CALENDAR, grid * step, step, starts, steps, "day")
        model.Add(step == minute // grid)
        solver = cp_model.CpSolver()
        assert solver.Solve(model) == cp_model.OPTIMAL
        found[minute] = solver.Value(day)
    return found


def test_opening_hours_across_the_clock_change_are_whole_days_from_the_first_midnight():
    assert division_is_exact(CALENDAR, opening_hours())


def test_the_hour_after_a_shifted_midnight_is_not():
    assert not division_is_exact(CALENDAR, [(local(4, 0), local(4, 2))])
    assert division_is_exact(CALENDAR, [(local(1, 0), local(1, 2))])  # before the change it still is


def test_a_stretch_across_midnight_is_not():
    assert not division_is_exact(CALENDAR, [(local(1, 20), local(2, 2))])


def test_the_model_day_is_the_calendar_day_by_division():
    starts = opening_hours(first=7, last=9)
    assert all(day == CALENDAR.day_of(minute) for minute, day in days_of_every_start(starts).items())


def test_the_model_day_is_the_calendar_day_by_cases_around_midnight():
    """Late evening to early morning, before and after the change: the division would put 00:30 on day 4 on day 3."""
    starts = [(local(1, 23), local(2, 1)), (local(3, 22), local(4, 2))]
    days = days_of_every_start(starts)
    assert days[local(4, 0, 30)] == 4 and days[local(3, 23, 30)] == 3
    assert all(day == CALENDAR.day_of(minute) for minute, day in days.items())


def test_spacing_counts_local_days_where_the_division_would_not():
    """Sessions exactly one local day apart, allowed only 23:00-01:00 around a shifted midnight: 23:00 on day 3
    and 00:00 on day 4 are a local day apart, though whole days from the first midnight say 0."""
    course = replace(ESWT, count=2, devices=(), needs_room=False, buffer_before=0, buffer_after=0,
                     min_gap_days=1, max_gap_days=1, clinicians=(replace(WEBER, free=[(0, local(7, 0))]),))
    problem = replace(plan(course), day_starts=MIDNIGHTS, allowed=[(local(3, 23), local(4, 1))],
                      patient_free=[(0, local(7, 0))])
    solution = model_optimum(problem)
    assert [CALENDAR.day_of(p.start) for p in sorted(solution.placements, key=lambda p: p.index)] == [3, 4]
    assert check(problem, solution) == []
