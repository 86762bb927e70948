"""Benchmark: the nightly re-plan model (``solver.replan``) at scale, pure solver, no database.

The model (issue 5, "nightly optimization"): one CP-SAT model per location
and night reassigns each booked session's clinician, room and device units
(booked times stay: ``may_start`` is empty here) and places WAITING sessions
(waitlist requests, plan tails) within their allowed starts, with spacing
rules between the sessions of one course and, for some courses, one clinician
throughout (``team``). The objective tiers are ``solver.replan.WEIGHTS``:
unplaced waiting sessions weighted by priority, continuity of care (distinct
clinicians per patient and service), the busiest clinician's minutes, the
span of each clinician's day, then moved sessions and changed resources. The
warm start and baseline is ``place_greedily`` (booked as they are, waiting
ones in priority order, each at its earliest free start); a run never returns
anything worse.

What it builds, per size (``--sizes``, default 100, 250, 600, 1000, 2000
sessions, booked + waiting), from a seeded generator (``--seed``, default 7):
two weeks of 10 working days (Monday 2027-03-01 onwards, times as minutes
since the Unix epoch in UTC, ``day_starts`` the 14 UTC midnights),
08:00-18:00, starts on a 15-minute grid; clinicians scaled with the size (4,
8, 12, 18, 25), each with a certification mix like the demo clinic's staff and
a weekly shift pattern (full days, four days, mornings, afternoons or a mix of
full and half days); devices and rooms as in the demo clinic (1 shockwave unit
cleaning 10 minutes, 3 ultrasound units cleaning 5, 1 EMTT unit cleaning 5, 6
treatment rooms, 1 gym, 1 gait lab), scaled up with the size so that each
device and room type would be planned at about 55 % of its capacity if every
session were placed; the demo's services (ESWT 30 min: shockwave + ultrasound
+ treatment room; MSUS 45 min + 5 after: ultrasound + treatment room; EMTT
30: EMTT unit + treatment room; manual therapy 30 + 5: treatment room;
re-education 60: gym; gait 60 with 10 before and after: gait lab).

80 % of the sessions are BOOKED: patients with a course of 1-6 sessions (one
service, or two for some) on distinct days, whose current assignment is first
fit in start order, each session served by the lowest-id clinician (certified,
on shift, free), room and units that are free, so it is unbalanced (low ids
carry the load) and discontinuous (a patient sees whoever is free). Sessions
first fit cannot serve are not generated; requests are added (and, when there
are too many, random ones dropped and first fit run again) until exactly the
booked count is served. A fifth of the booked patients whose course already
has one clinician get ``keep_clinician``. Candidates' ``free`` windows are the
shifts (clinicians) or the whole calendar day (rooms, units); the booked
sessions' own bookings are not subtracted, as ``scheduler.night`` builds them.

20 % are WAITING (``WaitingSession``), priority 1-5 at random: half of them
single waitlist requests whose patient window is 2-5 consecutive working days
x a daily window (whole day, morning, afternoon, 3-4 hours, late afternoon),
half plan tails: courses of 2-4 sessions of one service, consecutive ones tied
by ``Spacing(earlier, later, min_days, max_days)`` (1-3, 2-5 or 3-7 calendar
days), windows from a start day to the end of the horizon x a daily window,
half of them continuing a booked patient's course of the same service after
its last booked day, and a fifth of the courses with a ``team`` (one
clinician throughout). A session's allowed starts are those where it fits in
the patient's window.

``--tight`` (in the default run at 250 and 600 sessions, ``--tight-sizes``)
makes waiting demand well above what is left: waiting sessions are 60 % of
the booked ones (size = booked + waiting), clinicians, rooms and units are
scaled to the booked sessions only, and the windows are narrow (1-2 working
days x 2 hours, mostly at the 08:00-10:00 and 16:00-18:00 peaks; plan tails
of 2-3 sessions 1-2 days apart within 5 working days).

``check_night(problem, current) == []`` and ``check_night`` on the greedy
answer are asserted when generating.

What it measures per instance: ``replan(problem, Limits(time_limit=T,
workers=2))`` with T = 60 s up to 600 sessions and 10 s above (``--time-limit``
for all sizes; ``--long`` adds a 300 s run of the largest size): status,
objective, bound, gap (``ReplanSolution.gap``), the gap above the objective's
floor (every booked patient-service pair needs one clinician, so 10,000 x
pairs is a constant part of every objective and makes the relative gap look
small), the lower tiers' cost and gap (without the unplaced tier, which
dwarfs the rest), time to first solution, wall seconds split into greedy + model
building (Python), CP-SAT and reading the answer (by timing
``CpSolver.Solve`` from outside), the model's size, the greedy objective
(``cost(problem, place_greedily(problem))``), improvement, waiting sessions
placed by greedy and by the solver (count and priority points), the tiers
recomputed here independently for current, greedy and solver, changed booked
sessions, ``cost()`` of the answer, and ``check_night(...) == []``.

``--chain`` adds the chain-scale figure: 10 locations x 600 sessions (seeds
derived from ``--seed``), generated and solved by scheduler-free code in 2
processes (``ProcessPoolExecutor(max_workers=2)``, spawn), each location with
the time limit ``scheduler.optimization.run_locations`` would give it within a
10-minute budget (``--chain-budget``): budget / rounds x 0.8 and 1 CP-SAT worker.

Usage (from the project folder)::

    python bench/solver.py [--sizes 100,250,600,1000,2000] [--seed 7] [--time-limit S] [--long]
                           [--workers 2] [--tight] [--tight-sizes 250,600] [--no-tight] [--chain]
                           [--chain-locations 10] [--chain-budget 600] [--output FILE]

``--tight`` alone runs only the tight instances. It prints a JSON summary and
saves it to bench/results/solver.json (``--output``), and a plot of the scale
curve to bench/results/solver.png when matplotlib is importable (``pip install
-e .[bench]``).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import random
import sys
import time
from bisect import insort
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # before bench/, whose solver.py (this file) would shadow the package

from ortools.sat.python import cp_model  # noqa: E402

from solver.intervals import contains  # noqa: E402
from solver.plan_model import Limits  # noqa: E402
from solver.plans import Candidate, DevicePool, Placement, SessionKind, blocked  # noqa: E402
from solver.replan import (  # noqa: E402
    WEIGHTS, BookedSession, NightProblem, ReplanSolution, Spacing, WaitingSession, check_night, cost,
    place_greedily, replan,
)
from bench.common import to_json, versions  # noqa: E402

RESULTS_FILE = ROOT / "bench" / "results" / "solver.json"
PLOT_FILE = ROOT / "bench" / "results" / "solver.png"
DAY = 24 * 60
FIRST_DAY = int(datetime(2027, 3, 1, tzinfo=timezone.utc).timestamp()) // 60  # Monday 2027-03-01 00:00 UTC
WORKING_DAYS = 10
CALENDAR_DAYS = 14
OPENS, CLOSES, GRID = 8 * 60, 18 * 60, 15
DEFAULT_SIZES = (100, 250, 600, 1000, 2000)
DEFAULT_TIGHT_SIZES = (250, 600)
CLINICIANS_BY_SIZE = {100: 4, 250: 8, 600: 12, 1000: 18, 2000: 25}
TARGET_UTILIZATION = 0.55  # planned share of a room or device type's minutes, before first fit drops what fails

# code: minutes, certification, room kind, buffer before, buffer after, {device type: count}, weight among requests
SERVICES = {
    "eswt": (30, "eswt", "treatment", 0, 0, {"shockwave": 1, "ultrasound": 1}, 2),
    "msus": (45, "msus", "treatment", 0, 5, {"ultrasound": 1}, 2),
    "emtt": (30, "emtt", "treatment", 0, 0, {"emtt": 1}, 2),
    "manual": (30, "manual", "treatment", 0, 5, {}, 4),
    "reeducation": (60, "pt", "gym", 0, 0, {}, 3),
    "gait": (60, "gait", "gait_lab", 10, 10, {}, 1),
}
# Courses of two services (the rest are one service): first, second.
PAIRED_COURSES = [("manual", "reeducation"), ("msus", "eswt"), ("eswt", "emtt"), ("gait", "reeducation")]
PAIRED_SHARE = 0.3
DEVICE_TYPES = {"shockwave": (1, 10), "ultrasound": (3, 5), "emtt": (1, 5)}  # demo units, cleaning minutes
ROOM_KINDS = {"treatment": 6, "gym": 1, "gait_lab": 1}  # demo rooms
# Certification mixes modeled on the demo clinic's staff.
PROFILES = [
    ("msus", "eswt", "manual"), ("pt", "emtt"), ("pt", "msus", "eswt"), ("pt", "gait"), ("manual", "emtt", "eswt"),
    ("pt", "emtt"), ("gait", "pt"), ("manual", "msus"), ("pt", "manual"), ("emtt",),
]
CERTIFICATIONS = ("eswt", "msus", "emtt", "manual", "pt", "gait")
FULL, MORNING, AFTERNOON = (8 * 60, 18 * 60), (8 * 60, 13 * 60), (13 * 60, 18 * 60)
SHIFT_PATTERNS = {"full days": 0.35, "four full days": 0.25, "mixed full and half days": 0.2, "mornings": 0.1,
                  "afternoons": 0.1}
KEEP_CLINICIAN_SHARE = 0.2

# Waiting sessions.
WAITING_SHARE = 0.2  # of the size, normal instances
TIGHT_WAITING_PER_BOOKED = 0.6  # tight instances: waiting = 60 % of booked
PLAN_TAIL_SHARE = 0.5  # of the waiting sessions: in plan tails (the rest are single waitlist requests)
TAIL_OF_BOOKED_SHARE = 0.5  # of the plan tails: continuing a booked patient's course
TEAM_SHARE = 0.2  # of the courses: one clinician throughout
SPACINGS = [(1, 3), (2, 5), (3, 7)]  # min, max calendar days between consecutive sessions of a plan tail
DAILY_WINDOWS = [FULL, MORNING, AFTERNOON, (9 * 60, 13 * 60), (12 * 60, 15 * 60), (14 * 60, 18 * 60)]
TIGHT_DAILY_WINDOWS = [(8 * 60, 10 * 60)] * 3 + [(16 * 60, 18 * 60)] * 3 + [(10 * 60, 12 * 60), (12 * 60, 14 * 60)]

TARGET_MEDIUM = {"sessions": 600, "seconds": 60.0, "gap": 0.01}
TARGET_LARGE = {"sessions": 2000, "seconds": 10.0}
TARGET_LARGE_LONG = {"sessions": 2000, "seconds": 300.0, "gap": 0.03}
TARGET_TIGHT = {"fewer_unplaced_than_greedy": 0.10}
TARGET_CHAIN = {"locations": 10, "sessions": 600, "seconds": 600.0, "processes": 2, "gap": 0.01}


# --- the instance ------------------------------------------------------------------


def day_start(day: int) -> int:
    """Midnight (UTC minutes) of working day ``day`` (0-9, Monday to Friday of two weeks)."""
    return FIRST_DAY + ((day // 5) * 7 + day % 5) * DAY


DAY_STARTS = tuple(FIRST_DAY + n * DAY for n in range(CALENDAR_DAYS))  # the 14 UTC midnights, weekends included


def clinician_count(size: int) -> int:
    if size in CLINICIANS_BY_SIZE:
        return CLINICIANS_BY_SIZE[size]
    return max(2, min(40, round(4 + 21 * (size - 100) / 1900)))


def split(size: int, tight: bool) -> tuple[int, int]:
    """Booked and waiting sessions of an instance of ``size`` sessions."""
    if tight:
        booked = round(size / (1 + TIGHT_WAITING_PER_BOOKED))
    else:
        booked = size - round(size * WAITING_SHARE)
    return booked, size - booked


def capacity_size(size: int, tight: bool) -> int:
    """The session count clinicians, rooms and units are scaled to: all of them, or the booked ones when tight."""
    return split(size, tight)[0] if tight else size


def resource_counts(size: int) -> dict[str, int]:
    """Units and rooms per type: the demo's, or more so each type is planned at about TARGET_UTILIZATION."""
    weights = sum(service[6] for service in SERVICES.values())
    per_day = size / WORKING_DAYS
    minutes = {name: 0.0 for name in (*DEVICE_TYPES, *ROOM_KINDS)}
    for duration, _cert, room, before, after, devices, weight in SERVICES.values():
        sessions = per_day * weight / weights
        minutes[room] += sessions * (before + duration + after)
        for device, count in devices.items():
            minutes[device] += sessions * count * (before + duration + after + DEVICE_TYPES[device][1])
    demo = {**{name: units for name, (units, _) in DEVICE_TYPES.items()}, **ROOM_KINDS}
    return {name: max(demo[name], math.ceil(need / ((CLOSES - OPENS) * TARGET_UTILIZATION)))
            for name, need in minutes.items()}


@dataclass
class Instance:
    seed: int
    size: int
    tight: bool
    problem: NightProblem
    clinicians: int
    resources: dict[str, int]
    patients: int
    by_service: dict[str, int]
    shift_patterns: dict[str, int]
    keep_clinician: int
    waiting: dict
    requests_made: int
    first_fit_rounds: int
    generate_seconds: float


def make_clinic(rng: random.Random, size: int) -> tuple[dict[str, SessionKind], dict[str, int], dict[str, int]]:
    """Session kinds (one per service) with their candidate clinicians, rooms and units."""
    count = clinician_count(size)
    profiles = PROFILES[:]
    rng.shuffle(profiles)
    certs = [set(profiles[i % len(profiles)]) for i in range(count)]
    for cert in CERTIFICATIONS:  # every certification held by at least two (or a sixth of the) clinicians
        while sum(cert in held for held in certs) < max(2, count // 6):
            fewest = min(len(held) for held in certs if cert not in held)
            rng.choice([held for held in certs if cert not in held and len(held) == fewest]).add(cert)
    names, weights = list(SHIFT_PATTERNS), list(SHIFT_PATTERNS.values())
    patterns, clinicians = {}, []
    for ident in range(1, count + 1):
        pattern = rng.choices(names, weights)[0]
        patterns[pattern] = patterns.get(pattern, 0) + 1
        day_off = rng.randrange(5)
        week = []
        for weekday in range(5):
            if pattern == "full days":
                week.append(FULL)
            elif pattern == "four full days":
                week.append(None if weekday == day_off else FULL)
            elif pattern == "mornings":
                week.append(MORNING)
            elif pattern == "afternoons":
                week.append(AFTERNOON)
            else:
                week.append(rng.choice([FULL, FULL, MORNING, AFTERNOON, None]))
        free = [(day_start(day) + week[day % 5][0], day_start(day) + week[day % 5][1])
                for day in range(WORKING_DAYS) if week[day % 5] is not None]
        clinicians.append((Candidate(ident, f"Clinician {ident}", free), certs[ident - 1]))
    counts = resource_counts(size)
    whole_days = [(day_start(day), day_start(day) + DAY) for day in range(WORKING_DAYS)]
    rooms, ident = {}, 100
    for kind in ROOM_KINDS:
        rooms[kind] = []
        for n in range(1, counts[kind] + 1):
            ident += 1
            rooms[kind].append(Candidate(ident, f"{kind} {n}", whole_days))
    units, ident = {}, 200
    for kind, (_demo, cleaning) in DEVICE_TYPES.items():
        units[kind] = []
        for n in range(1, counts[kind] + 1):
            ident += 1
            units[kind].append(Candidate(ident, f"{kind} {n}", whole_days, cleaning=cleaning))
    kinds = {}
    for code, (duration, cert, room, before, after, devices, _weight) in SERVICES.items():
        kinds[code] = SessionKind(
            key=code, name=code, count=1, duration=duration,
            clinicians=tuple(c for c, held in clinicians if cert in held),
            buffer_before=before, buffer_after=after, needs_room=True, rooms=tuple(rooms[room]),
            devices=tuple(DevicePool(device, n, tuple(units[device])) for device, n in devices.items()),
        )
    return kinds, counts, patterns


@dataclass(frozen=True)
class Request:
    ident: int
    patient: int
    kind: str
    start: int


def request_patient(rng: random.Random, patient: int, first_ident: int) -> list[Request]:
    """A patient's course: 1-6 sessions of one service (or two), on distinct days at random grid times."""
    count = rng.randint(1, 6)
    codes = list(SERVICES)
    weights = [SERVICES[code][6] for code in codes]
    if count >= 2 and rng.random() < PAIRED_SHARE:
        first, second = rng.choice(PAIRED_COURSES)
        course = [first if n < count // 2 else second for n in range(count)]
    else:
        course = [rng.choices(codes, weights)[0]] * count
    days = sorted(rng.sample(range(WORKING_DAYS), count))
    requests = []
    for n, (code, day) in enumerate(zip(course, days)):
        duration, _cert, _room, before, after, _devices, _weight = SERVICES[code]
        earliest = OPENS + before + (-(OPENS + before)) % GRID
        latest = CLOSES - duration - after
        start = day_start(day) + rng.randrange(earliest, latest + 1, GRID)
        requests.append(Request(first_ident + n, patient, code, start))
    return requests


def first_fit(requests: list[Request], kinds: dict[str, SessionKind]) -> tuple[dict[int, Placement], set[int]]:
    """In start order, each session gets the lowest-id clinician, room and units that fit and are free."""
    busy: dict[tuple[str, int], list[tuple[int, int]]] = {}

    def free(role: str, candidate: Candidate, span: tuple[int, int]) -> bool:
        if not contains(candidate.free, *span):
            return False
        taken = busy.get((role, candidate.id), ())
        return not any(start < span[1] and span[0] < end for start, end in taken)

    placed, failed = {}, set()
    for request in sorted(requests, key=lambda r: (r.start, r.ident)):
        kind = kinds[request.kind]
        plain = blocked(kind, request.start)
        clinician = next((c for c in kind.clinicians if free("clinician", c, plain)), None)
        room = next((r for r in kind.rooms if free("room", r, plain)), None)
        units = []
        for pool in kind.devices:
            fitting = [u for u in pool.units if free("device", u, blocked(kind, request.start, u.cleaning))]
            units.append(fitting[:pool.count] if len(fitting) >= pool.count else None)
        if clinician is None or room is None or any(chosen is None for chosen in units):
            failed.add(request.ident)
            continue
        chosen_units = [u for chosen in units for u in chosen]
        insort(busy.setdefault(("clinician", clinician.id), []), plain)
        insort(busy.setdefault(("room", room.id), []), plain)
        for unit in chosen_units:
            insort(busy.setdefault(("device", unit.id), []), blocked(kind, request.start, unit.cleaning))
        placed[request.ident] = Placement("", 0, request.start, clinician.id, room.id,
                                          tuple(sorted(u.id for u in chosen_units)))
    return placed, failed



def working_day(minute: int) -> int:
    """The working day (0-9) of a minute on a weekday of the two weeks."""
    calendar_day = (minute - FIRST_DAY) // DAY
    return (calendar_day // 7) * 5 + calendar_day % 7


def patient_window(kind: SessionKind, days, window: tuple[int, int]) -> list[tuple[int, int]]:
    """The starts at which a session of ``kind`` lies inside the daily ``window`` on the working ``days``."""
    low, high = window
    return [(day_start(day) + low, day_start(day) + high - kind.duration + 1) for day in days
            if high - low >= kind.duration]


def make_waiting(rng: random.Random, count: int, kinds: dict[str, SessionKind],
                 booked_courses: dict[tuple[int, str], int], last_patient: int,
                 tight: bool) -> tuple[list[WaitingSession], list[Spacing], dict]:
    """``count`` waiting sessions: single waitlist requests and plan tails (``booked_courses``: last booked day)."""
    codes = list(SERVICES)
    weights = [SERVICES[code][6] for code in codes]
    sessions: list[WaitingSession] = []
    spacings: list[Spacing] = []
    stats = {"waitlist_requests": 0, "plan_tails": 0, "plan_tail_sessions": 0, "tails_of_booked_courses": 0,
             "team_courses": 0, "spacing_rules": 0, "by_priority": {p: 0 for p in range(1, 6)}}
    continuable = [key for key, last in sorted(booked_courses.items()) if last <= WORKING_DAYS - 3]
    rng.shuffle(continuable)
    patient, request = last_patient, 0
    while len(sessions) < count:
        left = count - len(sessions)
        priority = rng.randint(1, 5)
        if left >= 2 and rng.random() < PLAN_TAIL_SHARE:
            length = rng.randint(2, min(3 if tight else 4, left))
            if continuable and rng.random() < TAIL_OF_BOOKED_SHARE:
                owner, code = continuable.pop()
                first_day = booked_courses[owner, code] + 1
                stats["tails_of_booked_courses"] += 1
            else:
                patient += 1
                owner, code = patient, rng.choices(codes, weights)[0]
                first_day = rng.randrange(WORKING_DAYS - 2 if tight else 5)
            if tight:
                (min_days, max_days), days = (1, 2), range(first_day, min(WORKING_DAYS, first_day + 5))
                window = rng.choice(TIGHT_DAILY_WINDOWS)
            else:
                (min_days, max_days), days = rng.choice(SPACINGS), range(first_day, WORKING_DAYS)
                window = rng.choice(DAILY_WINDOWS)
            team = f"course {owner} {code}" if rng.random() < TEAM_SHARE else None
            starts = patient_window(kinds[code], days, window)
            keys = [f"plan {owner} {code} #{n}" for n in range(1, length + 1)]
            for n, key in enumerate(keys):
                sessions.append(WaitingSession(key, owner, kinds[code], starts, priority=priority, team=team))
                if n:
                    spacings.append(Spacing(keys[n - 1], key, min_days, max_days))
            stats["plan_tails"] += 1
            stats["plan_tail_sessions"] += length
            stats["team_courses"] += team is not None
            stats["spacing_rules"] += length - 1
            stats["by_priority"][priority] += length
        else:
            patient, request = patient + 1, request + 1
            code = rng.choices(codes, weights)[0]
            span = rng.randint(1, 2) if tight else rng.randint(2, 5)
            window = rng.choice(TIGHT_DAILY_WINDOWS if tight else DAILY_WINDOWS)
            first_day = rng.randrange(WORKING_DAYS - span + 1)
            starts = patient_window(kinds[code], range(first_day, first_day + span), window)
            sessions.append(WaitingSession(f"waitlist {request}", patient, kinds[code], starts, priority=priority))
            stats["waitlist_requests"] += 1
            stats["by_priority"][priority] += 1
    return sessions, spacings, stats


def generate(size: int, seed: int, tight: bool = False) -> Instance:
    """``size`` sessions: booked ones, served by first fit in start order (the current assignment), and waiting ones."""
    began = time.perf_counter()
    rng = random.Random(f"replan bench {seed} {size}" + (" tight" if tight else ""))
    booked_count, waiting_count = split(size, tight)
    scale = capacity_size(size, tight)
    kinds, counts, patterns = make_clinic(rng, scale)
    requests: list[Request] = []
    patient, made, rounds = 0, 0, 0

    def add_requests(count: int) -> None:
        nonlocal patient, made
        goal = len(requests) + count
        while len(requests) < goal:
            patient += 1
            new = request_patient(rng, patient, made + 1)
            made += len(new)
            requests.extend(new)

    add_requests(round(booked_count * 1.15))
    while True:
        rounds += 1
        placed, failed = first_fit(requests, kinds)
        requests = [r for r in requests if r.ident not in failed]  # first fit could not serve them: not generated
        if len(placed) == booked_count:
            break
        if len(placed) > booked_count:  # drop random ones, then first fit again on what is left
            dropped = set(rng.sample(sorted(placed), len(placed) - booked_count))
            requests = [r for r in requests if r.ident not in dropped]
        else:
            add_requests(math.ceil((booked_count - len(placed)) * 1.3))
        if rounds > 200:
            raise RuntimeError(f"the generator did not converge on {booked_count} booked sessions")
    ordered = sorted(requests, key=lambda r: (r.start, r.ident))
    ids = {request.ident: n for n, request in enumerate(ordered, start=1)}
    clinicians_of: dict[tuple[int, str], set[int]] = {}
    for request in ordered:
        clinicians_of.setdefault((request.patient, request.kind), set()).add(placed[request.ident].clinician)
    keep = {key for key, seen in sorted(clinicians_of.items())
            if len(seen) == 1 and sum(1 for r in ordered if (r.patient, r.kind) == key) > 1
            and rng.random() < KEEP_CLINICIAN_SHARE}
    booked = tuple(
        BookedSession(ids[r.ident], r.patient, kinds[r.kind], r.start,
                      replace(placed[r.ident], kind=str(ids[r.ident])), keep_clinician=(r.patient, r.kind) in keep)
        for r in ordered
    )
    last_day: dict[tuple[int, str], int] = {}
    for session in booked:
        key = (session.patient, session.kind.key)
        last_day[key] = max(last_day.get(key, 0), working_day(session.start))
    waiting, spacings, stats = make_waiting(rng, waiting_count, kinds, last_day, patient, tight)
    problem = NightProblem(booked=booked, waiting=tuple(waiting), spacings=tuple(spacings), day_starts=DAY_STARTS,
                           grid=GRID, grid_origin=0)
    current = ReplanSolution(tuple(s.current for s in booked), status="unchanged")
    problems = check_night(problem, current)
    if problems:
        raise AssertionError(f"the generated current assignment is invalid: {problems[:3]}")
    by_service: dict[str, int] = {}
    for session in booked:
        by_service[session.kind.key] = by_service.get(session.kind.key, 0) + 1
    waiting_by_service: dict[str, int] = {}
    for session in waiting:
        waiting_by_service[session.kind.key] = waiting_by_service.get(session.kind.key, 0) + 1
    stats = {"sessions": len(waiting), **stats, "by_service": waiting_by_service,
             "without_any_start": sum(not session.starts for session in waiting)}
    return Instance(seed=seed, size=size, tight=tight, problem=problem, clinicians=clinician_count(scale),
                    resources=counts, patients=len({s.patient for s in booked} | {w.patient for w in waiting}),
                    by_service=by_service, shift_patterns=patterns,
                    keep_clinician=sum(s.keep_clinician for s in booked),
                    waiting=stats, requests_made=made, first_fit_rounds=rounds,
                    generate_seconds=time.perf_counter() - began)


# --- measuring ---------------------------------------------------------------------


def tiers(problem: NightProblem, placements) -> dict:
    """The objective's terms recomputed from placements, independently of the model and of ``solver.replan.cost``."""
    placed = {p.kind: p for p in placements}
    seen, pairs, loads, spans = set(), set(), {}, {}
    moved = changed = 0

    def count(patient: int, kind: SessionKind, placement: Placement) -> None:
        seen.add((patient, kind.key, placement.clinician))
        pairs.add((patient, kind.key))
        loads[placement.clinician] = loads.get(placement.clinician, 0) + kind.duration
        low, high = placement.start - kind.buffer_before, placement.start + kind.duration + kind.buffer_after
        key = (placement.clinician, (placement.start - FIRST_DAY) // DAY)  # day_starts are the UTC midnights
        known = spans.get(key, (low, high))
        spans[key] = (min(known[0], low), max(known[1], high))

    for session in problem.booked:
        placement = placed[str(session.id)]
        count(session.patient, session.kind, placement)
        now = session.current
        moved += placement.start != session.start
        changed += (placement.clinician != now.clinician) + (placement.room != now.room)
        changed += len(set(placement.devices) - set(now.devices))
    placed_waiting = [w for w in problem.waiting if w.key in placed]
    for waiting in placed_waiting:
        count(waiting.patient, waiting.kind, placed[waiting.key])
    unplaced = [w for w in problem.waiting if w.key not in placed]
    span_minutes = sum(high - low for low, high in spans.values())
    unplaced_points = sum(w.priority for w in unplaced)
    total = (WEIGHTS["unplaced_priority_point"] * unplaced_points + WEIGHTS["extra_clinician_for_a_patient"] * len(seen)
             + WEIGHTS["busiest_clinician_minute"] * max(loads.values()) + WEIGHTS["clinician_day_span_minute"]
             * span_minutes + WEIGHTS["moved_session"] * moved + WEIGHTS["changed_resource"] * changed)
    return {"waiting_placed": len(placed_waiting),
            "waiting_placed_priority_points": sum(w.priority for w in placed_waiting),
            "waiting_unplaced": len(unplaced), "unplaced_priority_points": unplaced_points,
            "patient_service_pairs": len(pairs), "extra_clinicians": len(seen) - len(pairs),
            "busiest_clinician_minutes": max(loads.values()), "least_busy_clinician_minutes": min(loads.values()),
            "clinicians_with_sessions": len(loads), "clinician_day_span_minutes": span_minutes,
            "moved_sessions": moved, "changed_resources": changed, "cost": total}


CONSTRAINT_TYPES = ("linear", "bool_or", "bool_and", "at_most_one", "exactly_one", "interval", "no_overlap",
                    "cumulative", "lin_max")


class SolveTimer:
    """Times ``CpSolver.Solve`` inside ``replan`` and reads the model's size, by wrapping the class method.

    Only for the duration of one ``replan`` call; ``solver.replan`` is unchanged.
    """

    def __init__(self) -> None:
        self.entered = self.left = None
        self.model: dict = {}
        self.response: dict = {}

    @contextmanager
    def active(self):
        original = cp_model.CpSolver.Solve
        timer = self

        def timed(solver, model, *args, **kwargs):
            proto = model.Proto()
            kinds: dict[str, int] = {}
            for constraint in proto.constraints:
                name = next((n for n in CONSTRAINT_TYPES if getattr(constraint, f"has_{n}")()), "other")
                kinds[name] = kinds.get(name, 0) + 1
            timer.model = {"variables": len(proto.variables), "constraints": len(proto.constraints),
                           "by_type": dict(sorted(kinds.items())),
                           "objective_terms": len(proto.objective.vars),
                           "hinted_variables": len(proto.solution_hint.vars)}
            timer.entered = time.perf_counter()
            try:
                return original(solver, model, *args, **kwargs)
            finally:
                timer.left = time.perf_counter()
                response = solver.ResponseProto()
                timer.response = {"wall_time": round(response.wall_time, 3), "user_time": round(response.user_time, 3),
                                  "deterministic_time": round(response.deterministic_time, 3),
                                  "conflicts": response.num_conflicts, "branches": response.num_branches,
                                  "last_solution_by": response.solution_info}

        cp_model.CpSolver.Solve = timed
        try:
            yield self
        finally:
            cp_model.CpSolver.Solve = original


def rounded(value, digits: int = 4):
    return None if value is None else round(value, digits)


def improvement(greedy: float, objective: float | None) -> float | None:
    return None if objective is None or not greedy else round(100 * (greedy - objective) / greedy, 3)


def fewer_unplaced(greedy: int, solver: int) -> float | None:
    """How many fewer waiting sessions the solver leaves unplaced than greedy, relative to greedy's (%)."""
    return None if greedy == 0 else round(100 * (greedy - solver) / greedy, 2)


def lower_tiers(objective: float | None, bound: float | None, floor: int, greedy_cost: int, greedy: dict,
                answer: dict) -> dict:
    """The objective without its placement tier and continuity floor: what balance, spans and changes cost.

    The unplaced tier (1,000,000 per priority point) dwarfs the rest, so the whole objective's gap and
    improvement say little about the rest; here the cost above the floor once each side's unplaced
    points are taken out, and the gap (objective - bound) against the solver's part (an upper estimate:
    the bound may still be proving the placement tier too).
    """
    if objective is None:
        return {"greedy": None, "solver": None, "improvement_pct": None, "gap": None}
    weight = WEIGHTS["unplaced_priority_point"]
    mine = objective - weight * answer["unplaced_priority_points"] - floor
    theirs = greedy_cost - weight * greedy["unplaced_priority_points"] - floor
    return {"greedy": theirs, "solver": mine,
            "improvement_pct": None if theirs <= 0 else round(100 * (theirs - mine) / theirs, 2),
            "gap": None if bound is None else round((objective - bound) / max(1.0, mine), 6)}


def solve_instance(instance: Instance, time_limit: float, workers: int) -> dict:
    problem = instance.problem
    began = time.perf_counter()
    greedy = place_greedily(problem)
    greedy_seconds = time.perf_counter() - began
    greedy_problems = check_night(problem, ReplanSolution(greedy, status="greedy"))
    greedy_cost = cost(problem, greedy)
    timer = SolveTimer()
    began = time.perf_counter()
    with timer.active():
        solution = replan(problem, Limits(time_limit=time_limit, workers=workers))
    wall = time.perf_counter() - began
    problems = check_night(problem, solution)
    now = tiers(problem, tuple(s.current for s in problem.booked))
    before, after = tiers(problem, greedy), tiers(problem, solution.placements)
    floor = WEIGHTS["extra_clinician_for_a_patient"] * len({(s.patient, s.kind.key) for s in problem.booked})
    objective = solution.objective
    placed = {p.kind: p for p in solution.placements}
    changed = sum(1 for s in problem.booked if placed.get(str(s.id)) != s.current)
    answer_cost = cost(problem, solution.placements)
    total_minutes = sum(s.kind.duration for s in problem.booked)
    return {
        "sessions": len(problem.booked) + len(problem.waiting),
        "booked": len(problem.booked),
        "waiting": len(problem.waiting),
        "tight": instance.tight,
        "clinicians": instance.clinicians,
        "patients": instance.patients,
        "time_limit_s": time_limit,
        "workers": workers,
        "status": solution.status,
        "objective": objective,
        "bound": solution.bound,
        "gap": rounded(solution.gap, 6),
        "gap_above_floor": (None if objective is None or solution.bound is None else
                            round((objective - solution.bound) / max(1.0, objective - floor), 6)),
        "first_solution_seconds": rounded(solution.first_solution_seconds, 3),
        "seconds": round(solution.seconds, 3),
        "wall_seconds": round(wall, 3),
        "where_time_went_s": {
            "greedy_and_build_model": rounded(timer.entered - began if timer.entered else None, 3),
            "cp_sat": rounded(timer.left - timer.entered if timer.entered else None, 3),
            "read_answer": rounded(began + solution.seconds - timer.left if timer.left else None, 3),
            "greedy_alone": round(greedy_seconds, 3),
        },
        "cp_sat_response": timer.response,
        "model": timer.model,
        "greedy_objective": greedy_cost,
        "start_cost": solution.start_cost,
        "objective_floor": floor,
        "improvement_over_greedy_pct": improvement(greedy_cost, objective),
        "improvement_of_avoidable_cost_pct": (None if objective is None or greedy_cost == floor else
                                              round(100 * (greedy_cost - objective) / (greedy_cost - floor), 2)),
        "lower_tiers": lower_tiers(objective, solution.bound, floor, greedy_cost, before, after),
        "waiting_placed": {"greedy": before["waiting_placed"], "solver": after["waiting_placed"],
                           "of": len(problem.waiting)},
        "waiting_placed_priority_points": {"greedy": before["waiting_placed_priority_points"],
                                           "solver": after["waiting_placed_priority_points"],
                                           "of": sum(w.priority for w in problem.waiting)},
        "unplaced": {"greedy": before["waiting_unplaced"], "solver": after["waiting_unplaced"],
                     "fewer_than_greedy_pct": fewer_unplaced(before["waiting_unplaced"], after["waiting_unplaced"]),
                     "priority_points_greedy": before["unplaced_priority_points"],
                     "priority_points_solver": after["unplaced_priority_points"],
                     "fewer_priority_points_than_greedy_pct": fewer_unplaced(before["unplaced_priority_points"],
                                                                             after["unplaced_priority_points"])},
        "cost_of_answer": answer_cost,
        "recomputed_cost": after["cost"],
        "recomputed_matches_objective": objective is None or abs(after["cost"] - objective) < 0.5,
        "objective_above_cost_of_answer": None if objective is None else objective - answer_cost,
        "cost_matches_recomputed": answer_cost == after["cost"] and greedy_cost == before["cost"],
        "changed_booked_sessions": changed,
        "current_tiers": now,
        "greedy_tiers": before,
        "replan_tiers": after,
        "average_clinician_booked_minutes": round(total_minutes / instance.clinicians, 1),
        "check_night_ok": problems == [],
        "check_problems": problems[:5],
        "greedy_check_night_ok": greedy_problems == [],
        "instance": {"seed": instance.seed, "resources": instance.resources, "booked_by_service": instance.by_service,
                     "waiting": instance.waiting, "shift_patterns": instance.shift_patterns,
                     "keep_clinician_sessions": instance.keep_clinician, "requests_made": instance.requests_made,
                     "first_fit_rounds": instance.first_fit_rounds,
                     "generate_seconds": round(instance.generate_seconds, 3)},
    }


def bench_size(size: int, seed: int, time_limit: float, workers: int, label: str | None = None,
               tight: bool = False) -> dict:
    instance = generate(size, seed, tight)
    started = time.perf_counter()
    result = solve_instance(instance, time_limit, workers)
    result["label"] = label or (f"{size} tight" if tight else str(size))
    result["total_seconds_with_check"] = round(time.perf_counter() - started, 3)
    print(f"[bench/solver] {result['label']}: {result['status']} gap {result['gap']} in {result['seconds']} s "
          f"(limit {time_limit} s), first {result['first_solution_seconds']} s, improvement "
          f"{result['improvement_over_greedy_pct']} %, waiting placed greedy {result['waiting_placed']['greedy']} "
          f"solver {result['waiting_placed']['solver']} of {result['waiting']}, check {result['check_night_ok']}",
          file=sys.stderr, flush=True)
    return result


# --- chain scale -------------------------------------------------------------------


def chain_location(location: int, seed: int, size: int, time_limit: float) -> dict:
    """One location of the chain, in its own process: generate, re-plan (1 worker), check."""
    began = time.perf_counter()
    instance = generate(size, seed)
    problem = instance.problem
    greedy_placements = place_greedily(problem)
    greedy = cost(problem, greedy_placements)
    solution = replan(problem, Limits(time_limit=time_limit, workers=1))
    problems = check_night(problem, solution)
    placed = {p.kind for p in solution.placements}
    greedy_placed = {p.kind for p in greedy_placements}
    return {"location": location, "seed": seed, "sessions": len(problem.booked) + len(problem.waiting),
            "waiting": len(problem.waiting), "status": solution.status, "objective": solution.objective,
            "bound": solution.bound, "gap": rounded(solution.gap, 6), "greedy_objective": greedy,
            "improvement_over_greedy_pct": improvement(greedy, solution.objective),
            "waiting_placed_greedy": sum(w.key in greedy_placed for w in problem.waiting),
            "waiting_placed_solver": sum(w.key in placed for w in problem.waiting),
            "first_solution_seconds": rounded(solution.first_solution_seconds, 3),
            "solve_seconds": round(solution.seconds, 3), "generate_seconds": round(instance.generate_seconds, 3),
            "process_seconds": round(time.perf_counter() - began, 3), "check_night_ok": problems == [],
            "pid": os.getpid()}


def bench_chain(args: argparse.Namespace) -> dict:
    processes = 2
    rounds = -(-args.chain_locations // processes) or 1
    per_location = max(args.chain_budget / rounds * 0.8, 0.5)  # as scheduler.optimization.run_locations
    seeds = [args.seed * 1000 + n for n in range(1, args.chain_locations + 1)]
    began = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        futures = [pool.submit(chain_location, n, seed, args.chain_sessions, per_location)
                   for n, seed in enumerate(seeds, start=1)]
        locations = [future.result() for future in futures]
    wall = time.perf_counter() - began
    good = [r for r in locations if r["status"] == "optimal" or (r["gap"] is not None and r["gap"] <= 0.01)]
    print(f"[bench/solver] chain: {len(good)}/{len(locations)} optimal or gap <= 1 % in {wall:.1f} s",
          file=sys.stderr, flush=True)
    return {
        "locations": args.chain_locations,
        "sessions_per_location": args.chain_sessions,
        "processes": processes,
        "start_method": "spawn",
        "budget_seconds": args.chain_budget,
        "per_location_time_limit_s": round(per_location, 3),
        "cp_sat_workers_per_location": 1,
        "total_wall_seconds": round(wall, 3),
        "optimal": sum(r["status"] == "optimal" for r in locations),
        "optimal_or_gap_le_1pct": len(good),
        "all_checks_ok": all(r["check_night_ok"] for r in locations),
        "all_at_least_as_good_as_greedy": all(r["objective"] is None or r["objective"] <= r["greedy_objective"]
                                              for r in locations),
        "worst_gap": max((r["gap"] for r in locations if r["gap"] is not None), default=None),
        "per_location": locations,
    }


# --- summary -----------------------------------------------------------------------


def quality_ok(result: dict, gap: float) -> bool:
    return result["check_night_ok"] and (result["status"] == "optimal" or
                                         (result["gap"] is not None and result["gap"] <= gap))


def targets(results: list[dict], chain: dict | None, long: bool) -> dict:
    by_label = {r["label"]: r for r in results}
    found: dict = {"note": (
        "'seconds' is the wall time of the whole replan() call (greedy warm start and model building in Python + "
        "CP-SAT + reading the answer); the CP-SAT time limit is set to the target time, so a run that is not "
        "proven optimal early always exceeds it by the build time: 'met_with_solver_limit' judges the quality "
        "reached with that limit alone. The gap is ReplanSolution.gap, relative to the whole objective, which "
        "holds a constant 10,000 per booked patient-service pair and 1,000,000 per priority point of every "
        "waiting session left unplaced; 'gap_above_floor' is the gap relative to the objective minus the "
        "continuity floor; 'gap_of_lower_tiers' relative to what is left once the unplaced tier is taken out too "
        "(see lower_tiers()). The targets are judged on 'gap', as the issue states them. 'Sessions' are booked + "
        "waiting.")}
    medium = by_label.get(str(TARGET_MEDIUM["sessions"]))
    if medium:
        quality = quality_ok(medium, TARGET_MEDIUM["gap"])
        found["600_sessions_optimal_or_gap_le_1pct_within_60s"] = {
            "target": "status optimal or gap <= 1 % within 60 s (CP-SAT limit 60 s, 2 workers)",
            "status": medium["status"], "gap": medium["gap"], "gap_above_floor": medium["gap_above_floor"],
            "gap_of_lower_tiers": medium["lower_tiers"]["gap"],
            "seconds": medium["seconds"], "time_limit_s": medium["time_limit_s"],
            "met_with_solver_limit": quality and medium["time_limit_s"] <= TARGET_MEDIUM["seconds"],
            "met": quality and medium["seconds"] <= TARGET_MEDIUM["seconds"],
        }
    large = by_label.get(str(TARGET_LARGE["sessions"]))
    if large:
        good = large["check_night_ok"] and large["recomputed_cost"] <= large["greedy_objective"]
        found["2000_sessions_at_least_as_good_as_greedy_within_10s"] = {
            "target": "objective <= greedy within 10 s (CP-SAT limit 10 s, 2 workers)",
            "status": large["status"], "objective": large["objective"], "greedy_objective": large["greedy_objective"],
            "recomputed_cost": large["recomputed_cost"], "improvement_over_greedy_pct":
                large["improvement_over_greedy_pct"], "seconds": large["seconds"],
            "first_solution_seconds": large["first_solution_seconds"], "time_limit_s": large["time_limit_s"],
            "solver_found_a_solution": large["bound"] is not None,
            "strictly_better_than_greedy": large["recomputed_cost"] < large["greedy_objective"],
            "note": "replan() never returns worse than its greedy warm start, so <= greedy holds by construction; "
                    "solver_found_a_solution says whether CP-SAT itself produced the answer",
            "met_with_solver_limit": good and large["time_limit_s"] <= TARGET_LARGE["seconds"],
            "met": good and large["seconds"] <= TARGET_LARGE["seconds"],
        }
    name = "2000_sessions_gap_le_3pct_within_300s"
    longer = by_label.get(f"{TARGET_LARGE_LONG['sessions']} long")
    if longer:
        quality = quality_ok(longer, TARGET_LARGE_LONG["gap"])
        found[name] = {"target": "gap <= 3 % within 300 s (CP-SAT limit 300 s, 2 workers)",
                       "status": longer["status"], "gap": longer["gap"], "gap_above_floor": longer["gap_above_floor"],
                       "gap_of_lower_tiers": longer["lower_tiers"]["gap"],
                       "seconds": longer["seconds"], "time_limit_s": longer["time_limit_s"],
                       "met_with_solver_limit": quality and longer["time_limit_s"] <= TARGET_LARGE_LONG["seconds"],
                       "met": quality and longer["seconds"] <= TARGET_LARGE_LONG["seconds"]}
    else:
        found[name] = {"target": "gap <= 3 % within 300 s", "met": None,
                       "not_run": "run with --long" if not long else "--long-size is not 2000"}
    tight = [r for r in results if r["tight"]]
    name = "tight_at_least_10pct_fewer_unplaced_than_greedy"
    if tight:
        found[name] = {"target": ">= 10 % fewer unplaced waiting sessions than greedy on tight instances",
                       "met": all(r["check_night_ok"] and r["unplaced"]["fewer_than_greedy_pct"] is not None
                                  and r["unplaced"]["fewer_than_greedy_pct"] >= 100 * TARGET_TIGHT[
                                      "fewer_unplaced_than_greedy"] for r in tight),
                       "per_instance": [{"label": r["label"], "status": r["status"], "seconds": r["seconds"],
                                         "waiting": r["waiting"], **r["unplaced"]} for r in tight]}
    else:
        found[name] = {"target": ">= 10 % fewer unplaced than greedy on tight instances", "met": None,
                       "not_run": "run without --no-tight"}
    name = "chain_10_locations_x_600_sessions_within_10_min"
    if chain:
        found[name] = {
            "target": "10 locations x 600 sessions in 2 processes within 600 s total, every answer checked",
            "total_wall_seconds": chain["total_wall_seconds"],
            "optimal_or_gap_le_1pct": f"{chain['optimal_or_gap_le_1pct']}/{chain['locations']}",
            "all_checks_ok": chain["all_checks_ok"],
            "met": (chain["total_wall_seconds"] <= TARGET_CHAIN["seconds"] and chain["all_checks_ok"]
                    and chain["locations"] == TARGET_CHAIN["locations"]
                    and chain["sessions_per_location"] == TARGET_CHAIN["sessions"]),
            "all_locations_optimal_or_gap_le_1pct": chain["optimal_or_gap_le_1pct"] == chain["locations"],
        }
    else:
        found[name] = {"target": "10 locations x 600 sessions in 2 processes within 600 s", "met": None,
                       "not_run": "run with --chain"}
    found["every_answer_passes_check_night"] = {
        "met": all(r["check_night_ok"] and r["greedy_check_night_ok"] for r in results)
        and (chain is None or chain["all_checks_ok"])}
    return found


def plot(results: list[dict]) -> dict:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return {"made": False, "reason": f"matplotlib is not importable ({exc}); pip install -e .[bench]"}
    curve = [r for r in results if not r["tight"] and not r["label"].endswith("long")]
    if not curve:
        return {"made": False, "reason": "no scale curve in this run (only tight, long or chain)"}
    sizes = [r["sessions"] for r in curve]
    figure, (left, middle) = plt.subplots(1, 2, figsize=(11, 4.5))
    left.plot(sizes, [r["seconds"] for r in curve], "o-", label="replan seconds")
    left.plot(sizes, [r["first_solution_seconds"] or math.nan for r in curve], "s--", label="first solution s")
    left.plot(sizes, [r["time_limit_s"] for r in curve], ":", color="grey", label="CP-SAT limit")
    left.set_xlabel("sessions (booked + waiting)")
    left.set_ylabel("seconds")
    gap = left.twinx()
    gap.plot(sizes, [math.nan if r["gap"] is None else 100 * r["gap"] for r in curve], "^:", color="tab:red",
             label="gap %")
    gap.plot(sizes, [math.nan if r["lower_tiers"]["gap"] is None else 100 * r["lower_tiers"]["gap"] for r in curve],
             "v:", color="tab:purple", label="gap of the lower tiers %")
    gap.set_yscale("symlog", linthresh=1)
    gap.set_ylabel("gap % (none: no CP-SAT solution)")
    handles = [*left.get_legend_handles_labels()[0], *gap.get_legend_handles_labels()[0]]
    left.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize="small")
    left.set_title("time and gap")
    middle.plot(sizes, [math.nan if r["lower_tiers"]["improvement_pct"] is None else r["lower_tiers"]["improvement_pct"]
                        for r in curve], "o-",
                label="lower tiers: solver below greedy %")
    middle.set_xlabel("sessions (booked + waiting)")
    middle.set_ylabel("% of greedy's lower-tier cost saved")
    placed = middle.twinx()
    placed.plot(sizes, [100 * r["waiting_placed"]["greedy"] / max(1, r["waiting"]) for r in curve], "s--",
                color="tab:grey", label="waiting placed, greedy %")
    placed.plot(sizes, [100 * r["waiting_placed"]["solver"] / max(1, r["waiting"]) for r in curve], "^-",
                color="tab:green", label="waiting placed, solver %")
    placed.set_ylabel("waiting sessions placed %")
    handles = [*middle.get_legend_handles_labels()[0], *placed.get_legend_handles_labels()[0]]
    middle.legend(handles, [h.get_label() for h in handles], loc="lower left", fontsize="small")
    middle.set_title("solver vs greedy")
    figure.suptitle("Nightly re-plan (CP-SAT, 2 workers) scale curve")
    figure.tight_layout()
    PLOT_FILE.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOT_FILE, dpi=110)
    plt.close(figure)
    return {"made": True, "file": str(PLOT_FILE.relative_to(ROOT))}


def default_limit(size: int) -> float:
    return 60.0 if size <= 600 else 10.0


def parse_sizes(parser: argparse.ArgumentParser, text: str, option: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        parser.error(f"{option} takes comma-separated integers")
    if any(size < 10 for size in sizes):
        parser.error(f"{option}: at least 10 sessions per instance")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="sessions per instance, comma-separated, empty for none (default %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generator (default %(default)s)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="CP-SAT time limit for every size (default 60 s up to 600 sessions, 10 s above)")
    parser.add_argument("--long", action="store_true", help="also give --long-size 300 s")
    parser.add_argument("--long-size", type=int, default=TARGET_LARGE_LONG["sessions"])
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT workers per solve (default 2)")
    parser.add_argument("--tight", action="store_true", help="run only the tight instances (and --long, --chain)")
    parser.add_argument("--no-tight", action="store_true", help="leave the tight instances out")
    parser.add_argument("--tight-sizes", default=",".join(map(str, DEFAULT_TIGHT_SIZES)),
                        help="sessions per tight instance (default %(default)s)")
    parser.add_argument("--chain", action="store_true",
                        help="also run the chain figure: 10 locations x 600 sessions in 2 processes (minutes)")
    parser.add_argument("--chain-locations", type=int, default=TARGET_CHAIN["locations"])
    parser.add_argument("--chain-sessions", type=int, default=TARGET_CHAIN["sessions"])
    parser.add_argument("--chain-budget", type=float, default=TARGET_CHAIN["seconds"],
                        help="total seconds for the chain; per-location limit = budget / rounds x 0.8 (default 600)")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="JSON file (default %(default)s)")
    args = parser.parse_args(argv)
    sizes = [] if args.tight else parse_sizes(parser, args.sizes, "--sizes")
    tight_sizes = [] if args.no_tight else parse_sizes(parser, args.tight_sizes, "--tight-sizes")
    if args.workers < 1 or args.chain_locations < 1 or args.chain_budget <= 0 or args.long_size < 10:
        parser.error("--workers, --chain-locations, --chain-budget and --long-size must be positive")
    if not (sizes or tight_sizes or args.long or args.chain):
        parser.error("nothing to run")

    started = time.perf_counter()
    summary: dict = {
        "benchmark": "solver",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        },
        "config": {
            "model": "solver.replan.replan(NightProblem): booked sessions keep their times (may_start empty) and "
                     "may get another clinician, room and device units; waiting sessions are placed within their "
                     "windows, spacing rules and teams, or left waiting; objective tiers (WEIGHTS): unplaced "
                     "priority points, continuity per patient and service, busiest clinician's minutes, clinician "
                     "day spans, moved sessions, changed resources; never worse than current + greedy",
            "weights": WEIGHTS,
            "sizes": sizes,
            "tight_sizes": tight_sizes,
            "booked_and_waiting": {**{str(size): split(size, False) for size in sizes},
                                   **{f"{size} tight": split(size, True) for size in tight_sizes}},
            "clinicians_by_size": {**{str(size): clinician_count(size) for size in sizes},
                                   **{f"{size} tight": clinician_count(capacity_size(size, True))
                                      for size in tight_sizes}},
            "resources_by_size": {**{str(size): resource_counts(size) for size in sizes},
                                  **{f"{size} tight": resource_counts(capacity_size(size, True))
                                     for size in tight_sizes}},
            "seed": args.seed,
            "time_limit_s": args.time_limit if args.time_limit is not None else "60 up to 600 sessions, 10 above",
            "long": args.long,
            "workers": args.workers,
            "horizon": "10 working days from Monday 2027-03-01, 08:00-18:00, 15-minute grid; day_starts: 14 UTC "
                       "midnights",
            "services": {code: {"minutes": s[0], "certification": s[1], "room": s[2], "buffer_before": s[3],
                                "buffer_after": s[4], "devices": s[5], "weight": s[6]}
                         for code, s in SERVICES.items()},
            "devices_demo": {name: {"units": units, "cleaning": cleaning}
                             for name, (units, cleaning) in DEVICE_TYPES.items()},
            "resource_scaling": f"max(demo count, ceil(planned minutes / (600 x {TARGET_UTILIZATION}))), of all "
                                "sessions (tight: of the booked ones only)",
            "current_assignment": "first fit in start order, lowest ids first; sessions it cannot serve are not "
                                  "generated",
            "waiting": {"share": f"{WAITING_SHARE:.0%} of the sessions (tight: {TIGHT_WAITING_PER_BOOKED:.0%} of the "
                                 "booked ones)",
                        "plan_tail_share": PLAN_TAIL_SHARE, "tails_of_booked_courses_share": TAIL_OF_BOOKED_SHARE,
                        "team_share_of_courses": TEAM_SHARE, "spacings_days": SPACINGS,
                        "daily_windows": DAILY_WINDOWS, "tight_daily_windows": TIGHT_DAILY_WINDOWS,
                        "priority": "1-5 uniform"},
            "baseline": "place_greedily: booked as they are, waiting in priority order at their earliest free start",
            "candidate_free_windows": "clinicians: shifts; rooms and units: whole calendar days; the booked "
                                      "sessions' own bookings not subtracted",
            "chain": args.chain,
            "versions": versions("ortools", "protobuf", "matplotlib"),
        },
    }
    results = []
    for size in sizes:
        limit = args.time_limit if args.time_limit is not None else default_limit(size)
        results.append(bench_size(size, args.seed, limit, args.workers))
    for size in tight_sizes:
        limit = args.time_limit if args.time_limit is not None else default_limit(size)
        results.append(bench_size(size, args.seed, limit, args.workers, tight=True))
    if args.long:
        results.append(bench_size(args.long_size, args.seed, TARGET_LARGE_LONG["seconds"], args.workers,
                                  label=f"{args.long_size} long"))
    summary["results"] = results
    summary["chain"] = bench_chain(args) if args.chain else None
    summary["targets"] = targets(results, summary["chain"], args.long)
    summary["plot"] = plot(results)
    summary["machine"]["load_average_at_end"] = (
        [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None)
    summary["total_seconds"] = round(time.perf_counter() - started, 3)

    text = to_json(summary)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(text)
    return 0 if summary["targets"]["every_answer_passes_check_night"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
