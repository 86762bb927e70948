"""Seeded nights for the nightly solver's benchmark and tests, from four independent families of clinics.

Why several: issue 14's result is judged on instances the product has never
seen, so no one generator's habits may be what the solver is tuned to. The
families share only the ledger their booked sessions are booked against (and
the local calendar of ``calendar``); they differ in time zone, grid,
services, shifts, windows, spacing (days or hours), device units and their
cleaning and maintenance, and in how the front desk chose who serves what:

- ``demo``: the demo clinic scaled with the size (UTC, 15-minute grid,
  first fit by lowest ids), the family ``bench/solver.py`` always had;
- ``pt``: a physiotherapy practice of 12-20 clinicians in Berlin across the
  spring clock change (5-minute grid, lunch breaks, one shockwave and one
  EMTT unit, 1-3 ultrasound units, 6 treatment rooms and 2 gyms, plans of
  2-4 sessions spaced in days or hours, patient weekday sets and daily
  windows, booked by a front desk that picks at random);
- ``sports``: a sports-medicine centre in New York across the autumn clock
  change (15-minute grid, early, late and split shifts, 1-3 units of five
  device types with their own cleaning times and maintenance, a two-unit
  laser session, rooms only some services may use, sessions without a room,
  courses held by one clinician, booked sessions that may move within an
  hour, and shifts shortened after sessions were booked in them);
- ``hospital``: a hospital's outpatient rehabilitation department, three
  weeks in Sydney across Easter and the April clock change (10-minute grid,
  part-time and alternate-week clinicians of four disciplines, a pool of 4
  lanes where an assisted session takes 2, a gait lab with set-up and
  cleaning, durations off the grid, courses under way before the night,
  booked by a desk that takes whoever became free latest), written last and
  apart from the others, as a probe (2026-12-01).

Every family takes the same options: ``size`` (booked + waiting), ``seed``,
``booked_share`` (0 is an empty night; None the family's default),
``capacity`` ("loose", "normal", "tight"), ``clinicians`` (None: the
family's own count for the size and capacity) and ``windows`` ("narrow",
"wide", "mixed"; None: the family's default for the capacity).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.instances import demo, hospital_rehab, pt_clinic, sports_center
from solver.night_check import check_night
from solver.night_problem import NightProblem, ReplanSolution

FAMILIES: dict[str, Callable[..., tuple[NightProblem, dict]]] = {
    "demo": demo.generate, "pt": pt_clinic.generate, "sports": sports_center.generate,
    "hospital": hospital_rehab.generate}
CAPACITIES = ("loose", "normal", "tight")
WINDOWS = ("narrow", "wide", "mixed")


@dataclass(frozen=True)
class Instance:
    """A generated night and what it is made of (``facts``: clinicians, units, windows, load...)."""

    family: str
    seed: int
    size: int
    problem: NightProblem
    facts: dict
    generate_seconds: float


def generate(family: str, size: int, seed: int, booked_share: float | None = None, capacity: str = "normal",
             clinicians: int | None = None, windows: str | None = None) -> Instance:
    """One night of ``family``; raises if its current schedule breaks a rule or its size is not ``size``."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; one of {sorted(FAMILIES)}")
    if capacity not in CAPACITIES or windows not in (None, *WINDOWS):
        raise ValueError(f"capacity is one of {CAPACITIES}, windows one of {WINDOWS}")
    if booked_share is not None and not 0 <= booked_share <= 1:
        raise ValueError("booked_share lies between 0 and 1")
    began = time.perf_counter()
    problem, facts = FAMILIES[family](size, seed, booked_share=booked_share, capacity=capacity,
                                      clinicians=clinicians, windows=windows)
    seconds = time.perf_counter() - began
    sessions = len(problem.booked) + len(problem.waiting)
    if sessions != size:
        raise AssertionError(f"{family} seed {seed}: {sessions} sessions instead of {size}")
    broken = check_night(problem, ReplanSolution(tuple(s.current for s in problem.booked), status="current"))
    if broken:
        raise AssertionError(f"{family} seed {seed} size {size}: the current schedule is invalid: {broken[:3]}")
    facts = {"booked": len(problem.booked), "waiting": len(problem.waiting), "spacing_rules": len(problem.spacings),
             "capacity": capacity, **facts}
    return Instance(family, seed, size, problem, facts, seconds)
