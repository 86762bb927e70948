"""Benchmark: slot search (availability) on a large clinic in PostgreSQL.

What it builds, in a throw-away PostgreSQL database: one location
(America/New_York, open 07:00-20:00 every day), 40 clinicians with overlapping
certifications (10 hold ESWT) on 9-hour shifts Monday to Friday (early, day
or late, with a 30-minute break) and 6 hours on Saturday; 15 device units
(3 shockwave, 8 ultrasound, 4 EMTT); 25 rooms (20 treatment, 3 gym, 2 gait
lab); the demo clinic's ten services;
2,000 patients; and ``--appointments`` (default 10,000) booked appointments
over a 4-week horizon starting next Monday. Appointments are written straight
into ``appointment`` and ``allocation`` with COPY (clinician, room, device
units and patient rows, ``live``), placed day by day in start order so no
resource is ever double-booked (the exclusion constraint
``allocation_no_double_booking`` stays on and would refuse it). Each clinician
gets a day's share of the work with random gaps; an in-room service is tried
first (30-minute services twice as likely as longer ones, ESWT four times for
ESWT clinicians, to keep the 3 shockwave units busy) and telehealth is the fallback when no room or device is free.

What it measures, for a one-week ESWT search (shockwave + ultrasound + ESWT
clinician + treatment room) in the second week of the horizon:

- ``in_process``: ``scheduler.availability.find_availability`` called directly,
  a fresh Session per search (as a request gets), ``--searches`` timed calls
  after a warm-up; p50/p95/p99, SQL statements and SQL time per search. The
  schedule does not change meanwhile, so this is the process's cache at work
  (``scheduler.free_time``, ``scheduler.search_memo``): one query for the
  versions, the answer from memory. ``in_process_reused_session`` repeats it
  with one long-lived Session. ``in_process_after_a_booking_each`` books the
  week's best slot before every other timed search and cancels it before the
  others (through the booking code, on another engine), so each search
  reloads the changed day and solves again; ``in_process_cold_each`` forgets
  the cache before each search (a restarted process).
- ``profile``: cProfile over a batch of searches, top functions.
- ``http``: the real server (``clinic serve --no-migrate``, one uvicorn
  worker) in a subprocess on loopback, driven by ``--concurrency`` (32)
  keep-alive connections for ``--requests`` requests each on
  ``GET /api/v1/availability`` and on the trivial ``GET /health`` in the same
  run; p50/p99 latency (queueing included), requests/s and the throughput
  ratio. Client and server share the machine, so the default client is a
  minimal asyncio HTTP/1.1 client that costs well under 0.1 ms of CPU a
  request; ``/health`` is also driven with httpx.AsyncClient as a cross-check
  (on 2 cores httpx, not the server, limits that figure). The bench process's
  and the server's CPU seconds are reported per phase, and how many
  availability answers came from the server's memory
  (``api.availability_shortcut``) or from the route, read from its metrics.
  The schedule does not change during the first availability phase, so after
  its first request the server answers from memory; a second phase runs the
  same load while another process books the week's best slot and cancels it
  again every ``--change-interval`` seconds (a thread of the bench process on
  its own engine), so answers are dropped and searched again as changes are
  heard.
- ``growth``: a second database where the searched week holds a fixed number
  of appointments and the table grows to each ``--growth`` size (1k, 10k, 100k)
  by adding appointments on days before and after that week (outside the
  padded window a search reads). Searches are timed cold (the cache forgotten
  before each, so the allocations are read) and warm. Search
  time should stay flat; the EXPLAIN ANALYZE of the search's allocation query
  (the load of the week's busy time) shows how many rows it touches at each
  size. The bulk load writes with COPY, past the ORM, so it bumps the searched
  days' versions itself, as ``data.schedule_version`` asks of such writers.

Usage (from the project folder)::

    python bench/availability.py [--appointments N] [--growth 1000,10000,100000] [--requests N]
                                 [--concurrency 32] [--searches N] [--skip-http] [--postgres-server URL]

It prints a JSON summary and saves it to bench/results/availability.json. The
databases (``clinic_bench_<random>``) are dropped at the end, also on error.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import heapq
import json
import math
import os
import platform
import pstats
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # before bench/, whose solver.py would shadow the solver package

import httpx  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import Engine, event, insert  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from data.accounts import upsert_user  # noqa: E402
from data.config import Settings  # noqa: E402
from data.db import make_engine, session_scope  # noqa: E402
from data.demo import SERVICES  # noqa: E402
from data.enums import AppointmentStatus, ResourceKind, Role, RoomKind  # noqa: E402
from data.enums import Certification as C  # noqa: E402
from data.migrate import upgrade  # noqa: E402
from data.schedule_version import bump  # noqa: E402
from data.tables import (  # noqa: E402
    Clinician,
    ClinicianCertification,
    ClinicianShift,
    Device,
    DeviceType,
    Location,
    LocationHours,
    Patient,
    Room,
    Service,
    ServiceDevice,
    ShiftBreak,
    User,
)
from scheduler.availability import PAD, SlotQuery, find_availability  # noqa: E402
from scheduler.clock import from_minute, local_instant, to_minute  # noqa: E402
from scheduler.booking import SlotChoice, book, change_status  # noqa: E402
from scheduler.free_time import days, forget  # noqa: E402
from bench.common import (  # noqa: E402
    clinic_script,
    free_port,
    percentile,
    postgres_database,
    server_version,
    versions,
)

DEFAULT_POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RESULTS_FILE = ROOT / "bench" / "results" / "availability.json"
API = "/api/v1"
TIME_ZONE = "America/New_York"
HORIZON_WEEKS = 4
SEARCHED_WEEK = 1  # the second week of the horizon: booked weeks on both sides
GRID = 15
SEARCH_WARMUP = 20
HTTP_WARMUP_PER_CLIENT = 2
CLIENTS = {
    "raw": "asyncio streams, minimal HTTP/1.1 GET client (bench.availability.RawClient)",
    "httpx": "asyncio + httpx.AsyncClient",
}
SERVER_START_SECONDS = 60
PATIENTS = 2000
ROOM_SERVICE_SHARE = 0.55  # chance an appointment is first tried as an in-room service (else telehealth)
ESWT_SHARE = 0.8  # ESWT clinicians get this share of a day's work: they keep room for new shockwave patients
OUTSIDE_PER_DAY = 420  # appointments per working day on the days added for the growth series

# code, name, [(unit name, cleaning minutes)]
DEVICE_TYPES = [
    ("shockwave", "Focused shockwave (ESWT) unit", [(f"Shockwave {n}", 10) for n in range(1, 4)]),
    ("ultrasound", "Musculoskeletal ultrasound unit", [(f"Ultrasound {n}", 5) for n in range(1, 9)]),
    ("emtt", "EMTT (magnetotransduction) unit", [(f"EMTT {n}", 5) for n in range(1, 5)]),
]
ROOMS = [
    *((f"Treatment {n}", RoomKind.TREATMENT) for n in range(1, 21)),
    *((f"Gym {n}", RoomKind.GYM) for n in range(1, 4)),
    *((f"Gait lab {n}", RoomKind.GAIT_LAB) for n in range(1, 3)),
]
# (how many, title, [certification mixes cycled through])
CLINICIAN_GROUPS = [
    (10, "DC, RMSK", [[C.ESWT, C.MSUS, C.DRY_NEEDLING, C.MANUAL_THERAPY], [C.ESWT, C.PHYSICAL_THERAPY, C.MSUS],
                      [C.ESWT, C.MANUAL_THERAPY, C.EMTT]]),
    (12, "PT, DPT", [[C.PHYSICAL_THERAPY, C.DNS, C.DRY_NEEDLING], [C.PHYSICAL_THERAPY, C.DNS],
                     [C.PHYSICAL_THERAPY, C.DRY_NEEDLING, C.MANUAL_THERAPY]]),
    (6, "DC", [[C.MANUAL_THERAPY, C.MSUS, C.DNS], [C.MANUAL_THERAPY, C.DRY_NEEDLING]]),
    (6, "EMTT technician", [[C.EMTT, C.PHYSICAL_THERAPY], [C.EMTT]]),
    (4, "MS, CSCS", [[C.GAIT, C.PHYSICAL_THERAPY, C.DNS], [C.GAIT, C.PHYSICAL_THERAPY]]),
    (2, "PTA", [[C.PHYSICAL_THERAPY]]),
]
# starts, ends, break starts, break ends (local wall clock)
SHIFTS = [
    (wall(7, 0), wall(16, 0), wall(11, 30), wall(12, 0)),
    (wall(9, 0), wall(18, 0), wall(13, 0), wall(13, 30)),
    (wall(11, 0), wall(20, 0), wall(15, 30), wall(16, 0)),
]
SATURDAYS = [(wall(8, 0), wall(14, 0), None, None), (wall(9, 0), wall(15, 0), None, None)]
FIRST_NAMES = ["Avery", "Blake", "Casey", "Devon", "Emerson", "Finley", "Harper", "Jordan", "Kai", "Logan"]
LAST_NAMES = ["Abbott", "Baptiste", "Castillo", "Delacroix", "Eze", "Farouk", "Gallagher", "Hoang"]


# --- measuring ---------------------------------------------------------------


def latency_summary(seconds: list[float]) -> dict:
    ordered = sorted(s * 1000 for s in seconds)
    return {
        "count": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50), 3),
        "p95_ms": round(percentile(ordered, 0.95), 3),
        "p99_ms": round(percentile(ordered, 0.99), 3),
        "mean_ms": round(sum(ordered) / len(ordered), 3) if ordered else math.nan,
        "max_ms": round(ordered[-1], 3) if ordered else math.nan,
    }


class SqlMeter:
    """Counts the statements an engine sends and the time spent in ``cursor.execute``."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.count, self.seconds = engine, 0, 0.0
        self.captured: list[tuple[str, object]] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, _cursor, statement, parameters, _context, _many) -> None:
        conn.info["bench_t0"] = time.perf_counter()
        if "FROM allocation" in statement and "allocation.live" in statement:
            self.captured.append((statement, parameters))

    def _after(self, conn, *_args) -> None:
        self.seconds += time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())
        self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and its waited-for children (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


# --- databases ---------------------------------------------------------------


# --- the clinic ----------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSpec:
    id: int
    code: str
    duration: int
    before: int
    after: int
    certification: C | None
    room_kind: RoomKind | None
    needs: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ClinicianSpec:
    id: int
    certifications: frozenset[C]
    week: dict  # weekday -> (starts, ends, break starts, break ends)


@dataclass
class Clinic:
    location_id: int
    zone: ZoneInfo
    clinicians: list[ClinicianSpec]
    rooms: dict[RoomKind, list[int]]
    devices: dict[str, list[tuple[int, int]]]  # type code -> [(unit id, cleaning minutes)]
    services: dict[str, ServiceSpec]
    patients: list[int]


def build_catalog(engine: Engine) -> Clinic:
    """The catalog through the ORM (small), the patients with one bulk insert."""
    zone = ZoneInfo(TIME_ZONE)
    with session_scope(engine) as session:
        location = Location(
            name="Bench Rehab Hudson Yards", address="1 Bench Way, New York, NY 10001", time_zone=TIME_ZONE,
            opening_hours=[LocationHours(weekday=day, starts=wall(7, 0), ends=wall(20, 0)) for day in range(7)],
        )
        session.add(location)
        session.flush()
        types: dict[str, DeviceType] = {}
        devices: dict[str, list[tuple[int, int]]] = {}
        for code, name, units in DEVICE_TYPES:
            types[code] = DeviceType(code=code, name=name)
            session.add(types[code])
            session.flush()
            rows = [Device(name=unit, device_type_id=types[code].id, location_id=location.id, cleaning_minutes=clean)
                    for unit, clean in units]
            session.add_all(rows)
            session.flush()
            devices[code] = [(row.id, row.cleaning_minutes) for row in rows]
        rooms: dict[RoomKind, list[int]] = {}
        for name, kind in ROOMS:
            room = Room(name=name, kind=kind, location_id=location.id)
            session.add(room)
            session.flush()
            rooms.setdefault(kind, []).append(room.id)
        services: dict[str, ServiceSpec] = {}
        for code, name, minutes, certification, room_kind, before, after, needs in SERVICES:
            service = Service(
                code=code, name=name, duration_minutes=minutes, required_certification=certification,
                room_kind=room_kind, buffer_before_minutes=before, buffer_after_minutes=after,
                device_needs=[ServiceDevice(device_type_id=types[kind].id, count=count)
                              for kind, count in needs.items()],
            )
            session.add(service)
            session.flush()
            services[code] = ServiceSpec(service.id, code, minutes, before, after, certification, room_kind,
                                         tuple(needs.items()))
        clinicians: list[ClinicianSpec] = []
        index = 0
        for count, title, mixes in CLINICIAN_GROUPS:
            for n in range(count):
                certifications = mixes[n % len(mixes)]
                week = {**dict.fromkeys(range(5), SHIFTS[index % len(SHIFTS)]), 5: SATURDAYS[index % 2]}
                clinician = Clinician(
                    name=f"{FIRST_NAMES[index % 10]} {LAST_NAMES[index % 8]} {index + 1}", title=title,
                    email=f"clinician{index + 1}@bench.clinic", location_id=location.id,
                    certification_links=[ClinicianCertification(certification=c) for c in certifications],
                    shifts=[ClinicianShift(weekday=day, starts=s, ends=e,
                                           breaks=[ShiftBreak(starts=bs, ends=be)] if bs else [])
                            for day, (s, e, bs, be) in sorted(week.items())],
                )
                session.add(clinician)
                session.flush()
                clinicians.append(ClinicianSpec(clinician.id, frozenset(certifications), week))
                index += 1
        rng = random.Random(7)
        session.execute(insert(Patient), [
            {"given_name": FIRST_NAMES[n % 10], "family_name": f"{LAST_NAMES[n % 8]}-{n}",
             "birth_date": date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55)),
             "phone": f"+1 917 555 {n:04d}", "email": f"patient{n}@example.com"}
            for n in range(PATIENTS)
        ])
        patients = list(session.exec(select(Patient.id).order_by(Patient.id)))
        location_id = location.id
    return Clinic(location_id, zone, clinicians, rooms, devices, services, patients)


class Booker:
    """Places appointments day by day without double-booking anyone, and writes them with COPY.

    Within a day, clinicians take turns in order of their next start (a heap),
    so starts are non-decreasing and a room or device unit is free for a span
    exactly when its last booking ended before the span starts.
    """

    def __init__(self, clinic: Clinic, conninfo: dict, *, now: datetime, seed: int) -> None:
        self.clinic, self.conninfo, self.now = clinic, conninfo, now
        self.rng = random.Random(seed)
        self.next_appointment = self.next_allocation = 1
        self.patient_cursor = 0
        self.appointments: list[tuple] = []
        self.allocations: list[tuple] = []
        self.placed = 0
        self.booked_minutes = 0
        self.by_service: dict[str, int] = {}
        self.day_patients: dict[date, set[int]] = {}
        eswt_ids = {c.id for c in clinic.clinicians if C.ESWT in c.certifications}
        self.in_room: dict[int, list[tuple[ServiceSpec, int]]] = {}
        for clinician in clinic.clinicians:
            self.in_room[clinician.id] = [
                (s, 4 if s.code == "eswt" and clinician.id in eswt_ids else 2 if s.duration <= 30 else 1)
                for s in clinic.services.values()
                if s.room_kind is not None and s.certification in clinician.certifications
            ]
        self.telehealth = clinic.services["telehealth"]

    # capacity ------------------------------------------------------------------

    def segments(self, clinician: ClinicianSpec, day: date) -> list[tuple[int, int]]:
        shift = clinician.week.get(day.weekday())
        if shift is None:
            return []
        starts, ends, break_starts, break_ends = shift
        z = self.clinic.zone
        if break_starts is None:
            return [(local_instant(day, starts, z), local_instant(day, ends, z))]
        return [(local_instant(day, starts, z), local_instant(day, break_starts, z)),
                (local_instant(day, break_ends, z), local_instant(day, ends, z))]

    def capacity(self, day: date, clinician_ids: set[int] | None = None) -> int:
        """Staffed minutes on ``day`` (of the given clinicians, or of all)."""
        return sum(end - start for c in self.clinic.clinicians if clinician_ids is None or c.id in clinician_ids
                   for start, end in self.segments(c, day))

    # placing -------------------------------------------------------------------

    def fill_day(self, day: date, quota: int) -> int:
        """Book up to ``quota`` appointments on ``day``; returns how many fitted.

        Each clinician gets a share of the quota, spread over the day with
        random gaps. Clinicians who reach their share wait in reserve; when the
        others cannot make theirs, the reserve works on from where it stopped.
        """
        working = [(c, self.segments(c, day)) for c in self.clinic.clinicians]
        working = [(c, segs) for c, segs in working if segs]
        if not working or quota <= 0:
            return 0
        average = self.booked_minutes / self.placed if self.placed else 36
        free_at: dict[tuple[str, int], int] = {}
        weights = [ESWT_SHARE if C.ESWT in c.certifications else 1.0 for c, _ in working]
        shares = [int(quota * w / sum(weights)) for w in weights]
        for position in sorted(range(len(working)), key=lambda p: -weights[p])[:quota - sum(shares)]:
            shares[position] += 1
        heap, reserve, state = [], [], []
        for position, ((clinician, segs), share) in enumerate(zip(working, shares, strict=True)):
            work = sum(end - start for start, end in segs)
            # Gaps a little shorter than an even spread, so some time is left for the reserve at the end.
            gap = max(0.0, 0.75 * (work - share * average) / share) if share else 0.0
            state.append({"clinician": clinician, "segs": segs, "seg": 0, "share": share, "done": 0, "gap": gap})
            (heap if share else reserve).append((self._align(segs[0][0] + self._gap(gap)), position))
        heapq.heapify(heap)
        placed = 0
        for extra in (False, True):
            if extra:
                heap = reserve
                heapq.heapify(heap)
            while heap and placed < quota:
                start, position = heapq.heappop(heap)
                st = state[position]
                segs = st["segs"]
                while st["seg"] < len(segs) and start + self.telehealth.duration > segs[st["seg"]][1]:
                    st["seg"] += 1
                    if st["seg"] < len(segs):
                        start = max(start, self._align(segs[st["seg"]][0]))
                if st["seg"] >= len(segs):
                    continue
                finished = self._place(st["clinician"], start, *segs[st["seg"]], free_at)
                if finished is None:  # nothing fits here: try the next grid point
                    heapq.heappush(heap, (start + GRID, position))
                    continue
                placed += 1
                st["done"] += 1
                following = (self._align(finished + (0 if extra else self._gap(st["gap"]))), position)
                if extra or st["done"] < st["share"]:
                    heapq.heappush(heap, following)
                else:
                    reserve.append(following)
        return placed

    def _gap(self, mean: float) -> int:
        steps = round(2 * mean / GRID)
        return GRID * self.rng.randint(0, steps) if steps > 0 else 0

    @staticmethod
    def _align(minute: int) -> int:
        return -(-minute // GRID) * GRID

    def _place(self, clinician: ClinicianSpec, start: int, seg_start: int, seg_end: int, free_at: dict) -> int | None:
        """Book one appointment for ``clinician`` at ``start``; returns when the clinician is free again."""
        options = []
        if self.in_room[clinician.id] and self.rng.random() < ROOM_SERVICE_SHARE:
            services = list(self.in_room[clinician.id])
            while services:  # weighted order without replacement
                pick = self.rng.choices(range(len(services)), weights=[w for _, w in services])[0]
                options.append(services.pop(pick)[0])
        options.append(self.telehealth)
        for service in options:
            span = (start - service.before, start + service.duration + service.after)
            if span[0] < max(seg_start, free_at.get(("clinician", clinician.id), 0)) or span[1] > seg_end:
                continue
            room = None
            if service.room_kind is not None:
                free = [r for r in self.clinic.rooms[service.room_kind] if free_at.get(("room", r), 0) <= span[0]]
                if not free:
                    continue
                room = self.rng.choice(free)
            units = []
            for type_code, count in service.needs:
                free = [(u, clean) for u, clean in self.clinic.devices[type_code]
                        if free_at.get(("device", u), 0) <= span[0]]
                if len(free) < count:
                    break
                units += self.rng.sample(free, count)
            else:
                self._record(clinician, service, start, span, room, units, free_at)
                return span[1]
        return None

    def _record(self, clinician, service: ServiceSpec, start: int, span, room, units, free_at) -> None:
        ident = self.next_appointment
        self.next_appointment += 1
        seen = self.day_patients.setdefault(from_minute(start, self.clinic.zone).date(), set())
        while (patient := self.clinic.patients[self.patient_cursor % len(self.clinic.patients)]) in seen:
            self.patient_cursor += 1
        self.patient_cursor += 1
        seen.add(patient)
        end = start + service.duration
        starts_at, ends_at = from_minute(start), from_minute(end)
        status = AppointmentStatus.FULFILLED if ends_at < self.now else AppointmentStatus.BOOKED
        created = min(self.now, starts_at) - timedelta(days=14)
        self.appointments.append((ident, self.clinic.location_id, service.id, patient, starts_at, ends_at,
                                  status.value, None, "", None, created, created))
        rows = [("clinician", clinician.id, span[0], span[1]), ("patient", patient, start, end)]
        free_at[("clinician", clinician.id)] = span[1]
        if room is not None:
            rows.append(("room", room, span[0], span[1]))
            free_at[("room", room)] = span[1]
        for unit, cleaning in units:
            rows.append(("device", unit, span[0], span[1] + cleaning))
            free_at[("device", unit)] = span[1] + cleaning
        for kind, resource, s, e in rows:
            self.allocations.append((self.next_allocation, ident, kind, resource, from_minute(s), from_minute(e),
                                     True, None))
            self.next_allocation += 1
        self.placed += 1
        self.booked_minutes += self._align(span[1]) - span[0]  # the grid's rounding is time lost too
        self.by_service[service.code] = self.by_service.get(service.code, 0) + 1
        if len(self.allocations) >= 50_000:
            self.flush()

    def flush(self) -> None:
        if not self.appointments:
            return
        with psycopg.connect(**self.conninfo) as connection, connection.cursor() as cursor:
            with cursor.copy("COPY appointment (id, location_id, service_id, patient_id, starts_at, ends_at, status, "
                             "hold_expires_at, cancel_reason, created_by_id, created_at, updated_at) FROM STDIN") as cp:
                for row in self.appointments:
                    cp.write_row(row)
            with cursor.copy("COPY allocation (id, appointment_id, resource_kind, resource_id, starts_at, ends_at, "
                             "live, hold_expires_at) FROM STDIN") as cp:
                for row in self.allocations:
                    cp.write_row(row)
        self.appointments, self.allocations = [], []

    def finish(self) -> None:
        """Write what is pending, move the id sequences past the ids used, refresh planner statistics."""
        self.flush()
        with psycopg.connect(**self.conninfo, autocommit=True) as connection:
            for table in ("appointment", "allocation"):
                connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                   f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
            connection.execute("ANALYZE appointment")
            connection.execute("ANALYZE allocation")


def conninfo_of(url: str) -> dict:
    parsed = make_url(url)
    return {"host": parsed.host or "127.0.0.1", "port": parsed.port or 5432, "user": parsed.username,
            "password": parsed.password, "dbname": parsed.database}


def horizon_start(now: datetime, zone: ZoneInfo) -> date:
    today = now.astimezone(zone).date()
    return today + timedelta(days=7 - today.weekday())  # next Monday


def week_bounds(monday: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(monday, wall(0, 0), zone)
    return start, datetime.combine(monday + timedelta(days=7), wall(0, 0), zone)


def fill_days(booker: Booker, days: list[date], total: int) -> int:
    """Spread ``total`` appointments over ``days`` in proportion to staffed minutes; shortfalls carry over."""
    capacities = [booker.capacity(day) for day in days]
    remaining_capacity = sum(capacities)
    remaining = total
    for day, capacity in zip(days, capacities, strict=True):
        if not capacity:
            continue
        # A little over the fair share, so a day that falls short is made up by the days after it.
        quota = min(remaining, math.ceil(1.05 * remaining * capacity / remaining_capacity))
        remaining -= booker.fill_day(day, quota)
        remaining_capacity -= capacity
    return total - remaining


def window_counts(engine: Engine, start: datetime, end: datetime) -> dict:
    """Appointments and live allocations overlapping the searched week, and those a search reads (padded)."""
    with engine.connect() as connection:
        def scalar(sql: str, *params) -> int:
            return connection.exec_driver_sql(sql, params).scalar_one()

        overlap = "ends_at > %s AND starts_at < %s"
        return {
            "appointments_total": scalar("SELECT count(*) FROM appointment"),
            "allocations_total": scalar("SELECT count(*) FROM allocation"),
            "appointments_in_searched_week": scalar(f"SELECT count(*) FROM appointment WHERE {overlap}", start, end),
            "allocations_in_searched_week": scalar(f"SELECT count(*) FROM allocation WHERE live AND {overlap}",
                                                   start, end),
            "allocations_in_padded_window": scalar(f"SELECT count(*) FROM allocation WHERE live AND {overlap}",
                                                   start - PAD, end + PAD),
            "allocations_before_padded_window": scalar("SELECT count(*) FROM allocation WHERE ends_at <= %s",
                                                       start - PAD),
            "allocations_after_padded_window": scalar("SELECT count(*) FROM allocation WHERE starts_at >= %s",
                                                      end + PAD),
        }


def utilization(engine: Engine, clinic: Clinic, start: datetime, end: datetime) -> dict:
    """Share of staffed (clinicians) or opening (rooms, devices: 07:00-20:00) minutes that are booked."""
    days = [start.date() + timedelta(days=n) for n in range((end.date() - start.date()).days)]
    booker = Booker(clinic, {}, now=start, seed=0)
    eswt = [c.id for c in clinic.clinicians if C.ESWT in c.certifications]
    staffed = sum(booker.capacity(day) for day in days)
    staffed_eswt = sum(booker.capacity(day, set(eswt)) for day in days)
    open_minutes = 13 * 60 * len(days)

    def busy(kind: str, ids: list[int]) -> int:
        with engine.connect() as connection:
            return float(connection.exec_driver_sql(
                "SELECT coalesce(sum(extract(epoch FROM least(ends_at, %(e)s) - greatest(starts_at, %(s)s))), 0) "
                "FROM allocation WHERE live AND resource_kind = %(k)s AND resource_id = ANY(%(ids)s) "
                "AND ends_at > %(s)s AND starts_at < %(e)s", {"s": start, "e": end, "k": kind, "ids": ids},
            ).scalar_one()) / 60

    return {
        "clinicians_of_staffed_time": round(busy("clinician", [c.id for c in clinic.clinicians]) / staffed, 3),
        "eswt_clinicians_of_staffed_time": round(busy("clinician", eswt) / staffed_eswt, 3) if eswt else None,
        "treatment_rooms_of_open_time": round(
            busy("room", clinic.rooms[RoomKind.TREATMENT]) / (open_minutes * len(clinic.rooms[RoomKind.TREATMENT])),
            3),
        "shockwave_units_of_open_time": round(
            busy("device", [u for u, _ in clinic.devices["shockwave"]])
            / (open_minutes * len(clinic.devices["shockwave"])), 3),
        "ultrasound_units_of_open_time": round(
            busy("device", [u for u, _ in clinic.devices["ultrasound"]])
            / (open_minutes * len(clinic.devices["ultrasound"])), 3),
    }


# --- searching in-process --------------------------------------------------------


def change_searched_days(engine: Engine, clinic: Clinic, query: SlotQuery) -> None:
    """New versions for every day the search reads, as writes past the ORM (COPY) must give."""
    first, last = days((to_minute(query.start - PAD), to_minute(query.end + PAD)))
    with engine.begin() as connection:
        bump(connection, [(ResourceKind.CLINICIAN, clinic.clinicians[0].id, first + timedelta(days=n))
                          for n in range((last - first).days + 1)])


class BookAndCancel:
    """A real change between two timed searches: the week's best slot booked, then cancelled again, and so on.

    Through the booking code on an engine of its own (another process, as far as the searcher's cache knows);
    each change moves a clinician's, a room's, two units' and a patient's busy time on one day.
    """

    def __init__(self, url: str, clinic: Clinic, query: SlotQuery, now: datetime, settings: Settings) -> None:
        self.engine, self.clinic, self.now, self.settings = make_engine(url), clinic, now, settings
        self.query, self.booked = replace(query, limit=1), None
        with session_scope(self.engine) as session:
            desk = upsert_user(session=session, username="bench_changes", password=secrets.token_urlsafe(),
                               role=Role.FRONT_DESK)
            session.flush()
            self.desk = desk.id

    def __call__(self) -> None:
        with Session(self.engine) as session:
            if self.booked is None:
                slot = find_availability(session, self.query, now=self.now, settings=self.settings).offers[0].slot
                self.booked = book(session, actor=None, now=self.now, settings=self.settings, choice=SlotChoice(
                    self.query.service_id, self.clinic.patients[0], from_minute(slot.start), slot.clinician.id,
                    slot.room.id, tuple(unit.id for unit in slot.devices))).id
            else:
                change_status(session, actor=session.get(User, self.desk), appointment_id=self.booked,
                              action="cancel", now=self.now)
                self.booked = None
            session.commit()

    def close(self) -> None:
        if self.booked is not None:
            self()
        self.engine.dispose()


def time_searches(engine: Engine, settings: Settings, query: SlotQuery, now: datetime, *, count: int,
                  fresh_session: bool, before_each=None) -> dict:
    """``count`` timed searches after a warm-up; SQL statistics from a separate, shorter metered pass.

    ``before_each`` (untimed, and on another engine, so not in the SQL statistics either) runs before every
    search: a booking or cancellation (``BookAndCancel``), or forgetting the cache (a cold start).
    """
    shared = None if fresh_session else Session(engine)
    try:
        def search():
            if before_each is not None:
                before_each()
            t0 = time.perf_counter()
            if shared is not None:
                return find_availability(shared, query, now=now, settings=settings), time.perf_counter() - t0
            with Session(engine) as session:
                return find_availability(session, query, now=now, settings=settings), time.perf_counter() - t0

        for _ in range(SEARCH_WARMUP):
            found, _ = search()
        gc.collect()
        latencies = [search()[1] for _ in range(count)]
        metered = max(5, min(20, count))
        meter = SqlMeter(engine)
        try:
            for _ in range(metered):
                search()
        finally:
            meter.close()
        result = latency_summary(latencies)
        result.update({
            "sql_statements_per_search": round(meter.count / metered, 2),
            "sql_execute_ms_per_search": round(meter.seconds * 1000 / metered, 3),
            "slots_returned": len(found.offers),
            "first_slot": found.offers[0].start.isoformat() if found.offers else None,
            "reasons": [r.code for r in found.reasons],
        })
        return result
    finally:
        if shared is not None:
            shared.close()


def profile_searches(engine: Engine, settings: Settings, query: SlotQuery, now: datetime, *, count: int,
                     top: int = 15) -> dict:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        with Session(engine) as session:
            find_availability(session, query, now=now, settings=settings)
    profiler.disable()
    stats = pstats.Stats(profiler)

    def where(key) -> str:
        filename, line, name = key
        for marker in ("site-packages/", str(ROOT) + "/"):
            if marker in filename:
                filename = filename.split(marker, 1)[1]
        return f"{filename}:{line}({name})"

    def rows(sort_index: int) -> list[dict]:
        entries = sorted(stats.stats.items(), key=lambda item: item[1][sort_index], reverse=True)[:top]
        return [{"function": where(key), "calls_per_search": round(nc / count, 1),
                 "tottime_ms_per_search": round(tt * 1000 / count, 3),
                 "cumtime_ms_per_search": round(ct * 1000 / count, 3)}
                for key, (_cc, nc, tt, ct, _callers) in entries]

    own = [(key, value) for key, value in stats.stats.items()
           if any(part in key[0] for part in ("/scheduler/", "/solver/", "/data/"))]
    own.sort(key=lambda item: item[1][3], reverse=True)
    return {
        "searches": count,
        "total_ms_per_search": round(stats.total_tt * 1000 / count, 3),
        "top_by_own_time": rows(2),
        "top_by_cumulative_time": rows(3),
        "project_functions_by_cumulative_time": [
            {"function": where(key), "calls_per_search": round(nc / count, 1),
             "cumtime_ms_per_search": round(ct * 1000 / count, 3)}
            for key, (_cc, nc, _tt, ct, _callers) in own[:top]
        ],
    }


def explain_busy_query(engine: Engine, settings: Settings, query: SlotQuery, now: datetime, clinic: Clinic) -> dict:
    """EXPLAIN ANALYZE of the allocation query a search sends after a change (the load of the searched days)."""
    forget()
    meter = SqlMeter(engine)
    try:
        with Session(engine) as session:
            find_availability(session, query, now=now, settings=settings)
    finally:
        meter.close()
    if not meter.captured:
        return {"error": "the search sent no allocation query"}
    statement, parameters = meter.captured[0]
    with engine.connect() as connection:
        plan = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement,
                                          parameters).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    top = plan[0]
    nodes, removed = [], 0

    def walk(node: dict, depth: int) -> None:
        nonlocal removed
        label = node["Node Type"]
        if "Index Name" in node:
            label += f" using {node['Index Name']}"
        elif "Relation Name" in node:
            label += f" on {node['Relation Name']}"
        loops = node.get("Actual Loops", 1)
        dropped = (node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)) * loops
        removed += dropped
        text = f"{'  ' * depth}{label}: {node.get('Actual Rows', 0) * loops} rows"
        if dropped:
            text += f", {dropped} removed by filter"
        nodes.append(text)
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(top["Plan"], 0)
    buffers = top["Plan"].get("Shared Hit Blocks", 0) + top["Plan"].get("Shared Read Blocks", 0)
    return {
        "execution_ms": round(top.get("Execution Time", math.nan), 3),
        "rows_returned": top["Plan"].get("Actual Rows"),
        "rows_removed_by_filter": removed,
        "shared_buffers": buffers,
        "plan": nodes,
    }


# --- HTTP ----------------------------------------------------------------------




@contextmanager
def running_server(url: str, secret: str, log: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("CLINIC_")
           and name != "DATABASE_URL"}
    env.update({"DATABASE_URL": url, "CLINIC_SECRET_KEY": secret, "CLINIC_BACKGROUND_JOBS": "false",
                "CLINIC_METRICS": "true", "PYTHONUNBUFFERED": "1"})
    env["PATH"] = f"{Path(clinic_script()).parent}{os.pathsep}{env.get('PATH', '')}"
    with log.open("wb") as sink:
        process = subprocess.Popen([clinic_script(), "serve", "--port", str(port), "--no-migrate"], cwd=ROOT,
                                   env=env, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"`clinic serve` exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"`clinic serve` did not answer within {SERVER_START_SECONDS} s: "
                                   f"{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: GET only, Content-Length or chunked bodies.

    It costs the benchmark process far less CPU per request than httpx, so on a
    small machine the client does not become what limits the trivial endpoint.
    """

    def __init__(self, base: str, path: str, params: dict, headers: dict) -> None:
        url = httpx.URL(base).join(path).copy_merge_params(params)
        self.host, self.port = url.host, url.port
        target = url.raw_path.decode()
        lines = [f"GET {target} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: application/json",
                 *(f"{name}: {value}" for name, value in headers.items())]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, close = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
            elif name == b"connection" and value == b"close":
                close = True
        if chunked:
            parts = []
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size + 2))
            await self.reader.readuntil(b"\r\n")
            body = b"".join(part[:-2] for part in parts)
        elif length is not None:
            body = await self.reader.readexactly(length)
        else:
            body, close = await self.reader.read(), True
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.reader = self.writer = None


async def drive(base: str, path: str, params: dict, headers: dict, *, total: int, concurrency: int,
                warmup: int, client_kind: str, server_pid: int) -> dict:
    """``concurrency`` keep-alive clients send ``total`` requests between them as fast as answers come."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    shared = (httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=300, trust_env=False)
              if client_kind == "httpx" else None)
    raw = [RawClient(base, path, params, headers) for _ in range(concurrency)] if shared is None else []
    try:
        async def run(count: int) -> tuple[list[float], dict, dict | None]:
            remaining = [count]
            latencies: list[float] = []
            statuses: dict[int, int] = {}
            first_error: list = []

            async def worker(index: int) -> None:
                while remaining[0] > 0:
                    remaining[0] -= 1
                    t0 = time.perf_counter()
                    if shared is not None:
                        response = await shared.get(path, params=params)
                        status, body = response.status_code, response.content
                    else:
                        status, body = await raw[index].get()
                    latencies.append(time.perf_counter() - t0)
                    statuses[status] = statuses.get(status, 0) + 1
                    if status != 200 and not first_error:
                        first_error.append({"status": status, "body": body[:300].decode(errors="replace")})

            await asyncio.gather(*(worker(index) for index in range(concurrency)))
            return latencies, statuses, first_error[0] if first_error else None

        await run(warmup)
        gc.collect()
        server_before, cpu_before, started = cpu_seconds(server_pid), time.process_time(), time.perf_counter()
        latencies, statuses, first_error = await run(total)
        elapsed, client_cpu = time.perf_counter() - started, time.process_time() - cpu_before
        server_after = cpu_seconds(server_pid)
    finally:
        if shared is not None:
            await shared.aclose()
        for client in raw:
            await client.close()
    result = latency_summary(latencies)
    result["errors"] = sum(n for code, n in statuses.items() if code != 200)
    result["requests_per_second"] = round(len(latencies) / elapsed, 1)
    result["wall_seconds"] = round(elapsed, 3)
    result["client_cpu_seconds"] = round(client_cpu, 3)
    if server_before is not None and server_after is not None:
        result["server_cpu_seconds"] = round(server_after - server_before, 3)
    if first_error:
        result["first_error"] = first_error
    return result


def answer_sources(base: str) -> dict[str, float]:
    """The server's count of availability answers by source (memory, route), from its metrics."""
    text = httpx.get(f"{base}/metrics", timeout=30, trust_env=False).text
    found = re.findall(r'^clinic_availability_answers_total\{source="(\w+)"\} ([0-9.e+]+)$', text, re.MULTILINE)
    return {source: float(count) for source, count in found}


class ChangesMeanwhile:
    """Books and cancels (``BookAndCancel``, on an engine of its own: another process to the server) every
    ``interval`` seconds on a thread, while an HTTP phase runs."""

    def __init__(self, changes: BookAndCancel, interval: float) -> None:
        self.changes, self.interval, self.count = changes, interval, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.changes()
            self.count += 1

    def __enter__(self) -> ChangesMeanwhile:
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop.set()
        self.thread.join()


def bench_http(url: str, query_params: dict, *, requests: int, concurrency: int, client: str,
               engine: Engine, changes: BookAndCancel, change_interval: float) -> dict:
    password = secrets.token_urlsafe(16)
    with session_scope(engine) as session:
        upsert_user(session=session, username="bench_desk", password=password, role=Role.FRONT_DESK)
    warmup = HTTP_WARMUP_PER_CLIENT * concurrency
    with tempfile.TemporaryDirectory(prefix="clinic_bench_") as folder, \
            running_server(url, secrets.token_urlsafe(32), Path(folder) / "server.log") as (base, process):
        token = httpx.post(f"{base}{API}/auth/token", data={"username": "bench_desk", "password": password},
                           timeout=30, trust_env=False)
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        sample = httpx.get(f"{base}{API}/availability", params=query_params, headers=headers, timeout=60,
                           trust_env=False)
        sample.raise_for_status()
        body = sample.json()

        def phase(path: str, params: dict, kind: str) -> dict:
            result = asyncio.run(drive(base, path, params, headers, total=requests, concurrency=concurrency,
                                       warmup=warmup, client_kind=kind, server_pid=process.pid))
            return {"endpoint": f"GET {path}", **result}

        trivial = phase("/health", {}, client)
        before = answer_sources(base)
        availability = phase(f"{API}/availability", query_params, client)
        after = answer_sources(base)
        availability["answers_by_source"] = {k: after.get(k, 0) - before.get(k, 0) for k in sorted(after)}
        with ChangesMeanwhile(changes, change_interval) as meanwhile:
            while_changing = phase(f"{API}/availability", query_params, client)
        final = answer_sources(base)
        while_changing["answers_by_source"] = {k: final.get(k, 0) - after.get(k, 0) for k in sorted(final)}
        while_changing["changes_committed_meanwhile"] = meanwhile.count
        # The same trivial load with the other client: shows how much the client itself limits the figure.
        cross_check = phase("/health", {}, "httpx" if client == "raw" else "raw")
    return {
        "server": "clinic serve --no-migrate (uvicorn, 1 worker) on 127.0.0.1, subprocess",
        "client": f"{CLIENTS[client]}; {concurrency} concurrent keep-alive connections; "
                  f"{warmup} unmeasured warm-up requests per endpoint",
        "availability_slots_returned": len(body.get("slots", [])),
        "availability": availability,
        "availability_while_another_process_books_and_cancels": {
            "change_every_seconds": change_interval, **while_changing},
        "trivial": trivial,
        "throughput_ratio": round(availability["requests_per_second"] / trivial["requests_per_second"], 4),
        "p50_ratio": round(availability["p50_ms"] / trivial["p50_ms"], 2),
        f"trivial_with_{'httpx' if client == 'raw' else 'raw'}_client": cross_check,
    }


# --- the runs --------------------------------------------------------------------


def eswt_query(clinic: Clinic, week_start: datetime, week_end: datetime) -> SlotQuery:
    return SlotQuery(service_id=clinic.services["eswt"].id, start=week_start, end=week_end, limit=20)


def bench_main_clinic(url: str, args: argparse.Namespace, now: datetime) -> dict:
    engine = make_engine(url)
    try:
        t0 = time.perf_counter()
        upgrade(engine)
        clinic = build_catalog(engine)
        t1 = time.perf_counter()
        first_monday = horizon_start(now, clinic.zone)
        days = [first_monday + timedelta(days=n) for n in range(7 * HORIZON_WEEKS)]
        booker = Booker(clinic, conninfo_of(url), now=now, seed=11)
        placed = fill_days(booker, days, args.appointments)
        t2 = time.perf_counter()
        booker.finish()
        t3 = time.perf_counter()
        week_start, week_end = week_bounds(first_monday + timedelta(days=7 * SEARCHED_WEEK), clinic.zone)
        settings = Settings(database_url=url)
        query = eswt_query(clinic, week_start, week_end)
        dataset = {
            "location": f"1 ({TIME_ZONE}, open 07:00-20:00 daily)",
            "clinicians": len(clinic.clinicians),
            "eswt_clinicians": sum(C.ESWT in c.certifications for c in clinic.clinicians),
            "device_units": {code: len(units) for code, units in clinic.devices.items()},
            "rooms": {kind.value: len(ids) for kind, ids in clinic.rooms.items()},
            "services": len(clinic.services),
            "patients": len(clinic.patients),
            "horizon": {"start": days[0].isoformat(), "end": (days[-1] + timedelta(days=1)).isoformat()},
            "searched_week": {"start": week_start.isoformat(), "end": week_end.isoformat()},
            "appointments_requested": args.appointments,
            "appointments_placed": placed,
            "appointments_by_service": dict(sorted(booker.by_service.items())),
            **window_counts(engine, week_start, week_end),
            "utilization_in_searched_week": utilization(engine, clinic, week_start, week_end),
            "setup_seconds": {"migrate_and_catalog": round(t1 - t0, 3), "generate_and_copy": round(t2 - t1, 3),
                              "copy_rest_and_analyze": round(t3 - t2, 3)},
        }
        result: dict = {"server": server_version(engine), "dataset": dataset}
        result["in_process"] = time_searches(engine, settings, query, now, count=args.searches, fresh_session=True)
        result["in_process_reused_session"] = time_searches(engine, settings, query, now,
                                                            count=max(20, args.searches // 2), fresh_session=False)
        changes = BookAndCancel(url, clinic, query, now, settings)
        try:
            result["in_process_after_a_booking_each"] = time_searches(
                engine, settings, query, now, count=max(20, args.searches // 2), fresh_session=True,
                before_each=changes)
        finally:
            changes.close()
        result["in_process_cold_each"] = time_searches(engine, settings, query, now, count=max(20, args.searches // 4),
                                                       fresh_session=True, before_each=forget)
        result["busy_query"] = explain_busy_query(engine, settings, query, now, clinic)
        if args.profile_searches:
            result["profile"] = profile_searches(engine, settings, query, now, count=args.profile_searches)
        if not args.skip_http:
            params = {"service_id": query.service_id, "start": week_start.isoformat(), "end": week_end.isoformat(),
                      "limit": query.limit}
            try:
                changes = BookAndCancel(url, clinic, query, datetime.now(UTC), settings)
                try:
                    result["http"] = bench_http(url, params, requests=args.requests, concurrency=args.concurrency,
                                                client=args.client, engine=engine, changes=changes,
                                                change_interval=args.change_interval)
                finally:
                    changes.close()
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                result["http"] = {"error": f"{type(exc).__name__}: {exc}"}
        return result
    finally:
        engine.dispose()


def bench_growth(url: str, args: argparse.Namespace, levels: list[int], now: datetime) -> dict:
    """The same searched week (fixed content) while the table grows on days outside the window."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        clinic = build_catalog(engine)
        week_monday = horizon_start(now, clinic.zone) + timedelta(days=7 * SEARCHED_WEEK)
        week_start, week_end = week_bounds(week_monday, clinic.zone)
        in_window = args.growth_window or max(1, int(0.8 * levels[0]))
        booker = Booker(clinic, conninfo_of(url), now=now, seed=23)
        placed_window = fill_days(booker, [week_monday + timedelta(days=n) for n in range(7)], in_window)
        # Outside days alternate after and before the week, skipping 2 days around it (a search pads by 1).
        after = (week_monday + timedelta(days=7 + 2 + n) for n in range(10_000))
        before = (week_monday - timedelta(days=2 + n) for n in range(10_000))
        outside = (day for pair in zip(after, before, strict=True) for day in pair)
        settings = Settings(database_url=url)
        query = eswt_query(clinic, week_start, week_end)
        series = []
        total_placed = placed_window
        for level in levels:
            t0 = time.perf_counter()
            while total_placed < level:
                day = next(outside)
                if booker.capacity(day):
                    total_placed += booker.fill_day(day, min(OUTSIDE_PER_DAY, level - total_placed))
            booker.finish()
            change_searched_days(engine, clinic, query)  # COPY bypasses the ORM: bump as such writers must
            build = time.perf_counter() - t0
            timing = time_searches(engine, settings, query, now, count=args.growth_searches, fresh_session=True,
                                   before_each=forget)
            warm = time_searches(engine, settings, query, now, count=args.growth_searches, fresh_session=True)
            fields = ("count", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "sql_statements_per_search",
                      "sql_execute_ms_per_search", "slots_returned")
            series.append({
                "appointments": total_placed,
                **{k: v for k, v in window_counts(engine, week_start, week_end).items() if k != "appointments_total"},
                "search": {k: timing[k] for k in fields},
                "search_warm": {k: warm[k] for k in fields},
                "busy_query": explain_busy_query(engine, settings, query, now, clinic),
                "build_seconds": round(build, 3),
            })
        first, last = series[0]["search"]["p50_ms"], series[-1]["search"]["p50_ms"]
        return {
            "searched_week": {"start": week_start.isoformat(), "end": week_end.isoformat()},
            "appointments_in_searched_week": placed_window,
            "extra_appointments_placed_on": "days before and after the searched week (alternating), "
                                            f"{OUTSIDE_PER_DAY} a working day, none within 2 days of it",
            "search_is": "with the cache forgotten before each (a cold start: the week's allocations are read); "
                         "search_warm: unchanged schedule",
            "levels": series,
            "p50_ratio_largest_to_smallest": round(last / first, 3),
        }
    finally:
        engine.dispose()


def run_section(name: str, function, *args) -> dict:
    try:
        return function(*args)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return {"error": f"{name}: {type(exc).__name__}: {exc}"}


def with_database(server: str, function, *args) -> dict:
    with postgres_database(server) as url:
        return function(url, *args)


def targets(summary: dict) -> dict:
    found = {}
    main = summary.get("clinic", {})
    in_process = main.get("in_process")
    if in_process:
        found["in_process_p50_ms"] = {"target": "<= 5", "value": in_process["p50_ms"],
                                      "met": in_process["p50_ms"] <= 5}
        found["in_process_p99_ms"] = {"target": "<= 20", "value": in_process["p99_ms"],
                                      "met": in_process["p99_ms"] <= 20}
    http = main.get("http")
    if http and "throughput_ratio" in http:
        found["http_throughput_ratio_availability_to_trivial"] = {
            "target": ">= 0.5", "value": http["throughput_ratio"], "met": http["throughput_ratio"] >= 0.5}
    growth = summary.get("growth")
    if growth and "p50_ratio_largest_to_smallest" in growth:
        ratio = growth["p50_ratio_largest_to_smallest"]
        levels = growth["levels"]
        found["growth_p50_ratio_largest_to_smallest_table"] = {
            "target": "<= 1.2 (the searched window is fixed, so search time should stay flat as the table grows "
                      f"from {levels[0]['appointments']} to {levels[-1]['appointments']} appointments)",
            "value": ratio, "met": ratio <= 1.2,
            "busy_query_rows_examined": [
                (level["busy_query"].get("rows_returned") or 0) + level["busy_query"].get("rows_removed_by_filter", 0)
                for level in levels],
        }
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appointments", type=int, default=10_000,
                        help="appointments over the 4-week horizon of the main clinic (default 10000)")
    parser.add_argument("--growth", default="1000,10000,100000",
                        help="table sizes for the growth series, comma-separated; empty to skip (default %(default)s)")
    parser.add_argument("--growth-window", type=int, default=0,
                        help="appointments in the searched week of the growth series (default 80%% of the smallest)")
    parser.add_argument("--searches", type=int, default=200, help="timed in-process searches (default 200)")
    parser.add_argument("--growth-searches", type=int, default=100,
                        help="timed in-process searches per growth level (default 100)")
    parser.add_argument("--profile-searches", type=int, default=50,
                        help="searches run under cProfile; 0 to skip (default 50)")
    parser.add_argument("--requests", type=int, default=1000, help="measured HTTP requests per endpoint (default 1000)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent HTTP clients (default 32)")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="raw",
                        help="HTTP load client: raw (minimal asyncio client, light on CPU) or httpx (default raw)")
    parser.add_argument("--skip-http", action="store_true", help="skip the HTTP part")
    parser.add_argument("--change-interval", type=float, default=0.1,
                        help="seconds between two bookings or cancellations by another process during the HTTP "
                             "phase with changes (default 0.1)")
    parser.add_argument("--postgres-server", default=DEFAULT_POSTGRES_SERVER,
                        help="server on which throw-away databases are created (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        levels = sorted({int(part) for part in args.growth.split(",") if part.strip()})
    except ValueError:
        parser.error("--growth takes comma-separated integers")
    if args.appointments < 1 or args.searches < 1 or args.requests < 1 or args.concurrency < 1:
        parser.error("--appointments, --searches, --requests and --concurrency must be positive")
    if levels and (levels[0] < 1 or (args.growth_window and args.growth_window > levels[0])):
        parser.error("growth sizes must be positive and at least --growth-window")

    started = time.perf_counter()
    now = datetime.now(UTC)
    summary: dict = {
        "benchmark": "availability",
        "date": now.isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        },
        "config": {
            "appointments": args.appointments,
            "horizon_weeks": HORIZON_WEEKS,
            "search": "service eswt (shockwave + ultrasound + ESWT clinician + treatment room), one week "
                      "(the horizon's second), limit 20, all locations",
            "searches": args.searches,
            "search_warmup": SEARCH_WARMUP,
            "growth": levels,
            "growth_searches": args.growth_searches,
            "requests_per_endpoint": None if args.skip_http else args.requests,
            "concurrency": None if args.skip_http else args.concurrency,
            "http_client": None if args.skip_http else args.client,
            "postgres_statistics": "ANALYZE run after the bulk load",
            "versions": versions("fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy", "sqlmodel", "psycopg", "httpx"),
        },
    }
    summary["clinic"] = run_section("clinic", with_database, args.postgres_server, bench_main_clinic, args, now)
    if levels:
        summary["growth"] = run_section("growth", with_database, args.postgres_server, bench_growth, args, levels,
                                        now)
    summary["targets"] = targets(summary)
    summary["machine"]["load_average_at_end"] = (
        [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None)
    summary["total_seconds"] = round(time.perf_counter() - started, 3)

    text = json.dumps(summary, indent=2, default=str)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(text + "\n")
    print(text)
    failed = any("error" in (summary.get(part) or {}) for part in ("clinic", "growth"))
    failed = failed or "error" in (summary.get("clinic", {}).get("http") or {})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
