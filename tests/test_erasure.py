"""Erasing a patient: personal data overwritten in place, history and audit trail kept pseudonymous."""

import json
from datetime import time, timedelta

import pytest
from alembic import command
from icalendar import Calendar
from sqlmodel import Session, select

from data.db import make_engine, session_scope
from data.enums import RunTrigger, WaitlistStatus
from data.migrate import alembic_config
from data.tables import Appointment, AuditEntry, Patient, PatientLink, VisitRequest, WaitlistRequest
from scheduler import booking, erasure
from scheduler.optimization import run_optimization
from tests.booking_helpers import booked, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.conftest import BACKENDS
from tests.factories import API
from tests.test_optimization import NIGHT, SETTINGS, clinic, waiting_plan  # noqa: F401 (the clinic fixture)
from tests.test_visit_requests import PUBLIC, ask, night_slot, world  # noqa: F401 (the world fixture)

NORA = ("Nora", "Visitor", "1990-04-02", "555 0100", "low-back pain", "Ms Visitor")


def feed_events(client, url: str) -> list[tuple[str, int]]:
    """(summary, sequence) of every event in the feed."""
    response = client.get(url)
    assert response.status_code == 200, response.text
    return [(str(event["summary"]), int(event["sequence"])) for event in Calendar.from_ical(response.content).walk(
        "VEVENT")]


def everything_kept_about(session, patient_id: int) -> str:
    """Every stored row that refers to the patient, as text: what an erasure must leave without personal data."""
    patient = session.get(Patient, patient_id)
    appointments = session.exec(select(Appointment).where(Appointment.patient_id == patient_id)).all()
    rows = [patient, *appointments,
            *session.exec(select(VisitRequest).where(VisitRequest.patient_id == patient_id)),
            *session.exec(select(AuditEntry).where(AuditEntry.appointment_id.in_([a.id for a in appointments])))]
    return json.dumps([row.model_dump(mode="json") for row in rows])


def declined_visitor(client, as_desk) -> dict:
    """Nora asks for a night telehealth slot with Owl; the desk declines, writing her name in the reason."""
    assert ask(client, night_slot(client)).status_code == 201
    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    client.post(f"{API}/visit-requests/{waiting['id']}/decline", headers=as_desk,
                json={"reason": "Ms Visitor should call us first"}).raise_for_status()
    return waiting


def test_a_visitor_whose_session_was_cancelled_is_erased_and_the_feed_loses_her_initials(client, app, session,
                                                                                          as_desk, as_admin, world):
    """Nora's request is confirmed and the session then cancelled (a cancelled session stays in Owl's feed, so his
    calendar drops it; a declined request's hold was never in it)."""
    assert ask(client, night_slot(client)).status_code == 201
    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    patient_id = waiting["patient"]["id"]
    client.post(f"{API}/visit-requests/{waiting['id']}/confirm", headers=as_desk, json={}).raise_for_status()
    (appointment,) = client.get(f"{API}/appointments", headers=as_desk,
                                params={"patient_id": patient_id}).json()["items"]
    client.post(f"{API}/appointments/{appointment['id']}/cancel", headers=as_desk,
                json={"reason": "Ms Visitor should call us first"}).raise_for_status()
    feed = client.post(f"{API}/clinicians/{world.owl.id}/calendar-feed", headers=as_admin).json()["url"]
    ((summary, sequence),) = feed_events(client, feed)
    assert summary == "Telehealth consultation: N.V."
    assert client.delete(f"{API}/patients/{patient_id}", headers=as_desk).status_code == 409, "history blocks delete"
    assert all(text in everything_kept_about(session, patient_id) for text in NORA)

    set_clock(app, NOW + timedelta(minutes=5))
    erased = client.post(f"{API}/patients/{patient_id}/erase", headers=as_admin)

    assert erased.status_code == 200, erased.text
    body = erased.json()
    assert (body["given_name"], body["family_name"]) == ("Erased", f"patient #{patient_id}")
    assert body["phone"] is None and body["email"] is None and body["erased_at"] is not None
    kept = everything_kept_about(session, patient_id)
    assert not [text for text in NORA if text in kept]
    ((summary, renewed),) = feed_events(client, feed)
    assert summary == "Telehealth consultation", "the cancelled session stays in the feed, without initials"
    assert renewed > sequence, "subscribed calendars see the event changed"
    assert client.get(f"{API}/patients", params={"name": "Nora"}, headers=as_desk).json()["items"] == []
    (entry,) = client.get(f"{API}/audit", params={"action": "erase"}, headers=as_admin).json()["items"]
    assert entry["actor"] == "t_admin" and entry["after"] == {"patient_id": patient_id} and entry["before"] is None
    assert entry["at"] is not None


def test_erasing_twice_is_harmless_and_audited_once(client, as_desk, as_admin, world):
    patient_id = declined_visitor(client, as_desk)["patient"]["id"]
    first = client.post(f"{API}/patients/{patient_id}/erase", headers=as_admin)
    again = client.post(f"{API}/patients/{patient_id}/erase", headers=as_admin)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert client.get(f"{API}/audit", params={"action": "erase"}, headers=as_admin).json()["total"] == 1


def test_erasure_waits_for_what_is_still_to_come_and_names_it(client, app, session, as_desk, as_admin, world):
    patient = world.patients[0]
    past = booked(client, as_desk, world.eswt, patient, at(1, 9), clinician_id=world.dana.id)
    ahead = booked(client, as_desk, world.eswt, patient, at(3, 9), clinician_id=world.dana.id)
    waiting = client.post(f"{API}/waitlist", headers=as_desk, json={
        "patient_id": patient.id, "service_id": world.msus.id, "earliest_day": "2027-03-01",
        "latest_day": "2027-03-12"}).json()
    set_clock(app, at(2, 8))  # the first session is over, the second still to come

    refused = client.post(f"{API}/patients/{patient.id}/erase", headers=as_admin)

    assert refused.status_code == 409, refused.text
    blockers = refused.json()["blockers"]
    assert [b.split(" (")[0] for b in blockers] == [f"appointment {ahead['id']}", f"waitlist entry {waiting['id']}"]
    assert f"appointment {past['id']}" not in str(blockers)
    session.refresh(patient)
    assert patient.given_name == "Ann" and patient.erased_at is None
    client.post(f"{API}/appointments/{ahead['id']}/cancel", headers=as_desk,
                json={"reason": "Ann moves to Boston"}).raise_for_status()
    client.delete(f"{API}/waitlist/{waiting['id']}", headers=as_desk).raise_for_status()
    assert client.post(f"{API}/patients/{patient.id}/erase", headers=as_admin).status_code == 200
    cancelled = client.get(f"{API}/appointments/{ahead['id']}", headers=as_desk).json()
    assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "[erased]"
    assert "Boston" not in json.dumps(client.get(f"{API}/audit", params={"appointment_id": ahead["id"]},
                                                 headers=as_admin).json())


def test_erasure_waits_for_an_offered_entry_whose_hold_was_released(client, as_desk, as_admin, world):
    """Released but not yet swept, the offer's request would wait again after the erasure, for a patient nobody
    may serve (and every nightly run of the clinic would stop at them)."""
    ann, ben, _ = world.patients
    freed = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    entry = client.post(f"{API}/waitlist", headers=as_desk, json={
        "patient_id": ben.id, "service_id": world.eswt.id, "earliest_day": "2027-03-01",
        "latest_day": "2027-03-12"}).json()
    client.post(f"{API}/appointments/{freed['id']}/cancel", headers=as_desk,
                json={"reason": "moved away"}).raise_for_status()
    (listed,) = client.get(f"{API}/waitlist", params={"patient_id": ben.id}, headers=as_desk).json()["items"]
    offer = listed["offer"]
    client.delete(f"{API}/holds/{offer['id']}", headers=as_desk).raise_for_status()

    refused = client.post(f"{API}/patients/{ben.id}/erase", headers=as_admin)

    assert refused.status_code == 409, refused.text
    assert refused.json()["blockers"] == [f"waitlist entry {entry['id']} (offered)"]


def test_erasure_revokes_the_patient_s_own_page(client, session, as_desk, as_admin, world):
    patient = world.patients[1]
    token = client.post(f"{API}/patients/{patient.id}/link", headers=as_desk).json()["url"].rsplit("/", 1)[1]
    assert client.get(f"{PUBLIC}/patients/{token}/sessions").status_code == 200
    client.post(f"{API}/patients/{patient.id}/erase", headers=as_admin).raise_for_status()
    assert client.get(f"{PUBLIC}/patients/{token}/sessions").status_code == 404
    assert session.exec(select(PatientLink).where(PatientLink.patient_id == patient.id)).first() is None


def test_an_erased_patient_s_record_and_page_stay_erased(client, session, as_desk, as_admin, world):
    """A PATCH wrote a name and an e-mail address back into the erased record, and a new page link showed the
    patient's page again, during the erasure or after it (found by a probe)."""
    patient = world.patients[1]
    client.post(f"{API}/patients/{patient.id}/erase", headers=as_admin).raise_for_status()
    erased = client.get(f"{API}/patients/{patient.id}", headers=as_desk).json()
    restored = client.patch(f"{API}/patients/{patient.id}", headers=as_desk,
                            json={"family_name": "Restored", "email": "restored@example.org"})
    assert restored.status_code == 409 and "was erased" in restored.text, restored.text
    assert client.get(f"{API}/patients/{patient.id}", headers=as_desk).json() == erased
    linked = client.post(f"{API}/patients/{patient.id}/link", headers=as_desk)
    assert linked.status_code == 409 and "was erased" in linked.text, linked.text
    assert session.exec(select(PatientLink).where(PatientLink.patient_id == patient.id)).first() is None


@pytest.mark.parametrize("who", ["as_desk", "as_clinician"])
def test_only_administrators_erase(client, request, world, who):
    response = client.post(f"{API}/patients/{world.patients[0].id}/erase", headers=request.getfixturevalue(who))
    assert response.status_code == 403


def test_erasing_an_unknown_patient_is_404(client, app, as_admin, world):
    set_clock(app, NOW)
    assert client.post(f"{API}/patients/999999/erase", headers=as_admin).status_code == 404


@pytest.mark.parametrize("erased", [False, True], ids=["kept", "erased"])
def test_the_night_places_no_session_of_an_erased_patient_s_plan(clinic, erased):
    engine, world = clinic
    patient = world.patients[0]
    with session_scope(engine) as session:
        session.add(waiting_plan(world, patient, world.msus))
        if erased:
            erasure.erase(session, actor=None, patient_id=patient.id, now=NIGHT)
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.sessions_placed == (0 if erased else 1), run.error


def test_an_erased_patient_is_not_booked_again(client, as_desk, as_admin, world):
    patient_id = declined_visitor(client, as_desk)["patient"]["id"]
    client.post(f"{API}/patients/{patient_id}/erase", headers=as_admin).raise_for_status()
    again = client.post(f"{API}/appointments", headers=as_desk, json={
        "service_id": world.msus.id, "patient_id": patient_id, "start": at(3, 9).isoformat()})
    assert again.status_code == 422 and "was erased" in again.text


def test_no_plan_is_made_for_an_erased_patient(client, as_desk, as_admin, world):
    """A draft plan for an erased patient was created (201), to fail only when proposed; now refused at once, like a
    booking, and nothing is written."""
    patient_id = declined_visitor(client, as_desk)["patient"]["id"]
    client.post(f"{API}/patients/{patient_id}/erase", headers=as_admin).raise_for_status()
    plan = client.post(f"{API}/plans", headers=as_desk, json={
        "patient_id": patient_id, "location_id": world.midtown.id, "earliest_start": "2027-03-03",
        "latest_end": "2027-03-12", "lines": [{"service_id": world.eswt.id, "count": 2}]})
    assert plan.status_code == 422 and "was erased" in plan.text, plan.text
    assert plan.json()["detail"][0]["loc"] == ["body", "patient_id"]
    assert client.get(f"{API}/plans", headers=as_desk, params={"patient_id": patient_id}).json()["total"] == 0


def test_no_waitlist_request_is_added_for_an_erased_patient(client, session, as_desk, as_admin, world):
    """It was added (201), and then the location's every nightly run failed on it ("patient N was erased") and every
    cancellation whose freed time it matched was refused (found by a probe, 2026-12-01)."""
    patient_id = declined_visitor(client, as_desk)["patient"]["id"]
    client.post(f"{API}/patients/{patient_id}/erase", headers=as_admin).raise_for_status()
    added = client.post(f"{API}/waitlist", headers=as_desk, json={
        "patient_id": patient_id, "service_id": world.msus.id, "earliest_day": "2027-03-03",
        "latest_day": "2027-03-12"})
    assert added.status_code == 422 and "was erased" in added.text, added.text
    assert added.json()["detail"][0]["loc"] == ["body", "patient_id"]
    assert session.exec(select(WaitlistRequest).where(WaitlistRequest.patient_id == patient_id)).all() == []


def test_a_visitor_is_not_matched_to_an_erased_patient(client, session, as_desk, as_admin, world):
    """Confirming a request as an erased patient booked the slot for "Erased patient #N" and deleted the visitor's
    own record, name and phone with it (found by a probe, 2026-12-01)."""
    erased_id = declined_visitor(client, as_desk)["patient"]["id"]
    client.post(f"{API}/patients/{erased_id}/erase", headers=as_admin).raise_for_status()
    assert ask(client, night_slot(client), given_name="Zed", family_name="Probe").status_code == 201
    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    refused = client.post(f"{API}/visit-requests/{waiting['id']}/confirm", headers=as_desk,
                          json={"patient_id": erased_id})
    assert refused.status_code == 422 and "was erased" in refused.text, refused.text
    (still,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    assert still["status"] == "requested" and still["patient"]["family_name"] == "Probe"
    hold = session.get(Appointment, session.get(VisitRequest, waiting["id"]).hold_id)
    assert hold.patient_id == waiting["patient"]["id"] and hold.status == "pending"


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_the_migration_closes_waiting_requests_of_erased_patients(empty_database_url):
    """Requests added for erased patients before the check above would fail every nightly run of their location."""
    engine = make_engine(empty_database_url)
    config = alembic_config(engine)
    command.upgrade(config, "e1c5a7b3d9f2")
    with Session(engine, expire_on_commit=False) as session:
        world = build_world(session)
        kept, erased = world.patients[:2]
        erased.erased_at = NOW
        requests = [WaitlistRequest(patient_id=patient.id, service_id=world.msus.id, earliest_day=NOW.date(),
                                    latest_day=NOW.date() + timedelta(days=9), earliest_time=time(8),
                                    latest_time=time(18), created_at=NOW) for patient in (kept, erased)]
        session.add_all(requests)
        session.commit()
    command.upgrade(config, "f3a7c9e1b5d2")
    with Session(engine) as session:
        assert [session.get(WaitlistRequest, request.id).status for request in requests] == [
            WaitlistStatus.WAITING, WaitlistStatus.CLOSED]
    engine.dispose()


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_the_migration_marks_requests_whose_offer_was_booked(empty_database_url):
    """Before "booked" a served request stayed "offered" and was listed among the open ones for good."""
    engine = make_engine(empty_database_url)
    config = alembic_config(engine)
    command.upgrade(config, "f3a7c9e1b5d2")
    with Session(engine, expire_on_commit=False) as session:
        world = build_world(session)
        taken, unanswered = (booking.place_hold(session, actor=None, now=NOW, settings=SETTINGS, minutes=60,
                                                choice=booking.SlotChoice(world.eswt.id, patient.id, at(day, 9)))
                             for day, patient in ((3, world.patients[0]), (4, world.patients[1])))
        booking.book_hold(session, actor=None, hold_id=taken.id, now=NOW, settings=SETTINGS)
        requests = [WaitlistRequest(patient_id=hold.patient_id, service_id=world.eswt.id, earliest_day=NOW.date(),
                                    latest_day=NOW.date() + timedelta(days=9), earliest_time=time(8),
                                    latest_time=time(18), created_at=NOW, status=WaitlistStatus.OFFERED,
                                    appointment_id=hold.id) for hold in (taken, unanswered)]
        session.add_all(requests)
        session.commit()
    command.upgrade(config, "head")
    with Session(engine) as session:
        assert [session.get(WaitlistRequest, request.id).status for request in requests] == [
            WaitlistStatus.BOOKED, WaitlistStatus.OFFERED]
    command.downgrade(config, "f3a7c9e1b5d2")
    with Session(engine) as session:
        assert [session.get(WaitlistRequest, request.id).status for request in requests] == [
            WaitlistStatus.OFFERED, WaitlistStatus.OFFERED]
    engine.dispose()
