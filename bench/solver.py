"""Benchmark: does the nightly re-plan (``solver.replan``) meet issue 14's targets, on nights it was not built on?

Nights come from four independent seeded families (``bench/instances``:
the demo clinic scaled with the size, a 12-20 clinician PT clinic, a
sports-medicine centre, a hospital's outpatient rehabilitation); every run is one ``replan(problem,
Limits(time_limit, workers=2))`` call, timed as a whole (model building
included; the issue allows 5 % over the limit), against the first-fit
baseline ``place_greedily``. Both answers are re-checked with
``check_night`` and counted with ``measure``; the stages ``replan`` reports
are compared with that count and their bounds with the values reached.

The targets (issue 14), each judged on every run made for it:

- ``medium``: 600 sessions, 80 % booked: optimal or gap <= 1 % on every
  stage within 60 s (two seeds per family);
- ``large_10s``: 2,000 sessions (80 % booked): better than greedy
  (lexicographically: points placed, then sooner, then quality) within 10 s;
- ``large_300s``: 2,000 sessions: gap of the placements stage <= 3 % within
  300 s;
- ``empty_12``: empty nights of 1,000 and 1,200 sessions with 12
  clinicians: >= 4 % more sessions placed than first fit within 120 s;
- ``empty_2000``: an empty night of 2,000 sessions (the family's own
  clinicians): >= 5 % more within 300 s;
- ``tight``: tight capacity (the family's tight clinic, booked share and
  narrow windows) at 300, 600, 1,200, 2,000 and 3,000 sessions: >= 15 %
  fewer waiting sessions left unplaced than greedy, with 60 s up to 600
  sessions, 120 s up to 1,200 and 300 s above;
- ``chain``: 10 locations x 600 sessions (80 % booked; the families in
  turn) in 2 processes of 1 CP-SAT worker each within 10 minutes in all
  (each location gets 600 / 5 rounds x 0.8 = 96 s, as
  ``scheduler.optimization`` gives it), every location strictly better than
  greedy.

Every run must also pass ``check_night``, report stage values equal to
``measure`` and bounds that do not contradict a value reached; the summary
says so per target and overall, and the exit status is 1 when any answer
failed the check or any run crashed. Each run has a process of its own
(CP-SAT aborts its process when one of its internal checks fails; that
costs the run, recorded as crashed, not the benchmark).

Usage (from the project folder)::

    python bench/solver.py              # everything: about 1 h 45 min on 2 cores
    python bench/solver.py --quick      # a smoke run of about 5 minutes
    python bench/solver.py --targets medium,tight --families pt --seeds 3,4
    python bench/solver.py --targets tight --families demo --sizes 2000

It prints one line per run on stderr, writes the JSON summary to
bench/results/solver.json after every run (so a stopped run keeps what it
measured, and ``--resume`` makes only the runs it lacks) and a plot next to
it (bench/results/solver.png) when matplotlib is importable (``pip install
-e .[bench]``). Nothing here is tuned or hard-coded: every figure is
measured in the run that reports it.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # before bench/, whose solver.py (this file) would shadow the package

from bench.common import to_json, versions  # noqa: E402
from bench.instances import FAMILIES  # noqa: E402
from bench.night_runs import OVERRUN, Run, measure_run  # noqa: E402

RESULTS_FILE = ROOT / "bench" / "results" / "solver.json"  # the plot goes next to it, as solver.png
CHAIN_LOCATIONS, CHAIN_SESSIONS, CHAIN_BUDGET, CHAIN_PROCESSES = 10, 600, 600.0, 2


@dataclass(frozen=True)
class Target:
    name: str
    text: str
    threshold: float | None  # the figure each run must reach (gap at most, or % at least)


TARGETS = {t.name: t for t in [
    Target("medium", "600 sessions (80 % booked): optimal or gap <= 1 % on every stage within 60 s", 0.01),
    Target("large_10s", "2,000 sessions: better than greedy within 10 s", None),
    Target("large_300s", "2,000 sessions: gap on the placements stage <= 3 % within 300 s", 0.03),
    Target("empty_12", "empty nights of 1,000-1,200 sessions, 12 clinicians: >= 4 % more sessions placed than "
                       "first fit within 120 s", 4.0),
    Target("empty_2000", "empty night of 2,000 sessions: >= 5 % more sessions placed than first fit within 300 s",
           5.0),
    Target("tight", "tight instances: >= 15 % fewer unplaced than greedy at every size", 15.0),
    Target("chain", "chain of 10 x 600 within 10 minutes on 2 cores (2 processes), every location strictly better "
                    "than greedy", None),
]}
TIGHT_SIZES = (300, 600, 1200, 2000, 3000)


def tight_limit(size: int) -> float:
    return 60.0 if size <= 600 else 120.0 if size <= 1200 else 300.0


def plan(targets: list[str], families: list[str], seeds: list[int] | None, quick: bool) -> list[Run]:
    """The runs for ``targets`` (the chain is run apart); ``seeds`` replace each target's own."""
    def pick(own: list[int]) -> list[int]:
        return seeds if seeds else own

    runs: list[Run] = []
    if quick:  # one run per target that fits in about five minutes, the families in turn
        quick_runs = {
            "medium": [Run("medium", families[0], 600, 1, 60.0, booked_share=0.8)],
            "large_10s": [Run("large_10s", f, 2000, 1, 10.0, booked_share=0.8) for f in families],
            "empty_12": [Run("empty_12", families[1 % len(families)], 1100, 1, 120.0, booked_share=0.0,
                             clinicians=12)],
            "tight": [Run("tight", families[2 % len(families)], 600, 1, 60.0, capacity="tight")],
        }
        return [run for name in targets for run in quick_runs.get(name, [])]
    for family in families:
        if "medium" in targets:
            runs += [Run("medium", family, 600, s, 60.0, booked_share=0.8) for s in pick([1, 2])]
        if "large_10s" in targets:
            runs += [Run("large_10s", family, 2000, s, 10.0, booked_share=0.8) for s in pick([1, 2])]
        if "empty_12" in targets:
            runs += [Run("empty_12", family, (1000, 1200)[n % 2], s, 120.0, booked_share=0.0, clinicians=12)
                     for n, s in enumerate(pick([1, 2]))]
    for family in families:
        if "large_300s" in targets:
            runs += [Run("large_300s", family, 2000, s, 300.0, booked_share=0.8) for s in pick([1])]
        if "empty_2000" in targets:
            runs += [Run("empty_2000", family, 2000, s, 300.0, booked_share=0.0) for s in pick([1])]
        if "tight" in targets:
            runs += [Run("tight", family, size, s, tight_limit(size), capacity="tight")
                     for size in TIGHT_SIZES for s in pick([1])]
    return runs


def chain_runs(families: list[str], seeds: list[int] | None) -> list[Run]:
    rounds = math.ceil(CHAIN_LOCATIONS / CHAIN_PROCESSES)
    limit = CHAIN_BUDGET / rounds * 0.8  # as scheduler.optimization gives each location
    first = (seeds or [101])[0]
    return [Run("chain", families[n % len(families)], CHAIN_SESSIONS, first + n, limit, booked_share=0.8, workers=1)
            for n in range(CHAIN_LOCATIONS)]


def isolated(run: Run) -> dict:
    """``measure_run`` in a process of its own: CP-SAT aborts its process when an internal check fails, and such a
    crash should cost that run (recorded as crashed), not the whole benchmark."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return pool.submit(measure_run, run).result()
        except BrokenProcessPool as error:
            return {**asdict(run), "label": run.label, "crashed": f"the process died: {error}"}
        except Exception as error:  # a bug in the run's code: recorded, and the other runs go on
            return {**asdict(run), "label": run.label, "crashed": f"{type(error).__name__}: {error}"}


def run_chain(runs: list[Run]) -> dict:
    """The locations two at a time, each in its own process, as the nightly job runs them."""
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CHAIN_PROCESSES) as pool:
        locations = list(pool.map(isolated, runs))
    wall = time.perf_counter() - began
    for record in locations:
        say(record)
    return {"locations": len(runs), "sessions_per_location": CHAIN_SESSIONS, "processes": CHAIN_PROCESSES,
            "cp_sat_workers_per_location": 1, "per_location_time_limit_s": runs[0].time_limit,
            "budget_seconds": CHAIN_BUDGET, "total_wall_seconds": round(wall, 3), "per_location": locations}


def say(record: dict) -> None:
    if "crashed" in record:
        print(f"[bench/solver] {record['target']}: {record['label']}: CRASHED ({record['crashed']})", file=sys.stderr,
              flush=True)
        return
    placed = next((s for s in record["stages"] if s["name"] == "placed"), {})
    print(f"[bench/solver] {record['target']}: {record['label']}: {record['wall_seconds']} s, greedy "
          f"{record['greedy']['placed_sessions']} sessions / {record['greedy']['placed_points']} pts, solver "
          f"{record['solver']['placed_sessions']} / {record['solver']['placed_points']} (bound "
          f"{placed.get('best_bound')}, gap {placed.get('gap')}), better {record['better_than_greedy']}, check "
          f"{record['check_night_ok']}", file=sys.stderr, flush=True)


def in_time(record: dict) -> bool:
    return record["within_limit_plus_5pct"]


def verdict(target: Target, records: list[dict]) -> dict:
    """Whether every run made for ``target`` meets it, with the figure each run reached."""
    if not records:
        return {"target": target.text, "met": None, "not_run": True}
    rows, met = [], True
    for r in records:
        if "crashed" in r:
            rows.append({"label": r["label"], "crashed": r["crashed"], "met": False})
            met = False
            continue
        stages = {s["name"]: s for s in r["stages"]}
        row = {"label": r["label"], "wall_seconds": r["wall_seconds"], "in_time": in_time(r),
               "check_night_ok": r["check_night_ok"],
               "placements_proven_optimal": stages.get("placed", {}).get("status") == "optimal"}
        if target.name == "medium":
            row["stages"] = {n: {"status": s["status"], "gap": s["gap"]} for n, s in stages.items()}
            ok = len(stages) == 3 and all(s["status"] == "optimal" or (s["gap"] is not None and s["gap"] <= 0.01)
                                          for s in stages.values())
        elif target.name in ("large_10s", "chain"):
            row.update(better=r["better_than_greedy"], on=r["better_than_greedy_on"],
                       points=f"{r['greedy']['placed_points']} -> {r['solver']['placed_points']}")
            ok = r["better_than_greedy"]
        elif target.name == "large_300s":
            placed = stages.get("placed", {})
            row.update(gap=placed.get("gap"), status=placed.get("status"), bound=placed.get("best_bound"),
                       points=r["solver"]["placed_points"])
            ok = placed.get("status") == "optimal" or (placed.get("gap") is not None and placed["gap"] <= 0.03)
        elif target.name in ("empty_12", "empty_2000"):
            row.update(more_sessions_pct=r["more_sessions_than_greedy_pct"],
                       sessions=f"{r['greedy']['placed_sessions']} -> {r['solver']['placed_sessions']} of "
                                f"{r['waiting']}", more_points_pct=r["more_points_than_greedy_pct"],
                       points_above_greedy_at_most=r["points_above_greedy_at_most"])
            ok = r["more_sessions_than_greedy_pct"] is not None and r[
                "more_sessions_than_greedy_pct"] >= target.threshold
        else:  # tight
            row.update(fewer_unplaced_pct=r["fewer_unplaced_sessions_pct"],
                       unplaced=f"{r['greedy']['unplaced_sessions']} -> {r['solver']['unplaced_sessions']} of "
                                f"{r['waiting']}", fewer_unplaced_points_pct=r["fewer_unplaced_points_pct"],
                       points_above_greedy_at_most=r["points_above_greedy_at_most"])
            ok = r["fewer_unplaced_sessions_pct"] is not None and r["fewer_unplaced_sessions_pct"] >= target.threshold
        row["met"] = bool(ok and in_time(r) and r["check_night_ok"])
        met = met and row["met"]
        rows.append(row)
    return {"target": target.text, "met": met, "runs_met": f"{sum(r['met'] for r in rows)}/{len(rows)}",
            "per_run": rows}


def summarize(records: list[dict], chain: dict | None, targets: list[str]) -> dict:
    found = {}
    for name in targets:
        mine = chain["per_location"] if name == "chain" and chain else [r for r in records if r["target"] == name]
        found[name] = verdict(TARGETS[name], mine)
    if chain:
        found["chain"]["total_wall_seconds"] = chain["total_wall_seconds"]
        found["chain"]["met"] = bool(found["chain"]["met"] and chain["total_wall_seconds"] <= CHAIN_BUDGET)
    everything = records + (chain["per_location"] if chain else [])
    found["no_run_crashed"] = {"met": not any("crashed" in r for r in everything),
                               "crashed": [r["label"] for r in everything if "crashed" in r]}
    everything = [r for r in everything if "crashed" not in r]
    found["solver_code_measured"] = sorted({r.get("solver_digest", "not recorded") for r in everything})
    found["every_answer_passes_check_night"] = {"met": all(r["check_night_ok"] for r in everything),
                                                "failed": [r["label"] for r in everything if not r["check_night_ok"]]}
    found["every_call_within_limit_plus_5pct"] = {
        "met": all(in_time(r) for r in everything),
        "over": [f"{r['label']}: {r['wall_seconds']} s" for r in everything if not in_time(r)]}
    found["stage_values_equal_measure"] = {"met": all(r["stage_values_match_measure"] for r in everything),
                                           "differ": [r["label"] for r in everything
                                                      if not r["stage_values_match_measure"]]}
    found["bounds_never_below_a_value_reached"] = {
        "met": all(r["bounds_hold"] for r in everything),
        "false_bounds": [{"label": r["label"], "stages": [s for s in r["stages"] if s["bound_holds"] is False
                                                          or s["relaxation_holds"] is False]}
                         for r in everything if not r["bounds_hold"]]}
    found["never_worse_than_greedy"] = {"met": not any(r["worse_than_greedy"] for r in everything),
                                        "worse": [r["label"] for r in everything if r["worse_than_greedy"]]}
    return found


def plot(records: list[dict], chain: dict | None, path: Path) -> dict:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return {"made": False, "reason": f"matplotlib is not importable ({exc}); pip install -e .[bench]"}
    everything = [r for r in records + (chain["per_location"] if chain else []) if "crashed" not in r]
    if not everything:
        return {"made": False, "reason": "nothing was run"}
    labels = [f"{r['target']}: {r['label']}" for r in everything]
    where = range(len(everything))
    figure, axes = plt.subplots(4, 1, figsize=(max(10, 0.35 * len(everything)), 16), sharex=True)
    more, fewer_unplaced, gaps, time_used = axes
    more.bar(where, [r["more_sessions_than_greedy_pct"] or 0 for r in everything], color="tab:green")
    for level in (4, 5):
        more.axhline(level, color="grey", linestyle=":")
    more.set_ylabel("% more sessions\nplaced than greedy")
    fewer_unplaced.bar(where, [r["fewer_unplaced_sessions_pct"] or 0 for r in everything], color="tab:blue")
    fewer_unplaced.axhline(15, color="grey", linestyle=":")
    fewer_unplaced.set_ylabel("% fewer unplaced\nthan greedy")
    for name, marker in (("placed", "o"), ("sooner", "s"), ("quality", "^")):
        values = [next((100 * s["gap"] for s in r["stages"] if s["name"] == name and s["gap"] is not None), math.nan)
                  for r in everything]
        gaps.plot(where, values, marker, label=f"{name} stage")
    for level in (1, 3):
        gaps.axhline(level, color="grey", linestyle=":")
    gaps.set_yscale("symlog", linthresh=1)
    gaps.set_ylim(bottom=0)
    gaps.set_ylabel("gap % (none: no bound)")
    gaps.legend(fontsize="small")
    time_used.bar(where, [r["wall_seconds"] / r["time_limit"] for r in everything],
                  color=["tab:red" if not r["within_limit_plus_5pct"] else "tab:grey" for r in everything])
    time_used.axhline(1 + OVERRUN, color="tab:red", linestyle=":")
    time_used.set_ylabel("wall / time limit")
    time_used.set_xticks(list(where), labels, rotation=75, ha="right", fontsize="x-small")
    figure.suptitle("Nightly re-plan vs first fit (2 CP-SAT workers; chain: 1 each in 2 processes)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return {"made": True, "file": str(path)}


def solver_code() -> dict:
    """Which solver was measured: the commit, and any uncommitted change to solver/ on top of it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.rstrip("\n")

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted_in_solver": git("status", "--porcelain", "--", "solver").splitlines()}


def write(summary: dict, output: Path) -> str:
    text = to_json(summary)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n")
    return text


def names(parser: argparse.ArgumentParser, text: str, known, option: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        parser.error(f"{option}: one or more of {', '.join(known)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short run per target, about 5 minutes")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated (default: all)")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated (default: all)")
    parser.add_argument("--seeds", default="", help="comma-separated seeds instead of each target's own")
    parser.add_argument("--sizes", default="", help="comma-separated: only the runs of these sizes (not the chain)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs (and chain) already in --output and make only the missing ones")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE,
                        help="JSON file, the plot beside it as .png (default %(default)s)")
    args = parser.parse_args(argv)
    targets = names(parser, args.targets, TARGETS, "--targets")
    families = names(parser, args.families, FAMILIES, "--families")
    try:
        seeds = [int(part) for part in args.seeds.split(",") if part.strip()]
        sizes = {int(part) for part in args.sizes.split(",") if part.strip()}
    except ValueError:
        parser.error("--seeds and --sizes take comma-separated integers")
    runs = [run for run in plan(targets, families, seeds, args.quick) if not sizes or run.size in sizes]
    chain = chain_runs(families, seeds) if "chain" in targets and not args.quick else []
    started = time.perf_counter()
    summary: dict = {
        "benchmark": "solver (nightly re-plan, issue 14 targets)",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "versions": versions("ortools", "protobuf", "matplotlib"),
        "solver_code": solver_code(),
        "quick": args.quick,
        "plan": [run.label + f" [{run.target}]" for run in runs + chain],
        "runs": [],
        "chain": None,
    }
    if args.resume and args.output.exists():
        earlier = json.loads(args.output.read_text())
        summary["resumed"] = {"from": earlier["date"], "runs_kept": len(earlier["runs"])}
        summary["runs"], summary["chain"] = earlier["runs"], earlier.get("chain")
        made = {(r["target"], r["label"]) for r in summary["runs"]}
        runs = [run for run in runs if (run.target, run.label) not in made]
        chain = [] if summary["chain"] else chain
    for run in runs:
        record = isolated(run)
        say(record)
        summary["runs"].append(record)
        summary["targets"] = summarize(summary["runs"], None, targets)
        write(summary, args.output)
    if chain:
        summary["chain"] = run_chain(chain)
    summary["targets"] = summarize(summary["runs"], summary["chain"], targets)
    summary["plot"] = plot(summary["runs"], summary["chain"], args.output.with_suffix(".png"))
    summary["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    summary["total_seconds"] = round(time.perf_counter() - started, 1)
    print(write(summary, args.output))
    checked = summary["targets"]["every_answer_passes_check_night"]["met"]
    return 0 if checked and summary["targets"]["no_run_crashed"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
