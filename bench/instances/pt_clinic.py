"""The "PT clinic" family: a physiotherapy practice as issue 14 describes the one it was measured on.

12-20 clinicians (fewer, down to 6, only when asked for tight capacity at a
small size), each with a certification mix (sports physio, shockwave
specialist, sonographer, lymph therapist...) and a weekly shift pattern with
a lunch break (full time, early, late, four days, part-time mornings, early
one week and late the next), some working one Saturday morning, some away
for 2-3 days. Berlin, Monday 22 March 2027 for 14 days: the clocks go
forward on the Sunday in between, so local times move against UTC. Open
07:30-19:30 on weekdays and 08:00-13:00 on Saturdays; starts on a 5-minute
grid. One shockwave unit (10 minutes' cleaning), one EMTT unit and 1-3
ultrasound units (5), 6 treatment rooms and 2 gyms.

Patients come with plans of 2-4 sessions of one service (a fifth of the
requests are single sessions, one in ten plans a diagnostic ultrasound
before shockwave), spaced as the service needs: in days (manual therapy
2-7 days apart) or in hours (shockwave at least 48 h apart, lymph drainage
20-72 h). Each patient has a set of weekdays and one daily window: narrow
(2-3 weekdays, 2-3 hours, mostly before or after work) or wide (4-6
weekdays, most of the day). The BOOKED sessions are the first sessions of
plans, booked at the front desk day by day from the patient's earliest
day, at a random time in the window, with a random free clinician (the
plan's previous one first, mostly), room and unit; the rest of each plan
waits, its first session no earlier than the spacing after the last booked
one allows. A tenth of the waiting plans need one clinician throughout
(``team``), some booked plans keep theirs (``keep_clinician``). When the
desk cannot book a session for 100 patients in a row the practice is full
and the rest of the night waits (``facts["booked_share_cut_to"]``): 6
treatment rooms, 2 gyms and one shockwave unit hold about 1,300 sessions a
fortnight, so a 2,000-session night cannot be 80 % booked here.

Capacity sets the clinician count for the demand (about 50 %, 75 % or 110 %
of their shift minutes, between 12 and 20; tight: between 6 and 20), the
ultrasound units (3, 1-3, 1) and how many patients have narrow windows
(20 %, 50 %, 80 %).
"""

import random
from dataclasses import dataclass
from datetime import date

from bench.instances.calendar import Fortnight
from bench.instances.ledger import Ledger
from solver.intervals import Intervals, intersect, normalize
from solver.night_problem import BookedSession, NightProblem, Spacing, WaitingSession
from solver.plans import Candidate, DevicePool, Placement, SessionKind

FORTNIGHT = Fortnight("Europe/Berlin", date(2027, 3, 22))  # clocks go forward on Sunday 28 March
GRID = 5
WEEKDAY_HOURS, SATURDAY_HOURS = (7 * 60 + 30, 19 * 60 + 30), (8 * 60, 13 * 60)


@dataclass(frozen=True)
class Service:
    minutes: int
    certification: str
    room: str
    before: int
    after: int
    devices: tuple[tuple[str, int], ...]
    weight: int
    lengths: tuple[int, int]  # sessions in a plan, least and most
    min_days: int | None = None
    max_days: int | None = None
    min_hours: int | None = None
    max_hours: int | None = None


SERVICES = {
    "eswt": Service(20, "eswt", "treatment", 0, 5, (("shockwave", 1),), 3, (3, 4), min_hours=48, max_hours=240),
    "emtt": Service(25, "emtt", "treatment", 0, 0, (("emtt", 1),), 2, (2, 4), min_hours=24, max_hours=96),
    "sonography": Service(40, "sonography", "treatment", 0, 5, (("ultrasound", 1),), 2, (1, 1)),
    "us_therapy": Service(15, "manual", "treatment", 0, 0, (("ultrasound", 1),), 2, (3, 4), min_days=1, max_days=3),
    "manual": Service(30, "manual", "treatment", 0, 5, (), 4, (2, 4), min_days=2, max_days=7),
    "needling": Service(30, "needling", "treatment", 5, 5, (), 1, (2, 3), min_days=3, max_days=8),
    "lymph": Service(45, "lymph", "treatment", 0, 10, (), 1, (2, 4), min_hours=20, max_hours=72),
    "exercise": Service(50, "exercise", "gym", 0, 10, (), 3, (2, 4), min_days=1, max_days=4),
}
DIAGNOSIS_FIRST = 0.1  # of the plans: sonography, then shockwave at least 24 h later
SINGLE_SHARE = 0.2  # of the patients: one session only
PROFILES = [
    {"manual", "exercise", "needling"}, {"eswt", "emtt", "manual"}, {"sonography", "eswt", "manual"},
    {"lymph", "manual"}, {"exercise"}, {"manual", "exercise", "lymph"}, {"emtt", "eswt", "exercise"},
    {"manual", "needling", "sonography"},
]
EXTRA_CERTIFICATION = 0.1
SHIFTS = {  # name: weight, (week 1 day, week 2 day) as lists of local spans
    "full time": (0.3, [(8 * 60, 12 * 60 + 30), (13 * 60 + 15, 17 * 60)]),
    "early": (0.15, [(7 * 60 + 30, 12 * 60), (12 * 60 + 30, 15 * 60 + 30)]),
    "late": (0.15, [(11 * 60, 15 * 60), (15 * 60 + 30, 19 * 60 + 30)]),
    "four days": (0.15, [(8 * 60, 12 * 60 + 30), (13 * 60 + 15, 17 * 60)]),
    "part-time mornings": (0.1, [(7 * 60 + 30, 12 * 60 + 30)]),
    "early, then late": (0.15, None),
}
SATURDAY_SHARE, LEAVE_SHARE = 0.25, 0.1
CLINICIAN_MINUTES = 4200  # a clinician's shift minutes in the fortnight, roughly
LOAD = {"loose": 0.5, "normal": 0.75, "tight": 1.1}
FEWEST_CLINICIANS = {"loose": 12, "normal": 12, "tight": 6}
ULTRASOUND_UNITS = {"loose": (3, 3), "normal": (1, 3), "tight": (1, 1)}
NARROW_SHARE = {"loose": 0.2, "normal": 0.5, "tight": 0.8}
DEFAULT_BOOKED = {"loose": 0.8, "normal": 0.8, "tight": 0.6}
NARROW_WINDOWS = [(7 * 60 + 30, 9 * 60 + 30)] * 3 + [(16 * 60 + 30, 19 * 60 + 30)] * 3 + [
    (17 * 60, 19 * 60), (12 * 60, 14 * 60), (8 * 60, 10 * 60 + 30), (10 * 60, 12 * 60)]
WIDE_WINDOWS = [(7 * 60 + 30, 19 * 60 + 30), (8 * 60, 16 * 60), (11 * 60, 19 * 60 + 30), (7 * 60 + 30, 13 * 60),
                (13 * 60, 19 * 60 + 30)]
WORKING_DAYS = [day for day in range(FORTNIGHT.days) if FORTNIGHT.weekday(day) < 6]
CONTINUITY = 0.7  # the front desk offers the plan's previous clinician first
KEEP_CLINICIAN_SHARE = 0.15
SATURATED = 100  # patients in a row the desk could not book a session for: the clinic is full
TEAM_SHARE = 0.1
PRIORITY_WEIGHTS = [1, 2, 3, 2, 1]


def opening_hours(day: int) -> tuple[int, int] | None:
    weekday = FORTNIGHT.weekday(day)
    return None if weekday == 6 else SATURDAY_HOURS if weekday == 5 else WEEKDAY_HOURS


def open_spans() -> Intervals:
    return [FORTNIGHT.span(day, *opening_hours(day)) for day in WORKING_DAYS]


def shift(rng: random.Random, pattern: str) -> Intervals:
    """One clinician's shifts over the fortnight, lunch breaks left out, a Saturday or leave perhaps added."""
    day_off = rng.randrange(5)
    part_time_days = set(rng.sample(range(5), rng.randint(3, 4)))
    spans = []
    for day in WORKING_DAYS:
        weekday, week = FORTNIGHT.weekday(day), day // 7
        if weekday == 5:
            continue
        if pattern == "early, then late":
            pieces = SHIFTS["early" if week == 0 else "late"][1]
        elif (pattern == "four days" and weekday == day_off) or (
                pattern == "part-time mornings" and weekday not in part_time_days):
            continue
        else:
            pieces = SHIFTS[pattern][1]
        spans += [FORTNIGHT.span(day, low, high) for low, high in pieces]
    if rng.random() < SATURDAY_SHARE:
        saturday = rng.choice([day for day in WORKING_DAYS if FORTNIGHT.weekday(day) == 5])
        spans.append(FORTNIGHT.span(saturday, *SATURDAY_HOURS))
    if rng.random() < LEAVE_SHARE:
        first = rng.randrange(len(WORKING_DAYS) - 3)
        away = WORKING_DAYS[first:first + rng.randint(2, 3)]
        spans = [s for s in spans if FORTNIGHT.day_of(s[0]) not in away]
    return normalize(spans)


def mean_minutes() -> float:
    """What one session holds a clinician for, on average over the services' weights (single sessions ignored)."""
    weights = sum(s.weight for s in SERVICES.values())
    return sum(s.weight * (s.before + s.minutes + s.after) for s in SERVICES.values()) / weights


def make_clinic(rng: random.Random, count: int, ultrasound: int) -> tuple[dict[str, SessionKind], dict]:
    certifications = sorted({c for s in SERVICES.values() for c in [s.certification]})
    held = [set(rng.choice(PROFILES)) | {c for c in certifications if rng.random() < EXTRA_CERTIFICATION}
            for _ in range(count)]
    for certification in certifications:  # nobody's only expert: every certification held by two or more
        while sum(certification in h for h in held) < 2:
            rng.choice([h for h in held if certification not in h]).add(certification)
    names = list(SHIFTS)
    patterns = rng.choices(names, [SHIFTS[name][0] for name in names], k=count)
    clinicians = [Candidate(n, f"Therapist {n}", shift(rng, patterns[n - 1])) for n in range(1, count + 1)]
    hours = open_spans()
    rooms = {"treatment": tuple(Candidate(100 + n, f"Treatment room {n}", hours) for n in range(1, 7)),
             "gym": tuple(Candidate(110 + n, f"Gym {n}", hours) for n in range(1, 3))}
    units = {"shockwave": (Candidate(201, "Shockwave", hours, cleaning=10),),
             "emtt": (Candidate(202, "EMTT", hours, cleaning=5),),
             "ultrasound": tuple(Candidate(210 + n, f"Ultrasound {n}", hours, cleaning=5)
                                 for n in range(1, ultrasound + 1))}
    kinds = {code: SessionKind(
        key=code, name=code, count=1, duration=s.minutes, buffer_before=s.before, buffer_after=s.after,
        clinicians=tuple(c for c, h in zip(clinicians, held) if s.certification in h),
        needs_room=True, rooms=rooms[s.room],
        devices=tuple(DevicePool(device, n, units[device]) for device, n in s.devices))
        for code, s in SERVICES.items()}
    facts = {"shift_patterns": {name: patterns.count(name) for name in names if name in patterns},
             "certifications_held": {c: sum(c in h for h in held) for c in certifications},
             "clinician_shift_minutes": sum(e - s for c in clinicians for s, e in c.free),
             "rooms": {"treatment": 6, "gym": 2}, "device_units": {"shockwave": 1, "emtt": 1, "ultrasound": ultrasound},
             "device_cleaning_minutes": {"shockwave": 10, "emtt": 5, "ultrasound": 5}}
    return kinds, facts


@dataclass
class Patient:
    ident: int
    course: list[str]
    days: list[int]
    window: tuple[int, int]
    earliest: int
    priority: int
    narrow: bool

    def starts(self, kind: SessionKind, from_day: int) -> Intervals:
        """Where a session may start: the patient's days from ``from_day``, in the window, while the clinic is open."""
        spans = []
        for day in self.days:
            hours = opening_hours(day)
            low, high = max(self.window[0], hours[0]), min(self.window[1], hours[1])
            if day >= from_day and low < high:
                spans += FORTNIGHT.starts_within(day, low, high, kind.duration)
        return spans


def make_patient(rng: random.Random, ident: int, narrow_share: float) -> Patient:
    codes = list(SERVICES)
    code = rng.choices(codes, [SERVICES[c].weight for c in codes])[0]
    if rng.random() < SINGLE_SHARE:
        course = [code]
    elif rng.random() < DIAGNOSIS_FIRST:
        course = ["sonography"] + ["eswt"] * rng.randint(2, 3)
    else:
        course = [code] * rng.randint(*SERVICES[code].lengths)
    narrow = rng.random() < narrow_share
    weekdays = sorted(rng.sample(range(6), rng.randint(2, 3) if narrow else rng.randint(4, 6)))
    window = rng.choice(NARROW_WINDOWS if narrow else WIDE_WINDOWS)
    earliest = rng.randrange(9) if len(course) > 1 else rng.randrange(12)
    days = [day for day in WORKING_DAYS if FORTNIGHT.weekday(day) in weekdays]
    if len(course) == 1:  # a single request: wanted within 3-9 days of its first day
        days = [day for day in days if day <= earliest + rng.randint(3, 9)]
    priority = rng.choices(range(1, 6), PRIORITY_WEIGHTS)[0]
    return Patient(ident, course, days, window, earliest, priority, narrow)


def spacing_of(earlier: str, later: str) -> Service:
    """The spacing rule between two consecutive sessions: the later service's, or 24 h after a diagnosis."""
    if earlier != later:
        return Service(0, "", "", 0, 0, (), 0, (1, 1), min_hours=24, max_days=7)
    return SERVICES[later]


def book_session(rng: random.Random, ledger: Ledger, patient: Patient, kind: SessionKind, window: Intervals,
                 previous: int | None) -> Placement | None:
    """The front desk's offer: the patient's days in order, a few random times each, a random free clinician."""
    def shuffled(candidates):
        order = list(candidates)
        rng.shuffle(order)
        if previous is not None and rng.random() < CONTINUITY:
            order.sort(key=lambda c: c.id != previous)
        return order

    for low, high in window:
        first = low + (-low) % GRID
        times = list(range(first, high, GRID))
        for start in rng.sample(times, min(6, len(times))):
            placement = ledger.serve(kind, start, patient.ident, shuffled)
            if placement is not None:
                return placement
    return None


def generate(size: int, seed: int, booked_share: float | None = None, capacity: str = "normal",
             clinicians: int | None = None, windows: str | None = None) -> tuple[NightProblem, dict]:
    """A night of ``size`` sessions, ``booked_share`` of them booked (default 80 %, 60 % when tight) if they fit."""
    rng = random.Random(f"pt clinic {seed} {size} {booked_share} {capacity} {clinicians} {windows}")
    share = DEFAULT_BOOKED[capacity] if booked_share is None else booked_share
    booked_goal = round(size * share)
    waiting_goal = size - booked_goal
    demand = size * mean_minutes()
    wanted = round(demand / (CLINICIAN_MINUTES * LOAD[capacity]))
    count = clinicians or min(20, max(FEWEST_CLINICIANS[capacity], wanted))
    ultrasound = rng.randint(*ULTRASOUND_UNITS[capacity])
    narrow_share = {"narrow": 1.0, "wide": 0.0, "mixed": 0.5, None: NARROW_SHARE[capacity]}[windows]
    kinds, facts = make_clinic(rng, count, ultrasound)
    ledger = Ledger()
    booked: list[tuple[int, SessionKind, Placement, bool]] = []
    waiting: list[WaitingSession] = []
    spacings: list[Spacing] = []
    stats = {"patients": 0, "narrow_window_patients": 0, "plans_cut_short": 0, "sessions_the_desk_could_not_book": 0,
             "team_plans": 0, "spacing_in_hours": 0, "spacing_in_days": 0}
    patient_number, idle = 0, 0
    while len(booked) < booked_goal or len(waiting) < waiting_goal:
        patient_number += 1
        patient = make_patient(rng, patient_number, narrow_share)
        need_booked, need_waiting = booked_goal - len(booked), waiting_goal - len(waiting)
        chance = need_booked / (need_booked + need_waiting)
        to_book = min(need_booked, sum(rng.random() < chance for _ in patient.course))
        course = patient.course[:to_book + min(need_waiting, len(patient.course) - to_book)]
        if not course:
            continue
        last: tuple[str, SessionKind, Placement] | None = None  # the plan's last booked session

        def spaced(code: str, window: Intervals) -> Intervals:
            """``window`` less what the spacing after the plan's last booked session rules out."""
            if last is None:
                return window
            rule = spacing_of(last[0], code)
            return intersect(window, [FORTNIGHT.after(last[2].start, last[1].duration, rule.min_days, rule.max_days,
                                                      rule.min_hours, rule.max_hours)])

        mine: list[tuple[int, SessionKind, Placement]] = []
        for code in course[:to_book]:
            kind = kinds[code]
            window = spaced(code, patient.starts(kind, patient.earliest))
            placement = book_session(rng, ledger, patient, kind, window, last and last[2].clinician)
            if placement is None:
                stats["sessions_the_desk_could_not_book"] += 1
                break
            ledger.take_session(patient.ident, kind, placement)
            mine.append((patient.ident, kind, placement))
            last = (code, kind, placement)
        if to_book:
            idle = 0 if mine else idle + 1
        if idle > SATURATED:  # the clinic is full: what is left of the night waits
            booked_goal, waiting_goal = len(booked), size - len(booked)
            stats["booked_share_cut_to"] = round(len(booked) / size, 3)
        if patient_number > 50 * size + 1000:
            raise RuntimeError(f"pt clinic: no night of {size} sessions after {patient_number} patients")
        keep = len(mine) > 1 and len({p.clinician for _, _, p in mine}) == 1 and rng.random() < KEEP_CLINICIAN_SHARE
        booked += [(who, kind, placement, keep) for who, kind, placement in mine]
        rest = course[len(mine):][:waiting_goal - len(waiting)]
        if len(rest) < len(course) - len(mine):
            stats["plans_cut_short"] += 1
        team = f"plan of patient {patient.ident}" if len(rest) > 1 and rng.random() < TEAM_SHARE else None
        keys: list[str] = []
        for n, code in enumerate(rest):
            kind = kinds[code]
            window = patient.starts(kind, patient.earliest)
            if not keys:
                window = spaced(code, window)
            if not window:
                break
            key = f"patient {patient.ident} {code} #{len(mine) + n + 1}"
            waiting.append(WaitingSession(key, patient.ident, kind, window, patient.priority, team))
            if keys:
                rule = spacing_of(course[len(mine) + n - 1], code)
                spacings.append(Spacing(keys[-1], key, rule.min_days, rule.max_days, rule.min_hours, rule.max_hours))
                stats["spacing_in_hours" if rule.min_hours or rule.max_hours else "spacing_in_days"] += 1
            keys.append(key)
        stats["team_plans"] += team is not None and len(keys) > 1
        if mine or keys:
            stats["patients"] += 1
            stats["narrow_window_patients"] += patient.narrow
    ordered = sorted(booked, key=lambda b: (b[2].start, b[0]))
    sessions = tuple(BookedSession(n, who, kind, placement.start, Placement(str(n), 0, placement.start,
                                                                              placement.clinician, placement.room,
                                                                              placement.devices), keep_clinician=keep)
                     for n, (who, kind, placement, keep) in enumerate(ordered, start=1))
    problem = NightProblem(booked=sessions, waiting=tuple(waiting), spacings=tuple(spacings),
                           day_starts=FORTNIGHT.day_starts, grid=GRID, grid_origin=0)
    facts = {"clinicians": count, **facts, "grid": GRID, "zone": FORTNIGHT.zone, "first_day": str(FORTNIGHT.first),
             "narrow_window_share": narrow_share, "demand_over_shift_minutes": round(demand / facts[
                 "clinician_shift_minutes"], 3), "keep_clinician_sessions": sum(b[3] for b in booked), **stats}
    return problem, facts
