"""Benchmark: a chain's nights through the task engine on 1, 2 and 3 worker processes (issue 18).

Each location's night (``bench/instances``, 600 sessions, 80 % booked, the
families in turn, seeded) is one procrastinate job in a scratch PostgreSQL
database migrated by our own migrations (so the engine's schema is the one
``clinic db upgrade`` makes). N worker processes of procrastinate, one job
at a time each, work the queue until it is empty; a job is
``bench.night_runs.measure_run``: generate the night, place it greedily,
re-plan it with 1 CP-SAT worker within ``--time-limit``, check both answers
and count them. The figure is the wall time from the first job deferred to
the last worker done, and per location the solver's answer against greedy's.

From the largest process count's throughput the summary works out how many
such worker processes a 1,000-location service needs to finish its nights in
a 4-hour window (the arithmetic is in the JSON, under ``extrapolation``).

Usage (from the project folder; a PostgreSQL server, e.g. the local one)::

    python bench/chain.py                                   # 50 x 600 on 1, 2 and 3 processes: ~45 min on 2 cores
    python bench/chain.py --locations 4 --sessions 300 --time-limit 5 --processes 1,2   # a smoke run

It prints the JSON summary and writes it to ``--output`` (default
bench/results/chain.json). Nothing is tuned or hard-coded: every figure is
measured in the run that reports it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # bench/solver.py would otherwise shadow the solver package

import psycopg  # noqa: E402
from procrastinate import App, PsycopgConnector  # noqa: E402

from bench.common import postgres_database, to_json, versions  # noqa: E402
from bench.instances import FAMILIES  # noqa: E402
from bench.night_runs import Run, measure_run  # noqa: E402
from data.db import make_engine  # noqa: E402
from data.migrate import upgrade  # noqa: E402
from scheduler.task_engine import libpq_url  # noqa: E402

RESULTS_FILE = ROOT / "bench" / "results" / "chain.json"
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TASK = "measure_night"
SERVICE_LOCATIONS, WINDOW_HOURS = 1_000, 4
WORKER = "import sys; from pathlib import Path; from bench.chain import work; work(sys.argv[1], Path(sys.argv[2]))"


def bench_engine(database_url: str, records: Path | None = None) -> App:
    """The engine with one task: measure a night and append its record to ``records`` (one file per process)."""
    app = App(connector=PsycopgConnector(conninfo=libpq_url(database_url), min_size=1, max_size=2))

    def measure_night(run: dict) -> None:
        record = measure_run(Run(**run))
        with records.open("a") as sink:
            sink.write(json.dumps(record) + "\n")

    app.task(name=TASK)(measure_night)
    return app


def work(database_url: str, records: Path) -> None:
    """A worker process: jobs one at a time until the queue is empty."""
    bench_engine(database_url, records).run_worker(concurrency=1, wait=False, install_signal_handlers=False)


def chain(database_url: str, runs: list[Run], processes: int, folder: Path) -> dict:
    with bench_engine(database_url).open() as app:
        began = time.perf_counter()
        for run in runs:
            app.configure_task(TASK).defer(run=asdict(run))
        files = [folder / f"worker-{processes}-{n}.jsonl" for n in range(processes)]
        workers = [subprocess.Popen([sys.executable, "-c", WORKER, database_url, str(path)], cwd=ROOT) for path in files]
        codes = [worker.wait() for worker in workers]
        wall = time.perf_counter() - began
    with psycopg.connect(libpq_url(database_url)) as connection:
        left = connection.execute("SELECT status::text, count(*) FROM procrastinate_jobs "
                                  "WHERE status <> 'succeeded' GROUP BY 1").fetchall()
    locations = [json.loads(line) for path in files if path.exists() for line in path.read_text().splitlines()]
    locations.sort(key=lambda record: record["seed"])
    return {
        "processes": processes, "total_wall_seconds": round(wall, 3), "worker_exit_codes": codes,
        "jobs_not_succeeded": dict(left), "locations_measured": len(locations),
        "jobs_per_process": sorted(sum(1 for _ in path.open()) if path.exists() else 0 for path in files),
        "better_than_greedy": sum(record["better_than_greedy"] for record in locations),
        "worse_than_greedy": sum(record["worse_than_greedy"] for record in locations),
        "all_checked": all(record["check_night_ok"] and record["greedy_check_night_ok"] for record in locations),
        "per_location": [{
            "label": record["label"], "wall_seconds": record["wall_seconds"], "status": record["status"],
            "greedy": record["greedy"], "solver": record["solver"],
            "more_points_than_greedy_pct": record["more_points_than_greedy_pct"],
            "fewer_unplaced_sessions_pct": record["fewer_unplaced_sessions_pct"],
            "better_than_greedy": record["better_than_greedy"], "check_night_ok": record["check_night_ok"],
            "pid": record["pid"]} for record in locations],
    }


def extrapolate(result: dict, locations: int) -> dict:
    """Workers for a 1,000-location service in a 4-hour window, from one measured run's throughput."""
    per_process_hour = locations / (result["total_wall_seconds"] / 3600) / result["processes"]
    needed = math.ceil(SERVICE_LOCATIONS / (per_process_hour * WINDOW_HOURS))
    return {
        "from_processes": result["processes"], "locations_per_process_hour": round(per_process_hour, 2),
        "arithmetic": (f"{locations} locations / {result['total_wall_seconds'] / 3600:.4f} h / "
                       f"{result['processes']} processes = {per_process_hour:.2f} locations per process-hour; "
                       f"{SERVICE_LOCATIONS} / ({per_process_hour:.2f} x {WINDOW_HOURS} h) = "
                       f"{SERVICE_LOCATIONS / (per_process_hour * WINDOW_HOURS):.2f} -> {needed} worker processes "
                       "of 1 CP-SAT worker each"),
        "worker_processes_for_1000_locations_in_4h": needed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=600)
    parser.add_argument("--time-limit", type=float, default=30.0, help="CP-SAT seconds per location")
    parser.add_argument("--processes", default="1,2,3", help="worker process counts, e.g. 1,2,3")
    parser.add_argument("--postgres-server", default=SERVER)
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)
    families = sorted(FAMILIES)
    runs = [Run("chain", families[n % len(families)], args.sessions, 101 + n, args.time_limit, booked_share=0.8,
                workers=1) for n in range(args.locations)]
    results = []
    with tempfile.TemporaryDirectory(prefix="clinic_chain_") as folder:
        for processes in [int(count) for count in args.processes.split(",")]:
            with postgres_database(args.postgres_server) as url:
                engine = make_engine(url)
                upgrade(engine)
                engine.dispose()
                results.append(chain(url, runs, processes, Path(folder)))
                print(f"[bench/chain] {processes} process(es): {results[-1]['total_wall_seconds']} s", file=sys.stderr)
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.node(), "cores": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "versions": versions("ortools", "procrastinate", "psycopg"),
        "locations": args.locations, "sessions_per_location": args.sessions, "booked_share": 0.8,
        "time_limit_per_location_s": args.time_limit, "cp_sat_workers_per_location": 1,
        "runs": results, "extrapolation": extrapolate(results[-1], args.locations),
        "ok": all(r["locations_measured"] == args.locations and r["all_checked"] and not r["jobs_not_succeeded"]
                  for r in results),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(to_json(summary, indent=2))
    print(to_json(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
