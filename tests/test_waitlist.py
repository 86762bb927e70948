"""The waitlist: a cancellation offers its time to the best matching waiting patient."""

import pytest

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
