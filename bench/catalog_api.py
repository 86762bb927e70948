"""Benchmark: latency and throughput of the catalog API on SQLite and PostgreSQL.

What it measures, per backend, on a fresh database holding the demo clinic
(1 location, 10 clinicians, 60 patients, ...):

- ``list_clinicians``  GET   /api/v1/clinicians?limit=50
- ``get_clinician``    GET   /api/v1/clinicians/{id}   (cycling over the demo clinicians)
- ``search_patients``  GET   /api/v1/patients?name=ol
- ``create_patient``   POST  /api/v1/patients
- ``update_patient``   PATCH /api/v1/patients/{id}     (cycling over the patients just created)
- ``sign_in``          POST  /api/v1/auth/token        (fewer iterations: argon2 is slow on purpose)

Each operation runs a few unmeasured warm-up requests, then ``--requests``
sequential requests timed one by one with ``time.perf_counter``. Reported per
operation: count, errors (non-2xx responses), p50/p95/p99/mean/max latency in
ms, requests/second (count divided by the loop's wall time) and the mean
number of SQL statements the request sent to the database (on SQLite this
includes the explicit ``BEGIN`` the engine issues).

The app is built with ``api.main.create_app`` and driven in-process with
``fastapi.testclient.TestClient``: there is no socket, no uvicorn, no HTTP
parsing and no client on another machine, so the numbers exclude network and
uvicorn overhead and are a lower bound on what a client would see. They are
single-client, sequential numbers (no concurrency).

Usage (from the project folder)::

    python bench/catalog_api.py [--backend sqlite|postgresql|both] [--requests N]
                                [--postgres-server URL]

It prints a JSON summary to stdout and saves it to bench/results/catalog_api.json.
Each backend gets its own database (SQLite in a temporary directory, PostgreSQL
a new ``clinic_bench_<random>`` database that is dropped at the end, also on
error).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import secrets
import sys
import time
import traceback
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # before bench/, whose solver.py would shadow the solver package

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, event  # noqa: E402

from api.main import create_app  # noqa: E402
from data.config import Settings  # noqa: E402
from data.db import make_engine, session_scope  # noqa: E402
from data.demo import ensure_demo_users, load_demo_clinic  # noqa: E402
from data.migrate import upgrade  # noqa: E402
from bench.common import percentile, postgres_database, server_version, sqlite_database, versions  # noqa: E402

DEFAULT_POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RESULTS_FILE = ROOT / "bench" / "results" / "catalog_api.json"
API = "/api/v1"
SIGN_IN_REQUESTS = 20
WARMUP_REQUESTS = 5
SIGN_IN_WARMUP = 2


# --- measuring ---------------------------------------------------------------


class StatementCounter:
    """Counts the SQL statements an engine sends, to spot N+1 query patterns."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.count += 1


def measure(
    request: Callable[[int], object],
    *,
    count: int,
    warmup: int,
    statements: StatementCounter,
    time_limit: float,
) -> dict:
    """Send ``warmup`` then ``count`` requests; ``request(i)`` returns an httpx response."""
    for index in range(warmup):
        request(-1 - index)
    gc.collect()
    latencies: list[float] = []
    errors = 0
    first_error = None
    statements_before = statements.count
    started = time.perf_counter()
    deadline = started + time_limit
    for index in range(count):
        t0 = time.perf_counter()
        response = request(index)
        latencies.append(time.perf_counter() - t0)
        if not 200 <= response.status_code < 300:
            errors += 1
            if first_error is None:
                first_error = {"status": response.status_code, "body": response.text[:300]}
        if time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - started
    done = len(latencies)
    ordered = sorted(ms * 1000 for ms in latencies)
    result = {
        "count": done,
        "errors": errors,
        "p50_ms": round(percentile(ordered, 0.50), 3),
        "p95_ms": round(percentile(ordered, 0.95), 3),
        "p99_ms": round(percentile(ordered, 0.99), 3),
        "mean_ms": round(sum(ordered) / done, 3),
        "max_ms": round(ordered[-1], 3),
        "requests_per_second": round(done / elapsed, 1),
        "sql_statements_per_request": round((statements.count - statements_before) / done, 2),
    }
    if done < count:
        result["truncated"] = f"stopped after {done} of {count} requests: the {time_limit:g} s budget ran out"
    if first_error is not None:
        result["first_error"] = first_error
    return result


# --- databases ---------------------------------------------------------------


# --- one backend ---------------------------------------------------------------


def bench_backend(url: str, *, requests: int, time_limit: float) -> dict:
    password = secrets.token_urlsafe(16)
    engine = make_engine(url)
    try:
        setup_started = time.perf_counter()
        upgrade(engine)
        migrated = time.perf_counter()
        with session_scope(engine) as session:
            load_demo_clinic(session, today=date.today())
            ensure_demo_users(session, password=password)
        loaded = time.perf_counter()

        settings = Settings(database_url=url, secret_key=secrets.token_urlsafe(32))
        app = create_app(settings, engine)
        statements = StatementCounter(engine)
        with TestClient(app) as client:
            def sign_in(_index: int):
                return client.post(f"{API}/auth/token", data={"username": "admin", "password": password})

            answer = sign_in(0)
            answer.raise_for_status()
            client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

            clinicians = client.get(f"{API}/clinicians", params={"limit": 50})
            clinicians.raise_for_status()
            clinician_ids = [item["id"] for item in clinicians.json()["items"]]
            search = client.get(f"{API}/patients", params={"name": "ol"})
            search.raise_for_status()
            existing_patients = [item["id"] for item in search.json()["items"]] or [1]
            created: list[int] = []
            run = secrets.token_hex(3)

            def list_clinicians(_index: int):
                return client.get(f"{API}/clinicians", params={"limit": 50})

            def get_clinician(index: int):
                return client.get(f"{API}/clinicians/{clinician_ids[index % len(clinician_ids)]}")

            def search_patients(_index: int):
                return client.get(f"{API}/patients", params={"name": "ol"})

            def create_patient(index: int):
                # Names that do not start with "ol", so the search result stays the same size.
                response = client.post(f"{API}/patients", json={
                    "given_name": "Bench", "family_name": f"Patient {run} {index}",
                    "birth_date": "1980-05-17", "phone": f"+1 646 555 {abs(index) % 10000:04d}",
                    "email": f"bench.{run}.{index + 100}@example.com",
                })
                if response.status_code == 201:
                    created.append(response.json()["id"])
                return response

            def update_patient(index: int):
                ids = created or existing_patients
                return client.patch(f"{API}/patients/{ids[index % len(ids)]}",
                                    json={"phone": f"+1 917 555 {abs(index) % 10000:04d}"})

            operations = {
                "list_clinicians": (list_clinicians, requests, WARMUP_REQUESTS),
                "get_clinician": (get_clinician, requests, WARMUP_REQUESTS),
                "search_patients": (search_patients, requests, WARMUP_REQUESTS),
                "create_patient": (create_patient, requests, WARMUP_REQUESTS),
                "update_patient": (update_patient, requests, WARMUP_REQUESTS),
                "sign_in": (sign_in, min(SIGN_IN_REQUESTS, requests), SIGN_IN_WARMUP),
            }
            results = {}
            for name, (request, count, warmup) in operations.items():
                results[name] = measure(request, count=count, warmup=warmup, statements=statements,
                                        time_limit=time_limit)
        finished = time.perf_counter()
        return {
            "server": server_version(engine),
            "dataset": {
                "clinicians": clinicians.json()["total"],
                "patients_matching_ol": search.json()["total"],
                "patients_created": len(created),
            },
            "setup_seconds": {"migrate": round(migrated - setup_started, 3),
                              "demo_load": round(loaded - migrated, 3)},
            "bench_seconds": round(finished - loaded, 3),
            "operations": results,
        }
    finally:
        engine.dispose()


def run_backend(backend: str, args: argparse.Namespace) -> dict:
    database = sqlite_database() if backend == "sqlite" else postgres_database(args.postgres_server)
    try:
        with database as url:
            return bench_backend(url, requests=args.requests, time_limit=args.op_time_limit)
    except Exception as exc:  # a failing backend is reported, the other one still runs
        traceback.print_exc(file=sys.stderr)
        return {"error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per operation (default 300)")
    parser.add_argument("--postgres-server", default=DEFAULT_POSTGRES_SERVER,
                        help="server on which a throw-away database is created (default: %(default)s)")
    parser.add_argument("--op-time-limit", type=float, default=30.0,
                        help="seconds after which one operation stops early, to keep the run bounded (default 30)")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")

    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    started = time.perf_counter()
    summary = {
        "benchmark": "catalog_api",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "config": {
            "requests_per_operation": args.requests,
            "sign_in_requests": min(SIGN_IN_REQUESTS, args.requests),
            "warmup_requests_per_operation": WARMUP_REQUESTS,
            "client": "fastapi.testclient.TestClient in-process (no network, no uvicorn), one sequential client",
            "versions": versions("fastapi", "starlette", "pydantic", "sqlalchemy", "sqlmodel", "psycopg", "httpx", "pwdlib", "argon2-cffi"),
        },
        "backends": {backend: run_backend(backend, args) for backend in backends},
    }
    summary["total_seconds"] = round(time.perf_counter() - started, 3)

    text = json.dumps(summary, indent=2)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(text + "\n")
    print(text)
    return 1 if any("error" in result for result in summary["backends"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
