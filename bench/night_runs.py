"""One measured run of the nightly solver: generate a night, place it greedily, re-plan it, check and count both.

Kept apart from ``bench/solver.py`` (the targets and the summary) so the
chain figure's worker processes import only this. Everything a target is
judged on is counted here from the placements (``measure``) and re-checked
(``check_night``); what ``replan`` says about itself (stage values, its
greedy figures, its bounds) is recorded next to that and compared with it,
never taken on trust.
"""

import hashlib
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.instances import generate
from solver.night_check import check_night, measure
from solver.night_greedy import place_greedily
from solver.night_problem import NightProblem, ReplanSolution, Stage
from solver.plan_model import Limits
from solver.replan import replan

OVERRUN = 0.05
"""The issue allows the whole call (model building included) 5 % over its time limit."""

SOLVER_FILES = Path(__file__).resolve().parents[1] / "solver"


def solver_digest() -> str:
    """A fingerprint of the solver code this process runs (solver/*.py), so runs made while it changed show it."""
    digest = hashlib.sha256()
    for path in sorted(SOLVER_FILES.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Run:
    """What to generate and how long ``replan`` may take; ``target`` names what the run is judged for."""

    target: str
    family: str
    size: int
    seed: int
    time_limit: float
    booked_share: float | None = None
    capacity: str = "normal"
    clinicians: int | None = None
    workers: int = 2

    @property
    def label(self) -> str:
        booked = "" if self.booked_share is None else f" {self.booked_share:.0%} booked"
        who = "" if self.clinicians is None else f" {self.clinicians} clin."
        tight = "" if self.capacity == "normal" else f" {self.capacity}"
        return f"{self.family} {self.size}{booked}{tight}{who} s{self.seed} {self.time_limit:g}s"


def percent(new: float, old: float) -> float | None:
    """How much ``new`` is above ``old``, relative to ``old`` (%)."""
    return None if old == 0 else round(100 * (new - old) / old, 2)


def fewer(solver: float, greedy: float) -> float | None:
    """How much less the solver leaves than greedy, relative to greedy's (%)."""
    return None if greedy == 0 else round(100 * (greedy - solver) / greedy, 2)


def stage_record(stage: Stage, measured: int) -> dict:
    """A stage as ``replan`` reports it, whether its value is what the placements are worth, and whether its
    bounds can be true (a bound on a "max" level below the value reached, or on a "min" one above it, is false)."""
    def holds(bound: float | None) -> bool | None:
        if bound is None:
            return None
        return bound >= stage.value - 1e-6 if stage.sense == "max" else bound <= stage.value + 1e-6

    return {"name": stage.name, "sense": stage.sense, "value": stage.value, "measured": measured,
            "value_matches_measure": stage.value == measured, "bound": stage.bound, "relaxation": stage.relaxation,
            "best_bound": stage.best_bound, "gap": None if stage.gap is None else round(stage.gap, 6),
            "status": stage.status, "bound_holds": holds(stage.bound), "relaxation_holds": holds(stage.relaxation)}


def side(problem: NightProblem, values: dict) -> dict:
    waiting_points = sum(w.priority for w in problem.waiting)
    return {"placed_points": values["placed"], "placed_sessions": values["placed_sessions"],
            "unplaced_sessions": len(problem.waiting) - values["placed_sessions"],
            "unplaced_points": waiting_points - values["placed"], "sooner": values["sooner"],
            "quality": values["quality"]}


def measure_run(run: Run) -> dict:
    """Generate, place greedily, re-plan (timed as a whole), check both answers and count them."""
    load, code = os.getloadavg()[0], solver_digest()
    instance = generate(run.family, run.size, run.seed, booked_share=run.booked_share, capacity=run.capacity,
                        clinicians=run.clinicians)
    problem = instance.problem
    began = time.perf_counter()
    greedy = place_greedily(problem)
    greedy_seconds = time.perf_counter() - began
    greedy_broken = check_night(problem, ReplanSolution(greedy, status="greedy"))
    began = time.perf_counter()
    solution = replan(problem, Limits(time_limit=run.time_limit, workers=run.workers))
    wall = time.perf_counter() - began
    broken = check_night(problem, solution)
    before, after = measure(problem, greedy), measure(problem, solution.placements)
    stages = [stage_record(stage, after[stage.name]) for stage in solution.stages]
    placed = solution.stage("placed")
    levels = ("placed", "sooner", "quality")
    mine = (-after["placed"], after["sooner"], after["quality"])
    theirs = (-before["placed"], before["sooner"], before["quality"])
    best = None if placed is None else placed.best_bound
    return {
        **asdict(run), "label": run.label, "booked": len(problem.booked), "waiting": len(problem.waiting),
        "waiting_points": sum(w.priority for w in problem.waiting),
        "wall_seconds": round(wall, 3), "within_limit_plus_5pct": wall <= run.time_limit * (1 + OVERRUN),
        "replan_seconds": round(solution.seconds, 3),
        "first_solution_seconds": None if solution.first_solution_seconds is None else round(
            solution.first_solution_seconds, 3),
        "status": solution.status,
        "greedy": side(problem, before), "solver": side(problem, after),
        "greedy_seconds": round(greedy_seconds, 3),
        "more_sessions_than_greedy_pct": percent(after["placed_sessions"], before["placed_sessions"]),
        "more_points_than_greedy_pct": percent(after["placed"], before["placed"]),
        "fewer_unplaced_sessions_pct": fewer(len(problem.waiting) - after["placed_sessions"],
                                             len(problem.waiting) - before["placed_sessions"]),
        "fewer_unplaced_points_pct": fewer(sum(w.priority for w in problem.waiting) - after["placed"],
                                           sum(w.priority for w in problem.waiting) - before["placed"]),
        "better_than_greedy": mine < theirs,
        "better_than_greedy_on": next((name for name, a, b in zip(levels, mine, theirs) if a != b), None),
        "worse_than_greedy": mine > theirs,
        "points_above_greedy_at_most": None if best is None else round(best - before["placed"], 2),
        "stages": stages,
        "stage_values_match_measure": all(s["value_matches_measure"] for s in stages),
        "bounds_hold": all(s["bound_holds"] is not False and s["relaxation_holds"] is not False for s in stages),
        "greedy_reported_by_replan": solution.greedy,
        "greedy_report_matches": solution.greedy is None or all(
            solution.greedy.get(name) == before[name] for name in levels if name in solution.greedy),
        "check_night_ok": broken == [], "check_problems": broken[:5],
        "greedy_check_night_ok": greedy_broken == [],
        "instance": {**instance.facts, "generate_seconds": round(instance.generate_seconds, 3)},
        "load_average_1min": {"before": round(load, 2), "after": round(os.getloadavg()[0], 2)},
        "pid": os.getpid(), "solver_digest": code,
    }
