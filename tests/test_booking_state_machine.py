"""A random front desk, one request at a time, under a clock that jumps: every answer is the one a model predicts.

Hypothesis drives the booking API (searches, holds, bookings of holds and of
slots, releases, cancellations with their waitlist offers, reschedules,
check-ins, completions, no-shows, waitlist entries added and closed) while the
app's clock moves on by random steps, often past a hold's expiry or a
session's start. A plain model of the telehealth sessions of Dana, Max and Eli
(who works, who is busy when, which hold has lapsed) predicts each answer's
status code; after every step the stored appointments, waitlist entries and
audit entries must be the model's, and the schedule's invariants must hold
(tests/invariants.py). No answer may be a 5xx.

Lapsed holds are cancelled by whichever write sweeps next; the model learns
from the database whether that has happened (a sweep is an implementation
detail), then checks it happened only to lapsed holds, once, with its audit entry.
Every example runs in a transaction of its own that is rolled back afterwards.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import Session, func, select

from api.deps import get_now, get_session
from data.enums import ResourceKind, Role
from data.tables import Allocation, Appointment, AuditEntry, User, WaitlistRequest
from scheduler.booking import CHECK_IN_OPENS, HOLD_EXPIRED
from tests.clinic_world import NOW, NY, at, build_world
from tests.conftest import bearer
from tests.factories import API
from tests.invariants import OCCUPYING, schedule_violations

SESSION = timedelta(minutes=30)  # telehealth
STARTS = [at(day, hour, minute) for day in (1, 2) for hour, minute in ((9, 0), (9, 15), (9, 30), (11, 30), (12, 0),
                                                                         (15, 30))]
STEPS = [1, 5, 9, 10, 11, 29, 31, 60, 121, 240]
WORKS = {  # local working hours on Monday 1 and Tuesday 2 March (clinic_world), breaks cut out
    "Dana": [(time(8), time(12)), (time(12, 30), time(16))],
    "Max": [(time(8), time(16))],
    "Eli": [(time(12), time(20))],
}
WAITS_FROM, WAITS_UNTIL = time(8), time(16)  # the waitlist entries' daily window, on both days
CLINICIANS = st.sampled_from(sorted(WORKS))
BOOKINGS = st.tuples(st.integers(0, 2), CLINICIANS, st.sampled_from(STARTS))


@dataclass
class Visit:
    """The model of one appointment or hold of a telehealth session."""

    ident: int
    patient: int
    clinician: int
    start: datetime
    status: str
    expires: datetime | None = None
    audit: int = 1


@dataclass
class Wait:
    ident: int
    patient: int
    priority: int
    status: str = "waiting"
    offer: int | None = None


@dataclass
class Model:
    clinicians: dict[str, int]
    notice: timedelta
    now: datetime = NOW
    sessions: dict[int, Visit] = field(default_factory=dict)
    waits: dict[int, Wait] = field(default_factory=dict)

    def lapsed(self, one: Visit) -> bool:
        return one.status == "pending" and one.expires <= self.now

    def occupying(self, one: Visit) -> bool:
        return one.status in OCCUPYING and not self.lapsed(one)

    def free(self, name: str, patient: int | None, start: datetime, ignore: int | None = None) -> bool:
        """Could the desk book this start: while the clinician works, with notice, neither they nor the patient busy."""
        local_start, local_end = start.astimezone(NY).time(), (start + SESSION).astimezone(NY).time()
        if start < self.now + self.notice or not any(a <= local_start and local_end <= b for a, b in WORKS[name]):
            return False
        clinician = self.clinicians[name]
        return not any(
            self.occupying(one) and one.ident != ignore and one.start < start + SESSION and start < one.start + SESSION
            and (one.clinician == clinician or one.patient == patient) for one in self.sessions.values())


class FrontDesk(RuleBasedStateMachine):
    """One example: a fresh clinic in a transaction of its own, a desk, a model and a clock."""

    app = client = engine = None  # set by the test for each backend

    def __init__(self):
        super().__init__()
        self.connection = self.engine.connect()
        self.outer = self.connection.begin()
        self.session = Session(bind=self.connection, join_transaction_mode="create_savepoint")
        self.world = build_world(self.session)
        desk = User(username="machine_desk", role=Role.FRONT_DESK, password_hash="not used")
        self.session.add(desk)
        self.session.commit()
        self.desk = bearer(self.app, desk)
        self.clinicians = {c.name: c.id for c in (self.world.dana, self.world.max, self.world.eli)}
        self.patients = [p.id for p in self.world.patients]
        self.settings = self.app.state.settings
        self.model = Model(self.clinicians, timedelta(minutes=self.settings.min_notice_minutes))
        self.app.dependency_overrides[get_session] = self._request_session
        self.app.dependency_overrides[get_now] = lambda: self.model.now

    def _request_session(self):
        """The example's session for one request; what a failed request wrote is rolled back, as in production."""
        try:
            yield self.session
        finally:
            self.session.rollback()

    def teardown(self):
        self.session.close()
        self.outer.rollback()
        self.connection.close()

    # --- talking to the API ---------------------------------------------------------------

    def send(self, method: str, path: str, expected: int, json: dict | None = None, **params) -> dict:
        response = self.client.request(method, f"{API}{path}", json=json, params=params or None, headers=self.desk)
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text}"
        assert response.status_code == expected, (
            f"{method} {path} {json or ''} at {self.model.now.astimezone(NY):%a %H:%M}: expected {expected}, "
            f"got {response.status_code} {response.text[:300]}")
        return response.json()

    def pick(self, index: int, *likely: str) -> Visit:
        """An appointment; on even draws one in a state the move makes sense for, if there is one."""
        chosen = sorted(self.model.sessions)
        fitting = [i for i in chosen if self.model.sessions[i].status in likely]
        if index % 2 == 0 and fitting:
            chosen = fitting
        return self.model.sessions[chosen[index // 2 % len(chosen)]]

    # --- the front desk's moves -----------------------------------------------------------

    @initialize(first=BOOKINGS, second=BOOKINGS, patient=st.integers(0, 2))
    def open_the_day(self, first, second, patient):
        """A day rarely starts empty: two bookings and a patient waiting for a freed time."""
        self.book_slot(*first)
        self.book_slot(*second)
        self.wait(patient, 3)

    @rule(clinician=CLINICIANS, day=st.sampled_from([1, 2]))
    def search(self, clinician, day):
        found = self.send("GET", "/availability", 200, service_id=self.world.telehealth.id,
                          start=at(day, 0).isoformat(), end=at(day + 1, 0).isoformat(),
                          clinician_id=self.clinicians[clinician], limit=200)
        offered = {datetime.fromisoformat(slot["start"]) for slot in found["slots"]}
        taken = [start for start in offered if not self.model.free(clinician, None, start)]
        assert not taken, f"{clinician} is offered at {taken}, which the model says is not free"
        missing = [s for s in STARTS if s.day == day and self.model.free(clinician, None, s) and s not in offered]
        assert not missing, f"{clinician} is free at {missing} but not offered"

    def _reserve(self, path: str, status: str, patient: int, clinician: str, start: datetime) -> None:
        ident, patient_id = self.clinicians[clinician], self.patients[patient]
        free = self.model.free(clinician, patient_id, start)
        made = self.send("POST", path, 201 if free else 409, json={
            "service_id": self.world.telehealth.id, "patient_id": patient_id, "start": start.isoformat(),
            "clinician_id": ident})
        if free:
            expires = self.model.now + timedelta(minutes=self.settings.hold_minutes) if status == "pending" else None
            self.model.sessions[made["id"]] = Visit(made["id"], patient_id, ident, start, status, expires)

    @rule(patient=st.integers(0, 2), clinician=CLINICIANS, start=st.sampled_from(STARTS))
    def hold(self, patient, clinician, start):
        self._reserve("/holds", "pending", patient, clinician, start)

    @rule(patient=st.integers(0, 2), clinician=CLINICIANS, start=st.sampled_from(STARTS))
    def book_slot(self, patient, clinician, start):
        self._reserve("/appointments", "booked", patient, clinician, start)

    @precondition(lambda self: self.model.sessions)
    @rule(index=st.integers(0, 99))
    def book_hold(self, index):
        one = self.pick(index, "pending")
        expected = 201 if one.status == "pending" and not self.model.lapsed(one) else (
            410 if one.status == "pending" else 409)
        self.send("POST", "/appointments", expected, json={"hold_id": one.ident})
        if expected == 201:
            one.status, one.expires, one.audit = "booked", None, one.audit + 1
            for wait in self.model.waits.values():  # a booked offer serves its request
                if wait.offer == one.ident and wait.status == "offered":
                    wait.status = "booked"

    @precondition(lambda self: self.model.sessions)
    @rule(index=st.integers(0, 99))
    def release(self, index):
        one = self.pick(index, "pending")
        expected = 200 if one.status == "pending" else 409
        self.send("DELETE", f"/holds/{one.ident}", expected)
        if expected == 200:
            one.status, one.expires, one.audit = "cancelled", None, one.audit + 1

    @precondition(lambda self: self.model.sessions)
    @rule(index=st.integers(0, 99))
    def cancel(self, index):
        one = self.pick(index, "pending", "booked")
        expected = 200 if one.status in ("pending", "booked") else 409
        was_booked = one.status == "booked"
        self.send("POST", f"/appointments/{one.ident}/cancel", expected, json={"reason": "patient is ill"})
        if expected == 200:
            one.status, one.expires, one.audit = "cancelled", None, one.audit + 1
            if was_booked:
                self.expect_offer(one.start, let_go_by=one.patient)

    @precondition(lambda self: self.model.sessions)
    @rule(index=st.integers(0, 99), clinician=CLINICIANS, start=st.sampled_from(STARTS))
    def reschedule(self, index, clinician, start):
        one, ident = self.pick(index, "booked"), self.clinicians[clinician]
        ok = one.status == "booked" and self.model.free(clinician, one.patient, start, ignore=one.ident)
        self.send("POST", f"/appointments/{one.ident}/reschedule", 200 if ok else 409,
                  json={"start": start.isoformat(), "clinician_id": ident})
        if ok and (one.start, one.clinician) != (start, ident):  # where it already is: nothing is written
            left = one.start
            one.start, one.clinician, one.audit = start, ident, one.audit + 1
            if left != start:  # the time it let go goes to the waitlist, as a cancellation's does
                self.expect_offer(left, let_go_by=one.patient)

    def _attend(self, index: int, path: str, came_from: str, opens: timedelta, becomes: str) -> None:
        one = self.pick(index, came_from)
        ok = one.status == came_from and self.model.now >= one.start - opens
        self.send("POST", f"/appointments/{one.ident}/{path}", 200 if ok else 409)
        if ok:
            one.status, one.audit = becomes, one.audit + 1

    @precondition(lambda self: self.model.sessions)
    @rule(index=st.integers(0, 99))
    def check_in(self, index):
        self._attend(index, "check-in", "booked", CHECK_IN_OPENS, "arrived")

    @precondition(lambda self: self.model.sessions)
    @rule(index=st.integers(0, 99))
    def complete(self, index):
        self._attend(index, "complete", "arrived", timedelta(0), "fulfilled")

    @precondition(lambda self: self.model.sessions)
    @rule(index=st.integers(0, 99))
    def no_show(self, index):
        self._attend(index, "no-show", "booked", timedelta(0), "noshow")

    @rule(patient=st.integers(0, 2), priority=st.integers(1, 5))
    def wait(self, patient, priority):
        last_day = date(2027, 3, 2)
        still_to_come = last_day >= (self.model.now - timedelta(days=1)).date()  # a day's grace for every zone
        made = self.send("POST", "/waitlist", 201 if still_to_come else 422, json={
            "patient_id": self.patients[patient], "service_id": self.world.telehealth.id,
            "earliest_day": "2027-03-01", "latest_day": last_day.isoformat(), "earliest_time": WAITS_FROM.isoformat(),
            "latest_time": WAITS_UNTIL.isoformat(), "priority": priority})
        if still_to_come:
            self.model.waits[made["id"]] = Wait(made["id"], self.patients[patient], priority)

    @precondition(lambda self: self.model.waits)
    @rule(index=st.integers(0, 99))
    def stop_waiting(self, index):
        chosen = sorted(self.model.waits)
        wait = self.model.waits[chosen[index % len(chosen)]]
        self.send("DELETE", f"/waitlist/{wait.ident}", 409 if wait.status == "booked" else 200)
        if wait.status == "booked":
            return
        offered, wait.status = wait.status == "offered", "closed"
        if offered:  # its offer is released (or ends as lapsed) and its time goes to the next waiting patient
            offer = self.model.sessions[wait.offer]
            if offer.status == "pending" and not self.model.lapsed(offer):
                offer.status, offer.expires, offer.audit = "cancelled", None, offer.audit + 1
            self.expect_offer(offer.start, let_go_by=wait.patient)

    @rule(minutes=st.sampled_from(STEPS))
    def tick(self, minutes):
        self.model.now += timedelta(minutes=minutes)

    @precondition(lambda self: self.model.sessions)
    @rule(index=st.integers(0, 99), minutes=st.sampled_from([-121, -120, -31, -1, 0, 1, 30]))
    def tick_to_a_session(self, index, minutes):
        """Jump to around a session's start (never back), where check-in, no-show and expiry decide."""
        self.model.now = max(self.model.now, self.pick(index, "booked", "arrived").start + timedelta(minutes=minutes))

    # --- what a cancellation owes the waitlist ----------------------------------------------

    def expect_offer(self, start: datetime, *, let_go_by: int) -> None:
        """The best waiting patient free then (not the one who let the time go) gets a system hold on the freed
        start, with a clinician free then, held until the start at the latest."""
        if start.astimezone(NY).time() < WAITS_FROM or (start + SESSION).astimezone(NY).time() > WAITS_UNTIL:
            return
        waiting = sorted((w for w in self.model.waits.values() if w.status == "waiting" and w.patient != let_go_by),
                         key=lambda w: (-w.priority, w.ident))
        stored = dict(self.session.exec(select(WaitlistRequest.id, WaitlistRequest.appointment_id)
                                        .where(WaitlistRequest.appointment_id.is_not(None))).all())
        for wait in waiting:
            able = {ident for name, ident in self.clinicians.items() if self.model.free(name, wait.patient, start)}
            if able:
                offer = stored.get(wait.ident)
                assert offer is not None, f"waiting request {wait.ident} was not offered the freed {start:%H:%M}"
                clinician = self.session.exec(select(Allocation.resource_id).where(
                    Allocation.appointment_id == offer, Allocation.resource_kind == ResourceKind.CLINICIAN)).one()
                assert clinician in able, f"offer {offer} went to clinician {clinician}, not one free then {able}"
                wait.status, wait.offer = "offered", offer
                expires = min(self.model.now + timedelta(minutes=self.settings.waitlist_hold_minutes), start)
                self.model.sessions[offer] = Visit(offer, wait.patient, clinician, start, "pending", expires)
                return

    # --- after every step -----------------------------------------------------------------

    @invariant()
    def stored_as_the_model_says(self):
        model = self.model
        rows = {row[0]: row[1:] for row in self.session.exec(
            select(Appointment.id, Appointment.status, Appointment.starts_at, Appointment.cancel_reason)
            .where(Appointment.patient_id.in_(self.patients))).all()}
        assert set(rows) == set(model.sessions), f"stored {sorted(rows)}, model {sorted(model.sessions)}"
        clinicians = dict(self.session.exec(select(Allocation.appointment_id, Allocation.resource_id).where(
            Allocation.resource_kind == ResourceKind.CLINICIAN, Allocation.appointment_id.in_(rows))).all())
        audits = dict(self.session.exec(select(AuditEntry.appointment_id, func.count())
                                        .where(AuditEntry.appointment_id.in_(rows))
                                        .group_by(AuditEntry.appointment_id)).all())
        for one in model.sessions.values():
            status, start, reason = rows[one.ident]
            if model.lapsed(one) and status.value == "cancelled":
                assert reason == HOLD_EXPIRED, f"hold {one.ident} lapsed, then was cancelled as {reason!r}"
                one.status, one.expires, one.audit = "cancelled", None, one.audit + 1
            assert (status.value, start, clinicians[one.ident]) == (one.status, one.start, one.clinician), (
                f"appointment {one.ident}: stored {status.value} at {start} with clinician {clinicians[one.ident]}, "
                f"model {one}")
            assert audits.get(one.ident, 0) == one.audit, (
                f"appointment {one.ident} has {audits.get(one.ident, 0)} audit entries, the model {one.audit}")
        waits = {row[0]: row[1:] for row in self.session.exec(
            select(WaitlistRequest.id, WaitlistRequest.status, WaitlistRequest.appointment_id)
            .where(WaitlistRequest.patient_id.in_(self.patients))).all()}
        assert waits == {w.ident: (w.status, w.offer) for w in model.waits.values()}, waits
        broken = schedule_violations(self.session, now=model.now)
        assert not broken, broken


def test_a_random_front_desk_gets_the_answers_the_model_predicts(engine, app, client):
    FrontDesk.app, FrontDesk.client, FrontDesk.engine = app, client, engine
    run_state_machine_as_test(FrontDesk, settings=settings(
        max_examples=30, stateful_step_count=30, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
