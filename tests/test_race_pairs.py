"""Every pair of front-desk writes, racing on one appointment or slot, ends in a state one order explains.

The operations are the ways the clinic's schedule is written: a hold, booking a
hold, booking a slot directly, releasing a hold, cancelling (which offers the
freed time to a waiting patient), rescheduling, check-in, no-show, FHIR create
and update (book a pending one, cancel, move to another time and clinician), Argonaut's
$book rescheduling (cancel and book anew), a visitor's public request, the front
desk confirming or declining a request, and a patient asking to move a session.
For every pair of them (an operation with itself too: a double click) a round
prepares a fresh stage (a free slot, a hold, a booking, a session under way, a
visitor's request or a patient's move request; with a waiting patient on the
waitlist every other round) and sends the two requests at the same instant,
one to each of two `clinic serve` processes on one PostgreSQL database (both
to one process on SQLite).

A small model of the stage says what each operation does when it runs first or
second. The round is correct when one of the two orders explains both answers
(2xx for what the model lets through, 409 or 410 for what it refuses) and the
database afterwards: the appointment's status and time, the request's and the
waitlist entry's status, the appointments the round created, and the number of
audit entries of each. So a 2xx whose effect was undone by the other request
(a lost update), two successes where one must lose (a double-clicked cancel),
an audit entry or a waitlist offer too many, or a change without a 2xx, all
fail the round. No answer may be a 5xx. Finally the schedule's invariants are
audited in SQL (tests/invariants.py). One thing the model leaves open: whether
a cancellation through FHIR offers the freed time to the waitlist (REST does).

17 operations give 153 pairs; each pair runs 3 rounds on PostgreSQL and 2 on
SQLite, whose single process serializes the writes anyway (the rounds of a
pair take turns over the stages both operations can act on, those either is
most at home in first; 5 and 3 rounds cost CI more than a minute more).

All rounds are prepared in the database before the servers start; each uses
its own times of one round-the-clock clinician, so rounds run a few at a time
without touching each other. Nothing asserts on timing.
"""

import itertools
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session, func, select

from data.config import Settings
from data.db import make_engine, session_scope
from data.enums import AppointmentStatus, Certification, RequestKind, ResourceKind, RoomKind
from data.tables import (
    Allocation,
    Appointment,
    AuditEntry,
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
    User,
    VisitRequest,
    WaitlistRequest,
)
from scheduler import booking, visit_requests, waitlist
from tests.clinic_world import NY
from tests.invariants import OCCUPYING, schedule_violations
from tests.servers import Server
from tests.test_races import Answer, fire_together, prepare_clinic, sign_in, start_server  # noqa: F401 (fixture)

ROUNDS = {"postgresql": 3, "sqlite": 2}  # per pair; one SQLite process serializes, so fewer rounds tell as much
LANES = 4  # rounds in flight at once; each touches only its own times
SLOT_MINUTES = 15
FIRST_DAY, LAST_DAY = 2, 13  # days from today: past the minimum notice, within the public horizon
RACE_SETTINGS = {
    "public_office_service": "r_emtt",
    "hold_minutes": 600,
    "requests_per_address_hour": 100_000,
    "requests_per_contact_day": 100_000,
    "public_hold_share": 0.5,
}
REFUSED = frozenset({409, 410})


class Stage(StrEnum):
    FREE = "a free slot"
    HELD = "a desk's hold"
    BOOKED = "a booking"
    UNDER_WAY = "a session under way"
    REQUESTED = "a visitor's request"
    MOVE_REQUESTED = "a patient's move request"


@dataclass(frozen=True)
class State:
    """What a round's writes can change, as the model and the database both describe it.

    ``a``/``a_at``: the stage's appointment and which of the round's times it is at (T, T2 or T3);
    ``h``: the move request's hold (at T3); ``r``: the request's status; ``w``: the waitlist entry's;
    ``new``: (kind, status, time) of each appointment the round created; ``audit_*``: audit entries of each.
    """

    a: str | None = None
    a_at: str | None = None
    h: str | None = None
    r: str | None = None
    w: str | None = None
    new: tuple[tuple[str, str, str], ...] = ()
    audit_a: int = 0
    audit_h: int = 0
    audit_new: int = 0

    def created(self, kind: str, status: str, at: str) -> "State":
        return replace(self, new=tuple(sorted((*self.new, (kind, status, at)))), audit_new=self.audit_new + 1)


@dataclass
class Round:
    """One race: the stage prepared in the database and the two operations sent at it."""

    number: int
    pair: tuple[str, str]
    stage: Stage
    t: datetime
    t2: datetime | None = None
    t3: datetime | None = None
    a: int | None = None
    h: int | None = None
    r: int | None = None
    w: int | None = None
    patient: int | None = None
    clinician: int | None = None
    location: int | None = None
    link: str | None = None
    newcomers: tuple[int, int] = (0, 0)
    before: State = field(default_factory=State)
    answers: list[Answer] = field(default_factory=list)

    @property
    def slot_in_future(self) -> bool:
        return self.stage != Stage.UNDER_WAY

    def at(self, moment: datetime) -> str:
        return {self.t: "T", self.t2: "T2", self.t3: "T3"}.get(moment, "elsewhere")


# --- the model --------------------------------------------------------------------------------


Outcomes = list[tuple[bool, State]]


def _occupied(state: State, at: str) -> bool:
    return ((state.a in OCCUPYING and state.a_at == at) or (at == "T3" and state.h in OCCUPYING)
            or any(status in OCCUPYING and where == at for _, status, where in state.new))


def _request_holds_a(state: State, race: Round) -> bool:
    """The appointment is a waiting visitor's hold: it changes only by confirming or declining the request."""
    return race.stage == Stage.REQUESTED and state.r == "requested" and state.a == "pending"


def _started(state: State, race: Round) -> bool:
    return state.a_at == "T" and not race.slot_in_future


def _create(kind: str, status: str) -> Callable[[State, Round], Outcomes]:
    def effect(state: State, race: Round) -> Outcomes:
        if not race.slot_in_future or _occupied(state, "T"):
            return [(False, state)]
        return [(True, state.created(kind, status, "T"))]
    return effect


def _book_hold(state: State, race: Round) -> Outcomes:
    if state.a != "pending" or _request_holds_a(state, race):
        return [(False, state)]
    return [(True, replace(state, a="booked", audit_a=state.audit_a + 1))]


def _fhir_book(state: State, race: Round) -> Outcomes:
    return [(True, state)] if state.a == "booked" else _book_hold(state, race)


def _release(state: State, race: Round) -> Outcomes:
    if state.a != "pending" or _request_holds_a(state, race):
        return [(False, state)]
    return [(True, replace(state, a="cancelled", audit_a=state.audit_a + 1))]


def _cancel(state: State, race: Round) -> Outcomes:
    """A booked session's waiting move requests are withdrawn (declined, holds freed); its time goes to the waitlist."""
    if state.a not in ("pending", "booked") or _request_holds_a(state, race):
        return [(False, state)]
    done = replace(state, a="cancelled", audit_a=state.audit_a + 1)
    if state.a != "booked":
        return [(True, done)]
    if race.stage == Stage.MOVE_REQUESTED and state.r == "requested" and state.h == "pending":
        done = replace(done, r="declined", h="cancelled", audit_h=done.audit_h + 1)
    moves = sum(1 for kind, status, _ in done.new if kind == "move" and status == "pending")
    done = replace(done, audit_new=done.audit_new + moves, new=tuple(sorted(
        (kind, "cancelled" if kind == "move" and status == "pending" else status, at) for kind, status, at in done.new)))
    return [(True, _offered(state, done, race))]


def _offered(before: State, after: State, race: Round) -> State:
    """A booked session leaving T (cancelled or moved) offers T to the waiting patient, if T is still to come."""
    if before.w == "waiting" and before.a_at == "T" and race.slot_in_future:
        return replace(after.created("offer", "pending", "T"), w="offered")
    return after


def _fhir_cancel(state: State, race: Round) -> Outcomes:
    """Through FHIR a cancelled one stays as it is (200); otherwise the same cancellation as the REST one."""
    return [(True, state)] if state.a == "cancelled" else _cancel(state, race)


def _reschedule(state: State, race: Round) -> Outcomes:
    """Moved to T2 with the round's clinician; the time it let go is offered to the waitlist, as a cancellation's
    is. Already there (moved by the other request), nothing is written. A session under way is not moved: its
    walk-in clinician has no shift at T2."""
    if state.a != "booked" or race.stage == Stage.UNDER_WAY or (state.a_at != "T2" and _occupied(state, "T2")):
        return [(False, state)]
    if state.a_at == "T2":
        return [(True, state)]
    return [(True, _offered(state, replace(state, a_at="T2", audit_a=state.audit_a + 1), race))]


def _rebook(state: State, race: Round) -> Outcomes:
    """Argonaut's reschedule: the booked session cancelled (as a cancel does) and a new one booked at T2, or,
    when T2 is taken once the old session is freed, nothing at all."""
    if state.a != "booked":
        return [(False, state)]
    outcomes = []
    for allowed, cancelled in _cancel(state, race):
        if not allowed or _occupied(cancelled, "T2"):
            outcomes.append((False, state))
        else:
            outcomes.append((True, cancelled.created("desk", "booked", "T2")))
    return outcomes


def _attendance(status: str) -> Callable[[State, Round], Outcomes]:
    """Check-in and no-show: only a booked session that has started (check-in opens two hours before)."""
    def effect(state: State, race: Round) -> Outcomes:
        if state.a != "booked" or not _started(state, race):
            return [(False, state)]
        return [(True, replace(state, a=status, audit_a=state.audit_a + 1))]
    return effect


def _confirm(state: State, race: Round) -> Outcomes:
    """A visitor's hold becomes the booking; a patient's move takes the request's hold, and the time it let go is
    offered to the waitlist, as the desk's move's is."""
    if state.r != "requested":
        return [(False, state)]
    if race.stage == Stage.REQUESTED:
        if state.a != "pending":
            return [(False, state)]
        return [(True, replace(state, r="confirmed", a="booked", audit_a=state.audit_a + 1))]
    if state.h != "pending" or state.a != "booked":
        return [(False, state)]
    moved = replace(state, r="confirmed", h="cancelled", a_at="T3", audit_h=state.audit_h + 1,
                    audit_a=state.audit_a + 1)
    return [(True, _offered(state, moved, race))]


def _decline(state: State, race: Round) -> Outcomes:
    if state.r != "requested":
        return [(False, state)]
    if race.stage == Stage.REQUESTED:
        if state.a != "pending":
            return [(False, state)]
        return [(True, replace(state, r="declined", a="cancelled", audit_a=state.audit_a + 1))]
    if state.h != "pending":
        return [(False, state)]
    return [(True, replace(state, r="declined", h="cancelled", audit_h=state.audit_h + 1))]


def _ask_to_move(state: State, race: Round) -> Outcomes:
    """One open move per session, to a free time, of an upcoming booked session."""
    open_move = ((race.stage == Stage.MOVE_REQUESTED and state.r == "requested" and state.h == "pending")
                 or any(kind == "move" and status == "pending" for kind, status, _ in state.new))
    if state.a != "booked" or _started(state, race) or open_move or _occupied(state, "T2"):
        return [(False, state)]
    return [(True, state.created("move", "pending", "T2"))]


# --- the requests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where the requests go and what they carry: the servers' addresses, the desk's token, the race's ids."""

    base: str
    desk: dict[str, str]
    service: int
    race_desk: int
    rota: int


def _fhir_participants(patient: int) -> list[dict]:
    return [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}]


def _api(method: str, path: str, body: Callable[[Round, Target, int], dict] | None = None):
    def build(race: Round, to: Target, nth: int) -> httpx.Request:
        payload = body(race, to, nth) if body else None
        return httpx.Request(method, f"{to.base}{path.format(race=race)}", json=payload, headers=to.desk)
    return build


def _desk_slot(race: Round, to: Target, nth: int) -> dict:
    return {"service_id": to.service, "patient_id": race.newcomers[nth], "start": race.t.isoformat(),
            "clinician_id": race.clinician}


def _fhir_create(race: Round, to: Target, nth: int) -> httpx.Request:
    minute = int(race.t.timestamp()) // 60
    body = {"resourceType": "Appointment", "status": "booked",
            "slot": [{"reference": f"Slot/s{to.service}-l{race.location}-c{race.clinician}-t{minute}"}],
            "participant": _fhir_participants(race.newcomers[nth])}
    return httpx.Request("POST", f"{to.base}/fhir/Appointment", json=body, headers=to.desk)


def _fhir_update(status: str):
    def build(race: Round, to: Target, nth: int) -> httpx.Request:
        body = {"resourceType": "Appointment", "id": str(race.a), "status": status,
                "participant": _fhir_participants(race.patient)}
        if status == "cancelled":
            body["cancelationReason"] = {"text": "cancelled by the race"}
        return httpx.Request("PUT", f"{to.base}/fhir/Appointment/{race.a}", json=body, headers=to.desk)
    return build


def _fhir_move_request(race: Round, to: Target, nth: int) -> httpx.Request:
    """A FHIR update that moves the booked session to T2 with the round's clinician, as the REST reschedule does."""
    body = {"resourceType": "Appointment", "id": str(race.a), "status": "booked", "start": race.t2.isoformat(),
            "participant": [*_fhir_participants(race.patient),
                            {"actor": {"reference": f"Practitioner/{race.clinician}"}, "status": "accepted"}]}
    return httpx.Request("PUT", f"{to.base}/fhir/Appointment/{race.a}", json=body, headers=to.desk)


def _argonaut_rebook(race: Round, to: Target, nth: int) -> httpx.Request:
    minute = int(race.t2.timestamp()) // 60
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "appt-id", "valueUri": f"Appointment/proposed-s{to.service}-l{to.race_desk}-c{to.rota}-t{minute}"},
        {"name": "cancelled-appt-id", "valueUri": f"Appointment/{race.a}"}]}
    return httpx.Request("POST", f"{to.base}/fhir/Appointment/$book", json=body, headers=to.desk)


def _visitor_address(race: Round, nth: int) -> dict[str, str]:
    """Each visitor calls from an address of their own (the servers trust the loopback proxy's header)."""
    return {"X-Forwarded-For": f"10.{race.number // 250}.{race.number % 250}.{nth + 1}"}


def _public_request(race: Round, to: Target, nth: int) -> httpx.Request:
    body = {"kind": "in_office", "location_id": race.location, "start": race.t.isoformat(), "given_name": "Vera",
            "family_name": f"Racer{race.number}x{nth}", "birth_date": "1990-04-02",
            "email": f"vera.{race.number}.{nth}@example.com"}
    return httpx.Request("POST", f"{to.base}/api/v1/public/requests", json=body, headers=_visitor_address(race, nth))


def _move_request(race: Round, to: Target, nth: int) -> httpx.Request:
    body = {"appointment_id": race.a, "location_id": to.race_desk, "start": race.t2.isoformat()}
    return httpx.Request("POST", f"{to.base}/api/v1/public/patients/{race.link}/moves", json=body,
                         headers=_visitor_address(race, nth))


@dataclass(frozen=True)
class Operation:
    """A write: what it needs from a stage, the stages it is most at home in, its request and its effect."""

    needs: str  # "slot", "appointment" or "request"
    stages: tuple[Stage, ...]
    request: Callable[[Round, Target, int], httpx.Request]
    effect: Callable[[State, Round], Outcomes]


ON_SLOT, ON_HOLD, ON_BOOKING = (Stage.FREE,), (Stage.HELD,), (Stage.BOOKED, Stage.HELD)
OPERATIONS = {
    "hold": Operation("slot", ON_SLOT, _api("POST", "/api/v1/holds", _desk_slot), _create("desk", "pending")),
    "book hold": Operation("appointment", ON_HOLD, _api("POST", "/api/v1/appointments",
                                                        lambda race, to, nth: {"hold_id": race.a}), _book_hold),
    "book slot": Operation("slot", ON_SLOT, _api("POST", "/api/v1/appointments", _desk_slot),
                           _create("desk", "booked")),
    "release": Operation("appointment", ON_HOLD, _api("DELETE", "/api/v1/holds/{race.a}"), _release),
    "cancel": Operation("appointment", ON_BOOKING, _api("POST", "/api/v1/appointments/{race.a}/cancel",
                                                        lambda race, to, nth: {"reason": "patient is ill"}), _cancel),
    "reschedule": Operation("appointment", (Stage.BOOKED,), _api(
        "POST", "/api/v1/appointments/{race.a}/reschedule",
        lambda race, to, nth: {"start": race.t2.isoformat(), "clinician_id": race.clinician}), _reschedule),
    "check-in": Operation("appointment", (Stage.UNDER_WAY,), _api("POST", "/api/v1/appointments/{race.a}/check-in"),
                          _attendance("arrived")),
    "no-show": Operation("appointment", (Stage.UNDER_WAY,), _api("POST", "/api/v1/appointments/{race.a}/no-show"),
                         _attendance("noshow")),
    "FHIR create": Operation("slot", ON_SLOT, _fhir_create, _create("desk", "booked")),
    "FHIR book": Operation("appointment", ON_HOLD, _fhir_update("booked"), _fhir_book),
    "FHIR cancel": Operation("appointment", ON_BOOKING, _fhir_update("cancelled"), _fhir_cancel),
    "FHIR move": Operation("appointment", (Stage.BOOKED,), _fhir_move_request, _reschedule),
    "Argonaut reschedule": Operation("appointment", (Stage.BOOKED,), _argonaut_rebook, _rebook),
    "public request": Operation("slot", ON_SLOT, _public_request, _create("visit", "pending")),
    "confirm": Operation("request", (Stage.REQUESTED, Stage.MOVE_REQUESTED), _api(
        "POST", "/api/v1/visit-requests/{race.r}/confirm", lambda race, to, nth: {}), _confirm),
    "decline": Operation("request", (Stage.REQUESTED, Stage.MOVE_REQUESTED), _api(
        "POST", "/api/v1/visit-requests/{race.r}/decline", lambda race, to, nth: {"reason": "no longer needed"}),
        _decline),
    "move request": Operation("appointment", (Stage.BOOKED,), _move_request, _ask_to_move),
}
PAIRS = list(itertools.combinations_with_replacement(OPERATIONS, 2))
NEEDS = {"slot": set(Stage), "appointment": set(Stage) - {Stage.FREE},
         "request": {Stage.REQUESTED, Stage.MOVE_REQUESTED}}


def stages_for(pair: tuple[str, str]) -> list[Stage]:
    """The stages both operations can act on, those either is most at home in first; rounds take turns."""
    possible = NEEDS[OPERATIONS[pair[0]].needs] & NEEDS[OPERATIONS[pair[1]].needs]
    preferred = [s for s in Stage if s in possible and any(s in OPERATIONS[o].stages for o in pair)]
    return preferred or [s for s in Stage if s in possible]


def explanations(race: Round, oks: tuple[bool, bool]) -> list[State]:
    """The end states of the orders whose model answers are the answers given."""
    ends = []
    for first, second in ((0, 1), (1, 0)):
        for ok_first, middle in OPERATIONS[race.pair[first]].effect(race.before, race):
            if ok_first != oks[first]:
                continue
            ends += [end for ok_second, end in OPERATIONS[race.pair[second]].effect(middle, race)
                     if ok_second == oks[second]]
    return ends


# --- the stages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RaceDesk:
    location: int
    rota: int
    service: int
    walk_in_desk: int
    walk_in_clinicians: list[int]


def open_race_desk(session: Session, walk_ins: int) -> RaceDesk:
    """A round-the-clock desk where only Rota gives 15-minute EMTT sessions (one unit, one room), and a walk-in
    desk whose clinicians have sessions under way now."""
    always = [(d, time(0), time(23, 59)) for d in range(7)]
    desk = Location(name="Race desk", time_zone="America/New_York",
                    opening_hours=[LocationHours(weekday=d, starts=s, ends=e) for d, s, e in always])
    walk_in = Location(name="Walk-in desk", time_zone="America/New_York")
    unit_type = DeviceType(code="r_emtt", name="EMTT")
    session.add_all([desk, walk_in, unit_type])
    session.flush()
    rota = Clinician(name="Rota", location_id=desk.id,
                     certification_links=[ClinicianCertification(certification=Certification.EMTT)],
                     shifts=[ClinicianShift(weekday=d, starts=s, ends=e) for d, s, e in always])
    walk_ins = [Clinician(name=f"Walk-in {n}", location_id=walk_in.id) for n in range(walk_ins)]
    service = Service(code="r_emtt", name="EMTT session", duration_minutes=SLOT_MINUTES,
                      required_certification=Certification.EMTT, room_kind=RoomKind.TREATMENT,
                      device_needs=[ServiceDevice(device_type_id=unit_type.id, count=1)])
    session.add_all([rota, *walk_ins, service,
                     Device(name="EMTT unit", device_type_id=unit_type.id, location_id=desk.id, cleaning_minutes=0),
                     Room(name="EMTT room", kind=RoomKind.TREATMENT, location_id=desk.id)])
    session.flush()
    return RaceDesk(desk.id, rota.id, service.id, walk_in.id, [c.id for c in walk_ins])


def race_times(now: datetime) -> list[datetime]:
    """Start times of Rota's sessions, each used once, spread over the days so no day fills up."""
    today = now.astimezone(NY).date()
    per_day = []
    for offset in range(FIRST_DAY, LAST_DAY + 1):
        midnight = datetime.combine(today + timedelta(days=offset), time(0), tzinfo=NY).astimezone(UTC)
        starts = [midnight + timedelta(minutes=SLOT_MINUTES * n) for n in range(24 * 60 // SLOT_MINUTES)]
        day = midnight.astimezone(NY).date()  # Rota's shift ends at 23:59: the last session ends at 23:45
        per_day.append([s for s in starts if (s + timedelta(minutes=SLOT_MINUTES)).astimezone(NY).date() == day])
    return [start for column in itertools.zip_longest(*per_day) for start in column if start is not None]


def plan_rounds(now: datetime, rounds_per_pair: int) -> list[Round]:
    times = iter(race_times(now))
    rounds = []
    for pair in PAIRS:
        stages = stages_for(pair)
        for n in range(rounds_per_pair):
            stage = stages[n % len(stages)]
            race = Round(len(rounds), pair, stage, t=now if stage == Stage.UNDER_WAY else next(times))
            if {"reschedule", "FHIR move", "Argonaut reschedule", "move request"} & set(pair):
                race.t2 = next(times)
            if stage == Stage.MOVE_REQUESTED:
                race.t3 = next(times)
            rounds.append(race)
    return rounds


def stage_rounds(session: Session, rounds: list[Round], desk: RaceDesk, *, now: datetime,
                 settings: Settings) -> None:
    """Put every round's stage in the database, through the booking code (a session under way directly)."""
    clerk = session.exec(select(User).where(User.username == "desk")).one()
    walk_ins = iter(desk.walk_in_clinicians)
    patients = iter(session.exec(select(Patient.id).where(Patient.family_name == "Race").order_by(Patient.id)))
    for race in rounds:
        race.location, race.clinician = desk.location, desk.rota
        race.patient, race.newcomers = next(patients), (next(patients), next(patients))
        choice = booking.SlotChoice(desk.service, race.patient, race.t, desk.rota)
        if race.stage == Stage.HELD:
            race.a = booking.place_hold(session, actor=clerk, choice=choice, minutes=24 * 60, now=now,
                                        settings=settings).id
        elif race.stage in (Stage.BOOKED, Stage.MOVE_REQUESTED):
            race.a = booking.book(session, actor=clerk, choice=choice, now=now, settings=settings).id
        elif race.stage == Stage.UNDER_WAY:
            race.location, race.clinician = desk.walk_in_desk, next(walk_ins)
            race.t = now.replace(minute=now.minute // SLOT_MINUTES * SLOT_MINUTES, second=0, microsecond=0)
            race.a = _under_way(session, race, desk.service, clerk)
        elif race.stage == Stage.REQUESTED:
            visitor = visit_requests.Visitor("Nora", f"Racer{race.number}", date(1990, 4, 2), None,
                                             f"nora.{race.number}@example.com")
            request, _ = visit_requests.request_visit(
                session, kind=RequestKind.IN_OFFICE, location_id=desk.location, start=race.t, visitor=visitor,
                reason="", client_key=f"setup-{race.number}", now=now, settings=settings)
            race.r, race.a = request.id, request.hold_id
            race.patient = request.patient_id
        if race.stage != Stage.FREE:
            race.link = visit_requests.issue_link(session, patient_id=race.patient, now=now)
        if race.stage == Stage.MOVE_REQUESTED:
            request, _ = visit_requests.request_move(
                session, token=race.link, appointment_id=race.a, location_id=desk.location, start=race.t3,
                client_key=f"setup-{race.number}", now=now, settings=settings)
            race.r, race.h = request.id, request.hold_id
        if race.number % 2 == 0 and race.slot_in_future:
            local = race.t.astimezone(NY)
            race.w = waitlist.add_request(session, actor=clerk, now=now, values={
                "patient_id": next(patients), "service_id": desk.service, "earliest_day": local.date(),
                "latest_day": local.date(), "earliest_time": local.time(),
                "latest_time": (local + timedelta(minutes=SLOT_MINUTES)).time(), "priority": 3}).id
        session.flush()


def _under_way(session: Session, race: Round, service: int, clerk: User) -> int:
    """A booked session that has just started, written directly (no booking starts in the past)."""
    end = race.t + timedelta(minutes=SLOT_MINUTES)
    appointment = Appointment(
        location_id=race.location, service_id=service, patient_id=race.patient, starts_at=race.t, ends_at=end,
        status=AppointmentStatus.BOOKED, created_by_id=clerk.id, created_at=race.t, updated_at=race.t,
        allocations=[Allocation(resource_kind=kind, resource_id=ident, starts_at=race.t, ends_at=end)
                     for kind, ident in ((ResourceKind.CLINICIAN, race.clinician),
                                         (ResourceKind.PATIENT, race.patient))])
    session.add(appointment)
    session.flush()
    return appointment.id


# --- what the database says -------------------------------------------------------------------


@dataclass
class Snapshot:
    appointments: dict[int, tuple[str, datetime]]
    requests: dict[int, str]
    request_holds: dict[int, str]
    waitlist: dict[int, str]
    offers: set[int]
    audit: Counter

    @classmethod
    def read(cls, url: str) -> "Snapshot":
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                return cls(
                    {i: (s.value, t) for i, s, t in session.exec(select(Appointment.id, Appointment.status,
                                                                       Appointment.starts_at))},
                    {i: s.value for i, s in session.exec(select(VisitRequest.id, VisitRequest.status))},
                    {h: k.value for h, k in session.exec(select(VisitRequest.hold_id, VisitRequest.kind))},
                    {i: s.value for i, s in session.exec(select(WaitlistRequest.id, WaitlistRequest.status))},
                    set(session.exec(select(WaitlistRequest.appointment_id)
                                     .where(WaitlistRequest.appointment_id.is_not(None)))),
                    Counter(dict(session.exec(select(AuditEntry.appointment_id, func.count())
                                              .group_by(AuditEntry.appointment_id)).all())),
                )
        finally:
            engine.dispose()

    def state(self, race: Round, staged: set[int]) -> State:
        def kind(ident: int) -> str:
            if ident in self.offers:
                return "offer"
            return {"in_office": "visit", "move": "move"}.get(self.request_holds.get(ident), "desk")

        times = {race.t, race.t2, race.t3} - {None}
        new = [i for i, (_, start) in self.appointments.items() if start in times and i not in staged]
        a_status, a_start = self.appointments[race.a] if race.a else (None, None)
        return State(
            a=a_status, a_at=race.at(a_start) if race.a else None,
            h=self.appointments[race.h][0] if race.h else None,
            r=self.requests[race.r] if race.r else None,
            w=self.waitlist[race.w] if race.w else None,
            new=tuple(sorted((kind(i), self.appointments[i][0], race.at(self.appointments[i][1])) for i in new)),
            audit_a=self.audit[race.a] if race.a else 0, audit_h=self.audit[race.h] if race.h else 0,
            audit_new=sum(self.audit[i] for i in new),
        )


# --- the suite --------------------------------------------------------------------------------


def run_rounds(url: str, servers: list[Callable[[str], Server]]) -> None:
    now = datetime.now(UTC)
    rounds = plan_rounds(now, ROUNDS[make_url(url).get_backend_name()])
    prepare_clinic(url, patients=4 * len(rounds))
    settings = Settings(database_url=url, **RACE_SETTINGS)
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            desk = open_race_desk(session, walk_ins=sum(r.stage == Stage.UNDER_WAY for r in rounds))
            stage_rounds(session, rounds, desk, now=now, settings=settings)
    finally:
        engine.dispose()
    staged = Snapshot.read(url)
    for race in rounds:
        race.before = staged.state(race, set(staged.appointments))

    started = [serve(url) for serve in servers]
    targets = [Target(s.base_url, sign_in(s), desk.service, desk.location, desk.rota) for s in started]

    def run(race: Round) -> None:
        ends = [targets[(n + race.number) % len(targets)] for n in range(2)]  # one to each server, in turn
        race.answers = fire_together([OPERATIONS[name].request(race, to, n)
                                      for n, (name, to) in enumerate(zip(race.pair, ends, strict=True))])

    with ThreadPoolExecutor(max_workers=LANES) as lanes:
        list(lanes.map(run, rounds))

    final = Snapshot.read(url)
    staged_ids = set(staged.appointments)
    failures = []
    for race in rounds:
        statuses = [answer.status for answer in race.answers]
        stored = final.state(race, staged_ids)
        ends = explanations(race, tuple(200 <= status < 300 for status in statuses))
        if stored not in ends or any(not 200 <= s < 300 and s not in REFUSED for s in statuses):
            failures.append(describe(race, stored, ends))
    server_errors = Counter(race.pair for race in rounds if any(a.status >= 500 for a in race.answers))
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            broken = schedule_violations(connection, now=datetime.now(UTC))
    finally:
        engine.dispose()
    assert not failures and not broken, (
        f"{len(failures)} of {len(rounds)} rounds are explained by no order of their two writes; 5xx in pairs "
        f"{dict(server_errors)}; {len(broken)} broken invariants:\n" + "\n".join(broken[:20] + failures[:40]))


def describe(race: Round, stored: State, ends: list[State]) -> str:
    """A failed round: the answers (a refusal must be 409 or 410), the state before and after, what would explain it."""
    said = "; ".join(f"{name} -> {answer.status} {str(answer.body)[:160]}"
                     for name, answer in zip(race.pair, race.answers, strict=True))
    return (f"round {race.number} on {race.stage.value}: {said}\n    from {race.before}\n    stored {stored}\n"
            f"    an order would leave one of {ends or 'nothing (no order gives these answers)'}")


def test_every_pair_of_writes_on_sqlite_with_one_server(start_server, tmp_path):
    """One process on SQLite: its write transactions are serialized; the answers must still tell the truth."""
    run_rounds(f"sqlite:///{tmp_path / 'pairs.db'}", [_serve(start_server)])


@pytest.mark.postgres
def test_every_pair_of_writes_on_postgres_with_two_servers(start_server, postgres_databases):
    """Two processes on one PostgreSQL database: only row locks and constraints keep the writes apart."""
    run_rounds(postgres_databases(), [_serve(start_server), _serve(start_server)])


def _serve(start_server) -> Callable[[str], Server]:
    return lambda url: start_server(url, **{f"CLINIC_{name.upper()}": str(value)
                                            for name, value in RACE_SETTINGS.items()})
