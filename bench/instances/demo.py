"""The "demo clinic" family: the demo clinic's services, devices and rooms, scaled with the night's size.

Moved here from ``bench/solver.py`` unchanged in what it builds (the same
seed gives the same night as before), with the benchmark's common options
added: the booked share, tight or loose capacity and a clinician count.

Two weeks of 10 working days (Monday 2027-03-01 onwards, UTC, ``day_starts``
the 14 UTC midnights), 08:00-18:00, starts on a 15-minute grid; clinicians
scaled with the size (4, 8, 12, 18, 25 at 100-2,000 sessions) unless given,
each with a certification mix like the demo clinic's staff and a weekly
shift pattern (full days, four days, mornings, afternoons or a mix); devices
and rooms as in the demo clinic (1 shockwave unit cleaning 10 minutes, 3
ultrasound units cleaning 5, 1 EMTT unit cleaning 5, 6 treatment rooms, 1
gym, 1 gait lab), scaled up with the size so that each device and room type
would be planned at about 55 % of its capacity (40 % when loose) if every
session were placed; the demo's services (ESWT 30 min: shockwave +
ultrasound + treatment room; MSUS 45 + 5 after: ultrasound + treatment room;
EMTT 30: EMTT unit + treatment room; manual therapy 30 + 5: treatment room;
re-education 60: gym; gait 60 with 10 before and after: gait lab).

BOOKED sessions (80 % by default): patients with a course of 1-6 sessions
(one service, or two for some) on distinct days, served by first fit in
start order (the lowest-id certified clinician on shift and free, room and
units), so the current schedule is unbalanced and discontinuous; sessions
first fit cannot serve are not generated (when 200 rounds of adding
requests do not reach the booked count, the clinic is full: what first fit
holds is booked and the rest of the night waits). A fifth of the booked courses with
one clinician get ``keep_clinician``. Candidates' ``free`` are the shifts or
whole days, the booked sessions' own bookings not subtracted.

WAITING sessions, priority 1-5: half single waitlist requests (2-5 working
days x a daily window), half plan tails of 2-4 sessions tied by
``Spacing(min_days, max_days)``, half of them continuing a booked course, a
fifth with one clinician throughout (``team``).

Tight (``capacity="tight"``): capacity is scaled to 1/1.6 of the sessions
(by default the booked ones; waiting ones are 60 % of them on top) and the
windows are narrow (1-2 working days x 2 hours, mostly at the 08:00-10:00 and
16:00-18:00 peaks; plan tails of 2-3 sessions 1-2 days apart within 5 days).
"""

import math
import random
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from bench.instances.ledger import Ledger
from solver.night_problem import DAY, BookedSession, NightProblem, Spacing, WaitingSession
from solver.plans import Candidate, DevicePool, Placement, SessionKind

FIRST_DAY = int(datetime(2027, 3, 1, tzinfo=timezone.utc).timestamp()) // 60  # Monday 2027-03-01 00:00 UTC
WORKING_DAYS = 10
CALENDAR_DAYS = 14
OPENS, CLOSES, GRID = 8 * 60, 18 * 60, 15
CLINICIANS_BY_SIZE = {100: 4, 250: 8, 600: 12, 1000: 18, 2000: 25}
UTILIZATION = {"loose": 0.40, "normal": 0.55, "tight": 0.55}  # planned share of a room or device type's minutes
LOOSE_CLINICIANS = 1.4  # loose: this many times the clinicians of the size
TIGHT_DEMAND = 1.6  # tight: capacity for 1 / 1.6 of the sessions
RANDOM_DROPS = 50  # rounds of dropping random sessions before the latest ones go (random drops can oscillate)
FULL_AFTER = 200  # rounds of adding requests after which the clinic counts as full
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
PLAN_TAIL_SHARE = 0.5  # of the waiting sessions: in plan tails (the rest are single waitlist requests)
TAIL_OF_BOOKED_SHARE = 0.5  # of the plan tails: continuing a booked patient's course
TEAM_SHARE = 0.2  # of the courses: one clinician throughout
SPACINGS = [(1, 3), (2, 5), (3, 7)]  # min, max calendar days between consecutive sessions of a plan tail
DAILY_WINDOWS = [FULL, MORNING, AFTERNOON, (9 * 60, 13 * 60), (12 * 60, 15 * 60), (14 * 60, 18 * 60)]
TIGHT_DAILY_WINDOWS = [(8 * 60, 10 * 60)] * 3 + [(16 * 60, 18 * 60)] * 3 + [(10 * 60, 12 * 60), (12 * 60, 14 * 60)]


def day_start(day: int) -> int:
    """Midnight (UTC minutes) of working day ``day`` (0-9, Monday to Friday of two weeks)."""
    return FIRST_DAY + ((day // 5) * 7 + day % 5) * DAY


DAY_STARTS = tuple(FIRST_DAY + n * DAY for n in range(CALENDAR_DAYS))  # the 14 UTC midnights, weekends included


def clinician_count(size: int) -> int:
    if size in CLINICIANS_BY_SIZE:
        return CLINICIANS_BY_SIZE[size]
    return max(2, min(40, round(4 + 21 * (size - 100) / 1900)))


def booked_count(size: int, tight: bool, booked_share: float | None) -> int:
    """The booked sessions of a night of ``size``: 80 % by default, 1 / 1.6 when tight, or ``booked_share``."""
    if booked_share is not None:
        return round(size * booked_share)
    return round(size / TIGHT_DEMAND) if tight else size - round(size * 0.2)


def resource_counts(size: int, utilization: float) -> dict[str, int]:
    """Units and rooms per type: the demo's, or more so each type is planned at about ``utilization``."""
    weights = sum(service[6] for service in SERVICES.values())
    per_day = size / WORKING_DAYS
    minutes = {name: 0.0 for name in (*DEVICE_TYPES, *ROOM_KINDS)}
    for duration, _cert, room, before, after, devices, weight in SERVICES.values():
        sessions = per_day * weight / weights
        minutes[room] += sessions * (before + duration + after)
        for device, count in devices.items():
            minutes[device] += sessions * count * (before + duration + after + DEVICE_TYPES[device][1])
    demo = {**{name: units for name, (units, _) in DEVICE_TYPES.items()}, **ROOM_KINDS}
    return {name: max(demo[name], math.ceil(need / ((CLOSES - OPENS) * utilization)))
            for name, need in minutes.items()}


def make_clinic(rng: random.Random, count: int, counts: dict[str, int]) -> tuple[dict[str, SessionKind], dict]:
    """Session kinds (one per service) with their candidate clinicians, rooms and units."""
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
    return kinds, patterns


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
    ledger = Ledger()
    placed, failed = {}, set()
    for request in sorted(requests, key=lambda r: (r.start, r.ident)):
        kind = kinds[request.kind]
        placement = ledger.serve(kind, request.start, request.patient)
        if placement is None:
            failed.add(request.ident)
            continue
        ledger.take_session(request.patient, kind, placement)
        placed[request.ident] = placement
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
                 narrow: bool) -> tuple[list[WaitingSession], list[Spacing], dict]:
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
            length = rng.randint(2, min(3 if narrow else 4, left))
            if continuable and rng.random() < TAIL_OF_BOOKED_SHARE:
                owner, code = continuable.pop()
                first_day = booked_courses[owner, code] + 1
                stats["tails_of_booked_courses"] += 1
            else:
                patient += 1
                owner, code = patient, rng.choices(codes, weights)[0]
                first_day = rng.randrange(WORKING_DAYS - 2 if narrow else 5)
            if narrow:
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
            span = rng.randint(1, 2) if narrow else rng.randint(2, 5)
            window = rng.choice(TIGHT_DAILY_WINDOWS if narrow else DAILY_WINDOWS)
            first_day = rng.randrange(WORKING_DAYS - span + 1)
            starts = patient_window(kinds[code], range(first_day, first_day + span), window)
            sessions.append(WaitingSession(f"waitlist {request}", patient, kinds[code], starts, priority=priority))
            stats["waitlist_requests"] += 1
            stats["by_priority"][priority] += 1
    return sessions, spacings, stats


def generate(size: int, seed: int, booked_share: float | None = None, capacity: str = "normal",
             clinicians: int | None = None, windows: str | None = None) -> tuple[NightProblem, dict]:
    """``size`` sessions: booked ones, served by first fit in start order (the current assignment), and waiting ones.

    ``windows`` "narrow" or "wide" (default: narrow exactly when tight); the
    seed of the random numbers names every option that is not the default, so
    the default nights are the ones measured before the family moved here.
    """
    tight = capacity == "tight"
    narrow = tight if windows is None else windows == "narrow"
    options = [f" booked {booked_share}" * (booked_share is not None), f" clinicians {clinicians}" * bool(clinicians),
               " loose" * (capacity == "loose"), f" windows {windows}" * (windows is not None)]
    rng = random.Random(f"replan bench {seed} {size}" + (" tight" if tight else "") + "".join(options))
    booked_goal = booked_count(size, tight, booked_share)
    scale = round(size / TIGHT_DEMAND) if tight else size
    count = clinicians or round(clinician_count(scale) * (LOOSE_CLINICIANS if capacity == "loose" else 1))
    counts = resource_counts(scale, UTILIZATION[capacity])
    kinds, patterns = make_clinic(rng, count, counts)
    requests: list[Request] = []
    patient, made, rounds = 0, 0, 0

    def add_requests(wanted: int) -> None:
        nonlocal patient, made
        goal = len(requests) + wanted
        while len(requests) < goal:
            patient += 1
            new = request_patient(rng, patient, made + 1)
            made += len(new)
            requests.extend(new)

    add_requests(round(booked_goal * 1.15))
    while True:
        rounds += 1
        placed, failed = first_fit(requests, kinds)
        requests = [r for r in requests if r.ident not in failed]  # first fit could not serve them: not generated
        if len(placed) == booked_goal:
            break
        if len(placed) < booked_goal and rounds > FULL_AFTER:  # the clinic is full: the rest of the night waits
            booked_goal = len(placed)
            break
        if len(placed) > booked_goal and rounds <= RANDOM_DROPS:  # drop random ones, then first fit again
            dropped = set(rng.sample(sorted(placed), len(placed) - booked_goal))
            requests = [r for r in requests if r.ident not in dropped]
        elif len(placed) > booked_goal:  # first fit goes in start order: dropping the latest keeps the rest as it was
            requests = sorted(requests, key=lambda r: (r.start, r.ident))[:booked_goal]
        else:
            add_requests(math.ceil((booked_goal - len(placed)) * 1.3))
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
    waiting_count = size - booked_goal
    last_day: dict[tuple[int, str], int] = {}
    for session in booked:
        key = (session.patient, session.kind.key)
        last_day[key] = max(last_day.get(key, 0), working_day(session.start))
    waiting, spacings, stats = make_waiting(rng, waiting_count, kinds, last_day, patient, narrow)
    problem = NightProblem(booked=booked, waiting=tuple(waiting), spacings=tuple(spacings), day_starts=DAY_STARTS,
                           grid=GRID, grid_origin=0)
    facts = {
        "clinicians": count, "shift_patterns": patterns, "rooms": {k: counts[k] for k in ROOM_KINDS},
        "device_units": {k: counts[k] for k in DEVICE_TYPES},
        "device_cleaning_minutes": {k: cleaning for k, (_n, cleaning) in DEVICE_TYPES.items()},
        "grid": GRID, "windows": "narrow" if narrow else "wide",
        "patients": len({s.patient for s in booked} | {w.patient for w in waiting}),
        "keep_clinician_sessions": sum(s.keep_clinician for s in booked),
        "waiting": stats, "requests_made": made, "first_fit_rounds": rounds,
        **({"booked_share_cut_to": round(booked_goal / size, 3)} if rounds > FULL_AFTER else {}),
    }
    return problem, facts
