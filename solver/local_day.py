"""A session's local calendar day as a CP-SAT variable, by one division wherever that is exact.

Spacing rules count calendar days in the clinic's zone, so a model needs the
day of each start. An Element over every midnight of the horizon does that
for any zone but expands in presolve into thousands of linear constraints (a
24-session plan over 57 days: about 8,400, and 1.4 s of presolve). The day
is also ``(start - first midnight) // 1440`` wherever each stretch of
allowed starts lies within one local day and that division names the same
day, which holds for opening hours away from midnight even across a clock
change (the hour it moves midnight by is a night hour). Where it does not
hold, the day is chosen by cases: one literal per day the starts touch.

Works with anything that tells a minute's day (``day_of``) and a day's first
minute (``day_start``), as ``PlanProblem`` and ``NightProblem`` both do.
"""

from collections.abc import Callable
from typing import Protocol

from ortools.sat.python import cp_model

from solver.intervals import Intervals, intersect

DAY = 24 * 60


class Calendar(Protocol):
    def day_of(self, minute: int) -> int: ...

    def day_start(self, day: int) -> int: ...


def division_is_exact(calendar: Calendar, starts: Intervals) -> bool:
    """Whether every start's day is its distance from the first midnight, divided by 1440 and rounded down."""
    anchor = calendar.day_start(0)
    return all(calendar.day_of(low) == calendar.day_of(high - 1) == (low - anchor) // DAY == (high - 1 - anchor) // DAY
               for low, high in starts)


def local_day(model: cp_model.CpModel, calendar: Calendar, start, step: cp_model.IntVar, starts: Intervals,
              domain: Callable[[Intervals], cp_model.Domain], name: str) -> tuple[cp_model.IntVar, dict[int, object]]:
    """A variable equal to ``calendar.day_of(start)``, and the literal of each day when chosen by cases.

    ``start`` is an expression of ``step``, whose values start in ``starts``
    (not empty); ``domain`` turns minutes into the steps that start in them.
    The day's domain has only the days some start falls on, so a spacing
    rule skips the days the clinic is closed without any search.
    """
    if division_is_exact(calendar, starts):
        days = sorted({calendar.day_of(low) for low, _ in starts})
        day = model.NewIntVarFromDomain(cp_model.Domain.FromValues(days), name)
        model.AddDivisionEquality(day, start - calendar.day_start(0), DAY)
        return day, {}
    first, last = calendar.day_of(starts[0][0]), calendar.day_of(starts[-1][1] - 1)
    parts = {}
    for number in range(first, last + 1):
        low = calendar.day_start(number) if number > first else starts[0][0]
        high = calendar.day_start(number + 1) if number < last else starts[-1][1]
        steps = domain(intersect(starts, [(low, high)]))
        if not steps.is_empty():
            parts[number] = steps
    day = model.NewIntVarFromDomain(cp_model.Domain.FromValues(sorted(parts)), name)
    cases = {}
    for number, steps in parts.items():
        cases[number] = model.NewBoolVar(f"{name} is {number}")
        model.AddLinearExpressionInDomain(step, steps).OnlyEnforceIf(cases[number])
        model.Add(day == number).OnlyEnforceIf(cases[number])
    model.AddExactlyOne(cases.values())
    return day, cases
