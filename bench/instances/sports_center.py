"""The "sports" family: a sports-medicine centre, built unlike the other two on purpose.

New York, Monday 1 November 2027 for 14 days (the clocks go back on the
Sunday in between: a 25-hour day), open 07:00-21:00 on weekdays and
08:00-14:00 on Saturdays, starts on a 15-minute grid. Clinicians belong to a
team (knee, shoulder, spine) and hold 2-3 modalities; their shifts are
early, late, split (mornings and evenings), day or four long days, some
with a Saturday. Five device types with 1-3 units each (the two-unit laser
session needs two lasers at once, so there are at least two), every unit
with its own cleaning time and some with maintenance blocks; shockwave may
only be given in the three ventilated treatment rooms, cryotherapy needs
no room, aquatic therapy needs the pool (closed Wednesdays 12:00-14:00).

Patients (some with two plans) are available on some dates, each date with
its own window (narrow: 2-3 hours; wide: 6-14). Plans of rehabilitation
are often held by one clinician throughout. The BOOKED sessions were booked
as the calls came in: each at one of the first three starts where the
least busy free clinician could take it (so the current schedule is
front-loaded and balanced, unlike the other families), a plan that needs
one clinician with the same one (``keep_clinician``). 40 % of the booked
sessions may move within an hour the same day (``may_start``). Some plans
had a middle session cancelled: it waits, between its booked neighbours.
The rest of each plan waits; where a plan needs one clinician and has one
already, its waiting sessions may only have that clinician, as
``scheduler.night`` builds them. After the bookings 1-3 clinicians lost
half a day (sick leave): their booked sessions there stay, valid as long as
they keep their time and clinician. As in the PT clinic, a centre that is
full (no session booked for 100 patients in a row) leaves the rest waiting.

Capacity sets the clinician count for the demand (about 50 %, 75 % or 110 %
of their shift minutes, between 6 and 30), the units per device type
(mostly 3, 1-3, mostly 1), the treatment rooms and gyms (8 and 3, 6 and 2,
4 and 1) and how many patients have narrow windows (20 %, 40 %, 70 %).
"""

import random
from dataclasses import dataclass, replace
from datetime import date

from bench.instances.calendar import Fortnight
from bench.instances.ledger import Ledger
from solver.intervals import Intervals, intersect, normalize, subtract
from solver.night_problem import BookedSession, NightProblem, Spacing, WaitingSession
from solver.plans import Candidate, DevicePool, Placement, SessionKind

FORTNIGHT = Fortnight("America/New_York", date(2027, 11, 1))  # clocks go back on Sunday 7 November
GRID = 15
WEEKDAY_HOURS, SATURDAY_HOURS = (7 * 60, 21 * 60), (8 * 60, 14 * 60)
TEAMS = {"knee": 0.4, "shoulder": 0.3, "spine": 0.3}
MODALITIES = ("shockwave", "laser", "aquatic", "sonography", "emtt", "massage", "performance")


@dataclass(frozen=True)
class Service:
    minutes: int
    certification: str
    room: str | None
    before: int
    after: int
    devices: tuple[tuple[str, int], ...]
    weight: int
    lengths: tuple[int, int]
    min_days: int | None = None
    max_days: int | None = None
    min_hours: int | None = None
    max_hours: int | None = None
    one_clinician: float = 0.0  # share of the plans that need one clinician throughout
    priorities: tuple[int, ...] = (1, 2, 3, 4, 5)


SERVICES = {
    "acl_rehab": Service(60, "knee", "gym", 0, 0, (), 3, (3, 4), min_days=1, max_days=3, one_clinician=0.6,
                         priorities=(3, 4, 5, 5)),
    "shoulder_rehab": Service(45, "shoulder", "gym", 0, 0, (), 2, (3, 4), min_days=2, max_days=4, one_clinician=0.5,
                              priorities=(3, 4, 4, 5)),
    "spine_rehab": Service(45, "spine", "treatment", 0, 15, (), 2, (2, 4), min_days=2, max_days=5, one_clinician=0.5),
    "shockwave": Service(15, "shockwave", "ventilated", 0, 0, (("shockwave", 1),), 2, (3, 3), min_hours=72,
                         max_days=9),
    "bilateral_laser": Service(30, "laser", "treatment", 0, 0, (("laser", 2),), 1, (2, 4), min_hours=20,
                               max_hours=52),
    "cryo": Service(15, "cryo", None, 0, 0, (("cryo", 1),), 2, (1, 3), min_hours=12, max_hours=36,
                    priorities=(1, 1, 2, 3)),
    "aquatic": Service(45, "aquatic", "pool", 0, 15, (), 1, (2, 3), min_days=2, max_days=5),
    "sonography": Service(30, "sonography", "treatment", 0, 0, (("ultrasound", 1),), 2, (1, 1)),
    "emtt": Service(30, "emtt", "treatment", 0, 0, (("emtt", 1),), 1, (3, 4), min_days=2, max_days=4),
    "massage": Service(45, "massage", "treatment", 0, 0, (), 2, (1, 2), min_days=3),
    "performance_test": Service(90, "performance", "gym", 15, 0, (("ultrasound", 1),), 1, (1, 1)),
}
DEVICES = {"shockwave": (10, 15), "ultrasound": (5, 10), "emtt": (5,), "laser": (0, 5), "cryo": (15, 20, 30)}
UNITS = {"loose": (2, 3, 3), "normal": (1, 2, 3), "tight": (1, 1, 2)}
ROOMS = {"loose": (8, 3), "normal": (6, 2), "tight": (4, 1)}  # treatment rooms (3 of them ventilated), gyms
VENTILATED = 3
MAINTENANCE_SHARE = 0.4
SHIFTS = {"early": [(7 * 60, 15 * 60)], "late": [(13 * 60, 21 * 60)], "split": [(7 * 60, 11 * 60), (16 * 60, 21 * 60)],
          "day": [(9 * 60, 17 * 60)], "four long days": [(7 * 60, 17 * 60)]}
SATURDAY_SHARE = 0.3
CLINICIAN_MINUTES = 4600
LOAD = {"loose": 0.5, "normal": 0.75, "tight": 1.1}
NARROW_SHARE = {"loose": 0.2, "normal": 0.4, "tight": 0.7}
DEFAULT_BOOKED = {"loose": 0.8, "normal": 0.8, "tight": 0.6}
SECOND_PLAN, CANCELLED_MIDDLE, MAY_MOVE, MOVE_REACH = 0.15, 0.1, 0.4, 60
SATURATED = 100  # patients in a row the desk could not book a session for: the centre is full
WORKING_DAYS = [day for day in range(FORTNIGHT.days) if FORTNIGHT.weekday(day) < 6]


def opening_hours(day: int) -> tuple[int, int]:
    return SATURDAY_HOURS if FORTNIGHT.weekday(day) == 5 else WEEKDAY_HOURS


def make_clinicians(rng: random.Random, count: int) -> tuple[list[Candidate], list[set[str]], dict]:
    teams = rng.choices(list(TEAMS), list(TEAMS.values()), k=count)
    held = [{team, "cryo", *rng.sample(MODALITIES, rng.randint(2, 3))} for team in teams]
    for certification in (*TEAMS, *MODALITIES):
        while sum(certification in h for h in held) < 2:
            rng.choice([h for h in held if certification not in h]).add(certification)
    patterns = rng.choices(list(SHIFTS), k=count)
    clinicians = []
    for n, pattern in enumerate(patterns, start=1):
        saturday = rng.choice([None, 0, 1]) if rng.random() < SATURDAY_SHARE * 3 / 2 else None
        spans = []
        for day in WORKING_DAYS:
            weekday = FORTNIGHT.weekday(day)
            if weekday == 5:
                if saturday == day // 7:
                    spans.append(FORTNIGHT.span(day, *SATURDAY_HOURS))
            elif not (pattern == "four long days" and weekday == 4):
                spans += [FORTNIGHT.span(day, low, high) for low, high in SHIFTS[pattern]]
        clinicians.append(Candidate(n, f"Clinician {n}", normalize(spans)))
    facts = {"teams": {t: teams.count(t) for t in TEAMS}, "shift_patterns": {p: patterns.count(p) for p in SHIFTS},
             "certifications_held": {c: sum(c in h for h in held) for c in (*TEAMS, *MODALITIES)}}
    return clinicians, held, facts


def maintenance(rng: random.Random) -> Intervals:
    """1-3 blocks a unit is out: a whole day or 2-4 hours."""
    blocks = []
    for _ in range(rng.randint(1, 3)):
        day = rng.choice(WORKING_DAYS)
        if rng.random() < 0.3:
            blocks.append(FORTNIGHT.span(day, 0, 24 * 60))
        else:
            low = rng.randrange(opening_hours(day)[0], opening_hours(day)[1] - 120, 60)
            blocks.append(FORTNIGHT.span(day, low, low + 60 * rng.randint(2, 4)))
    return normalize(blocks)


def make_kinds(clinicians: list[Candidate], held: list[set[str]], rooms: dict[str, tuple[Candidate, ...]],
               units: dict[str, tuple[Candidate, ...]]) -> dict[str, SessionKind]:
    return {code: SessionKind(
        key=code, name=code.replace("_", " "), count=1, duration=s.minutes, buffer_before=s.before,
        buffer_after=s.after, clinicians=tuple(c for c, h in zip(clinicians, held) if s.certification in h),
        needs_room=s.room is not None, rooms=rooms[s.room] if s.room else (),
        devices=tuple(DevicePool(device, n, units[device]) for device, n in s.devices))
        for code, s in SERVICES.items()}


def make_place(rng: random.Random, capacity: str) -> tuple[dict, dict, dict]:
    """Rooms by what they may be used for, device units by type, and the facts about both."""
    hours = [FORTNIGHT.span(day, *opening_hours(day)) for day in WORKING_DAYS]
    treatment_count, gym_count = ROOMS[capacity]
    treatment = tuple(Candidate(100 + n, f"Treatment {n}", hours) for n in range(1, treatment_count + 1))
    pool_closed = [FORTNIGHT.span(day, 12 * 60, 14 * 60) for day in WORKING_DAYS if FORTNIGHT.weekday(day) == 2]
    rooms = {"treatment": treatment, "ventilated": treatment[:VENTILATED],
             "gym": tuple(Candidate(120 + n, f"Gym {n}", hours) for n in range(1, gym_count + 1)),
             "pool": (Candidate(130, "Pool", subtract(hours, pool_closed)),)}
    units, ident, facts = {}, 200, {"device_units": {}, "device_cleaning_minutes": {}, "units_with_maintenance": 0}
    for device, cleanings in DEVICES.items():
        count = max(2 if device == "laser" else 1, rng.choice(UNITS[capacity]))
        units[device] = []
        for n in range(1, count + 1):
            ident += 1
            out = maintenance(rng) if rng.random() < MAINTENANCE_SHARE else []
            facts["units_with_maintenance"] += bool(out)
            units[device].append(Candidate(ident, f"{device} {n}", subtract(hours, out),
                                           cleaning=rng.choice(cleanings)))
        units[device] = tuple(units[device])
        facts["device_units"][device] = count
        facts["device_cleaning_minutes"][device] = [u.cleaning for u in units[device]]
    facts["rooms"] = {"treatment": treatment_count, "ventilated": VENTILATED, "gym": gym_count, "pool": 1}
    return rooms, units, facts


@dataclass
class Plan:
    patient: int
    code: str
    length: int
    windows: Intervals  # local spans the patient is available, as UTC minutes
    priority: int
    one_clinician: bool

    def starts(self, kind: SessionKind) -> Intervals:
        return [(low, high - kind.duration + 1) for low, high in self.windows if high - low >= kind.duration]


def make_plans(rng: random.Random, patient: int, narrow_share: float) -> tuple[list[Plan], bool]:
    codes = list(SERVICES)
    narrow = rng.random() < narrow_share
    earliest = rng.randrange(9)
    windows = []
    for day in WORKING_DAYS:
        if day < earliest or rng.random() > (0.35 if narrow else 0.7):
            continue
        opens, closes = opening_hours(day)
        hours = rng.randint(2, 3) if narrow else rng.randint(6, 14)
        low = rng.randrange(opens, max(opens + 1, closes - 60 * hours + 1), 60)
        windows.append(FORTNIGHT.span(day, low, min(closes, low + 60 * hours)))
    plans = []
    for code in rng.sample(codes, 2 if rng.random() < SECOND_PLAN else 1):
        s = SERVICES[code]
        plans.append(Plan(patient, code, rng.randint(*s.lengths), windows, rng.choice(s.priorities),
                          rng.random() < s.one_clinician))
    return plans, narrow


def book(rng: random.Random, ledger: Ledger, plan: Plan, kind: SessionKind, window: Intervals,
         clinician: int | None) -> Placement | None:
    """One of the first three starts where the least busy free clinician (``clinician`` if given) can take it."""
    busy = sorted(kind.clinicians, key=lambda c: (ledger.minutes(("clinician", c.id)), c.id))

    def least_busy(candidates):
        return busy if candidates is kind.clinicians else candidates

    def random_order(candidates):
        return rng.sample(list(candidates), len(candidates))

    offers = []
    for low, high in window:
        for start in range(low + (-low) % GRID, high, GRID):
            who = ledger.serve(kind, start, plan.patient, least_busy, clinician)
            if who is not None:
                placed = ledger.serve(kind, start, plan.patient, random_order, who.clinician)
                offers.append(placed or who)
                if len(offers) == 3:
                    return rng.choice(offers)
    return rng.choice(offers) if offers else None


def generate(size: int, seed: int, booked_share: float | None = None, capacity: str = "normal",
             clinicians: int | None = None, windows: str | None = None) -> tuple[NightProblem, dict]:
    """A night of ``size`` sessions, ``booked_share`` booked (default 80 %, 60 % when tight)."""
    rng = random.Random(f"sports centre {seed} {size} {booked_share} {capacity} {clinicians} {windows}")
    share = DEFAULT_BOOKED[capacity] if booked_share is None else booked_share
    booked_goal = round(size * share)
    waiting_goal = size - booked_goal
    weights = sum(s.weight for s in SERVICES.values())
    demand = size * sum(s.weight * (s.before + s.minutes + s.after) for s in SERVICES.values()) / weights
    count = clinicians or min(30, max(6, round(demand / (CLINICIAN_MINUTES * LOAD[capacity]))))
    narrow_share = {"narrow": 1.0, "wide": 0.0, "mixed": 0.5, None: NARROW_SHARE[capacity]}[windows]
    staff, held, facts = make_clinicians(rng, count)
    rooms, units, place_facts = make_place(rng, capacity)
    kinds = make_kinds(staff, held, rooms, units)
    ledger = Ledger()
    booked: list[dict] = []  # patient, kind, placement, keep
    waiting: list[dict] = []  # key, patient, code, starts, priority, team, one clinician (or None)
    spacings: list[Spacing] = []
    stats = {"patients": 0, "narrow_window_patients": 0, "plans": 0, "one_clinician_plans": 0,
             "cancelled_middle_sessions": 0, "sessions_the_desk_could_not_book": 0, "spacing_in_hours": 0,
             "spacing_in_days": 0}
    patient, idle = 0, 0
    while len(booked) < booked_goal or len(waiting) < waiting_goal:
        patient += 1
        if patient > 50 * size + 1000:
            raise RuntimeError(f"sports centre: no night of {size} sessions after {patient} patients")
        if idle > SATURATED:  # the centre is full: what is left of the night waits
            booked_goal, waiting_goal = len(booked), size - len(booked)
            stats["booked_share_cut_to"] = round(len(booked) / size, 3)
        plans, narrow = make_plans(rng, patient, narrow_share)
        added = False
        for plan in plans:
            s, kind = SERVICES[plan.code], kinds[plan.code]
            rule = (s.min_days, s.max_days, s.min_hours, s.max_hours)
            need_booked, need_waiting = booked_goal - len(booked), waiting_goal - len(waiting)
            if need_booked + need_waiting == 0:
                break
            chance = need_booked / (need_booked + need_waiting)
            to_book = min(need_booked, sum(rng.random() < chance for _ in range(plan.length)))
            mine: list[Placement] = []
            for _ in range(to_book):
                window = plan.starts(kind)
                if mine:
                    window = intersect(window, [FORTNIGHT.after(mine[-1].start, kind.duration, *rule)])
                placement = book(rng, ledger, plan, kind, window, mine[0].clinician if mine and plan.one_clinician
                                 else None)
                if placement is None:
                    stats["sessions_the_desk_could_not_book"] += 1
                    break
                ledger.take_session(plan.patient, kind, placement)
                mine.append(placement)
            if to_book:
                idle = 0 if mine else idle + 1
            holder = mine[0].clinician if mine and plan.one_clinician else None
            team = f"plan {patient} {plan.code}" if plan.one_clinician and holder is None else None
            cancelled = None
            if len(mine) >= 3 and rng.random() < CANCELLED_MIDDLE and len(waiting) < waiting_goal:
                cancelled = mine.pop(1)
                window = intersect(plan.starts(kind), [FORTNIGHT.after(mine[0].start, kind.duration, *rule)])
                window = intersect(window, [FORTNIGHT.before(mine[1].start, kind.duration, *rule)])
                waiting.append({"key": f"plan {patient} {plan.code} #2", "patient": patient, "code": plan.code,
                                "starts": window, "priority": plan.priority, "team": None, "holder": holder})
                stats["cancelled_middle_sessions"] += 1
            booked += [{"patient": patient, "kind": kind, "placement": p, "keep": holder is not None} for p in mine]
            keys: list[str] = []
            for n in range(len(mine) + (cancelled is not None), plan.length):
                if len(waiting) >= waiting_goal:
                    break
                window = plan.starts(kind)
                if not keys and mine:
                    window = intersect(window, [FORTNIGHT.after(mine[-1].start, kind.duration, *rule)])
                if not window:
                    break
                key = f"plan {patient} {plan.code} #{n + 1}"
                waiting.append({"key": key, "patient": patient, "code": plan.code, "starts": window,
                                "priority": plan.priority, "team": team, "holder": holder})
                if keys:
                    spacings.append(Spacing(keys[-1], key, *rule))
                    stats["spacing_in_hours" if s.min_hours or s.max_hours else "spacing_in_days"] += 1
                keys.append(key)
            if mine or keys or cancelled:
                added = True
                stats["plans"] += 1
                stats["one_clinician_plans"] += plan.one_clinician
        stats["patients"] += added
        stats["narrow_window_patients"] += added and narrow
    # Sick leave after the bookings: half a day less for 1-3 clinicians; what was booked in it stays.
    sick = rng.sample(staff, min(len(staff), rng.randint(1, 3)))
    shortened = {}
    for clinician in sick:
        day = rng.choice(WORKING_DAYS)
        half = (opening_hours(day)[0], 14 * 60) if rng.random() < 0.5 else (14 * 60, opening_hours(day)[1])
        shortened[clinician.id] = replace(clinician, free=subtract(clinician.free, [FORTNIGHT.span(day, *half)]))
    staff = [shortened.get(c.id, c) for c in staff]
    kinds = make_kinds(staff, held, rooms, units)
    in_leave = sum(1 for b in booked if b["placement"].clinician in shortened and not any(
        low <= b["placement"].start < high for low, high in shortened[b["placement"].clinician].free))
    sessions = []
    for n, b in enumerate(sorted(booked, key=lambda b: (b["placement"].start, b["patient"])), start=1):
        kind, start = kinds[b["kind"].key], b["placement"].start
        may_start = ()
        if rng.random() < MAY_MOVE:
            reach = [(start - MOVE_REACH, start + MOVE_REACH + 1)]
            may_start = tuple(intersect([(low, high - kind.duration + 1) for low, high in
                                         [FORTNIGHT.span(FORTNIGHT.day_of(start), *opening_hours(
                                             FORTNIGHT.day_of(start)))]], reach))
        sessions.append(BookedSession(n, b["patient"], kind, start, replace(b["placement"], kind=str(n)),
                                      keep_clinician=b["keep"], may_start=list(may_start)))
    waiting_sessions = []
    for w in waiting:
        kind = kinds[w["code"]]
        if w["holder"] is not None:
            kind = replace(kind, clinicians=tuple(c for c in kind.clinicians if c.id == w["holder"]))
        waiting_sessions.append(WaitingSession(w["key"], w["patient"], kind, w["starts"], w["priority"], w["team"]))
    problem = NightProblem(booked=tuple(sessions), waiting=tuple(waiting_sessions), spacings=tuple(spacings),
                           day_starts=FORTNIGHT.day_starts, grid=GRID, grid_origin=0)
    shift_minutes = sum(high - low for c in staff for low, high in c.free)
    facts = {"clinicians": count, **facts, **place_facts, "grid": GRID, "zone": FORTNIGHT.zone,
             "first_day": str(FORTNIGHT.first), "narrow_window_share": narrow_share,
             "clinician_shift_minutes": shift_minutes, "demand_over_shift_minutes": round(demand / shift_minutes, 3),
             "keep_clinician_sessions": sum(s.keep_clinician for s in sessions),
             "may_move_sessions": sum(bool(s.may_start) for s in sessions),
             "waiting_with_one_allowed_clinician": sum(w["holder"] is not None for w in waiting),
             "clinicians_on_sick_leave_after_booking": len(shortened), "booked_sessions_in_sick_leave": in_leave,
             **stats}
    return problem, facts
