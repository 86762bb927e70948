"""Benchmark: one whole nightly optimization run, end to end through the database, at a real clinic's size.

Until this, only the pure solver was measured (``bench/solver.py``,
``bench/night_runs.py``: a generated ``NightProblem`` in, a solution out).
Here a night goes the way production runs it: rows in a fresh database, read
by ``scheduler.night.gather``, solved by ``solver.replan`` in its own process,
checked, written back by ``scheduler.night.write`` through the booking code,
re-verified by ``scheduler.optimization.check_no_overlaps`` and committed,
all by the product's own entry point ``scheduler.optimization.run_optimization``.

What it builds, per backend and size, in a throw-away database migrated by
the project's own migrations (``data.migrate.upgrade``): one location in
Europe/Berlin (Mon-Fri 07:00-20:00, Sat 08:00-14:00); 12-20 clinicians
(``--sessions / 100``, clamped) on 9-hour early/day/late shifts with a
30-minute break, 4-5 weekdays and every other Saturday, with overlapping
certifications; the demo clinic's ten services (``data.demo.SERVICES``);
one shockwave unit, one EMTT unit, three ultrasound units, one gait lab,
6-8 treatment rooms and 2-5 gyms (scaled with the size); a few hundred
patients (``max(300, sessions / 4)``). The night is Monday 02:00 local of the
coming week; its horizon is the 14 days after the 24-hour freeze window.
That horizon holds ``--sessions`` sessions, ``--booked-share`` (80 %) of them
booked and the rest waiting:

- confirmed treatment plans (``scheduler.plans.create_plan``, then confirmed
  with their sessions as the tests do): a shockwave course after a booked
  diagnosis (``before`` link, >= 48 h apart), EMTT series all waiting, SI-joint
  rehab with its first sessions booked, a needling course that requires its
  booked session's clinician, DNS blocks that require one clinician (a team);
  half of them with weekly windows. Their booked sessions are booked through
  the booking code like everything else; about 60 % of the waiting sessions;
- waitlist requests (``scheduler.waitlist.add_request``) with 1-7 days and a
  daily window, priorities 1-5: the other 40 %;
- booked appointments, each found with ``scheduler.availability
  .find_availability`` (the first free slot from a random time of a working
  day, for the patient) and booked with ``scheduler.booking.book``, one
  transaction each, spread over the days in proportion to staffed time. The
  frozen Monday is booked as densely (not counted in ``--sessions``).

What it measures: ``run_optimization(engine, location_id, trigger=NIGHTLY,
now=..., settings=Settings(solver_time_limit_seconds=--time-limit))`` on an
engine with cold process caches. The product's functions are wrapped with
timers (in this process only; nothing in the product changes): the offers
lapsed, each ``night.gather`` (twice on SQLite: once ahead of the write lock,
once under it), the solve (``optimization._solve_apart``: the forkserver
process, pickling included; CP-SAT's own seconds are reported next to it),
``check_night``, ``night.write`` and its parts, ``run_record.report``,
``check_no_overlaps``, the commit (from the end of that check to the start
of ``_finish``: the transaction's COMMIT) and ``_finish`` (the record
written). Inside gather and write the main helpers are timed too. SQL
statements are counted per phase with a ``before_cursor_execute`` listener
(an N+1 pattern shows as statements growing with the rows).

Afterwards it verifies from the database: the run record (status, error,
levels, changes by action), holds and reassignments written, no resource in
two live allocations at once (a self-join over ``allocation``), every placed
waiting session has a live appointment with live allocations and its plan
session or waitlist request points to it, booked times unchanged (moves are
off by default), the frozen day untouched. Then it reads the run's pages as
a signed-in administrator would, in-process with FastAPI's TestClient on the
same database: ``/app/runs`` (a server-rendered shell), the calls its script
makes (``auth/me``, ``locations``, ``optimization-runs?location_id=..&limit=30``,
``optimization-runs/{id}``), with status, time, size and SQL statements;
then again with a month of history (29 earlier copies of the run record), as
the list would be after 30 nights. ``--browser`` also loads the runs page in
headless Chromium (``/usr/bin/chromium``, Playwright) against an in-process
uvicorn and times it until the run's report is on screen.

Before the nights (``--skip-startup-probe`` to skip), it times how long the solve process takes to start
(a forkserver pool round trip with a trivial task) under three main modules: one importing nothing, this
bench, and a copy of the ``clinic`` console script (``from api.cli import app``): Python 3.11's forkserver
does not preload ``__main__``, so each solve process runs the parent's main module again. Each night's
``solve_wall_minus_replan_s`` is that cost as the run paid it. Statements issued in gather and write are
also grouped by shape (verb, table, start of the WHERE), the 12 most frequent per phase, so an N+1 names
its table. The JSON records the commit and any uncommitted product files (``git status``, read only).

Profiles: when a phase other than the solve takes more than
``--profile-threshold`` seconds (default 2), the night is run once more on a
copy of the database taken before the timed run, with cProfile on during the
non-solve phases (the solve then returns the timed run's answer when the
gathered problem is identical, so no solver time is spent twice); the top 25
functions by cumulative time per such phase go into the JSON.

Usage (from the project folder; a PostgreSQL server for the postgresql backend)::

    python bench/night_db.py                                   # 600 and 2,000 sessions, both backends, 60 s
    python bench/night_db.py --sessions 600 --time-limit 30    # a smoke run
    python bench/night_db.py --backend postgresql --sessions 2000 --time-limit 60 --browser

``--time-limit`` may list one limit per size (``--sessions 600,2000
--time-limit 30,60``). It prints the JSON summary and writes it to
``--output`` (default bench/results/night_db.json). The databases
(``clinic_bench_<random>``, a temporary SQLite file) are dropped at the end,
also on error.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import math
import os
import platform
import pstats
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # bench/solver.py would otherwise shadow the solver package

from sqlalchemy import Engine, event, func, or_  # noqa: E402
from sqlalchemy import select as sa_select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.common import (  # noqa: E402
    admin_connection,
    postgres_database,
    server_version,
    sqlite_database,
    to_json,
    versions,
)
from data.accounts import upsert_user  # noqa: E402
from data.config import Settings  # noqa: E402
from data.db import make_engine  # noqa: E402
from data.demo import SERVICES  # noqa: E402
from data.enums import (  # noqa: E402
    AppointmentStatus,
    LinkKind,
    PlanStatus,
    Role,
    RoomKind,
    RunStatus,
    RunTrigger,
    SameClinicianRule,
    WaitlistStatus,
)
from data.enums import Certification as C  # noqa: E402
from data.errors import Conflict  # noqa: E402
from data.migrate import upgrade  # noqa: E402
from data.tables import (  # noqa: E402
    Allocation,
    Appointment,
    Clinician,
    ClinicianCertification,
    ClinicianShift,
    Device,
    DeviceType,
    Location,
    LocationHours,
    OptimizationRun,
    Patient,
    PlanSession,
    Room,
    Service,
    ServiceDevice,
    ShiftBreak,
    User,
    WaitlistRequest,
)
from scheduler import booking, free_time, night, optimization, plans, waitlist  # noqa: E402
from scheduler.availability import SlotQuery, find_availability  # noqa: E402

DEFAULT_POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RESULTS_FILE = ROOT / "bench" / "results" / "night_db.json"
API = "/api/v1"
TIME_ZONE = "Europe/Berlin"
PASSWORD = "night bench password"
LIVE = (AppointmentStatus.PENDING, AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED, AppointmentStatus.FULFILLED)
HISTORY_NIGHTS = 30  # the runs page lists the latest 30 runs of a location
PAGE_REPEATS = 3
PROFILE_TOP = 25

# --- the clinic -----------------------------------------------------------------------

OPENING = {**dict.fromkeys(range(5), (wall(7, 0), wall(20, 0))), 5: (wall(8, 0), wall(14, 0))}
DEVICE_TYPES = [
    ("ultrasound", "Musculoskeletal ultrasound unit", [("Ultrasound 1", 5), ("Ultrasound 2", 5), ("Ultrasound 3", 5)]),
    ("shockwave", "Focused shockwave (ESWT) unit", [("Shockwave unit", 10)]),
    ("emtt", "EMTT (magnetotransduction) unit", [("EMTT unit", 5)]),
]
# starts, ends, break starts, break ends (local wall clock)
SHIFTS = [(wall(7, 0), wall(16, 0), wall(11, 30), wall(12, 0)),
          (wall(9, 0), wall(18, 0), wall(13, 0), wall(13, 30)),
          (wall(11, 0), wall(20, 0), wall(15, 30), wall(16, 0))]
SATURDAY = (wall(8, 0), wall(14, 0), None, None)
# title, certifications; the first n are the clinic's n clinicians
ROSTER = [
    ("DC, RMSK", [C.MSUS, C.DRY_NEEDLING, C.ESWT, C.MANUAL_THERAPY]),
    ("PT, DPT", [C.PHYSICAL_THERAPY, C.DNS, C.DRY_NEEDLING]),
    ("DC", [C.MANUAL_THERAPY, C.EMTT, C.DNS]),
    ("PT, DPT, OCS", [C.PHYSICAL_THERAPY, C.MSUS, C.DRY_NEEDLING, C.ESWT]),
    ("MS, CSCS", [C.GAIT, C.PHYSICAL_THERAPY, C.DNS]),
    ("PT, DPT", [C.PHYSICAL_THERAPY, C.DNS, C.MANUAL_THERAPY]),
    ("PTA", [C.PHYSICAL_THERAPY, C.EMTT]),
    ("DC, MS", [C.MANUAL_THERAPY, C.MSUS, C.DNS]),
    ("PT, DPT", [C.PHYSICAL_THERAPY, C.DRY_NEEDLING, C.MANUAL_THERAPY]),
    ("EMTT technician", [C.EMTT]),
    ("PT, DPT", [C.PHYSICAL_THERAPY, C.DNS]),
    ("DC", [C.MANUAL_THERAPY, C.ESWT, C.EMTT]),
    ("PT, DPT", [C.PHYSICAL_THERAPY, C.DNS, C.MANUAL_THERAPY]),
    ("DC, RMSK", [C.MSUS, C.DRY_NEEDLING, C.MANUAL_THERAPY]),
    ("PTA", [C.PHYSICAL_THERAPY, C.DNS]),
    ("MS, CSCS", [C.GAIT, C.PHYSICAL_THERAPY]),
    ("PT, DPT", [C.PHYSICAL_THERAPY, C.MANUAL_THERAPY, C.EMTT]),
    ("DC", [C.MANUAL_THERAPY, C.DNS]),
    ("PT, DPT, OCS", [C.PHYSICAL_THERAPY, C.DNS, C.DRY_NEEDLING, C.MSUS]),
    ("PTA", [C.PHYSICAL_THERAPY, C.MANUAL_THERAPY]),
]
GIVEN = ["Lena", "Jonas", "Mia", "Felix", "Hannah", "Lukas", "Emilia", "Paul", "Sophie", "Leon", "Marie", "Elias",
         "Clara", "Noah", "Greta", "Finn", "Ida", "Anton", "Frieda", "Karl"]
FAMILY = ["Becker", "Schulz", "Wagner", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz",
          "Zimmermann", "Braun", "Krüger", "Hartmann", "Lange", "Werner", "Krause", "Lehmann", "Köhler", "Yilmaz"]
# How often each service is booked (per cent of the booked sessions; the scarce devices and the gait lab kept
# under about 75 % of their open time at 2,000 sessions).
SERVICE_WEIGHTS = {"telehealth": 18, "sij_manual": 24, "emtt": 7, "eswt": 6, "msus_diagnosis": 5, "dry_needling": 6,
                   "sij_reeducation": 14, "dns": 16, "gait_analysis": 1.5, "gait_retraining": 2.5}
REQUEST_WINDOWS = [(wall(7, 0), wall(12, 0)), (wall(12, 0), wall(17, 0)), (wall(15, 0), wall(20, 0)),
                   (wall(8, 0), wall(18, 0)), (wall(7, 0), wall(20, 0))]
PLAN_WINDOWS = [(wall(7, 0), wall(12, 0)), (wall(15, 0), wall(20, 0)), (wall(10, 0), wall(16, 0))]
# plan kind: (weight, waiting sessions it adds)
PLAN_KINDS = {"eswt_course": (2, 2), "emtt_series": (2, 3), "sij_rehab": (2, 6), "needling_course": (2, 1),
              "dns_block": (2, 3)}
WAITLIST_SHARE = 0.4  # of the waiting sessions; plans give the rest


def sizes_for(sessions: int) -> dict:
    return {"clinicians": min(20, max(12, math.ceil(sessions / 100))),
            "treatment_rooms": max(6, math.ceil(sessions / 250)), "gyms": max(2, math.ceil(sessions / 400)),
            "patients": max(300, sessions // 4)}


@dataclass
class Clinic:
    location_id: int
    zone: ZoneInfo
    services: dict[str, int]  # code -> id
    durations: dict[str, int]
    clinicians: list[tuple[int, dict]]  # id, weekday -> shift
    patients: list[int]
    desk_id: int
    admin_username: str
    counts: dict = field(default_factory=dict)


def build_catalog(engine: Engine, sessions: int, seed_now: datetime) -> Clinic:
    """The location, devices, rooms, services, clinicians and patients through the ORM; two staff users."""
    size = sizes_for(sessions)
    zone = ZoneInfo(TIME_ZONE)
    with Session(engine) as session:
        location = Location(
            name="Bench Physio Berlin-Mitte", address="Invalidenstraße 1, 10115 Berlin", time_zone=TIME_ZONE,
            opening_hours=[LocationHours(weekday=day, starts=s, ends=e) for day, (s, e) in OPENING.items()])
        session.add(location)
        session.flush()
        types = {}
        for code, name, units in DEVICE_TYPES:
            types[code] = DeviceType(code=code, name=name)
            session.add(types[code])
            session.flush()
            session.add_all([Device(name=unit, device_type_id=types[code].id, location_id=location.id,
                                    cleaning_minutes=clean) for unit, clean in units])
        rooms = [*((f"Treatment {n}", RoomKind.TREATMENT) for n in range(1, size["treatment_rooms"] + 1)),
                 *((f"Gym {n}", RoomKind.GYM) for n in range(1, size["gyms"] + 1)), ("Gait lab", RoomKind.GAIT_LAB)]
        session.add_all([Room(name=name, kind=kind, location_id=location.id) for name, kind in rooms])
        services, durations = {}, {}
        for code, name, minutes, certification, room_kind, before, after, needs in SERVICES:
            service = Service(code=code, name=name, duration_minutes=minutes, required_certification=certification,
                              room_kind=room_kind, buffer_before_minutes=before, buffer_after_minutes=after,
                              device_needs=[ServiceDevice(device_type_id=types[kind].id, count=count)
                                            for kind, count in needs.items()])
            session.add(service)
            session.flush()
            services[code], durations[code] = service.id, minutes + before + after
        clinicians = []
        for index in range(size["clinicians"]):
            title, certifications = ROSTER[index]
            week = dict.fromkeys(range(5), SHIFTS[index % 3])
            if index % 4 == 3:
                del week[index % 5]  # a four-day week
            if index % 2 == 0:
                week[5] = SATURDAY
            clinician = Clinician(
                name=f"{GIVEN[index]} {FAMILY[index]}", title=title, email=f"clinician{index + 1}@bench.clinic",
                location_id=location.id,
                certification_links=[ClinicianCertification(certification=c) for c in certifications],
                shifts=[ClinicianShift(weekday=day, starts=s, ends=e,
                                       breaks=[ShiftBreak(starts=bs, ends=be)] if bs else [])
                        for day, (s, e, bs, be) in sorted(week.items())])
            session.add(clinician)
            session.flush()
            clinicians.append((clinician.id, week))
        rng = random.Random(7)
        people = [Patient(given_name=GIVEN[n % 20], family_name=f"{FAMILY[(n * 7 + n // 20) % 20]}-{n}",
                          birth_date=date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55)),
                          phone=f"+49 30 5550 {n:04d}", email=f"patient{n}@example.org")
                  for n in range(size["patients"])]
        session.add_all(people)
        session.flush()
        desk = upsert_user(session=session, username="bench_desk", password=PASSWORD, role=Role.FRONT_DESK)
        upsert_user(session=session, username="bench_admin", password=PASSWORD, role=Role.ADMIN)
        session.flush()
        clinic = Clinic(location.id, zone, services, durations, clinicians, [p.id for p in people], desk.id,
                        "bench_admin", counts={
                            **size, "rooms": {kind.value: sum(1 for _, k in rooms if k == kind) for kind in RoomKind},
                            "device_units": {code: len(units) for code, _, units in DEVICE_TYPES},
                            "services": len(services)})
        session.commit()
    return clinic


# --- booking through the product's code -----------------------------------------------


class Desk:
    """Books, plans and wait-lists as the front desk would, one transaction per booking, through the product."""

    def __init__(self, engine: Engine, clinic: Clinic, settings: Settings, seed_now: datetime, seed: int):
        self.engine, self.clinic, self.settings, self.now = engine, clinic, settings, seed_now
        self.rng = random.Random(seed)
        self.booked: Counter = Counter()
        self.misses = 0  # searches that found no slot
        self.refused: list[str] = []  # bookings the booking code refused (should stay empty)
        self.booking_seconds = 0.0
        self.search_seconds = 0.0
        self.day_patients: dict[date, set[int]] = {}

    def local(self, day: date, at: wall) -> datetime:
        return datetime.combine(day, at, self.clinic.zone)

    def book(self, code: str, patient: int, start: datetime, end: datetime) -> Appointment | None:
        """The first free slot for the patient between start and end (the search's own ranking), booked."""
        service_id = self.clinic.services[code]
        with Session(self.engine, expire_on_commit=False) as session:
            t0 = time.perf_counter()
            found = find_availability(session, SlotQuery(
                service_id=service_id, start=start, end=end, location_id=self.clinic.location_id,
                patient_id=patient, limit=1), now=self.now, settings=self.settings)
            t1 = time.perf_counter()
            self.search_seconds += t1 - t0
            if not found.offers:
                self.misses += 1
                return None
            offer = found.offers[0]
            slot = offer.slot
            choice = booking.SlotChoice(service_id, patient, offer.start, slot.clinician.id,
                                        slot.room.id if slot.room else None, tuple(unit.id for unit in slot.devices),
                                        self.clinic.location_id)
            try:
                appointment = booking.book(session, actor=session.get(User, self.clinic.desk_id), choice=choice,
                                           now=self.now, settings=self.settings)
                session.commit()
            except Conflict as refused:
                session.rollback()
                self.refused.append(str(refused))
                return None
            finally:
                self.booking_seconds += time.perf_counter() - t1
        self.booked[code] += 1
        self.day_patients.setdefault(offer.start.astimezone(self.clinic.zone).date(), set()).add(patient)
        return appointment

    def service(self) -> str:
        codes = list(SERVICE_WEIGHTS)
        return self.rng.choices(codes, weights=[SERVICE_WEIGHTS[c] for c in codes])[0]

    def free_patient(self, day: date) -> int:
        taken = self.day_patients.get(day, set())
        for _ in range(50):
            patient = self.rng.choice(self.clinic.patients)
            if patient not in taken:
                return patient
        return self.rng.choice(self.clinic.patients)

    def staffed_minutes(self, day: date) -> int:
        total = 0
        for _, week in self.clinic.clinicians:
            shift = week.get(day.weekday())
            if shift:
                s, e, bs, be = shift
                total += (e.hour * 60 + e.minute) - (s.hour * 60 + s.minute)
                if bs:
                    total -= (be.hour * 60 + be.minute) - (bs.hour * 60 + bs.minute)
        return total

    def fill_day(self, day: date, quota: int) -> int:
        """Book up to ``quota`` appointments on ``day``: random service and patient, the first slot from a random time
        of the day (else from its opening); another service when none fits. Stops after 25 misses in a row."""
        opens, closes = OPENING[day.weekday()]
        first, last = opens.hour * 4 + opens.minute // 15, closes.hour * 4 + closes.minute // 15
        placed = misses = 0
        while placed < quota and misses < 25:
            quarter = self.rng.randrange(first, last - 2)
            target = self.local(day, wall(quarter // 4, quarter % 4 * 15))
            day_end = self.local(day, closes)
            patient = self.free_patient(day)
            done = None
            for code in (self.service(), self.service(), "telehealth"):
                done = (self.book(code, patient, target, day_end)
                        or self.book(code, patient, self.local(day, opens), day_end))
                if done is not None:
                    break
            if done is None:
                misses += 1
            else:
                placed, misses = placed + 1, 0
        return placed


@dataclass
class WaitingWork:
    plans: Counter = field(default_factory=Counter)
    plans_skipped: int = 0
    plan_waiting: int = 0
    plan_booked: int = 0
    requests: int = 0


def make_plan(desk: Desk, kind: str, horizon: list[date], session_days: list[date]) -> tuple[int, int] | None:
    """One confirmed plan of ``kind``: its first sessions booked through the booking code, the rest waiting.
    Returns (booked, waiting) or None if a booked session found no slot (nothing kept then)."""
    clinic, rng = desk.clinic, desk.rng
    s = clinic.services
    patient = rng.choice(clinic.patients)
    early = session_days[:4]
    line = {"min_gap_hours": None, "max_gap_hours": None, "same_clinician": SameClinicianRule.PREFERRED}

    def book_in(code: str, after: datetime | None = None, days: list[date] = early) -> Appointment | None:
        day = rng.choice(days)
        start = max(after or desk.local(day, wall(7, 0)), desk.local(day, wall(7, 0)))
        return desk.book(code, patient, start, desk.local(days[-1], wall(20, 0)) + timedelta(days=2))

    booked: list[tuple[str, int, int]] = []  # service code, sequence, appointment id
    links: list[dict] = []
    if kind == "eswt_course":
        lines = [{**line, "service_id": s["msus_diagnosis"], "count": 1},
                 {**line, "service_id": s["eswt"], "count": 3, "min_gap_days": 3, "max_gap_days": 7,
                  "min_gap_hours": 48}]
        links = [{"kind": LinkKind.BEFORE, "first_service_id": s["msus_diagnosis"], "then_service_id": s["eswt"]}]
        diagnosis = book_in("msus_diagnosis", days=early[:2])
        first = diagnosis and book_in("eswt", after=diagnosis.ends_at, days=early[1:])
        if first is None:
            return None
        booked = [("msus_diagnosis", 1, diagnosis.id), ("eswt", 1, first.id)]
    elif kind == "emtt_series":
        lines = [{**line, "service_id": s["emtt"], "count": 3, "min_gap_days": 2, "max_gap_days": 5,
                  "same_clinician": SameClinicianRule.NONE}]
    elif kind == "sij_rehab":
        lines = [{**line, "service_id": s["sij_manual"], "count": 4, "min_gap_days": 2, "max_gap_days": 5},
                 {**line, "service_id": s["sij_reeducation"], "count": 4, "min_gap_days": 2, "max_gap_days": 5}]
        manual = book_in("sij_manual", days=early[:3])
        reeducation = manual and book_in("sij_reeducation", days=early[:3])
        if reeducation is None:
            return None
        booked = [("sij_manual", 1, manual.id), ("sij_reeducation", 1, reeducation.id)]
    elif kind == "needling_course":
        lines = [{**line, "service_id": s["msus_diagnosis"], "count": 1},
                 {**line, "service_id": s["dry_needling"], "count": 2, "min_gap_days": 5, "max_gap_days": 9,
                  "same_clinician": SameClinicianRule.REQUIRED}]
        links = [{"kind": LinkKind.BEFORE, "first_service_id": s["msus_diagnosis"],
                  "then_service_id": s["dry_needling"]}]
        diagnosis = book_in("msus_diagnosis", days=early[:2])
        first = diagnosis and book_in("dry_needling", after=diagnosis.ends_at, days=early[1:])
        if first is None:
            return None
        booked = [("msus_diagnosis", 1, diagnosis.id), ("dry_needling", 1, first.id)]
    else:  # dns_block
        lines = [{**line, "service_id": s["dns"], "count": 3, "min_gap_days": 2, "max_gap_days": 4,
                  "same_clinician": SameClinicianRule.REQUIRED}]
    windows = []
    if rng.random() < 0.5:
        starts, ends = rng.choice(PLAN_WINDOWS)
        windows = [{"weekday": day, "starts": starts, "ends": ends, "preferred": False} for day in range(5)]
    with Session(desk.engine) as session:
        desk_user = session.get(User, clinic.desk_id)
        plan = plans.create_plan(session, actor=desk_user, now=desk.now, values={
            "patient_id": patient, "location_id": clinic.location_id, "template_id": None,
            "earliest_start": horizon[0], "latest_end": horizon[-1], "priority": rng.randint(1, 5),
            "lines": [{"min_gap_days": None, "max_gap_days": None, **item} for item in lines], "links": links,
            "windows": windows, "blackouts": []})
        by_id = {code: ident for code, ident in s.items()}
        booked_at = {(by_id[code], sequence): ident for code, sequence, ident in booked}
        waiting = 0
        rows = []
        for item in lines:
            for sequence in range(1, item["count"] + 1):
                appointment = booked_at.get((item["service_id"], sequence))
                waiting += appointment is None
                rows.append(PlanSession(service_id=item["service_id"], sequence=sequence, appointment_id=appointment,
                                        unplaced_reason="" if appointment else "no time when proposed"))
        plan.sessions = rows
        plan.status, plan.updated_at = PlanStatus.CONFIRMED, desk.now
        session.commit()
    return len(booked), waiting


def seed_waiting(desk: Desk, horizon: list[date], working: list[date], waiting_target: int) -> WaitingWork:
    """Plans until their waiting sessions reach (1 - WAITLIST_SHARE) of the target, then waitlist requests."""
    work = WaitingWork()
    kinds = list(PLAN_KINDS)
    plan_target = round(waiting_target * (1 - WAITLIST_SHARE))
    while work.plan_waiting < plan_target:
        kind = desk.rng.choices(kinds, weights=[PLAN_KINDS[k][0] for k in kinds])[0]
        if PLAN_KINDS[kind][1] > plan_target - work.plan_waiting and work.plan_waiting:
            kind = "needling_course" if plan_target - work.plan_waiting < 2 else "eswt_course"
        made = make_plan(desk, kind, horizon, working)
        if made is None:
            work.plans_skipped += 1
            if work.plans_skipped > 50:
                break
            continue
        work.plans[kind] += 1
        work.plan_booked += made[0]
        work.plan_waiting += made[1]
    codes = list(SERVICE_WEIGHTS)
    with Session(desk.engine) as session:
        desk_user = session.get(User, desk.clinic.desk_id)
        while work.plan_waiting + work.requests < waiting_target:
            first = desk.rng.choice(working)
            last = min(first + timedelta(days=desk.rng.randint(0, 6)), horizon[-1])
            starts, ends = desk.rng.choice(REQUEST_WINDOWS)
            waitlist.add_request(session, actor=desk_user, now=desk.now, values={
                "patient_id": desk.rng.choice(desk.clinic.patients),
                "service_id": desk.clinic.services[desk.rng.choices(codes, [SERVICE_WEIGHTS[c] for c in codes])[0]],
                "earliest_day": first, "latest_day": last, "earliest_time": starts, "latest_time": ends,
                "priority": desk.rng.randint(1, 5)})
            work.requests += 1
        session.commit()
    return work


def fill_days(desk: Desk, days: list[date], total: int) -> int:
    """``total`` bookings over ``days`` in proportion to staffed minutes; a day's shortfall carries over."""
    capacities = [desk.staffed_minutes(day) for day in days]
    left_capacity, left = sum(capacities), total
    for day, capacity in zip(days, capacities, strict=True):
        if not capacity:
            continue
        quota = min(left, math.ceil(left * capacity / left_capacity))
        left -= desk.fill_day(day, quota)
        left_capacity -= capacity
    return total - left


# --- measuring the run -------------------------------------------------------------------


class Meter:
    """Wraps product functions with timers (inclusive seconds, calls) and counts SQL statements per open phase."""

    TOP = frozenset({"lapse_offers", "gather", "solve", "check_night", "write", "report", "check_no_overlaps",
                     "finish", "claim", "lock_location"})

    def __init__(self, engine: Engine, profile_phases: bool = False) -> None:
        self.engine, self.profile_phases = engine, profile_phases
        self.stack: list[str] = []
        self.stats: dict[str, dict] = {}
        self.timeline: list[tuple[str, float, float]] = []
        self.errors: list[str] = []
        self.patches: list[tuple[object, str, object]] = []
        self.profiles: dict[str, cProfile.Profile] = {}
        self.marks: dict[str, float] = {}
        self.origin = time.perf_counter()
        self.statements_outside = 0
        self.sql_seconds_outside = 0.0
        self.captured: dict[str, object] = {}
        self.shapes: dict[str, Counter] = {}  # per top-level phase: statements by their first words
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _stat(self, name: str) -> dict:
        return self.stats.setdefault(name, {"calls": 0, "seconds": 0.0, "statements": 0, "sql_seconds": 0.0,
                                            "each_seconds": [], "each_statements": []})

    def _before(self, conn, _cursor, statement, _parameters, _context, _many) -> None:
        conn.info["night_bench_t0"] = time.perf_counter()
        if not self.stack:
            self.statements_outside += 1
        elif self.stack[0] in ("gather", "write") or (len(self.stack) > 1 and self.stack[1] in ("gather", "write")):
            phase = self.stack[0] if self.stack[0] in ("gather", "write") else self.stack[1]
            self.shapes.setdefault(phase, Counter())[statement_shape(statement)] += 1
        for name in set(self.stack):
            self._stat(name)["statements"] += 1

    def _after(self, conn, *_args) -> None:
        spent = time.perf_counter() - conn.info.pop("night_bench_t0", time.perf_counter())
        if not self.stack:
            self.sql_seconds_outside += spent
        for name in set(self.stack):
            self._stat(name)["sql_seconds"] += spent

    def wrap(self, owner, attr: str, name: str, keep=None) -> None:
        original = getattr(owner, attr)
        meter = self

        @functools.wraps(original)
        def timed(*args, **kwargs):
            stat = meter._stat(name)
            statements_before = stat["statements"]
            meter.stack.append(name)
            profiler = None
            if meter.profile_phases and name in meter.TOP and name != "solve":
                profiler = meter.profiles.setdefault(name, cProfile.Profile())
                profiler.enable()
            began = time.perf_counter()
            try:
                result = original(*args, **kwargs)
                if keep is not None:
                    keep(meter, args, kwargs, result)
                return result
            except BaseException:
                meter.errors.append(f"{name}: {traceback.format_exc()}")
                raise
            finally:
                ended = time.perf_counter()
                if profiler is not None:
                    profiler.disable()
                meter.stack.pop()
                stat["calls"] += 1
                stat["seconds"] += ended - began
                stat["each_seconds"].append(round(ended - began, 3))
                stat["each_statements"].append(stat["statements"] - statements_before)
                meter.marks[f"{name}_start"], meter.marks[f"{name}_end"] = began, ended
                if name in meter.TOP:
                    meter.timeline.append((name, round(began - meter.origin, 3), round(ended - began, 3)))

        setattr(owner, attr, timed)
        self.patches.append((owner, attr, original))

    def close(self) -> None:
        for owner, attr, original in reversed(self.patches):
            setattr(owner, attr, original)
        self.patches.clear()
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def summary(self) -> dict:
        out = {}
        for name, stat in self.stats.items():
            entry = {"calls": stat["calls"], "seconds": round(stat["seconds"], 3), "statements": stat["statements"],
                     "sql_seconds": round(stat["sql_seconds"], 3)}
            if 1 < stat["calls"] <= 4:
                entry["each_seconds"], entry["each_statements"] = stat["each_seconds"], stat["each_statements"]
            out[name] = entry
        return out


def statement_shape(statement: str) -> str:
    """A statement by what it does and to which table: 'SELECT .. FROM clinician WHERE clinician.id = ..'."""
    words = " ".join(statement.split())
    verb = words.split(" ", 1)[0].upper()
    table = ""
    for keyword in (" FROM ", " INTO ", "UPDATE "):
        at = words.upper().find(keyword)
        if at >= 0:
            table = words[at:at + 60].split(" WHERE ")[0].split(" JOIN ")[0].split(" (")[0].strip()
            break
    where = words.upper().find(" WHERE ")
    condition = words[where + 7:where + 57] if where >= 0 else ""
    return f"{verb} {table} | {condition}".strip()


def keep_gather(meter: Meter, _args, _kwargs, result) -> None:
    meter.captured.setdefault("nights", []).append(result)


def keep_solution(meter: Meter, args, _kwargs, result) -> None:
    meter.captured["problem"], meter.captured["solution"] = args[0], result


def instrument(meter: Meter, answer=None) -> None:
    """Timers on the run's phases and on the main helpers inside gather and write. ``answer``: (problem, solution)
    to return instead of solving when the gathered problem is that very one (the profiled pass)."""
    meter.wrap(waitlist, "lapse_offers", "lapse_offers")
    meter.wrap(night, "gather", "gather", keep=keep_gather)
    if answer is None:
        meter.wrap(optimization, "_solve_apart", "solve", keep=keep_solution)
    else:
        real = optimization._solve_apart

        def reuse(problem, limits):
            if problem == answer[0]:
                meter.captured["reused_answer"] = True
                return answer[1]
            meter.captured["reused_answer"] = False
            return real(problem, limits)

        optimization._solve_apart = reuse
        meter.patches.append((optimization, "_solve_apart", real))
        meter.wrap(optimization, "_solve_apart", "solve")
    meter.wrap(optimization, "check_night", "check_night")
    meter.wrap(night, "write", "write")
    meter.wrap(optimization, "report", "report")
    meter.wrap(optimization, "check_no_overlaps", "check_no_overlaps")
    meter.wrap(optimization, "_finish", "finish")
    meter.wrap(optimization, "_claim", "claim")
    meter.wrap(optimization, "_lock_location", "lock_location")
    meter.wrap(optimization, "_plan_night", "plan_night")
    # inside gather
    meter.wrap(night, "catalog", "gather.catalog")
    meter.wrap(night._Builder, "kind", "gather.kind (availability search per service)")
    meter.wrap(night._Builder, "booked", "gather.booked (per booked appointment)")
    meter.wrap(night._Builder, "waitlisted", "gather.waitlisted (per request)")
    meter.wrap(night._Builder, "plan_sessions", "gather.plan_sessions (per plan)")
    meter.wrap(night, "build_problem", "gather.plan_sessions.build_problem")
    meter.wrap(night, "_patients_busy", "gather._patients_busy")
    meter.wrap(night, "_clinician_required", "gather._clinician_required")
    meter.wrap(night, "_waitlist", "gather._waitlist")
    meter.wrap(night, "_plans_waiting", "gather._plans_waiting")
    # inside write
    meter.wrap(night, "_reassign_all", "write._reassign_all")
    meter.wrap(night, "_refuse_if_moved", "write._reassign_all._refuse_if_moved")
    meter.wrap(night, "_reassign", "write._reassign_all._reassign (per booked session)")
    meter.wrap(night, "_place", "write._place (per placed waiting session)")
    meter.wrap(booking, "place_hold", "write._place.booking.place_hold")
    meter.wrap(booking, "_offer", "booking._offer (the slot checked again)")
    meter.wrap(night.waitlist, "answer_minutes", "write._place.waitlist.answer_minutes")
    meter.wrap(waitlist, "offered", "write._place.waitlist.offered")


def top_functions(profiler: cProfile.Profile, count: int = PROFILE_TOP) -> list[str]:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(count)
    lines = out.getvalue().splitlines()
    start = next((n for n, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    root = str(ROOT) + "/"
    return [line.replace(root, "").rstrip() for line in lines[start:] if line.strip()]


# --- databases -------------------------------------------------------------------------


@contextmanager
def database(backend: str, server: str) -> Iterator[str]:
    if backend == "sqlite":
        with sqlite_database() as url:
            yield url
    else:
        with postgres_database(server) as url:
            yield url


@contextmanager
def copy_of(url: str) -> Iterator[str]:
    """A copy of the (idle) database: CREATE DATABASE .. TEMPLATE on PostgreSQL, SQLite's backup API on SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = Path(parsed.database).with_name("copy.db")
        with sqlite3.connect(parsed.database) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
        try:
            yield f"sqlite:///{target}"
        finally:
            target.unlink(missing_ok=True)
        return
    name = f"{parsed.database}_copy"
    admin = admin_connection(url, "postgres")
    try:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"')
        try:
            yield parsed.set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


# --- the night -----------------------------------------------------------------------------


def night_moments(zone: ZoneInfo, today: date) -> tuple[datetime, datetime]:
    """The night (Monday 02:00 local of the coming week) and when the desk booked (the Sunday morning before)."""
    monday = today + timedelta(days=7 - today.weekday())
    night_now = datetime.combine(monday, wall(2, 0), zone)
    return night_now, night_now - timedelta(hours=20)


def settings_for(url: str, time_limit: float) -> Settings:
    return Settings(database_url=url, background_jobs=False, time_zone=TIME_ZONE,
                    secret_key="night-bench-secret-key-0123456789abcdef", solver_time_limit_seconds=time_limit)


def seed(url: str, sessions: int, booked_share: float, time_limit: float, seed_value: int) -> tuple[Clinic, dict]:
    engine = make_engine(url)
    try:
        t0 = time.perf_counter()
        upgrade(engine)
        t1 = time.perf_counter()
        zone = ZoneInfo(TIME_ZONE)
        night_now, seed_now = night_moments(zone, datetime.now(UTC).astimezone(zone).date())
        settings = settings_for(url, time_limit)
        clinic = build_catalog(engine, sessions, seed_now)
        t2 = time.perf_counter()
        frozen_until = night_now + timedelta(hours=settings.freeze_hours)
        horizon_end = frozen_until + timedelta(days=settings.horizon_days)
        first = frozen_until.astimezone(zone).date()
        horizon = [first + timedelta(days=n) for n in range((horizon_end.astimezone(zone).date() - first).days + 1)]
        horizon = [day for day in horizon if datetime.combine(day, wall(20, 0), zone) > frozen_until
                   and datetime.combine(day, wall(7, 0), zone) < horizon_end]
        working = [day for day in horizon if day.weekday() in OPENING]
        desk = Desk(engine, clinic, settings, seed_now, seed_value)
        waiting_target = sessions - round(sessions * booked_share)
        work = seed_waiting(desk, horizon, working, waiting_target)
        t3 = time.perf_counter()
        to_book = sessions - waiting_target - work.plan_booked
        placed = fill_days(desk, working, to_book)
        t4 = time.perf_counter()
        frozen_day = night_now.date()
        frozen_quota = round((sessions - waiting_target) * desk.staffed_minutes(frozen_day)
                             / max(1, sum(desk.staffed_minutes(d) for d in working)))
        frozen = desk.fill_day(frozen_day, frozen_quota) if frozen_day.weekday() in OPENING else 0
        t5 = time.perf_counter()
        bookings = sum(desk.booked.values())
        with Session(engine) as session:
            in_horizon = session.exec(select(func.count()).select_from(Appointment).where(
                Appointment.status == AppointmentStatus.BOOKED, Appointment.starts_at >= frozen_until,
                Appointment.starts_at < horizon_end)).one()
            staffed = sum(desk.staffed_minutes(d) for d in working)
            busy = session.exec(select(Appointment).where(
                Appointment.status == AppointmentStatus.BOOKED, Appointment.starts_at >= frozen_until,
                Appointment.starts_at < horizon_end)).all()
            booked_minutes = sum((a.ends_at - a.starts_at).total_seconds() / 60 for a in busy)
        dataset = {
            "location": f"1 ({TIME_ZONE}; Mon-Fri 07:00-20:00, Sat 08:00-14:00)",
            **clinic.counts,
            "night": night_now.isoformat(), "desk_booked_at": seed_now.isoformat(),
            "horizon": {"start": frozen_until.isoformat(), "end": horizon_end.isoformat(),
                        "working_days": len(working)},
            "sessions_requested": sessions,
            "booked_in_horizon": in_horizon,
            "booked_by_filler": placed, "booked_for_plans": work.plan_booked,
            "booked_short_of_target": sessions - waiting_target - in_horizon,
            "waiting_sessions_seeded": work.plan_waiting + work.requests,
            "waiting_plan_sessions": work.plan_waiting, "waitlist_requests": work.requests,
            "plans_confirmed": dict(work.plans), "plans_given_up_no_slot": work.plans_skipped,
            "frozen_day_appointments": frozen,
            "clinician_utilization_in_horizon": round(booked_minutes / staffed, 3) if staffed else None,
            "bookings_by_service": dict(sorted(desk.booked.items())),
            "booking_searches_without_slot": desk.misses,
            "bookings_refused_by_booking_code": len(desk.refused),
            "booking_refusals_sample": desk.refused[:3],
            "seed_seconds": {"migrate": round(t1 - t0, 3), "catalog_and_patients": round(t2 - t1, 3),
                             "plans_and_waitlist": round(t3 - t2, 3), "bookings_in_horizon": round(t4 - t3, 3),
                             "frozen_day": round(t5 - t4, 3)},
            "per_booking_ms": {"search": round(1000 * desk.search_seconds / max(1, bookings + desk.misses), 2),
                               "book_and_commit": round(1000 * desk.booking_seconds / max(1, bookings), 2),
                               "bookings": bookings},
        }
        clinic.counts["night_now"], clinic.counts["frozen_until"], clinic.counts["horizon_end"] = (
            night_now, frozen_until, horizon_end)
        return clinic, dataset
    finally:
        engine.dispose()


def schedule_snapshot(engine: Engine, clinic: Clinic) -> dict:
    """Booked appointments' times and every live allocation of the frozen window, to compare after the run."""
    c = clinic.counts
    with Session(engine) as session:
        booked = {a.id: a.starts_at for a in session.exec(select(Appointment).where(
            Appointment.status == AppointmentStatus.BOOKED, Appointment.starts_at >= c["night_now"]))}
        frozen = sorted((a.appointment_id, str(a.resource_kind), a.resource_id, a.starts_at, a.ends_at)
                        for a in session.exec(select(Allocation).where(
                            Allocation.live, Allocation.starts_at < c["frozen_until"],
                            Allocation.ends_at > c["night_now"])))
    return {"booked": booked, "frozen": frozen}


def run_night(url: str, clinic: Clinic, time_limit: float, *, profile: bool = False, answer=None) -> dict:
    """The night through ``run_optimization`` on a fresh engine (cold caches), timed phase by phase."""
    engine = make_engine(url)
    free_time.forget()
    meter = Meter(engine, profile_phases=profile)
    instrument(meter, answer)
    settings = settings_for(url, time_limit)
    night_now = clinic.counts["night_now"]
    try:
        began = time.perf_counter()
        meter.origin = began
        run = optimization.run_optimization(engine, location_id=clinic.location_id, trigger=RunTrigger.NIGHTLY,
                                            now=night_now, settings=settings)
        whole = time.perf_counter() - began
    finally:
        meter.close()
    stats = meter.summary()
    marks = meter.marks
    commit = None
    if "check_no_overlaps_end" in marks and "finish_start" in marks:
        commit = round(marks["finish_start"] - marks["check_no_overlaps_end"], 3)
    phases = {name: stats[name]["seconds"] for name in
              ("claim", "lapse_offers", "gather", "solve", "check_night", "write", "report", "check_no_overlaps",
               "finish")
              if name in stats}
    phases["commit"] = commit
    phases["whole_run"] = round(whole, 3)
    accounted = sum(v for k, v in phases.items() if k != "whole_run" and v is not None)
    phases["not_in_a_phase"] = round(whole - accounted, 3)
    solution = meter.captured.get("solution")
    nights = meter.captured.get("nights", [])
    problem = nights[-1].problem if nights else None
    result = {
        "run_id": run.id if run else None,
        "phases_seconds": phases,
        "statements": {name: stats[name]["statements"] for name in stats} | {"outside_any_phase":
                                                                             meter.statements_outside},
        "timers": stats,
        "timeline": [{"phase": n, "at": at, "seconds": s} for n, at, s in meter.timeline],
        "statement_shapes_top": {phase: [f"{count} x {shape}" for shape, count in counter.most_common(12)]
                                 for phase, counter in meter.shapes.items()},
        "problem": None if problem is None else {
            "booked_sessions": len(problem.booked), "waiting_sessions": len(problem.waiting),
            "spacings": len(problem.spacings), "days": len(problem.day_starts)},
        "solver": None if solution is None else {
            "status": solution.status, "replan_seconds_inside_its_process": round(solution.seconds, 3),
            "solve_wall_minus_replan_s": round(stats["solve"]["seconds"] - solution.seconds, 3),
            "first_solution_seconds": solution.first_solution_seconds,
            "stages": [{"name": s.name, "value": s.value, "bound": s.bound, "status": s.status}
                       for s in solution.stages],
            "greedy": solution.greedy},
        "errors_seen_in_phases": meter.errors,
    }
    if profile:
        result["profiles_top_cumulative"] = {name: top_functions(p) for name, p in meter.profiles.items()}
        result["reused_timed_answer"] = meter.captured.get("reused_answer")
    if answer is None and problem is not None and solution is not None:
        result["_answer"] = (meter.captured.get("problem"), solution)
    engine.dispose()
    return result


def verify(url: str, clinic: Clinic, run_id: int | None, before: dict) -> dict:
    """What the database says after the run."""
    engine = make_engine(url)
    c = clinic.counts
    night_now = c["night_now"]
    try:
        with Session(engine) as session:
            run = session.get(OptimizationRun, run_id) if run_id else None
            if run is None:
                return {"error": "no run record"}
            actions = Counter(change["action"] for change in run.changes)
            a = Allocation.__table__.alias("a")
            b = Allocation.__table__.alias("b")
            current = lambda t: or_(t.c.hold_expires_at.is_(None), t.c.hold_expires_at > night_now)  # noqa: E731
            overlaps = session.execute(
                sa_select(a.c.resource_kind, a.c.resource_id, a.c.appointment_id, b.c.appointment_id)
                .where(a.c.resource_kind == b.c.resource_kind, a.c.resource_id == b.c.resource_id, a.c.id < b.c.id,
                       a.c.live, b.c.live, current(a), current(b), a.c.starts_at < b.c.ends_at,
                       b.c.starts_at < a.c.ends_at).limit(20)).all()
            holds = session.exec(select(Appointment).where(
                Appointment.status == AppointmentStatus.PENDING, Appointment.created_by_id.is_(None),
                Appointment.created_at == night_now)).all()
            reassigned = session.exec(select(func.count()).select_from(Appointment).where(
                Appointment.status == AppointmentStatus.BOOKED, Appointment.updated_at == night_now)).one()
            placed_problems = []
            placed = [change for change in run.changes if change["action"] in optimization.PLACING]
            for change in placed:
                appointment = session.get(Appointment, change["appointment_id"])
                if appointment is None or appointment.status not in LIVE:
                    placed_problems.append(f"{change}: appointment missing or not live")
                    continue
                if not appointment.allocations or not all(x.live for x in appointment.allocations):
                    placed_problems.append(f"appointment {appointment.id}: allocations not live")
                if appointment.starts_at < c["frozen_until"] or appointment.starts_at >= c["horizon_end"]:
                    placed_problems.append(f"appointment {appointment.id} outside the horizon")
                if change["action"] == "plan_session":
                    row = session.exec(select(PlanSession).where(PlanSession.plan_id == change["plan_id"],
                                                                 PlanSession.service_id == change["service_id"],
                                                                 PlanSession.sequence == change["sequence"])).first()
                    if row is None or row.appointment_id != appointment.id:
                        placed_problems.append(f"plan {change['plan_id']} session {change['sequence']} does not "
                                               f"point to appointment {appointment.id}")
                else:
                    request = session.get(WaitlistRequest, change["request_id"])
                    if request.status != WaitlistStatus.OFFERED or request.appointment_id != appointment.id:
                        placed_problems.append(f"request {request.id} is {request.status} -> {request.appointment_id}")
            requests_waiting = session.exec(select(func.count()).select_from(WaitlistRequest).where(
                WaitlistRequest.status == WaitlistStatus.WAITING)).one()
            plan_sessions_without_live = session.exec(
                select(func.count()).select_from(PlanSession)
                .outerjoin(Appointment, Appointment.id == PlanSession.appointment_id)
                .where(or_(PlanSession.appointment_id.is_(None), Appointment.status.not_in(LIVE)))).one()
            booked_now = {x.id: x.starts_at for x in session.exec(select(Appointment).where(
                Appointment.id.in_(list(before["booked"]))))}
            moved = [ident for ident, start in before["booked"].items() if booked_now.get(ident) != start]
        after = schedule_snapshot(engine, clinic)
        frozen_changed = before["frozen"] != after["frozen"]
        return {
            "status": run.status.value, "error": run.error, "sessions_placed": run.sessions_placed,
            "changes": len(run.changes), "changes_by_action": dict(actions),
            "objective": run.objective, "bound": run.bound, "gap": run.gap, "points_waiting": run.points_waiting,
            "left_waiting_in_record": len(run.waiting),
            "left_waiting_by_code": dict(Counter(entry["code"] for entry in run.waiting)),
            "stages": run.stages, "greedy": run.greedy,
            "holds_written": len(holds), "booked_appointments_reassigned": reassigned,
            "double_bookings_found": len(overlaps), "double_bookings_sample": [list(map(str, row)) for row in overlaps],
            "placed_sessions_checked": len(placed), "placed_session_problems": placed_problems[:10],
            "placed_session_problem_count": len(placed_problems),
            "waitlist_requests_still_waiting": requests_waiting,
            "plan_sessions_without_live_appointment": plan_sessions_without_live,
            "booked_times_changed": len(moved), "frozen_window_changed": frozen_changed,
            "ok": (run.status == RunStatus.SUCCEEDED and not overlaps and not placed_problems and not moved
                   and not frozen_changed),
        }
    finally:
        engine.dispose()


# --- the pages -------------------------------------------------------------------------------


def fetch_pages(url: str, clinic: Clinic, run_id: int, time_limit: float) -> dict:
    """The runs page and the calls its script makes, as a signed-in administrator, in-process (TestClient)."""
    from fastapi.testclient import TestClient

    from api.deps import get_now
    from api.main import create_app

    engine = make_engine(url)
    meter = Meter(engine)
    settings = settings_for(url, time_limit)
    app = create_app(settings, engine)
    night_now = clinic.counts["night_now"]
    app.dependency_overrides[get_now] = lambda: night_now + timedelta(hours=6)  # the morning after
    location = clinic.location_id
    paths = [("page /app/runs?location_id=..", f"/app/runs?location_id={location}"),
             ("api auth/me", f"{API}/auth/me"),
             ("api locations?limit=200", f"{API}/locations?limit=200"),
             ("api optimization-runs?location_id=..&limit=30",
              f"{API}/optimization-runs?location_id={location}&limit={HISTORY_NIGHTS}"),
             ("api optimization-runs/{id}", f"{API}/optimization-runs/{run_id}")]
    result: dict = {"client": "fastapi.testclient.TestClient, in-process, same database; "
                              f"each request {PAGE_REPEATS} times (first and fastest)"}
    try:
        with TestClient(app) as client:
            signed = client.post(f"{API}/auth/token", data={"username": clinic.admin_username, "password": PASSWORD})
            result["sign_in_status"] = signed.status_code
            headers = {"Authorization": f"Bearer {signed.json().get('access_token', '')}"}

            def measure(label: str, path: str) -> dict:
                times, statements, size, status = [], [], 0, None
                for _ in range(PAGE_REPEATS):
                    count = meter.statements_outside
                    t0 = time.perf_counter()
                    response = client.get(path, headers=headers)
                    times.append(time.perf_counter() - t0)
                    statements.append(meter.statements_outside - count)
                    size, status = len(response.content), response.status_code
                entry = {"status": status, "first_ms": round(1000 * times[0], 1),
                         "best_ms": round(1000 * min(times), 1), "bytes": size, "sql_statements": statements[0]}
                if label.startswith("api optimization-runs/"):
                    body = response.json()
                    entry["changes_in_body"] = len(body.get("changes", []))
                    entry["waiting_in_body"] = len(body.get("waiting", []))
                    entry["names_in_body"] = {k: len(v) for k, v in body.get("names", {}).items()}
                return entry

            result["one_run"] = {label: measure(label, path) for label, path in paths}
            result["one_run"]["total_bytes_for_the_page"] = sum(
                entry["bytes"] for entry in result["one_run"].values() if isinstance(entry, dict))
            add_history(engine, run_id, HISTORY_NIGHTS - 1)
            result[f"with_{HISTORY_NIGHTS}_nights_of_history"] = {
                label: measure(label, path) for label, path in paths if "optimization-runs" in path}
    finally:
        meter.close()
        engine.dispose()
    return result


def add_history(engine: Engine, run_id: int, nights: int) -> None:
    """Earlier nights' records: copies of this run's record, a day apart (the list shows the latest 30)."""
    with Session(engine) as session:
        run = session.get(OptimizationRun, run_id)
        fields = {name: getattr(run, name) for name in OptimizationRun.model_fields if name not in ("id",)}
        for back in range(1, nights + 1):
            session.add(OptimizationRun(**{**fields, "run_date": run.run_date - timedelta(days=back),
                                           "started_at": run.started_at - timedelta(days=back),
                                           "finished_at": run.finished_at - timedelta(days=back)}))
        session.commit()


def browse(url: str, clinic: Clinic, time_limit: float) -> dict:
    """The runs page in headless Chromium against an in-process uvicorn: seconds until the run's report is shown."""
    import uvicorn
    from playwright.sync_api import sync_playwright

    from api.main import create_app

    chromium = os.environ.get("CLINIC_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        return {"skipped": f"no Chromium at {chromium}"}
    engine = make_engine(url)
    app = create_app(settings_for(url, time_limit), engine)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            try:
                context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
                context.set_default_timeout(120_000)
                page = context.new_page()
                page.goto(f"{base}/app/login")
                page.get_by_label("User name").fill(clinic.admin_username)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(lambda u: "/app/login" not in u)
                page.locator("body[data-ready=true]").wait_for()
                t0 = time.perf_counter()
                page.goto(f"{base}/app/runs?location_id={clinic.location_id}")
                page.locator("#run-report:not([hidden]) [data-part=left-waiting]").wait_for()
                shown = time.perf_counter() - t0
                rows = page.evaluate("() => document.querySelectorAll('#run-report tr').length")
                nodes = page.evaluate("() => document.getElementsByTagName('*').length")
                heap = page.evaluate("() => (performance.memory || {}).usedJSHeapSize || null")
                return {"chromium": chromium, "seconds_until_report_shown": round(shown, 3),
                        "report_table_rows": rows, "dom_elements": nodes, "js_heap_bytes": heap,
                        "note": "history of 30 nights present (added by the TestClient step)"}
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


# --- one backend and size --------------------------------------------------------------------


def bench_one(backend: str, sessions: int, time_limit: float, args: argparse.Namespace) -> dict:
    out: dict = {"backend": backend, "sessions": sessions, "time_limit_s": time_limit}
    with database(backend, args.postgres_server) as url:
        probe = make_engine(url)
        out["server"] = server_version(probe)
        probe.dispose()
        print(f"[bench/night_db] {backend} {sessions}: seeding", file=sys.stderr, flush=True)
        clinic, out["dataset"] = seed(url, sessions, args.booked_share, time_limit, args.seed)
        print(f"[bench/night_db] {backend} {sessions}: seeded {to_json(out['dataset']['seed_seconds'])}",
              file=sys.stderr, flush=True)
        with copy_of(url) if args.profile != "never" else _nothing() as spare:
            engine = make_engine(url)
            before = schedule_snapshot(engine, clinic)
            engine.dispose()
            print(f"[bench/night_db] {backend} {sessions}: the night ({time_limit} s limit)", file=sys.stderr,
                  flush=True)
            measured = run_night(url, clinic, time_limit)
            answer = measured.pop("_answer", None)
            out["run"] = measured
            print(f"[bench/night_db] {backend} {sessions}: {to_json(measured['phases_seconds'])}", file=sys.stderr,
                  flush=True)
            out["verify"] = verify(url, clinic, measured["run_id"], before)
            if measured["run_id"] is not None:
                out["pages"] = run_section("pages", fetch_pages, url, clinic, measured["run_id"], time_limit)
                if args.browser:
                    out["browser"] = run_section("browser", browse, url, clinic, time_limit)
            slow = {name: seconds for name, seconds in measured["phases_seconds"].items()
                    if name not in ("solve", "whole_run") and seconds is not None
                    and seconds > args.profile_threshold}
            if spare is not None and (args.profile == "always" or slow):
                print(f"[bench/night_db] {backend} {sessions}: profiling {sorted(slow) or 'all'}", file=sys.stderr,
                      flush=True)
                profiled = run_night(spare, clinic, time_limit, profile=True, answer=answer)
                out["profile"] = {
                    "why": (f"phases over {args.profile_threshold} s in the timed run: {slow}" if slow
                            else "--profile always"),
                    "how": "the same night on a copy of the database taken before the timed run, cProfile on during "
                           "each non-solve phase; the solve returns the timed run's answer when the gathered problem "
                           "is identical (reused_timed_answer)",
                    "reused_timed_answer": profiled.get("reused_timed_answer"),
                    "phases_seconds_under_profiler": profiled["phases_seconds"],
                    "top_cumulative": profiled.get("profiles_top_cumulative", {}),
                }
    return out


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


STARTUP_PROBE = '''
import sys, time
sys.path.insert(0, {root!r})
{imports}
def noop():
    return time.time()
if __name__ == "__main__":
    from concurrent.futures import ProcessPoolExecutor
    from scheduler.optimization import SOLVES as context  # the pool's context, with what it preloads
    for _ in range(3):
        began = time.time()
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            entered = pool.submit(noop).result()
        print(entered - began, time.time() - began, flush=True)
'''


def solve_process_startup() -> dict:
    """How long ``_solve_apart``'s process takes to start, by what the parent's ``__main__`` imports.

    Python 3.11's forkserver does not preload ``__main__`` (its ``main_path`` is never passed), so every solve
    process runs the parent's main module again before it solves; what the forkserver preloaded
    (``scheduler.optimization.preload_for_solves``: the solver, and ``api.cli`` once the ``clinic`` script has
    imported it) is found loaded. The first round trip includes the forkserver's own start."""
    mains = {"a main module importing nothing": "",
             "this bench's main (imports scheduler.optimization and data)": "import scheduler.optimization",
             "the `clinic` console script (from api.cli import app)": "from api.cli import app"}
    found = {}
    for label, imports in mains.items():
        with tempfile.TemporaryDirectory(prefix="clinic_probe_") as folder:
            script = Path(folder) / "probe_main.py"
            script.write_text(STARTUP_PROBE.format(root=str(ROOT), imports=imports))
            done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                                  check=False, cwd=ROOT)
        if done.returncode:
            found[label] = {"error": done.stderr[-1000:]}
            continue
        rows = [[float(x) for x in line.split()] for line in done.stdout.split("\n") if line.strip()]
        found[label] = {"child_running_after_s": [round(r[0], 3) for r in rows],
                        "pool_round_trip_s": [round(r[1], 3) for r in rows]}
    return found


def run_section(name: str, function, *args) -> dict:
    try:
        return function(*args)
    except Exception as exc:  # noqa: BLE001  (the next size and backend still run; the JSON says what failed)
        traceback.print_exc(file=sys.stderr)
        return {"error": f"{name}: {type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def code_version() -> dict:
    """The commit measured, and the project files changed in the working tree (read-only git commands)."""
    def git(*words: str) -> str:
        done = subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout if done.returncode == 0 else ""

    changed = [line[3:] for line in git("status", "--porcelain", "--", "api", "data", "scheduler", "solver")
               .splitlines() if line.strip()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "uncommitted_product_files": changed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--sessions", default="600,2000",
                        help="sessions (booked + waiting) in the night's horizon, comma-separated "
                             "(default %(default)s)")
    parser.add_argument("--time-limit", default="60",
                        help="solver seconds (CLINIC_SOLVER_TIME_LIMIT_SECONDS); one, or one per size")
    parser.add_argument("--booked-share", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                        help="auto: profile when a non-solve phase exceeds --profile-threshold")
    parser.add_argument("--profile-threshold", type=float, default=2.0)
    parser.add_argument("--browser", action="store_true", help="also load the runs page in headless Chromium")
    parser.add_argument("--skip-startup-probe", action="store_true",
                        help="skip timing the solve process's start-up by main module")
    parser.add_argument("--postgres-server", default=DEFAULT_POSTGRES_SERVER)
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)
    sizes = [int(part) for part in args.sessions.split(",") if part.strip()]
    limits = [float(part) for part in args.time_limit.split(",") if part.strip()]
    if len(limits) == 1:
        limits *= len(sizes)
    if len(limits) != len(sizes):
        parser.error("--time-limit takes one limit or one per size")
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    started = time.perf_counter()
    summary: dict = {
        "benchmark": "night_db", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"node": platform.node(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "versions": versions("ortools", "highspy", "sqlalchemy", "sqlmodel", "psycopg", "fastapi"),
        "code": code_version(),
        "config": {"backends": backends, "sessions": sizes, "time_limits_s": limits,
                   "booked_share": args.booked_share, "seed": args.seed,
                   "solver_workers": Settings().solver_workers, "time_zone": TIME_ZONE},
        "runs": [],
    }
    if not args.skip_startup_probe:
        print("[bench/night_db] timing the solve process's start-up", file=sys.stderr, flush=True)
        summary["solve_process_startup"] = run_section("startup", solve_process_startup)
    for sessions, limit in zip(sizes, limits, strict=True):
        for backend in backends:
            result = run_section(f"{backend} {sessions}", bench_one, backend, sessions, limit, args)
            result.setdefault("backend", backend)
            result.setdefault("sessions", sessions)
            summary["runs"].append(result)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(to_json(summary, indent=2) + "\n")  # kept as it grows: a crash keeps the rest
    summary["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    summary["total_seconds"] = round(time.perf_counter() - started, 1)
    summary["ok"] = all(r.get("verify", {}).get("ok") and "error" not in r for r in summary["runs"])
    text = to_json(summary, indent=2)
    args.output.write_text(text + "\n")
    print(text)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
