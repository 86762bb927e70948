"""Load test: a mixed front-desk workload on two app processes sharing one PostgreSQL database, then an audit.

What it builds: a throw-away PostgreSQL database (``clinic_bench_<random>``),
migrated, with the demo clinic (``data.demo.load_demo_clinic``, anchored on
today in America/New_York: 10 clinicians, 8 rooms, 5 device units, 60
patients) and one front-desk account. Two ``clinic serve --no-migrate``
processes (one uvicorn worker each) listen on two free loopback ports with the
same ``CLINIC_SECRET_KEY``, so the token signed in on one works on both; the
first runs the background jobs (hold sweeper), the second has
``CLINIC_BACKGROUND_JOBS=false``. Each runs in its own process group and the
group is stopped at the end; the database is dropped, also on error.

What it drives: ``--clients`` (16) concurrent asyncio clients (httpx), for at
most ``--seconds`` (30) and at most ``--requests`` (5000) requests in all.
Each client sends its requests alternately to the two processes (a stand-in
for a round-robin load balancer). A request is a write with probability
``--write-share`` (0.2), else a search:

- ``availability``: ``GET /api/v1/availability`` for a random service and
  patient, from local midnight of a random day in the next three weeks, over
  1 to 3 days, 20 slots. The client keeps each service's latest answer.
- writes, chosen among what the client can do (its first request is a
  search): ``hold`` (``POST /holds`` on a slot from a kept answer, its exact
  clinician, room and units), ``book_hold`` (``POST /appointments`` with one
  of its holds), ``book_direct`` (``POST /appointments`` on a slot),
  ``cancel`` (``POST /appointments/{id}/cancel`` of one of its holds or
  bookings) and ``reschedule`` (``POST /appointments/{id}/reschedule`` of one
  of its bookings to a slot of a kept answer for that service). Every write
  carries a fresh ``Idempotency-Key``. A client only changes appointments it
  made itself, so "the last acknowledged state" of each is well defined.

409 and 410 answers are contention (someone took the slot first) and are
counted apart from errors; errors are 5xx answers, timeouts and connection
failures. Other 4xx answers would be the benchmark's own mistakes and are
listed separately.

The audit, after both servers are stopped, reads the database directly:

(a) no two live allocations of the same resource (clinician, room, device,
    patient) overlap in [starts_at, ends_at), ignoring holds already expired
    (the exclusion constraint ``allocation_no_double_booking`` forbids it on
    PostgreSQL; this is an independent check); also that booked/pending
    appointments have all allocations live and cancelled ones none;
(b) every appointment a client got a 2xx for exists, with the status and
    start of its last acknowledged change;
(c) every acknowledged change (hold, book, cancel, reschedule) has its
    ``audit_entry`` row (same action and appointment id).

Appointments whose last request ended in an error (the change may or may not
have happened) are left out of (b) and counted. The exit code is 1 when the
audit fails or setup fails, else 0.

Before measuring it waits (``--wait-idle-minutes``, 20; polling every 30 s)
until no CI run (``bash .ci/run``) or pytest process is running on the
machine, and records the load average.

Usage (from the project folder)::

    python bench/load.py [--seconds 30] [--requests 5000] [--clients 16] [--write-share 0.2] [--seed N]
                         [--timeout 30] [--wait-idle-minutes 20] [--postgres-server URL]

It prints a JSON summary and saves it to bench/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # before bench/, whose solver.py would shadow the solver package

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import select  # noqa: E402

from data.accounts import upsert_user  # noqa: E402
from data.db import make_engine, session_scope  # noqa: E402
from data.demo import TIME_ZONE, load_demo_clinic  # noqa: E402
from data.enums import Role  # noqa: E402
from data.migrate import upgrade  # noqa: E402
from data.tables import Patient, Service  # noqa: E402
from bench.common import (  # noqa: E402
    clinic_script,
    free_port,
    percentile,
    postgres_database,
    server_version,
    to_json,
    versions,
)

DEFAULT_POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RESULTS_FILE = ROOT / "bench" / "results" / "load.json"
API = "/api/v1"
USERNAME = "bench_desk"
SERVER_START_SECONDS = 60
IDLE_POLL_SECONDS = 30
BUSY_PATTERNS = ("bash .ci/run", "pytest")
SEARCH_DAYS_AHEAD = 21
KINDS = ("availability", "hold", "book_hold", "book_direct", "cancel", "reschedule")
WRITE_WEIGHTS = {"hold": 3, "book": 3, "cancel": 2, "reschedule": 2}
CONTENTION = (409, 410)
ACTION_OF = {"hold": "hold", "book_hold": "book", "book_direct": "book", "cancel": "cancel",
             "reschedule": "reschedule"}


# --- waiting for a quiet machine -------------------------------------------------------


def busy_processes() -> list[str]:
    found = []
    for pattern in BUSY_PATTERNS:
        result = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True, check=False)
        for line in result.stdout.splitlines():
            pid = int(line.split(maxsplit=1)[0])
            if pid != os.getpid() and "pgrep" not in line:
                found.append(line[:160])
    return found


def wait_until_idle(limit_minutes: float) -> dict:
    """Poll until nothing from BUSY_PATTERNS runs, at most ``limit_minutes``."""
    started = time.monotonic()
    seen: list[str] = []
    while True:
        busy = busy_processes()
        if not busy:
            return {"idle": True, "waited_seconds": round(time.monotonic() - started), "busy_seen": seen[:5]}
        seen = seen or busy
        if time.monotonic() - started >= limit_minutes * 60:
            return {"idle": False, "waited_seconds": round(time.monotonic() - started), "still_busy": busy[:5]}
        print(f"waiting for a quiet machine: {len(busy)} busy process(es), e.g. {busy[0]}", file=sys.stderr)
        time.sleep(IDLE_POLL_SECONDS)


def load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


# --- servers -------------------------------------------------------------------------




def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(value) for value in fields[11:13]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Server:
    name: str
    base: str
    process: subprocess.Popen
    log: Path
    background_jobs: bool

    def stop(self) -> None:
        """Stop the server's whole process group (it runs in its own session), like tests/servers.py."""
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


@contextmanager
def running_server(name: str, url: str, secret: str, folder: Path, *, background_jobs: bool) -> Iterator[Server]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLINIC_") and key != "DATABASE_URL"}
    env.update({"DATABASE_URL": url, "CLINIC_SECRET_KEY": secret, "PYTHONUNBUFFERED": "1",
                "CLINIC_BACKGROUND_JOBS": "true" if background_jobs else "false"})
    env["PATH"] = f"{Path(clinic_script()).parent}{os.pathsep}{env.get('PATH', '')}"
    log = folder / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([clinic_script(), "serve", "--host", "127.0.0.1", "--port", str(port),
                                    "--no-migrate"], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(name, f"http://127.0.0.1:{port}", process, log, background_jobs)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"`clinic serve` ({name}) exited with {process.returncode}: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{server.base}/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"`clinic serve` ({name}) did not answer within {SERVER_START_SECONDS} s: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        server.stop()


def log_findings(server: Server) -> dict:
    """Tracebacks and error lines in a server's output (which also holds uvicorn's access log)."""
    lines = server.log.read_text(errors="replace").splitlines()
    tracebacks = sum(line.startswith("Traceback") for line in lines)
    exceptions = Counter(line.strip()[:200] for line in lines
                         if re.match(r"^[\w.]+(Error|Exception|Violation|Deadlock\w*)\b", line.strip()))
    errors = [line[:200] for line in lines if " ERROR" in line or line.startswith("ERROR")]
    return {"lines": len(lines), "tracebacks": tracebacks, "exception_lines": dict(exceptions.most_common(8)),
            "error_lines_sample": errors[:5]}


# --- the workload --------------------------------------------------------------------


@dataclass
class Catalog:
    services: dict[int, str]  # id -> code
    patients: list[int]
    zone: ZoneInfo


@dataclass
class Known:
    """What a client was told about one appointment it made."""

    status: str
    start: str
    acks: Counter = field(default_factory=Counter)  # audit action -> acknowledged count
    uncertain: bool = False  # a later request on it ended in an error: its state is unknown


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    samples: dict[str, dict] = field(default_factory=dict)  # (kind, status) -> first body
    per_server: Counter = field(default_factory=Counter)
    issued: int = 0
    slots_seen: int = 0
    empty_searches: int = 0


class Client:
    def __init__(self, index: int, servers: list[httpx.AsyncClient], catalog: Catalog, tally: Tally,
                 known: dict[int, Known], services_of: dict[int, int], rng: random.Random,
                 write_share: float) -> None:
        self.index, self.servers, self.catalog, self.tally = index, servers, catalog, tally
        self.known, self.services_of, self.rng, self.write_share = known, services_of, rng, write_share
        self.sent = 0
        self.answers: dict[int, tuple[int, list[dict]]] = {}  # service id -> (patient id, slots)
        self.holds: list[int] = []
        self.booked: list[int] = []

    async def call(self, kind: str, method: str, path: str, **kwargs) -> tuple[int | str, dict | None]:
        server_index = (self.index + self.sent) % len(self.servers)
        self.sent += 1
        client = self.servers[server_index]
        if method == "POST":
            kwargs.setdefault("headers", {})["Idempotency-Key"] = str(uuid.uuid4())
        t0 = time.perf_counter()
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            outcome, body = "timeout", None
        except httpx.TransportError as exc:
            outcome, body = f"connection_error:{type(exc).__name__}", None
        else:
            outcome = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = {"text": response.text[:300]}
            self.tally.latencies[kind].append(time.perf_counter() - t0)
        self.tally.statuses[kind][str(outcome)] += 1
        self.tally.per_server[f"server_{server_index + 1}"] += 1
        sample_key = f"{kind} {outcome}"
        if (not isinstance(outcome, int) or outcome >= 300) and sample_key not in self.tally.samples:
            self.tally.samples[sample_key] = {"path": path, "body": str(body)[:400] if body is not None else None}
        return outcome, body

    def take_slot(self, service_id: int | None = None) -> tuple[int, int, dict] | None:
        choices = [service_id] if service_id is not None else list(self.answers)
        choices = [s for s in choices if s in self.answers and self.answers[s][1]]
        if not choices:
            return None
        service = self.rng.choice(choices)
        patient, slots = self.answers[service]
        slot = slots.pop(self.rng.randrange(len(slots)))
        return service, patient, slot

    @staticmethod
    def slot_fields(slot: dict) -> dict:
        return {"start": slot["start"], "clinician_id": slot["clinician"]["id"],
                "room_id": slot["room"]["id"] if slot["room"] else None,
                "device_ids": [unit["id"] for unit in slot["devices"]]}

    def acknowledge(self, ident: int, kind: str, body: dict) -> None:
        self.services_of[ident] = body["service_id"]
        entry = self.known.get(ident) or Known(status=body["status"], start=body["start"])
        entry.status, entry.start = body["status"], body["start"]
        entry.acks[ACTION_OF[kind]] += 1
        self.known[ident] = entry

    def uncertain(self, ident: int | None) -> None:
        if ident is not None and ident in self.known:
            self.known[ident].uncertain = True

    async def search(self) -> None:
        service = self.rng.choice(list(self.catalog.services))
        patient = self.rng.choice(self.catalog.patients)
        today = datetime.now(self.catalog.zone).date()
        day = today + timedelta(days=self.rng.randrange(0, SEARCH_DAYS_AHEAD))
        start = datetime.combine(day, datetime.min.time(), self.catalog.zone)
        end = start + timedelta(days=self.rng.randint(1, 3))
        outcome, body = await self.call("availability", "GET", f"{API}/availability", params={
            "service_id": service, "patient_id": patient, "start": start.isoformat(), "end": end.isoformat(),
            "limit": 20})
        if outcome == 200:
            slots = body.get("slots", [])
            self.tally.slots_seen += len(slots)
            if slots:
                self.answers[service] = (patient, slots)
            else:
                self.tally.empty_searches += 1

    async def write(self) -> bool:
        """One write this client can do now; False when it can do none yet (it searches instead)."""
        options = dict(WRITE_WEIGHTS)
        has_slot = any(slots for _, slots in self.answers.values())
        if not has_slot:
            options.pop("hold")
            if not self.holds:
                options.pop("book")
        if not (self.holds or self.booked):
            options.pop("cancel")
        if not self.movable():
            options.pop("reschedule", None)
        if not options:
            return False
        choice = self.rng.choices(list(options), weights=list(options.values()))[0]
        if choice == "hold":
            await self.hold()
        elif choice == "book":
            if self.holds and (not has_slot or self.rng.random() < 0.7):
                await self.book_hold()
            else:
                await self.book_direct()
        elif choice == "cancel":
            await self.cancel()
        else:
            await self.reschedule()
        return True

    async def hold(self) -> None:
        service, patient, slot = self.take_slot()
        outcome, body = await self.call("hold", "POST", f"{API}/holds", json={
            "service_id": service, "patient_id": patient, **self.slot_fields(slot)})
        if outcome == 201:
            self.acknowledge(body["id"], "hold", body)
            self.holds.append(body["id"])

    async def book_hold(self) -> None:
        ident = self.holds.pop(self.rng.randrange(len(self.holds)))
        outcome, body = await self.call("book_hold", "POST", f"{API}/appointments", json={"hold_id": ident})
        if outcome == 201:
            self.acknowledge(ident, "book_hold", body)
            self.booked.append(ident)
        elif not isinstance(outcome, int) or outcome >= 500:
            self.uncertain(ident)

    async def book_direct(self) -> None:
        service, patient, slot = self.take_slot()
        outcome, body = await self.call("book_direct", "POST", f"{API}/appointments", json={
            "service_id": service, "patient_id": patient, **self.slot_fields(slot)})
        if outcome == 201:
            self.acknowledge(body["id"], "book_direct", body)
            self.booked.append(body["id"])

    async def cancel(self) -> None:
        pool = self.holds if self.holds and (not self.booked or self.rng.random() < 0.3) else self.booked
        ident = pool.pop(self.rng.randrange(len(pool)))
        outcome, body = await self.call("cancel", "POST", f"{API}/appointments/{ident}/cancel",
                                        json={"reason": "load test"})
        if outcome == 200:
            self.acknowledge(ident, "cancel", body)
        elif not isinstance(outcome, int) or outcome >= 500:
            self.uncertain(ident)

    def movable(self) -> list[int]:
        """Its bookings for whose service it holds a kept answer with a slot left."""
        return [ident for ident in self.booked if self.answers.get(self.services_of[ident], (0, []))[1]]

    async def reschedule(self) -> None:
        ident = self.rng.choice(self.movable())
        _, _, slot = self.take_slot(self.services_of[ident])
        outcome, body = await self.call("reschedule", "POST", f"{API}/appointments/{ident}/reschedule",
                                        json=self.slot_fields(slot))
        if outcome == 200:
            self.acknowledge(ident, "reschedule", body)
        elif not isinstance(outcome, int) or outcome >= 500:
            self.uncertain(ident)

    async def run(self, deadline: float, limit: int) -> None:
        first = True
        while time.perf_counter() < deadline and self.tally.issued < limit:
            self.tally.issued += 1
            if first or self.rng.random() >= self.write_share or not await self.write():
                await self.search()
            first = False


async def drive(servers: list[Server], token: str, catalog: Catalog, args: argparse.Namespace) -> dict:
    tally = Tally()
    known: dict[int, Known] = {}
    services_of: dict[int, int] = {}
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    headers = {"Authorization": f"Bearer {token}"}
    http = [httpx.AsyncClient(base_url=server.base, headers=headers, limits=limits, timeout=args.timeout,
                              trust_env=False) for server in servers]
    master = random.Random(args.seed)
    clients = [Client(index, http, catalog, tally, known, services_of, random.Random(master.random()),
                      args.write_share) for index in range(args.clients)]
    cpu_before = {server.name: cpu_seconds(server.process.pid) for server in servers}
    own_before, started = time.process_time(), time.perf_counter()
    try:
        await asyncio.gather(*(client.run(started + args.seconds, args.requests) for client in clients))
    finally:
        elapsed = time.perf_counter() - started
        own_cpu = time.process_time() - own_before
        for client in http:
            await client.aclose()
    cpu_after = {server.name: cpu_seconds(server.process.pid) for server in servers}
    return {"tally": tally, "known": known, "elapsed": elapsed, "client_cpu": own_cpu,
            "server_cpu": {name: round(cpu_after[name] - cpu_before[name], 2)
                           for name in cpu_before if cpu_before[name] is not None and cpu_after[name] is not None}}


def summarize(tally: Tally, elapsed: float) -> dict:
    operations = {}
    total = answered = contention = errors = client_errors = 0
    for kind in KINDS:
        statuses = tally.statuses.get(kind, Counter())
        count = sum(statuses.values())
        if not count:
            continue
        ordered = sorted(s * 1000 for s in tally.latencies.get(kind, []))
        kind_errors = sum(n for code, n in statuses.items() if not code.isdigit() or int(code) >= 500)
        kind_contention = sum(n for code, n in statuses.items() if code.isdigit() and int(code) in CONTENTION)
        kind_client = sum(n for code, n in statuses.items()
                          if code.isdigit() and 400 <= int(code) < 500 and int(code) not in CONTENTION)
        operations[kind] = {
            "count": count,
            "statuses": dict(sorted(statuses.items())),
            "p50_ms": round(percentile(ordered, 0.50), 1) if ordered else None,
            "p99_ms": round(percentile(ordered, 0.99), 1) if ordered else None,
            "max_ms": round(ordered[-1], 1) if ordered else None,
            "contention_409_410": kind_contention,
            "errors": kind_errors,
        }
        total += count
        answered += len(ordered)
        contention += kind_contention
        errors += kind_errors
        client_errors += kind_client
    writes = total - operations.get("availability", {}).get("count", 0)
    all_latencies = sorted(s * 1000 for values in tally.latencies.values() for s in values)
    return {
        "requests": total,
        "wall_seconds": round(elapsed, 2),
        "throughput_rps": round(total / elapsed, 1) if elapsed else None,
        "write_share": round(writes / total, 3) if total else None,
        "p50_ms": round(percentile(all_latencies, 0.50), 1) if all_latencies else None,
        "p99_ms": round(percentile(all_latencies, 0.99), 1) if all_latencies else None,
        "contention_409_410": contention,
        "errors": errors,
        "other_4xx": client_errors,
        "per_server": dict(sorted(tally.per_server.items())),
        "availability_slots_returned": tally.slots_seen,
        "availability_empty_answers": tally.empty_searches,
        "operations": operations,
        "non_2xx_samples": dict(sorted(tally.samples.items())),
    }


# --- the audit -----------------------------------------------------------------------


OVERLAPS = """
    SELECT a.resource_kind, a.resource_id, a.appointment_id, b.appointment_id, a.starts_at, a.ends_at,
           b.starts_at, b.ends_at
    FROM allocation a JOIN allocation b
      ON a.resource_kind = b.resource_kind AND a.resource_id = b.resource_id AND a.id < b.id
     AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
    WHERE a.live AND b.live {extra}
"""
NOT_EXPIRED = ("AND (a.hold_expires_at IS NULL OR a.hold_expires_at > :now) "
               "AND (b.hold_expires_at IS NULL OR b.hold_expires_at > :now)")


def audit(engine, known: dict[int, Known]) -> dict:
    now = datetime.now(UTC)
    with engine.connect() as connection:
        def rows(sql: str, **params) -> list:
            return list(connection.execute(text(sql), params))

        overlapping = rows(OVERLAPS.format(extra=NOT_EXPIRED), now=now)
        overlapping_any = rows(OVERLAPS.format(extra=""))
        constraint = rows("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                          "WHERE conname = 'allocation_no_double_booking'")
        live_with_dead = rows("""
            SELECT ap.id, ap.status FROM appointment ap JOIN allocation al ON al.appointment_id = ap.id
            WHERE (ap.status IN ('pending', 'booked', 'arrived') AND NOT al.live)
               OR (ap.status IN ('cancelled', 'noshow') AND al.live) GROUP BY ap.id, ap.status""")
        bookings_without_allocations = rows("""
            SELECT ap.id FROM appointment ap WHERE ap.status IN ('pending', 'booked')
            AND NOT EXISTS (SELECT 1 FROM allocation al WHERE al.appointment_id = ap.id)""")
        stored = {row[0]: (row[1], row[2]) for row in rows(
            "SELECT id, status, starts_at FROM appointment WHERE id = ANY(:ids)", ids=list(known))}
        audit_counts = Counter({(row[0], row[1]): row[2] for row in rows(
            "SELECT appointment_id, action, count(*) FROM audit_entry WHERE appointment_id = ANY(:ids) "
            "GROUP BY appointment_id, action", ids=list(known))})
        totals = {row[0]: row[1] for row in rows("SELECT status, count(*) FROM appointment GROUP BY status")}
        audit_total = {row[0]: row[1] for row in rows("SELECT action, count(*) FROM audit_entry GROUP BY action")}

    missing, wrong, uncertain = [], [], 0
    for ident, entry in sorted(known.items()):
        if entry.uncertain:
            uncertain += 1
            continue
        if ident not in stored:
            missing.append(ident)
            continue
        status, starts_at = stored[ident]
        if status != entry.status or starts_at != datetime.fromisoformat(entry.start):
            wrong.append({"id": ident, "acknowledged": [entry.status, entry.start],
                          "stored": [status, starts_at.isoformat()]})
    unlogged = []
    acknowledged_changes = 0
    for ident, entry in sorted(known.items()):
        for action, count in entry.acks.items():
            acknowledged_changes += count
            if audit_counts[(ident, action)] < count:
                unlogged.append({"id": ident, "action": action, "acknowledged": count,
                                 "logged": audit_counts[(ident, action)]})

    checks = {
        "a_no_overlapping_live_allocations": {
            "ok": not overlapping,
            "overlapping_pairs_unexpired": len(overlapping),
            "overlapping_pairs_any_live": len(overlapping_any),
            "sample": [[str(value) for value in row] for row in overlapping[:5]],
            "exclusion_constraint_present": bool(constraint),
        },
        "a2_allocation_liveness_matches_status": {
            "ok": not live_with_dead and not bookings_without_allocations,
            "appointments_with_mismatched_allocations": [list(row) for row in live_with_dead[:10]],
            "live_appointments_without_allocations": [row[0] for row in bookings_without_allocations[:10]],
        },
        "b_acknowledged_appointments_present": {
            "ok": not missing and not wrong,
            "acknowledged_appointments": len(known),
            "checked": len(known) - uncertain,
            "left_out_after_an_error": uncertain,
            "missing": missing[:20],
            "state_differs": wrong[:20],
        },
        "c_changes_in_audit_log": {
            "ok": not unlogged,
            "acknowledged_changes": acknowledged_changes,
            "without_audit_entry": unlogged[:20],
        },
    }
    return {
        "ok": all(check["ok"] for check in checks.values()),
        **checks,
        "database_appointments_by_status": dict(sorted(totals.items())),
        "database_audit_entries_by_action": dict(sorted(audit_total.items())),
    }


# --- the run -------------------------------------------------------------------------


def prepare(url: str) -> tuple[object, Catalog, str]:
    engine = make_engine(url)
    upgrade(engine)
    zone = ZoneInfo(TIME_ZONE)
    password = secrets.token_urlsafe(16)
    with session_scope(engine) as session:
        load_demo_clinic(session, today=datetime.now(zone).date())
        upsert_user(session=session, username=USERNAME, password=password, role=Role.FRONT_DESK)
    with session_scope(engine) as session:
        services = {service.id: service.code for service in session.exec(select(Service).order_by(Service.id))}
        patients = list(session.exec(select(Patient.id).order_by(Patient.id)))
    return engine, Catalog(services, patients, zone), password


def sign_in(servers: list[Server], password: str) -> str:
    response = httpx.post(f"{servers[0].base}{API}/auth/token", data={"username": USERNAME, "password": password},
                          timeout=30, trust_env=False)
    response.raise_for_status()
    token = response.json()["access_token"]
    # The token signed by the first process must open the second: they share CLINIC_SECRET_KEY.
    check = httpx.get(f"{servers[1].base}{API}/appointments", params={"limit": 1},
                      headers={"Authorization": f"Bearer {token}"}, timeout=30, trust_env=False)
    check.raise_for_status()
    return token


def run(url: str, args: argparse.Namespace, summary: dict) -> bool:
    engine, catalog, password = prepare(url)
    try:
        summary["config"]["postgresql"] = server_version(engine)
        summary["config"]["clinic"] = {"services": len(catalog.services), "patients": len(catalog.patients),
                                       "demo": "data.demo (10 clinicians, 8 rooms, 5 device units)"}
        secret = secrets.token_urlsafe(32)
        with tempfile.TemporaryDirectory(prefix="clinic_bench_") as folder, ExitStack() as stack:
            servers = [stack.enter_context(running_server(f"server_{n}", url, secret, Path(folder),
                                                          background_jobs=(n == 1))) for n in (1, 2)]
            token = sign_in(servers, password)
            summary["machine"]["load_average_before_load"] = load_average()
            result = asyncio.run(drive(servers, token, catalog, args))
            summary["machine"]["load_average_after_load"] = load_average()
            for server in servers:
                server.stop()
            summary["load"] = summarize(result["tally"], result["elapsed"])
            summary["load"]["cpu_seconds"] = {"client": round(result["client_cpu"], 2), **result["server_cpu"]}
            summary["server_logs"] = {server.name: {"background_jobs": server.background_jobs,
                                                    "exit_code": server.process.returncode,
                                                    **log_findings(server)} for server in servers}
        summary["audit"] = audit(engine, result["known"])
        return summary["audit"]["ok"]
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="at most this long (default 30)")
    parser.add_argument("--requests", type=int, default=5000, help="at most this many requests (default 5000)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--write-share", type=float, default=0.2, help="share of writes (default 0.2)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds (default 30)")
    parser.add_argument("--seed", type=int, default=20261125, help="random seed of the clients")
    parser.add_argument("--wait-idle-minutes", type=float, default=20.0,
                        help="wait at most this long for CI/pytest runs to end first; 0 to skip (default 20)")
    parser.add_argument("--postgres-server", default=DEFAULT_POSTGRES_SERVER,
                        help="server on which the throw-away database is created (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.requests < 1 or args.clients < 1 or not 0 <= args.write_share <= 1:
        parser.error("--seconds, --requests and --clients must be positive, --write-share within [0, 1]")

    idle = wait_until_idle(args.wait_idle_minutes) if args.wait_idle_minutes > 0 else {"idle": None}
    started = time.perf_counter()
    summary: dict = {
        "benchmark": "load",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "quiet_machine_wait": idle,
            "load_average_at_start": load_average(),
        },
        "config": {
            "seconds": args.seconds, "requests": args.requests, "clients": args.clients,
            "write_share": args.write_share, "timeout_seconds": args.timeout, "seed": args.seed,
            "servers": "2 x `clinic serve --no-migrate` (uvicorn, 1 worker each) on 127.0.0.1, same "
                       "CLINIC_SECRET_KEY, one PostgreSQL database; server_1 runs the hold sweeper",
            "balancing": "each client alternates between the two servers (round robin)",
            "client": "asyncio + httpx.AsyncClient per server, keep-alive, in the same machine",
            "versions": versions("fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy", "sqlmodel", "psycopg",
                                 "httpx"),
        },
    }
    try:
        with postgres_database(args.postgres_server) as url:
            ok = run(url, args, summary)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        summary["error"] = f"{type(exc).__name__}: {exc}"
        ok = False
    summary["machine"]["load_average_at_end"] = load_average()
    summary["total_seconds"] = round(time.perf_counter() - started, 1)
    text_out = to_json(summary)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(text_out + "\n")
    print(text_out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
