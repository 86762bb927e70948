"""Retention: declined and lapsed public requests' provisional patients are erased after the retention period."""

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import Session, select

from data.config import Settings
from data.db import make_engine, session_scope
from data.enums import AppointmentStatus, RequestKind, RequestStatus
from data.migrate import upgrade
from data.tables import Appointment, AuditEntry, Patient, VisitRequest
from scheduler.jobs import erase_lapsed_request_records
from scheduler.retention import erase_lapsed_requests
from tests.booking_helpers import booked, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API
from tests.test_visit_requests import PUBLIC, visitor, world  # noqa: F401 (the world fixture)

RETENTION = timedelta(days=30)


def night_slots(client) -> list[dict]:
    """Telehealth slots on the hour at the all-night desk: an hour apart, so requests never compete."""
    slots = client.get(f"{PUBLIC}/slots", params={"kind": "telehealth"}).json()
    return [s for s in slots if s["location_name"] == "World Night Desk" and s["start"][14:16] == "00"]


def request_from(client, as_desk, slot: dict, name: str, answer: str | None, **body) -> int:
    """A visitor's request, then the desk's answer ('decline', 'confirm' or None); the provisional patient's id."""
    made = client.post(f"{PUBLIC}/requests", json={"kind": "telehealth", "location_id": slot["location_id"],
                                                   "start": slot["start"], **visitor(given_name=name, **body)})
    assert made.status_code == 201, made.text
    waiting = next(w for w in client.get(f"{API}/visit-requests", headers=as_desk).json()
                   if w["patient"]["given_name"] == name)
    if answer is not None:
        reply = {"reason": "fully booked"} if answer == "decline" else {}
        client.post(f"{API}/visit-requests/{waiting['id']}/{answer}", headers=as_desk, json=reply).raise_for_status()
    return waiting["patient"]["id"]


def names(session, ids) -> dict[int, str]:
    session.expire_all()
    return {i: session.get(Patient, i).given_name for i in ids}


def test_only_long_declined_or_lapsed_provisional_records_are_erased(client, app, session, as_desk, world):
    slots = night_slots(client)
    declined = request_from(client, as_desk, slots[0], "Dora", "decline", phone="+1 212 555 0110")
    lapsed = request_from(client, as_desk, slots[1], "Lapsa", None, phone="+1 212 555 0111")
    confirmed = request_from(client, as_desk, slots[2], "Connie", "confirm", phone="+1 212 555 0112")
    taken_on = request_from(client, as_desk, slots[3], "Tania", "decline", phone="+1 212 555 0113")
    booked(client, as_desk, world.msus, SimpleNamespace(id=taken_on), at(2, 9), clinician_id=world.max.id)
    set_clock(app, NOW + timedelta(days=20))
    recent = request_from(client, as_desk, night_slots(client)[0], "Rhea", "decline", phone="+1 212 555 0114")
    settings = app.state.settings
    assert settings.request_retention_days == RETENTION.days
    everyone = [declined, lapsed, confirmed, taken_on, recent]

    assert erase_lapsed_requests(session, now=NOW + RETENTION - timedelta(hours=1), settings=settings) == []
    assert erase_lapsed_requests(session, now=NOW + RETENTION + timedelta(days=1), settings=settings) == [
        declined, lapsed]
    assert names(session, everyone) == {declined: "Erased", lapsed: "Erased", confirmed: "Connie",
                                        taken_on: "Tania", recent: "Rhea"}
    assert erase_lapsed_requests(session, now=NOW + RETENTION + timedelta(days=1), settings=settings) == []
    assert erase_lapsed_requests(session, now=NOW + timedelta(days=20) + RETENTION + timedelta(days=1),
                                 settings=settings) == [recent]
    assert names(session, everyone)[confirmed] == "Connie", "a confirmed patient's record is never erased"
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "erase").order_by(AuditEntry.id)).all()
    assert [(e.actor, e.after["patient_id"]) for e in entries] == [("system", declined), ("system", lapsed),
                                                                   ("system", recent)]
    for request in session.exec(select(VisitRequest).where(VisitRequest.patient_id.in_([declined, lapsed]))):
        assert request.reason == "" and request.contact_key == "" and request.client_key == ""


def test_a_visitor_matched_to_an_existing_patient_leaves_nothing_to_erase(client, app, session, as_desk, world):
    known = world.patients[0]
    made = client.post(f"{PUBLIC}/requests", json={
        "kind": "telehealth", "location_id": night_slots(client)[0]["location_id"],
        "start": night_slots(client)[0]["start"],
        **visitor(given_name=known.given_name, family_name=known.family_name,
                  birth_date=known.birth_date.isoformat())})
    assert made.status_code == 201, made.text
    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    client.post(f"{API}/visit-requests/{waiting['id']}/confirm", headers=as_desk,
                json={"patient_id": known.id}).raise_for_status()
    assert erase_lapsed_requests(session, now=NOW + 3 * RETENTION, settings=app.state.settings) == []
    assert names(session, [known.id]) == {known.id: "Ann"}


@pytest.fixture
def committed(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'retention.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def test_the_periodic_job_erases_on_the_real_clock(committed):
    """The job's own transaction and clock: a request declined 31 days ago goes, one declined yesterday stays."""
    now = datetime.now(UTC)
    with session_scope(committed) as session:
        world = build_world(session)
        for age, name in ((timedelta(days=31), "Old"), (timedelta(days=1), "New")):
            patient = Patient(given_name=name, family_name="Visitor", birth_date=date(1990, 1, 1), phone="5550100")
            session.add(patient)
            session.flush()
            hold = Appointment(location_id=world.night_desk.id, service_id=world.telehealth.id, patient_id=patient.id,
                               starts_at=now - age, ends_at=now - age + timedelta(minutes=30),
                               status=AppointmentStatus.CANCELLED, created_at=now - age, updated_at=now - age)
            session.add(hold)
            session.flush()
            session.add(VisitRequest(kind=RequestKind.TELEHEALTH, status=RequestStatus.DECLINED,
                                     secret_hash=name * 8, hold_id=hold.id, patient_id=patient.id, new_patient=True,
                                     contact_key="c", client_key="a", created_at=now - age, decided_at=now - age))
    assert erase_lapsed_request_records(committed, Settings()) == 1
    assert erase_lapsed_request_records(committed, Settings()) == 0
    with Session(committed) as session:
        assert sorted(p.given_name for p in session.exec(select(Patient)) if p.family_name != "World") == [
            "Erased", "New"]
