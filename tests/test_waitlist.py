"""The waitlist: a cancellation offers its time to the best matching waiting patient."""

from datetime import time

import pytest
from sqlmodel import Session

from data.accounts import upsert_user
from data.config import Settings
from data.db import make_engine
from data.enums import Role, WaitlistStatus
from data.tables import WaitlistRequest
from scheduler import booking, waitlist
from tests.booking_helpers import booked, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    return build_world(session)


def wait(client, headers, world, patient, **extra) -> dict:
    body = {"patient_id": patient.id, "service_id": world.eswt.id, "earliest_day": "2027-03-01",
            "latest_day": "2027-03-12", **extra}
    response = client.post(f"{API}/waitlist", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def cancel(client, headers, appointment) -> None:
    response = client.post(f"{API}/appointments/{appointment['id']}/cancel", headers=headers,
                           json={"reason": "patient moved away"})
    assert response.status_code == 200, response.text


def test_a_cancellation_gives_the_best_waiting_patient_a_hold(client, as_desk, as_admin, world):
    ann, ben, cy = world.patients
    appointment = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    low = wait(client, as_desk, world, ben, priority=2)
    high = wait(client, as_desk, world, cy, priority=5)
    cancel(client, as_desk, appointment)
    requests = {r["id"]: r for r in client.get(f"{API}/waitlist", headers=as_desk).json()["items"]}
    assert requests[high["id"]]["status"] == "offered" and requests[low["id"]]["status"] == "waiting"
    hold = client.get(f"{API}/appointments/{requests[high['id']]['appointment_id']}", headers=as_desk).json()
    assert hold["status"] == "pending" and hold["patient_id"] == cy.id
    assert hold["start"] == appointment["start"] and hold["created_by_id"] is None
    entries = client.get(f"{API}/audit", headers=as_admin, params={"appointment_id": hold["id"]}).json()["items"]
    assert [(e["actor"], e["action"]) for e in entries] == [("system", "hold")]
    confirmed = client.post(f"{API}/appointments", headers=as_desk, json={"hold_id": hold["id"]})
    assert confirmed.status_code == 201 and confirmed.json()["status"] == "booked"


def test_requests_that_do_not_fit_the_freed_time_are_passed_over(client, as_desk, world):
    ann, ben, cy = world.patients
    appointment = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    afternoons = wait(client, as_desk, world, ben, earliest_time="13:00", latest_time="18:00", priority=5)
    later = wait(client, as_desk, world, cy, earliest_day="2027-03-05", priority=5)
    other_service = wait(client, as_desk, world, cy, service_id=world.msus.id, priority=5)
    cancel(client, as_desk, appointment)
    statuses = {r["id"]: r["status"] for r in client.get(f"{API}/waitlist", headers=as_desk).json()["items"]}
    assert statuses == {afternoons["id"]: "waiting", later["id"]: "waiting", other_service["id"]: "waiting"}


def test_a_patient_busy_at_the_freed_time_is_skipped(client, as_desk, world):
    ann, ben, cy = world.patients
    appointment = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    booked(client, as_desk, world.telehealth, ben, at(2, 9), clinician_id=world.max.id)
    busy = wait(client, as_desk, world, ben, priority=5)
    free = wait(client, as_desk, world, cy, priority=1)
    cancel(client, as_desk, appointment)
    statuses = {r["id"]: r["status"] for r in client.get(f"{API}/waitlist", headers=as_desk).json()["items"]}
    assert statuses == {busy["id"]: "waiting", free["id"]: "offered"}


@pytest.mark.parametrize("change, words", [
    ({"latest_day": "2027-02-01"}, "before earliest_day"),
    ({"earliest_time": "12:00", "latest_time": "09:00"}, "after earliest_time"),
    ({"patient_id": 999999}, "does not exist"),
    ({"priority": 9}, "less than or equal"),
])
def test_bad_requests_are_422(client, as_desk, world, change, words):
    body = {"patient_id": world.patients[0].id, "service_id": world.eswt.id, "earliest_day": "2027-03-01",
            "latest_day": "2027-03-12", **change}
    response = client.post(f"{API}/waitlist", json=body, headers=as_desk)
    assert response.status_code == 422 and words in response.text, response.text


def test_a_cancellation_through_fhir_offers_the_time_too(client, as_desk, world):
    ann, ben, _ = world.patients
    appointment = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    waiting = wait(client, as_desk, world, ben)
    resource = client.get(f"/fhir/Appointment/{appointment['id']}", headers=as_desk).json()
    cancelled = client.put(f"/fhir/Appointment/{appointment['id']}", headers=as_desk,
                           json={**resource, "status": "cancelled"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    (offered,) = client.get(f"{API}/waitlist", headers=as_desk).json()["items"]
    assert offered["id"] == waiting["id"] and offered["status"] == "offered"


def statuses(client, headers) -> dict[int, str]:
    return {r["id"]: r["status"] for r in client.get(f"{API}/waitlist", headers=headers).json()["items"]}


def offer_of(client, headers, request) -> dict:
    return client.get(f"{API}/waitlist/{request['id']}", headers=headers).json()["offer"]


def test_a_desk_move_offers_the_time_it_let_go(client, as_desk, world):
    """A move freed the old time for nobody, while FHIR's cancel-and-rebook offered it (found by a probe)."""
    ann, ben, _ = world.patients
    appointment = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    waiting = wait(client, as_desk, world, ben, earliest_day="2027-03-02", latest_day="2027-03-02")
    moved = client.post(f"{API}/appointments/{appointment['id']}/reschedule", headers=as_desk,
                        json={"start": at(4, 9).isoformat()})
    assert moved.status_code == 200, moved.text
    offer = offer_of(client, as_desk, waiting)
    assert (offer["patient_id"], offer["start"], offer["status"]) == (ben.id, appointment["start"], "pending")


def test_a_patients_own_move_offers_the_time_it_let_go(client, as_desk, world):
    """Confirming a patient's move request gave the old time to nobody, while the desk's own move offered it
    (found by a probe)."""
    ann, ben, _ = world.patients
    appointment = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    waiting = wait(client, as_desk, world, ben, earliest_day="2027-03-02", latest_day="2027-03-02")
    token = client.post(f"{API}/patients/{ann.id}/link", headers=as_desk).json()["url"].rsplit("/", 1)[1]
    mine = f"{API}/public/patients/{token}"
    options = client.get(f"{mine}/sessions/{appointment['id']}/slots").json()
    target = next(option for option in options if option["start"][:10] == "2027-03-04")
    asked = client.post(f"{mine}/moves", json={"appointment_id": appointment["id"],
                                               "location_id": target["location_id"], "start": target["start"]})
    assert asked.status_code == 201, asked.text
    assert offer_of(client, as_desk, waiting) is None, "the time is still the patient's until the desk confirms"
    (request,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    confirmed = client.post(f"{API}/visit-requests/{request['id']}/confirm", headers=as_desk, json={})
    assert confirmed.status_code == 200, confirmed.text
    offer = offer_of(client, as_desk, waiting)
    assert (offer["patient_id"], offer["start"], offer["status"]) == (ben.id, appointment["start"], "pending")


def test_a_patient_is_not_offered_the_time_they_just_cancelled(client, as_desk, world):
    ann, ben, _ = world.patients
    appointment = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    own = wait(client, as_desk, world, ann, priority=5)
    other = wait(client, as_desk, world, ben, priority=1)
    cancel(client, as_desk, appointment)
    assert statuses(client, as_desk) == {own["id"]: "waiting", other["id"]: "offered"}


def test_an_offer_is_held_until_its_session_starts_at_the_latest(client, app, as_desk, world):
    """Freed an hour before, the time was held two hours, and could be accepted once the session had begun."""
    ann, ben, _ = world.patients
    appointment = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    waiting = wait(client, as_desk, world, ben)
    set_clock(app, at(2, 8))
    cancel(client, as_desk, appointment)
    assert offer_of(client, as_desk, waiting)["hold_expires_at"] == appointment["start"]


def test_closing_a_request_whose_offer_was_released_passes_the_time_on(client, as_desk, world):
    """Released, then closed before the sweeper came by: the time went to nobody (found by a probe)."""
    ann, ben, cy = world.patients
    appointment = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    first, second = wait(client, as_desk, world, ben, priority=5), wait(client, as_desk, world, cy, priority=1)
    cancel(client, as_desk, appointment)
    released = client.delete(f"{API}/holds/{offer_of(client, as_desk, first)['id']}", headers=as_desk)
    assert released.status_code == 200, released.text
    assert client.delete(f"{API}/waitlist/{first['id']}", headers=as_desk).status_code == 200
    passed_on = offer_of(client, as_desk, second)
    assert (passed_on["patient_id"], passed_on["start"], passed_on["status"]) == (cy.id, appointment["start"],
                                                                                  "pending")


def test_a_service_with_an_offered_request_is_not_archived(client, as_desk, as_admin, world):
    """Its offer released, the request would wait again for an archived service, and every sweep after failed on
    it, holding up every other offer (found by a probe)."""
    ann, ben, _ = world.patients
    appointment = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    waiting = wait(client, as_desk, world, ben)
    cancel(client, as_desk, appointment)
    refused = client.delete(f"{API}/services/{world.eswt.id}", headers=as_admin)
    assert refused.status_code == 409, refused.text
    assert f"waitlist request {waiting['id']} (offered)" in refused.json()["blockers"]


def test_days_that_have_passed_are_not_waited_for(client, as_desk, world, session):
    ann = world.patients[0]
    refused = client.post(f"{API}/waitlist", headers=as_desk, json={
        "patient_id": ann.id, "service_id": world.eswt.id, "earliest_day": "2027-02-01", "latest_day": "2027-02-27"})
    assert refused.status_code == 422 and "has passed" in refused.text, refused.text
    current = wait(client, as_desk, world, ann, earliest_day="2027-03-01", latest_day="2027-03-02")
    assert waitlist.close_past(session, now=at(3, 12)) == 0, "its last day is not over everywhere yet"
    assert waitlist.close_past(session, now=at(4, 12)) == 1
    session.commit()
    assert statuses(client, as_desk) == {current["id"]: "closed"}


@pytest.mark.postgres
def test_two_times_freed_at_the_same_moment_go_to_two_waiting_patients(postgres_databases):
    """Each cancellation locked every matching request while it offered one, so the other, at the same moment,
    skipped them all and its time went to nobody (a probe: 4 of 8 tries on two servers)."""
    engine = make_engine(postgres_databases(migrated=True))
    settings = Settings(background_jobs=False, secret_key="waitlist-tests-secret-key-0123456789")
    with Session(engine, expire_on_commit=False) as session:
        world = build_world(session)
        desk = upsert_user(session=session, username="desk", password="long enough pw", role=Role.FRONT_DESK)
        ann, ben, cy = world.patients
        freed = [booking.book(session, actor=desk, now=NOW, settings=settings, choice=booking.SlotChoice(
            world.eswt.id, ann.id, at(2, hour), world.dana.id)).id for hour in (9, 11)]
        requests = [WaitlistRequest(patient_id=patient.id, service_id=world.eswt.id, earliest_day=at(2, 0).date(),
                                    latest_day=at(2, 0).date(), earliest_time=time(8), latest_time=time(18),
                                    priority=priority, created_at=NOW) for patient, priority in ((ben, 5), (cy, 4))]
        session.add_all(requests)
        session.commit()
    with Session(engine) as one, Session(engine) as other:
        for session, appointment_id in ((one, freed[0]), (other, freed[1])):  # the first still open
            waitlist.cancel(session, actor=desk, appointment_id=appointment_id, reason="ill", now=NOW,
                            settings=settings)
        one.commit()
        other.commit()
    with Session(engine) as session:
        assert [session.get(WaitlistRequest, r.id).status for r in requests] == [WaitlistStatus.OFFERED] * 2
    engine.dispose()
