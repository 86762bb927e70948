"""The "hospital rehab" family: a public hospital's outpatient rehabilitation department, three weeks in Sydney.

Written apart from the other families, to probe the night with habits none of them has:

- Australia/Sydney from Monday 22 March 2027 for 21 days. Easter falls in it
  (Good Friday 26 March and Easter Monday 29 March closed, Easter Sunday the
  pool closed too) and daylight saving ends on Sunday 4 April (day 13, a
  25-hour local day), on which the pool runs its Sunday morning clinic. Local
  midnights and every clock time come from ``zoneinfo``; starts lie on a
  10-minute grid whose origin is the first local midnight.
- Venues with their own hours: treatment rooms (weekdays 07:30-18:30), an
  ADL kitchen (08:30-16:30), gyms (weekdays and Saturday mornings), the
  hydrotherapy pool (07:00-19:00, Saturdays 08:00-13:00, Sundays
  08:00-12:00), the gait lab (08:00-17:00) and telehealth (no room).
- The pool is a device type of 4 lanes: an individual session needs 1 lane,
  an assisted one (hoist) 2 lanes at once; lane 4, the hoist lane, has 10
  minutes of cleaning, the others none, so one session's two lanes may come
  from two kinds of unit. The gait lab is 1 unit (90-minute sessions, 15
  minutes' set-up before, 15 minutes' cleaning after); two body-weight-
  support treadmills (in a gym, 10 minutes' cleaning). Units have
  maintenance windows: lanes 1-2 every Monday 07:00-09:00, lane 3 two days
  of tile repair, lane 4 a hoist service, the gait lab a calibration
  morning, one treadmill 3 days away; gym 2 one afternoon's floor polish.
- Durations of 20, 30, 40, 45, 60 and 90 minutes (45 is no multiple of the
  grid; starts stay on it), buffers before and after on some services.
- Clinicians of four disciplines (physio, OT, exercise physiologist, speech
  pathologist) with certifications (hydrotherapy, gait lab, neuro), hired
  per discipline until their shift minutes cover the demand at the
  capacity's load: full time, early, late, mornings, part time on 2-4
  fixed weekdays, or alternate weeks (weeks 1 and 3, or week 2); a weekend
  roster for the pool and gym; a department meeting every Thursday and an
  in-service afternoon; some on leave.
- Patients of plans of three shapes: long courses (6-12 weekly sessions,
  5-9 local days apart, often under way before the night: the first
  session in the night follows one 1-8 days before it), short ones (2-3
  sessions 20-72 hours apart, across the clock change too) and single
  requests; a quarter of the patients have a second line. Each patient has
  weekdays and one daily window (narrow: 2-3 days, 2-4 hours, e.g.
  hospital transport 10:00-14:00; wide: 4-6 days, most of the day).
  Priorities 1-5, skewed towards 1 (short post-operative courses one
  higher).
- The front desk booked the current sessions, patient by patient, at the
  time nearest the one the patient asked for on the first days possible,
  with the clinician, room and unit that became free latest before that
  time (back-to-back), on the ``Ledger``. Some lines need one clinician
  throughout: with a booked session their waiting ones may have only that
  clinician (the kind narrowed under the same key, as ``scheduler.night``
  does) and their booked ones keep theirs; without, the waiting ones form a
  ``team``. Other booked sessions keep their clinician at random, and some
  may move within 30-90 minutes on the same day (``may_start``; the waiting
  sessions after them are spaced from both ends of it). A few courses had a
  session cancelled between two booked ones: it waits, between them.
- Waiting sessions whose spacing leaves no start in the three weeks are not
  part of the night; when the desk cannot book for 60 lines in a row the
  department is full and the rest of the night waits
  (``facts["booked_share_cut_to"]``).

Capacity sets the load the clinicians are hired for (55 %, 80 %, 110 % of
their shift minutes), the rooms (45 %, 60 %, 80 %) and, by default, the
share of narrow windows (20 %, 45 %, 75 %) and the booked share (80 %, 80 %,
65 %). Deterministic per (size, seed, options).
"""

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from bench.instances.calendar import Fortnight
from bench.instances.ledger import Ledger
from solver.intervals import Intervals, intersect, normalize, subtract, total
from solver.night_problem import (
    DAY,
    BookedSession,
    NightProblem,
    Spacing,
    WaitingSession,
)
from solver.plans import Candidate, DevicePool, Placement, SessionKind

ZONE_NAME = "Australia/Sydney"
FIRST_DAY = date(2027, 3, 22)  # a Monday
DAYS = 21
GRID = 10
GOOD_FRIDAY, EASTER_SUNDAY, EASTER_MONDAY = date(2027, 3, 26), date(2027, 3, 28), date(2027, 3, 29)
CLOSED = {GOOD_FRIDAY, EASTER_MONDAY}


def hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


WEEKS = Fortnight(ZONE_NAME, FIRST_DAY, DAYS)
"""The three weeks' local days and clock times as UTC minutes (``WEEKS.at(day, minute_of_day)``)."""
DAY_STARTS = WEEKS.day_starts
GRID_ORIGIN = DAY_STARTS[0]
HORIZON_END = WEEKS.at(DAYS, 0)


def calendar_date(day: int) -> date:
    return FIRST_DAY + timedelta(days=day)


def day_of(minute: int) -> int:
    return bisect_right(DAY_STARTS, minute) - 1


def day_start(day: int) -> int:
    """A local midnight, also before and after the three weeks (where days count 24 h: nothing is open then)."""
    if day < 0:
        return DAY_STARTS[0] + day * DAY
    if day >= DAYS:
        return HORIZON_END + (day - DAYS) * DAY
    return DAY_STARTS[day]


def venue_hours(venue: str, day: int) -> list[tuple[int, int]]:
    """Local opening hours (minutes after midnight) of a venue on a day."""
    when, wd = calendar_date(day), WEEKS.weekday(day)
    if when in CLOSED:
        return []
    if venue == "pool":
        if wd < 5:
            return [(hm("7:00"), hm("19:00"))]
        if wd == 5:
            return [(hm("8:00"), hm("13:00"))]
        return [] if when == EASTER_SUNDAY else [(hm("8:00"), hm("12:00"))]
    if wd == 6:
        return []
    if venue == "gym":
        return [(hm("7:30"), hm("18:30"))] if wd < 5 else [(hm("8:00"), hm("12:30"))]
    if wd == 5:
        return []
    return {"treatment": [(hm("7:30"), hm("18:30"))], "kitchen": [(hm("8:30"), hm("16:30"))],
            "gait": [(hm("8:00"), hm("17:00"))], "phone": [(hm("8:00"), hm("18:00"))]}[venue]


def open_spans(venue: str) -> Intervals:
    return normalize(WEEKS.span(day, low, high) for day in range(DAYS) for low, high in venue_hours(venue, day))


@dataclass(frozen=True)
class Service:
    minutes: int
    qualifications: tuple[str, ...]  # any one of them qualifies a clinician
    venue: str
    room: str | None
    before: int
    after: int
    devices: tuple[tuple[str, int], ...]
    weight: float
    plans: dict[str, int]  # plan shape -> weight
    split: dict[str, float] = field(default_factory=dict)  # discipline -> share of the demand (hiring)


SERVICES = {
    "physio": Service(30, ("physio",), "treatment", "treatment", 0, 10, (), 7,
                      {"long": 3, "short": 3, "single": 2}, {"physio": 1}),
    "ot": Service(45, ("ot",), "treatment", "treatment", 0, 5, (), 4, {"long": 3, "single": 1}, {"ot": 1}),
    "adl": Service(60, ("ot",), "kitchen", "kitchen", 10, 10, (), 1, {"short": 1, "single": 2}, {"ot": 1}),
    "gym": Service(60, ("ep", "physio"), "gym", "gym", 0, 0, (), 4, {"long": 1}, {"ep": 0.6, "physio": 0.4}),
    "hydro": Service(40, ("hydro",), "pool", None, 10, 10, (("pool lane", 1),), 4, {"long": 1},
                     {"physio": 0.7, "ep": 0.3}),
    "hydro_assisted": Service(45, ("hydro",), "pool", None, 10, 15, (("pool lane", 2),), 1, {"long": 1},
                              {"physio": 0.7, "ep": 0.3}),
    "gait": Service(90, ("gait",), "gait", None, 15, 0, (("gait lab", 1),), 0.7, {"single": 3, "short": 1},
                    {"physio": 1}),
    "bws_treadmill": Service(40, ("neuro", "ep"), "gym", "gym", 5, 5, (("bws treadmill", 1),), 2, {"long": 1},
                             {"physio": 0.5, "ep": 0.5}),
    "telehealth": Service(20, ("physio", "ot", "speech"), "phone", None, 0, 5, (), 3, {"short": 2, "single": 1},
                          {"physio": 0.4, "ot": 0.3, "speech": 0.3}),
    "speech": Service(30, ("speech",), "treatment", "treatment", 0, 10, (), 2, {"short": 2, "long": 1},
                      {"speech": 1}),
}
LONG = {"min_days": 5, "max_days": 9}
SHORT = {"min_hours": 20, "max_hours": 72}
CERTIFICATIONS = {"hydro": ("physio", "ep"), "gait": ("physio",), "neuro": ("physio",)}
CERTIFIED_SERVICES = {"hydro": ("hydro", "hydro_assisted"), "gait": ("gait",), "neuro": ("bws_treadmill",)}
PATTERNS = {  # name: weight, the local spans of a working day
    "full time": (0.30, [("8:00", "12:30"), ("13:00", "16:30")]),
    "early": (0.10, [("7:00", "11:30"), ("12:00", "15:30")]),
    "late": (0.10, [("10:30", "14:30"), ("15:00", "19:00")]),
    "fixed weekdays": (0.25, [("8:30", "12:30"), ("13:00", "17:00")]),
    "alternate weeks": (0.10, [("8:00", "12:30"), ("13:00", "16:30")]),
    "mornings": (0.15, [("7:30", "12:30")]),
}
MEETING = ("12:30", "13:30")  # every Thursday, everyone
IN_SERVICE = (15, "14:00", "15:30")  # Tuesday 6 April, everyone
LEAVE_SHARE = 0.12
FEWEST = {"loose": 2, "normal": 2, "tight": 1}  # clinicians per discipline, and holders per certification
LOAD = {"loose": 0.55, "normal": 0.8, "tight": 1.1}
ROOM_LOAD = {"loose": 0.45, "normal": 0.6, "tight": 0.8}
NARROW_SHARE = {"loose": 0.2, "normal": 0.45, "tight": 0.75}
DEFAULT_BOOKED = {"loose": 0.8, "normal": 0.8, "tight": 0.65}
NARROW_WINDOWS = [("7:00", "9:30"), ("9:30", "12:00"), ("10:00", "14:00"), ("10:00", "14:00"), ("13:00", "15:30"),
                  ("16:00", "19:00"), ("15:30", "18:30")]
WIDE_WINDOWS = [("7:00", "19:00"), ("8:00", "17:00"), ("9:00", "15:00"), ("10:00", "19:00"), ("7:30", "16:00")]
PRIORITY_WEIGHTS = [40, 28, 17, 10, 5]
SECOND_LINE = 0.25
KEEP_CLINICIAN = 0.15
MAY_MOVE = 0.3
CANCELLED = 0.08
SATURATED = 60


# --- the department -------------------------------------------------------------------------------------------


@dataclass
class Clinician:
    ident: int
    discipline: str
    pattern: str
    certifications: set[str]
    free: Intervals

    def qualifications(self) -> set[str]:
        return {self.discipline} | self.certifications


def shift(rng: random.Random, pattern: str) -> Intervals:
    """A clinician's working spans over the three weeks (weekdays only; the weekend roster comes later)."""
    fixed = set(rng.sample(range(5), rng.randint(2, 4)))
    weeks = rng.choice([{0, 2}, {1}])
    spans = []
    for day in range(DAYS):
        if WEEKS.weekday(day) >= 5 or calendar_date(day) in CLOSED:
            continue
        if pattern == "fixed weekdays" and WEEKS.weekday(day) not in fixed:
            continue
        if pattern == "alternate weeks" and day // 7 not in weeks:
            continue
        spans += [WEEKS.span(day, hm(low), hm(high)) for low, high in PATTERNS[pattern][1]]
    if rng.random() < LEAVE_SHARE:
        first = rng.randrange(DAYS - 5)
        away = [(day_start(first), day_start(first + rng.randint(2, 5)))]
        spans = subtract(normalize(spans), away)
    return normalize(spans)


def everyone_away() -> Intervals:
    spans = [WEEKS.span(day, hm(MEETING[0]), hm(MEETING[1])) for day in range(DAYS) if WEEKS.weekday(day) == 3]
    spans.append(WEEKS.span(IN_SERVICE[0], hm(IN_SERVICE[1]), hm(IN_SERVICE[2])))
    return normalize(spans)


def hire(rng: random.Random, demand: dict[str, float], capacity: str, count: int | None) -> list[Clinician]:
    """Clinicians per discipline until their shift minutes cover the discipline's demand at the load (at least 2,
    or 1 when tight);
    with ``count`` given, that many in all, shared out by demand."""
    names = list(PATTERNS)
    disciplines = ["physio", "ot", "ep", "speech"]
    staff: list[Clinician] = []

    def one(discipline: str) -> Clinician:
        pattern = rng.choices(names, [PATTERNS[n][0] for n in names])[0]
        return Clinician(len(staff) + 1, discipline, pattern, set(), shift(rng, pattern))

    if count is None:
        for discipline in disciplines:
            mine: list[Clinician] = []
            wanted = demand.get(discipline, 0) / LOAD[capacity]
            while len(mine) < FEWEST[capacity] or sum(total(c.free) for c in mine) < wanted:
                mine.append(one(discipline))
                staff.append(mine[-1])
    else:
        whole = sum(demand.get(d, 0) for d in disciplines) or 1
        quota = {d: max(1, round(count * demand.get(d, 0) / whole)) for d in disciplines}
        while sum(quota.values()) > count and max(quota.values()) > 1:
            quota[max(quota, key=quota.get)] -= 1
        while sum(quota.values()) < count:
            quota[max(disciplines, key=lambda d: demand.get(d, 0) / quota[d])] += 1
        for discipline in disciplines:
            for _ in range(quota[discipline]):
                staff.append(one(discipline))
    for certification, holders in CERTIFICATIONS.items():  # certified until they cover the services' demand twice over
        pool = [c for c in staff if c.discipline in holders]
        rng.shuffle(pool)
        needed = demand.get(certification, 0) / LOAD[capacity] * 2
        for clinician in pool:
            if sum(certification in c.certifications for c in staff) >= FEWEST[capacity] and sum(
                    total(c.free) for c in staff if certification in c.certifications) >= needed:
                break
            clinician.certifications.add(certification)
    roster = [c for c in staff if c.certifications & {"hydro"} or c.discipline == "ep"]
    for day in range(DAYS):  # the weekend roster: the gym and pool on Saturdays, the pool on Sundays
        if not roster or calendar_date(day) == EASTER_SUNDAY or WEEKS.weekday(day) < 5:
            continue
        low, high = ("7:45", "13:15") if WEEKS.weekday(day) == 5 else ("7:30", "12:30")
        wanted = rng.randint(2, 3) if WEEKS.weekday(day) == 5 else rng.randint(1, 2)
        for clinician in rng.sample(roster, min(wanted, len(roster))):
            clinician.free = normalize(clinician.free + [WEEKS.span(day, hm(low), hm(high))])
    away = everyone_away()
    for clinician in staff:
        clinician.free = subtract(clinician.free, away)
    return staff


def make_units(rng: random.Random) -> dict[str, tuple[Candidate, ...]]:
    pool, gait, gym = open_spans("pool"), open_spans("gait"), open_spans("gym")
    weekdays = [day for day in range(DAYS) if WEEKS.weekday(day) < 5 and calendar_date(day) not in CLOSED]
    mondays = [WEEKS.span(day, hm("7:00"), hm("9:00")) for day in range(DAYS) if WEEKS.weekday(day) == 0]
    repair = rng.randrange(len(weekdays) - 1)
    tiles = [(day_start(weekdays[repair]), day_start(weekdays[repair] + 1)),
             (day_start(weekdays[repair + 1]), day_start(weekdays[repair + 1] + 1))]
    hoist = [WEEKS.span(rng.choice([d for d in weekdays if d >= 7]), hm("15:00"), hm("19:00"))]
    calibration = [WEEKS.span(rng.choice([d for d in weekdays if 7 <= d < 14]), hm("8:00"), hm("12:00"))]
    treadmill_away = rng.randrange(len(weekdays) - 2)
    treadmill_down = [(day_start(weekdays[treadmill_away]), day_start(weekdays[treadmill_away + 2] + 1))]
    return {
        "pool lane": (Candidate(2001, "Pool lane 1", subtract(pool, mondays)),
                      Candidate(2002, "Pool lane 2", subtract(pool, mondays)),
                      Candidate(2003, "Pool lane 3", subtract(pool, tiles)),
                      Candidate(2004, "Pool lane 4 (hoist)", subtract(pool, hoist), cleaning=10)),
        "gait lab": (Candidate(2011, "Gait lab", subtract(gait, calibration), cleaning=15),),
        "bws treadmill": (Candidate(2021, "BWS treadmill 1", gym, cleaning=10),
                          Candidate(2022, "BWS treadmill 2", subtract(gym, treadmill_down), cleaning=10)),
    }, {"lane_1_2_mondays": "07:00-09:00", "lane_3_closed_days": [str(calendar_date(weekdays[repair + n]))
                                                                   for n in (0, 1)],
        "lane_4_hoist_service": str(calendar_date(day_of(hoist[0][0]))),
        "gait_lab_calibration": str(calendar_date(day_of(calibration[0][0]))),
        "treadmill_2_down_from": str(calendar_date(weekdays[treadmill_away]))}


def make_rooms(rng: random.Random, demand: dict[str, float], capacity: str) -> dict[str, tuple[Candidate, ...]]:
    treatment, gym, kitchen = open_spans("treatment"), open_spans("gym"), open_spans("kitchen")
    rooms_wanted = max(3, math.ceil(demand.get("room treatment", 0) / (total(treatment) * ROOM_LOAD[capacity])))
    gyms_wanted = max(2, math.ceil(demand.get("room gym", 0) / (total(gym) * ROOM_LOAD[capacity])))
    polish = [WEEKS.span(rng.choice([d for d in range(14, DAYS) if WEEKS.weekday(d) == 3]), hm("13:00"), hm("18:30"))]
    return {"treatment": tuple(Candidate(1000 + n, f"Treatment room {n}", treatment)
                               for n in range(1, rooms_wanted + 1)),
            "gym": tuple(Candidate(1100 + n, f"Gym {n}", subtract(gym, polish) if n == 2 else gym)
                         for n in range(1, gyms_wanted + 1)),
            "kitchen": (Candidate(1201, "ADL kitchen", kitchen),)}


def make_kinds(staff: list[Clinician], rooms: dict, units: dict) -> dict[str, SessionKind]:
    candidates = {c.ident: Candidate(c.ident, f"{c.discipline} {c.ident}", c.free) for c in staff}
    kinds = {}
    for code, service in SERVICES.items():
        eligible = tuple(candidates[c.ident] for c in staff if c.qualifications() & set(service.qualifications))
        kinds[code] = SessionKind(
            key=code, name=code.replace("_", " "), count=1, duration=service.minutes, clinicians=eligible,
            buffer_before=service.before, buffer_after=service.after, needs_room=service.room is not None,
            rooms=rooms[service.room] if service.room else (),
            devices=tuple(DevicePool(device, n, units[device]) for device, n in service.devices))
    return kinds


# --- patients -------------------------------------------------------------------------------------------------


@dataclass
class Line:
    code: str
    shape: str  # long, short or single
    count: int  # sessions in the three weeks
    first_days: tuple[int, int]  # the days the first of them may fall on, both included
    team: bool
    cancel: bool
    done_before: int = 0


@dataclass
class Patient:
    ident: int
    weekdays: frozenset[int]
    window: tuple[int, int]
    earliest: int
    priority: int
    narrow: bool
    lines: list[Line]

    def starts(self, code: str, first: int, last: int = DAYS - 1) -> Intervals:
        """Starts of a session of ``code`` on the patient's days ``first``..``last``, in the window and the venue's
        hours."""
        duration = SERVICES[code].minutes
        spans = []
        for day in range(max(first, 0), min(last, DAYS - 1) + 1):
            if WEEKS.weekday(day) not in self.weekdays:
                continue
            for low, high in venue_hours(SERVICES[code].venue, day):
                low, high = max(low, self.window[0]), min(high, self.window[1])
                if high - low >= duration:
                    spans.append((WEEKS.at(day, low), WEEKS.at(day, high) - duration + 1))
        return spans


def make_line(rng: random.Random, code: str, earliest: int, days: frozenset[int]) -> Line:
    plans = SERVICES[code].plans
    shape = rng.choices(list(plans), list(plans.values()))[0]
    if shape == "long":
        length = rng.randint(6, 12)
        done = rng.randint(1, length - 1) if rng.random() < 0.6 else 0
        count = min(length - done, rng.choice([3, 3, 4]))
        if done:  # the last session was on one of the patient's weekdays, 1-8 days before the night
            previous = rng.choice([day for day in range(-8, 0) if WEEKS.weekday(day % 7) in days] or [-7])
            first = (max(0, previous + LONG["min_days"]), previous + LONG["max_days"])
        else:
            first = (earliest, earliest + 7)
        team = count > 1 and rng.random() < (0.3 if done else 0.12)
        return Line(code, shape, count, first, team, count >= 3 and rng.random() < CANCELLED, done)
    if shape == "short":
        count = rng.randint(2, 3)
        return Line(code, shape, count, (earliest, earliest + 4), rng.random() < 0.12,
                    count == 3 and rng.random() < CANCELLED)
    return Line(code, shape, 1, (earliest, earliest + rng.randint(3, 10)), False, False)


def make_patient(rng: random.Random, ident: int, narrow_share: float) -> Patient:
    codes = list(SERVICES)
    weights = [SERVICES[c].weight for c in codes]
    earliest = rng.randrange(12)
    wanted = [rng.choices(codes, weights)[0]]
    if rng.random() < SECOND_LINE:
        others = [c for c in codes if c != wanted[0]]
        wanted.append(rng.choices(others, [SERVICES[c].weight for c in others])[0])
    narrow = rng.random() < narrow_share
    days = set(rng.sample(range(5), rng.randint(2, 3) if narrow else rng.randint(4, 5)))
    if any(SERVICES[code].venue in ("pool", "gym") for code in wanted) and rng.random() < 0.3:
        days.add(5)
    if any(SERVICES[code].venue == "pool" for code in wanted) and rng.random() < 0.3:
        days.add(6)
    lines = [make_line(rng, code, earliest, frozenset(days)) for code in wanted]
    window = rng.choice(NARROW_WINDOWS if narrow else WIDE_WINDOWS)
    priority = rng.choices(range(1, 6), PRIORITY_WEIGHTS)[0]
    if any(line.shape == "short" for line in lines):
        priority = min(5, priority + 1)
    return Patient(ident, frozenset(days), (hm(window[0]), hm(window[1])), earliest, priority, narrow, lines)


def patients(seed_text: str, narrow_share: float):
    rng = random.Random(seed_text + " patients")
    number = 0
    while True:
        number += 1
        yield make_patient(rng, number, narrow_share)


def demand_of(seed_text: str, narrow_share: float, size: int) -> dict[str, float]:
    """Minutes the first ``size`` sessions of the patient stream hold clinicians (per discipline and
    certification) and rooms (per kind of room)."""
    demand: dict[str, float] = {}
    sessions = 0
    for patient in patients(seed_text, narrow_share):
        for line in patient.lines:
            service = SERVICES[line.code]
            count = min(line.count, size - sessions)
            sessions += count
            minutes = count * (service.before + service.minutes + service.after)
            for discipline, share in service.split.items():
                demand[discipline] = demand.get(discipline, 0) + share * minutes
            for certification, codes in CERTIFIED_SERVICES.items():
                if line.code in codes:
                    demand[certification] = demand.get(certification, 0) + minutes
            if service.room:
                demand["room " + service.room] = demand.get("room " + service.room, 0) + minutes
        if sessions >= size:
            return demand
    raise AssertionError("unreachable")


# --- the front desk -------------------------------------------------------------------------------------------


def latest_free(ledger: Ledger, start: int):
    """The desk's order at ``start``: whoever (and whatever) became free latest earlier that day first, then
    those not yet used that day, the highest ids first."""
    midnight = day_start(day_of(start))

    def order(candidates):
        def key(candidate: Candidate):
            role = "clinician" if candidate.id < 1000 else "room" if candidate.id < 2000 else "device"
            spans = ledger.spans.get((role, candidate.id), [])
            at = bisect_right(spans, (start, math.inf))
            while at > 0 and spans[at - 1][1] > start:
                at -= 1
            if at > 0 and spans[at - 1][1] > midnight:
                return 0, -spans[at - 1][1], -candidate.id
            return 1, 0, -candidate.id
        return sorted(candidates, key=key)
    return order


def on_grid(low: int, high: int) -> list[int]:
    first = low + (-(low - GRID_ORIGIN)) % GRID
    return list(range(first, high, GRID))


def desk_books(rng: random.Random, ledger: Ledger, patient: Patient, kind: SessionKind, window: Intervals,
               clinician: int | None) -> Placement | None:
    """The first of the window's days (up to eight) with a time near the one the patient asks for that day."""
    days: dict[int, list[int]] = {}
    for low, high in window:
        points = on_grid(low, high)
        if points:
            days.setdefault(day_of(low), []).extend(points)
    for day in sorted(days)[:8]:
        points = days[day]
        asked = rng.choice(points)
        for start in sorted(points, key=lambda p: (abs(p - asked), p))[:12]:
            placement = ledger.serve(kind, start, patient.ident, latest_free(ledger, start), clinician)
            if placement is not None:
                return placement
    return None


def may_start_of(rng: random.Random, code: str, start: int) -> Intervals:
    """Same day, within 30-90 minutes either way, inside the venue's hours (the clinic's policy, the patient told)."""
    reach = rng.choice([30, 60, 90])
    day = day_of(start)
    duration = SERVICES[code].minutes
    spans = [WEEKS.span(day, low, high) for low, high in venue_hours(SERVICES[code].venue, day)]
    return intersect([(low, high - duration + 1) for low, high in spans], [(start - reach, start + reach + 1)])


def after(code: str, shape: str, earliest: int, latest: int) -> Intervals:
    """Starts the line's spacing leaves for the next session, whichever of ``earliest``..``latest`` the previous
    one starts at."""
    duration = SERVICES[code].minutes
    if shape == "long":
        low = max(latest + duration, day_start(day_of(latest) + LONG["min_days"]))
        high = day_start(day_of(earliest) + LONG["max_days"] + 1)
    else:
        low = max(latest + duration, latest + 60 * SHORT["min_hours"])
        high = earliest + 60 * SHORT["max_hours"] + 1
    return [(low, high)] if low < high else []


def before(code: str, shape: str, earliest: int, latest: int) -> Intervals:
    """Starts the line's spacing leaves for the session before one starting at ``earliest``..``latest``."""
    duration = SERVICES[code].minutes
    if shape == "long":
        low = day_start(day_of(latest) - LONG["max_days"])
        high = min(earliest - duration + 1, day_start(day_of(earliest) - LONG["min_days"] + 1))
    else:
        low = latest - 60 * SHORT["max_hours"]
        high = min(earliest - duration + 1, earliest - 60 * SHORT["min_hours"] + 1)
    return [(low, high)] if low < high else []


# --- the night ------------------------------------------------------------------------------------------------


@dataclass
class Booked:
    patient: int
    kind: SessionKind
    placement: Placement
    keep: bool
    may_start: Intervals
    reach: tuple[int, int]  # earliest and latest start it may have


def generate(size: int, seed: int, booked_share: float | None = None, capacity: str = "normal",
             clinicians: int | None = None, windows: str | None = None) -> tuple[NightProblem, dict]:
    """A night of ``size`` sessions, about ``booked_share`` of them booked (default 80 %, 65 % when tight)."""
    seed_text = f"hospital rehab {seed} {size} {booked_share} {capacity} {clinicians} {windows}"
    share = DEFAULT_BOOKED[capacity] if booked_share is None else booked_share
    narrow_share = {"narrow": 1.0, "wide": 0.0, "mixed": 0.5, None: NARROW_SHARE[capacity]}[windows]
    demand = demand_of(seed_text, narrow_share, size)
    clinic_rng, desk_rng = random.Random(seed_text + " clinic"), random.Random(seed_text + " desk")
    staff = hire(clinic_rng, demand, capacity, clinicians)
    units, maintenance = make_units(clinic_rng)
    rooms = make_rooms(clinic_rng, demand, capacity)
    kinds = make_kinds(staff, rooms, units)

    ledger = Ledger()
    booked: list[Booked] = []
    waiting: list[WaitingSession] = []
    spacings: list[Spacing] = []
    booked_goal = round(size * share)
    waiting_goal = size - booked_goal
    stats = {"patients": 0, "lines": 0, "long_lines": 0, "long_lines_under_way": 0, "short_lines": 0,
             "single_requests": 0, "second_lines": 0, "narrow_window_patients": 0, "team_lines": 0,
             "narrowed_kinds": 0, "cancelled_between_booked": 0, "sessions_the_desk_could_not_book": 0,
             "waiting_left_out_no_start": 0, "spacing_rules": 0, "sunday_waiting": 0, "dst_day_waiting": 0}
    idle = 0
    stream = patients(seed_text, narrow_share)
    for patient in stream:
        if len(booked) >= booked_goal and len(waiting) >= waiting_goal:
            break
        if patient.ident > 50 * size + 1000:
            raise RuntimeError(f"hospital rehab: no night of {size} sessions after {patient.ident} patients")
        took = False
        for number, line in enumerate(patient.lines):
            need_booked, need_waiting = booked_goal - len(booked), waiting_goal - len(waiting)
            count = min(line.count, need_booked + need_waiting)
            if count == 0:
                break
            chance = need_booked / (need_booked + need_waiting)
            to_book = min(need_booked, sum(desk_rng.random() < chance for _ in range(count)))
            kind = kinds[line.code]
            first_window = patient.starts(line.code, *line.first_days)
            later_window = patient.starts(line.code, max(patient.earliest, line.first_days[0]))
            mine: list[Booked] = []
            for index in range(to_book):
                window = first_window if index == 0 else intersect(
                    later_window, after(line.code, line.shape, *mine[-1].reach))
                placement = desk_books(desk_rng, ledger, patient, kind, window,
                                       mine[0].placement.clinician if line.team and mine else None)
                if placement is None:
                    stats["sessions_the_desk_could_not_book"] += 1
                    break
                ledger.take_session(patient.ident, kind, placement)
                moves = [] if desk_rng.random() >= MAY_MOVE else may_start_of(desk_rng, line.code, placement.start)
                reach = (min([placement.start] + [low for low, _ in moves]),
                         max([placement.start] + [high - 1 for _, high in moves]))
                keep = line.team or desk_rng.random() < KEEP_CLINICIAN
                mine.append(Booked(patient.ident, kind, placement, keep, moves, reach))
            if to_book:
                idle = 0 if mine else idle + 1
            if idle > SATURATED and booked_goal > len(booked) + len(mine):
                booked_goal = len(booked) + len(mine)
                waiting_goal = size - booked_goal
                stats["booked_share_cut_to"] = round(booked_goal / size, 3)
            line_kind = kind
            if line.team and mine:  # one clinician throughout, and it is known: only they may serve the rest
                line_kind = replace(kind, clinicians=tuple(c for c in kind.clinicians
                                                           if c.id == mine[0].placement.clinician))
                stats["narrowed_kinds"] += 1
            team = f"patient {patient.ident} line {number + 1} ({line.code})" if line.team and not mine else None
            stem = f"p{patient.ident} {line.code} #"
            new_waiting: list[WaitingSession] = []
            booked_count = len(mine)
            if line.cancel and len(mine) >= 3 and waiting_goal - len(waiting) > 0:
                mine.pop(1)  # the patient cancelled it: it waits again, between its neighbours
                window = intersect(intersect(later_window, after(line.code, line.shape, *mine[0].reach)),
                                   before(line.code, line.shape, *mine[1].reach))
                if window:
                    new_waiting.append(WaitingSession(f"{stem}{line.done_before + 2} (cancelled)", patient.ident,
                                                      line_kind, window, patient.priority))
                    stats["cancelled_between_booked"] += 1
                else:
                    stats["waiting_left_out_no_start"] += 1
            booked += mine
            rest = max(0, min(count - booked_count, waiting_goal - len(waiting) - len(new_waiting)))
            previous: str | None = None
            for n in range(rest):
                index = booked_count + n
                if previous is None:
                    window = later_window if mine else first_window
                    if mine:
                        window = intersect(window, after(line.code, line.shape, *mine[-1].reach))
                else:
                    window = later_window
                if not window:
                    stats["waiting_left_out_no_start"] += rest - n
                    break
                key = f"{stem}{line.done_before + index + 1}"
                new_waiting.append(WaitingSession(key, patient.ident, line_kind, window, patient.priority, team))
                if previous is not None:
                    rule = LONG if line.shape == "long" else SHORT
                    spacings.append(Spacing(previous, key, **rule))
                    stats["spacing_rules"] += 1
                previous = key
            waiting += new_waiting
            if mine or new_waiting:
                took = True
                stats["lines"] += 1
                stats[{"long": "long_lines", "short": "short_lines", "single": "single_requests"}[line.shape]] += 1
                stats["long_lines_under_way"] += line.shape == "long" and line.done_before > 0
                stats["second_lines"] += number > 0
                stats["team_lines"] += line.team
            for session in new_waiting:
                days = {day_of(low) for low, _ in session.starts}
                stats["sunday_waiting"] += any(WEEKS.weekday(day) == 6 for day in days)
                stats["dst_day_waiting"] += 13 in days
        if took:
            stats["patients"] += 1
            stats["narrow_window_patients"] += patient.narrow
    ordered = sorted(booked, key=lambda b: (b.placement.start, b.patient))
    sessions = tuple(
        BookedSession(n, b.patient, b.kind, b.placement.start,
                      Placement(str(n), 0, b.placement.start, b.placement.clinician, b.placement.room,
                                b.placement.devices), keep_clinician=b.keep, may_start=b.may_start)
        for n, b in enumerate(ordered, start=1))
    problem = NightProblem(booked=sessions, waiting=tuple(waiting), spacings=tuple(spacings), day_starts=DAY_STARTS,
                           grid=GRID, grid_origin=GRID_ORIGIN)
    shift_minutes = sum(total(c.free) for c in staff)
    held = sum((b.kind.buffer_before + b.kind.duration + b.kind.buffer_after) for b in booked) + sum(
        (w.kind.buffer_before + w.kind.duration + w.kind.buffer_after) for w in waiting)
    facts = {
        "clinicians": len(staff), "zone": ZONE_NAME, "first_day": str(FIRST_DAY), "days": DAYS, "grid": GRID,
        "grid_origin": GRID_ORIGIN, "clock_change_day": {"day": 13, "hours": (DAY_STARTS[14] - DAY_STARTS[13]) / 60},
        "disciplines": {d: sum(c.discipline == d for c in staff) for d in ("physio", "ot", "ep", "speech")},
        "certifications": {k: sum(k in c.certifications for c in staff) for k in CERTIFICATIONS},
        "shift_patterns": {p: sum(c.pattern == p for c in staff) for p in PATTERNS},
        "clinician_shift_minutes": shift_minutes, "demand_over_shift_minutes": round(held / shift_minutes, 3),
        "rooms": {name: len(members) for name, members in rooms.items()},
        "device_units": {name: len(members) for name, members in units.items()},
        "device_cleaning_minutes": {u.name: u.cleaning for members in units.values() for u in members},
        "maintenance": maintenance, "narrow_window_share": narrow_share,
        "keep_clinician_sessions": sum(b.keep for b in booked),
        "may_start_sessions": sum(bool(b.may_start) for b in booked),
        "waiting_points": sum(w.priority for w in waiting),
        "priorities": {p: sum(w.priority == p for w in waiting) for p in range(1, 6)},
        "durations": {d: sum(s.kind.duration == d for s in list(booked) + list(waiting))
                      for d in sorted({s.minutes for s in SERVICES.values()})},
        "services": {code: sum(b.kind.key == code for b in booked) + sum(w.kind.key == code for w in waiting)
                     for code in SERVICES},
        **stats,
    }
    return problem, facts
