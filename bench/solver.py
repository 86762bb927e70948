"""Benchmark: the nightly re-plan model (``solver.replan``) at scale, pure solver, no database.

The model (issue "nightly optimization"): booked sessions keep their times;
CP-SAT reassigns each session's clinician, room and device units, with the
objective tiers of ``solver.replan.WEIGHTS``: continuity of care per patient
(distinct clinicians per patient and service), then the busiest clinician's
minutes, then the fewest changed resources. It never returns anything worse
than the current assignment.

What it builds, per size (``--sizes``, default 100, 250, 600, 1000, 2000
sessions), from a seeded generator (``--seed``, default 7): two weeks of 10
working days (Monday 2027-03-01 onwards, times as minutes since the Unix
epoch in UTC), 08:00-18:00, starts on a 15-minute grid; clinicians scaled
with the size (4, 8, 12, 18, 25), each with a certification mix like the demo
clinic's staff and a weekly shift pattern (full days, four days, mornings,
afternoons or a mix of full and half days); devices and rooms as in the demo
clinic (1 shockwave unit cleaning 10 minutes, 3 ultrasound units cleaning 5, 1
EMTT unit cleaning 5, 6 treatment rooms, 1 gym, 1 gait lab), scaled up with
the size so that each device and room type is planned at about 55 % of its
capacity; the demo's services (ESWT 30 min: shockwave + ultrasound +
treatment room; MSUS 45 min + 5 after: ultrasound + treatment room; EMTT 30:
EMTT unit + treatment room; manual therapy 30 + 5: treatment room;
re-education 60: gym; gait 60 with 10 before and after: gait lab); patients
with a course of 1-6 sessions (one service, or two for some) on distinct days.

The CURRENT assignment is the greedy baseline: first fit in start order, each
session served by the lowest-id clinician (certified, on shift, free), room and
units that are free, so it is unbalanced (low ids carry the load) and
discontinuous (a patient sees whoever is free). Sessions first fit cannot
serve are not generated; requests are added (and, when there are too many,
random ones dropped and first fit run again) until exactly the target count
is served. ``check_replan(sessions, current) == []`` is asserted. Candidates'
``free`` windows are the shifts (clinicians) or the whole calendar day (rooms,
units); the re-planned sessions' own bookings are not subtracted, as
``scheduler.optimization`` builds them. A fifth of the patients whose course
already has one clinician get ``keep_clinician`` (a plan line requiring the
same clinician).

What it measures per size: ``replan(sessions, Limits(time_limit=T,
workers=2))`` with T = 60 s up to 600 sessions and 10 s above (``--time-limit``
for all sizes; ``--long`` adds a 300 s run of the largest size): status,
objective, bound, gap (``ReplanSolution.gap``), the gap above the objective's
floor (every patient-service pair needs one clinician, so 10,000 x pairs is
a constant part of every objective and makes the relative gap look small),
time to first solution, wall seconds split into model building (Python),
CP-SAT and reading the answer (by timing ``CpSolver.Solve`` from outside),
the model's size, the greedy objective (``cost_of_current``), improvement, the
tiers before and after, changed sessions, the objective recomputed from the
placements, and ``check_replan(...) == []``.

``--chain`` adds the chain-scale figure: 10 locations x 600 sessions (seeds
derived from ``--seed``), generated and solved by scheduler-free code in 2
processes (``ProcessPoolExecutor(max_workers=2)``, spawn), each location with
the time limit ``scheduler.optimization.run_locations`` would give it within a
10-minute budget (``--chain-budget``): budget / rounds x 0.8 and 1 CP-SAT worker.

Usage (from the project folder)::

    python bench/solver.py [--sizes 100,250,600,1000,2000] [--seed 7] [--time-limit S] [--long]
                           [--workers 2] [--chain] [--chain-locations 10] [--chain-budget 600]

It prints a JSON summary and saves it to bench/results/solver.json, and a plot
of the scale curve to bench/results/solver.png when matplotlib is importable.
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
from solver.replan import WEIGHTS, BookedSession, ReplanSolution, check_replan, cost_of_current, replan  # noqa: E402
from bench.common import to_json, versions  # noqa: E402

RESULTS_FILE = ROOT / "bench" / "results" / "solver.json"
PLOT_FILE = ROOT / "bench" / "results" / "solver.png"
DAY = 24 * 60
FIRST_DAY = int(datetime(2027, 3, 1, tzinfo=timezone.utc).timestamp()) // 60  # Monday 2027-03-01 00:00 UTC
WORKING_DAYS = 10
OPENS, CLOSES, GRID = 8 * 60, 18 * 60, 15
DEFAULT_SIZES = (100, 250, 600, 1000, 2000)
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

TARGET_MEDIUM = {"sessions": 600, "seconds": 60.0, "gap": 0.01}
TARGET_LARGE = {"sessions": 2000, "seconds": 10.0}
TARGET_LARGE_LONG = {"sessions": 2000, "seconds": 300.0, "gap": 0.03}
TARGET_CHAIN = {"locations": 10, "sessions": 600, "seconds": 600.0, "processes": 2, "gap": 0.01}


# --- the instance ------------------------------------------------------------------


def day_start(day: int) -> int:
    """Midnight (UTC minutes) of working day ``day`` (0-9, Monday to Friday of two weeks)."""
    return FIRST_DAY + ((day // 5) * 7 + day % 5) * DAY


def clinician_count(size: int) -> int:
    if size in CLINICIANS_BY_SIZE:
        return CLINICIANS_BY_SIZE[size]
    return max(2, min(40, round(4 + 21 * (size - 100) / 1900)))


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
    sessions: tuple[BookedSession, ...]
    clinicians: int
    resources: dict[str, int]
    patients: int
    by_service: dict[str, int]
    shift_patterns: dict[str, int]
    keep_clinician: int
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


def generate(size: int, seed: int) -> Instance:
    """``size`` booked sessions, every one served by first fit in start order (the current assignment)."""
    began = time.perf_counter()
    rng = random.Random(f"replan bench {seed} {size}")
    kinds, counts, patterns = make_clinic(rng, size)
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

    add_requests(round(size * 1.15))
    while True:
        rounds += 1
        placed, failed = first_fit(requests, kinds)
        requests = [r for r in requests if r.ident not in failed]  # first fit could not serve them: not generated
        if len(placed) == size:
            break
        if len(placed) > size:  # drop random ones, then first fit again on what is left
            dropped = set(rng.sample(sorted(placed), len(placed) - size))
            requests = [r for r in requests if r.ident not in dropped]
        else:
            add_requests(math.ceil((size - len(placed)) * 1.3))
        if rounds > 200:
            raise RuntimeError(f"the generator did not converge on {size} sessions")
    ordered = sorted(requests, key=lambda r: (r.start, r.ident))
    ids = {request.ident: n for n, request in enumerate(ordered, start=1)}
    clinicians_of: dict[tuple[int, str], set[int]] = {}
    for request in ordered:
        clinicians_of.setdefault((request.patient, request.kind), set()).add(placed[request.ident].clinician)
    keep = {key for key, seen in sorted(clinicians_of.items())
            if len(seen) == 1 and sum(1 for r in ordered if (r.patient, r.kind) == key) > 1
            and rng.random() < KEEP_CLINICIAN_SHARE}
    sessions = tuple(
        BookedSession(ids[r.ident], r.patient, kinds[r.kind], r.start,
                      replace(placed[r.ident], kind=str(ids[r.ident])), keep_clinician=(r.patient, r.kind) in keep)
        for r in ordered
    )
    current = ReplanSolution(tuple(s.current for s in sessions), status="unchanged")
    problems = check_replan(sessions, current)
    if problems:
        raise AssertionError(f"the generated current assignment is invalid: {problems[:3]}")
    by_service: dict[str, int] = {}
    for session in sessions:
        by_service[session.kind.key] = by_service.get(session.kind.key, 0) + 1
    return Instance(seed=seed, size=size, sessions=sessions, clinicians=clinician_count(size), resources=counts,
                    patients=len({s.patient for s in sessions}), by_service=by_service, shift_patterns=patterns,
                    keep_clinician=sum(s.keep_clinician for s in sessions), requests_made=made,
                    first_fit_rounds=rounds, generate_seconds=time.perf_counter() - began)


# --- measuring ---------------------------------------------------------------------


def tiers(sessions: tuple[BookedSession, ...], placements) -> dict:
    """The objective's terms recomputed from placements, independently of the model."""
    by_id = {s.id: s for s in sessions}
    seen, loads, changes = set(), {}, 0
    for placement in placements:
        session = by_id[int(placement.kind)]
        seen.add((session.patient, session.kind.key, placement.clinician))
        loads[placement.clinician] = loads.get(placement.clinician, 0) + session.kind.duration
        now = session.current
        changes += (placement.clinician != now.clinician) + (placement.room != now.room)
        changes += len(set(placement.devices) - set(now.devices))
    groups = len({(s.patient, s.kind.key) for s in sessions})
    cost = (WEIGHTS["extra_clinician_for_a_patient"] * len(seen) + WEIGHTS["busiest_clinician_minute"]
            * max(loads.values()) + WEIGHTS["changed_resource"] * changes)
    return {"patient_service_pairs": groups, "extra_clinicians": len(seen) - groups,
            "busiest_clinician_minutes": max(loads.values()), "least_busy_clinician_minutes": min(loads.values()),
            "clinicians_with_sessions": len(loads), "changed_resources": changes, "cost": cost}


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


def solve_instance(instance: Instance, time_limit: float, workers: int) -> dict:
    sessions = instance.sessions
    greedy = cost_of_current(sessions)
    timer = SolveTimer()
    began = time.perf_counter()
    with timer.active():
        solution = replan(sessions, Limits(time_limit=time_limit, workers=workers))
    wall = time.perf_counter() - began
    problems = check_replan(sessions, solution)
    before, after = tiers(sessions, tuple(s.current for s in sessions)), tiers(sessions, solution.placements)
    floor = WEIGHTS["extra_clinician_for_a_patient"] * before["patient_service_pairs"]
    objective = solution.objective
    changed = sum(1 for s, p in zip(sessions, solution.placements, strict=True) if p != s.current)
    total_minutes = sum(s.kind.duration for s in sessions)
    return {
        "sessions": len(sessions),
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
            "build_model": rounded(timer.entered - began if timer.entered else None, 3),
            "cp_sat": rounded(timer.left - timer.entered if timer.entered else None, 3),
            "read_answer": rounded(began + solution.seconds - timer.left if timer.left else None, 3),
        },
        "cp_sat_response": timer.response,
        "model": timer.model,
        "greedy_objective": greedy,
        "objective_floor": floor,
        "improvement_over_greedy_pct": (None if objective is None else round(100 * (greedy - objective) / greedy, 3)),
        "improvement_of_avoidable_cost_pct": (None if objective is None or greedy == floor else
                                              round(100 * (greedy - objective) / (greedy - floor), 2)),
        "recomputed_cost": after["cost"],
        "recomputed_matches_objective": objective is None or abs(after["cost"] - objective) < 0.5,
        "changed_sessions": changed,
        "greedy_tiers": before,
        "replan_tiers": after,
        "average_clinician_minutes": round(total_minutes / instance.clinicians, 1),
        "check_replan_ok": problems == [],
        "check_problems": problems[:5],
        "instance": {"seed": instance.seed, "resources": instance.resources, "by_service": instance.by_service,
                     "shift_patterns": instance.shift_patterns, "keep_clinician_sessions": instance.keep_clinician,
                     "requests_made": instance.requests_made, "first_fit_rounds": instance.first_fit_rounds,
                     "generate_seconds": round(instance.generate_seconds, 3)},
    }


def bench_size(size: int, seed: int, time_limit: float, workers: int, label: str | None = None) -> dict:
    instance = generate(size, seed)
    started = time.perf_counter()
    result = solve_instance(instance, time_limit, workers)
    result["label"] = label or str(size)
    result["total_seconds_with_check"] = round(time.perf_counter() - started, 3)
    print(f"[bench/solver] {result['label']}: {result['status']} gap {result['gap']} in {result['seconds']} s "
          f"(limit {time_limit} s), improvement {result['improvement_over_greedy_pct']} %", file=sys.stderr,
          flush=True)
    return result


# --- chain scale -------------------------------------------------------------------


def chain_location(location: int, seed: int, size: int, time_limit: float) -> dict:
    """One location of the chain, in its own process: generate, re-plan (1 worker), check."""
    began = time.perf_counter()
    instance = generate(size, seed)
    solution = replan(instance.sessions, Limits(time_limit=time_limit, workers=1))
    problems = check_replan(instance.sessions, solution)
    greedy = cost_of_current(instance.sessions)
    return {"location": location, "seed": seed, "sessions": len(instance.sessions), "status": solution.status,
            "objective": solution.objective, "bound": solution.bound, "gap": rounded(solution.gap, 6),
            "greedy_objective": greedy,
            "improvement_over_greedy_pct": (None if solution.objective is None else
                                            round(100 * (greedy - solution.objective) / greedy, 3)),
            "first_solution_seconds": rounded(solution.first_solution_seconds, 3),
            "solve_seconds": round(solution.seconds, 3), "generate_seconds": round(instance.generate_seconds, 3),
            "process_seconds": round(time.perf_counter() - began, 3), "check_replan_ok": problems == [],
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
        "all_checks_ok": all(r["check_replan_ok"] for r in locations),
        "all_at_least_as_good_as_greedy": all(r["objective"] is None or r["objective"] <= r["greedy_objective"]
                                              for r in locations),
        "worst_gap": max((r["gap"] for r in locations if r["gap"] is not None), default=None),
        "per_location": locations,
    }


# --- summary -----------------------------------------------------------------------


def quality_ok(result: dict, gap: float) -> bool:
    return result["check_replan_ok"] and (result["status"] == "optimal" or
                                          (result["gap"] is not None and result["gap"] <= gap))


def targets(results: list[dict], chain: dict | None, long: bool) -> dict:
    by_label = {r["label"]: r for r in results}
    found: dict = {"note": (
        "Adapted from the issue to this model: the issue's targets are for the nightly optimization; here the "
        "re-plan (times fixed, clinician/room/units reassigned) is what is solved. 'seconds' is the wall time "
        "of the whole replan() call (model building in Python + CP-SAT + reading the answer); the CP-SAT time "
        "limit is set to the target time, so a run that is not proven optimal early always exceeds it by the "
        "build time: 'met_with_solver_limit' judges the quality reached with that limit alone. The gap is "
        "ReplanSolution.gap, relative to the whole objective, which holds a constant 10,000 per "
        "patient-service pair; 'gap_above_floor' is the gap relative to the avoidable part.")}
    medium = by_label.get(str(TARGET_MEDIUM["sessions"]))
    if medium:
        quality = quality_ok(medium, TARGET_MEDIUM["gap"])
        found["600_sessions_optimal_or_gap_le_1pct_within_60s"] = {
            "target": "status optimal or gap <= 1 % within 60 s (CP-SAT limit 60 s, 2 workers)",
            "status": medium["status"], "gap": medium["gap"], "gap_above_floor": medium["gap_above_floor"],
            "seconds": medium["seconds"], "time_limit_s": medium["time_limit_s"],
            "met_with_solver_limit": quality and medium["time_limit_s"] <= TARGET_MEDIUM["seconds"],
            "met": quality and medium["seconds"] <= TARGET_MEDIUM["seconds"],
        }
    large = by_label.get(str(TARGET_LARGE["sessions"]))
    if large:
        good = large["check_replan_ok"] and large["recomputed_cost"] <= large["greedy_objective"]
        found["2000_sessions_at_least_as_good_as_greedy_within_10s"] = {
            "target": "objective <= greedy (first fit) within 10 s (CP-SAT limit 10 s, 2 workers)",
            "status": large["status"], "objective": large["objective"], "greedy_objective": large["greedy_objective"],
            "recomputed_cost": large["recomputed_cost"], "improvement_over_greedy_pct":
                large["improvement_over_greedy_pct"], "seconds": large["seconds"],
            "time_limit_s": large["time_limit_s"],
            "solver_found_a_solution": large["objective"] is not None,
            "note": "replan() never returns worse than the current assignment, so <= greedy holds by construction; "
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
                       "seconds": longer["seconds"], "time_limit_s": longer["time_limit_s"],
                       "met_with_solver_limit": quality and longer["time_limit_s"] <= TARGET_LARGE_LONG["seconds"],
                       "met": quality and longer["seconds"] <= TARGET_LARGE_LONG["seconds"]}
    else:
        found[name] = {"target": "gap <= 3 % within 300 s", "met": None,
                       "not_run": "run with --long" if not long else "the largest size is not 2000"}
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
    found["every_replan_passes_check_replan"] = {
        "met": all(r["check_replan_ok"] for r in results) and (chain is None or chain["all_checks_ok"])}
    return found


def plot(results: list[dict]) -> dict:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return {"made": False, "reason": f"matplotlib is not importable ({exc}); no dependency added, plot skipped"}
    curve = [r for r in results if not r["label"].endswith("long")]
    figure, left = plt.subplots(figsize=(7, 4.5))
    sizes = [r["sessions"] for r in curve]
    left.plot(sizes, [r["seconds"] for r in curve], "o-", label="replan seconds")
    left.plot(sizes, [r["first_solution_seconds"] or math.nan for r in curve], "s--", label="first solution s")
    left.set_xlabel("sessions")
    left.set_ylabel("seconds")
    right = left.twinx()
    right.plot(sizes, [100 * (r["gap"] or 0) for r in curve], "^:", color="tab:red", label="gap %")
    right.set_ylabel("gap %")
    figure.legend(loc="upper left")
    left.set_title("Nightly re-plan (CP-SAT) scale curve")
    figure.tight_layout()
    PLOT_FILE.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOT_FILE, dpi=110)
    return {"made": True, "file": str(PLOT_FILE.relative_to(ROOT))}


def default_limit(size: int) -> float:
    return 60.0 if size <= 600 else 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="sessions per instance, comma-separated (default %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generator (default %(default)s)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="CP-SAT time limit for every size (default 60 s up to 600 sessions, 10 s above)")
    parser.add_argument("--long", action="store_true", help="also give the largest size (2000) 300 s")
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT workers per solve (default 2)")
    parser.add_argument("--chain", action="store_true",
                        help="also run the chain figure: 10 locations x 600 sessions in 2 processes (minutes)")
    parser.add_argument("--chain-locations", type=int, default=TARGET_CHAIN["locations"])
    parser.add_argument("--chain-sessions", type=int, default=TARGET_CHAIN["sessions"])
    parser.add_argument("--chain-budget", type=float, default=TARGET_CHAIN["seconds"],
                        help="total seconds for the chain; per-location limit = budget / rounds x 0.8 (default 600)")
    args = parser.parse_args(argv)
    try:
        sizes = [int(part) for part in args.sizes.split(",") if part.strip()]
    except ValueError:
        parser.error("--sizes takes comma-separated integers")
    if not sizes or min(sizes) < 1 or args.workers < 1 or args.chain_locations < 1 or args.chain_budget <= 0:
        parser.error("sizes, --workers, --chain-locations and --chain-budget must be positive")

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
            "model": "solver.replan.replan: booked sessions keep their times; CP-SAT reassigns clinician, room and "
                     "device units; objective tiers (WEIGHTS): continuity per patient and service, busiest "
                     "clinician's minutes, changed resources; never worse than now",
            "weights": WEIGHTS,
            "sizes": sizes,
            "clinicians_by_size": {size: clinician_count(size) for size in sizes},
            "resources_by_size": {size: resource_counts(size) for size in sizes},
            "seed": args.seed,
            "time_limit_s": args.time_limit if args.time_limit is not None else "60 up to 600 sessions, 10 above",
            "long": args.long,
            "workers": args.workers,
            "horizon": "10 working days from Monday 2027-03-01, 08:00-18:00, 15-minute grid",
            "services": {code: {"minutes": s[0], "certification": s[1], "room": s[2], "buffer_before": s[3],
                                "buffer_after": s[4], "devices": s[5], "weight": s[6]}
                         for code, s in SERVICES.items()},
            "devices_demo": {name: {"units": units, "cleaning": cleaning}
                             for name, (units, cleaning) in DEVICE_TYPES.items()},
            "resource_scaling": f"max(demo count, ceil(planned minutes / (600 x {TARGET_UTILIZATION})))",
            "current_assignment": "first fit in start order, lowest ids first (the greedy baseline); "
                                  "sessions it cannot serve are not generated",
            "candidate_free_windows": "clinicians: shifts; rooms and units: whole calendar days; the sessions' own "
                                      "bookings not subtracted",
            "chain": args.chain,
            "versions": versions("ortools", "protobuf"),
        },
    }
    results = []
    for size in sizes:
        limit = args.time_limit if args.time_limit is not None else default_limit(size)
        results.append(bench_size(size, args.seed, limit, args.workers))
    if args.long and max(sizes) >= TARGET_LARGE_LONG["sessions"]:
        results.append(bench_size(max(sizes), args.seed, TARGET_LARGE_LONG["seconds"], args.workers,
                                  label=f"{max(sizes)} long"))
    summary["results"] = results
    summary["chain"] = bench_chain(args) if args.chain else None
    summary["targets"] = targets(results, summary["chain"], args.long)
    summary["plot"] = plot(results)
    summary["machine"]["load_average_at_end"] = (
        [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None)
    summary["total_seconds"] = round(time.perf_counter() - started, 3)

    text = to_json(summary)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(text + "\n")
    print(text)
    return 0 if summary["targets"]["every_replan_passes_check_replan"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
