"""The waitlist as the front desk lists it: the open requests, each with the hold it was offered and its fate."""

import pytest

from tests.booking_helpers import booked, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    return build_world(session)


def wait(client, headers, world, patient) -> dict:
    body = {"patient_id": patient.id, "service_id": world.eswt.id, "earliest_day": "2027-03-01",
            "latest_day": "2027-03-12"}
    response = client.post(f"{API}/waitlist", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def listed(client, headers, *statuses: str) -> dict[int, dict]:
    response = client.get(f"{API}/waitlist", params={"status": list(statuses)}, headers=headers)
    assert response.status_code == 200, response.text
    return {request["id"]: request for request in response.json()["items"]}


def test_the_open_requests_carry_their_offer(client, as_desk, world):
    ann, ben, cy = world.patients
    freed = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    offered, waiting, closed = (wait(client, as_desk, world, patient) for patient in (ben, cy, ann))
    assert offered["offer"] is None and offered["created_at"]
    assert client.delete(f"{API}/waitlist/{closed['id']}", headers=as_desk).json()["status"] == "closed"
    assert client.post(f"{API}/appointments/{freed['id']}/cancel", headers=as_desk,
                       json={"reason": "patient moved away"}).status_code == 200

    open_ones = listed(client, as_desk, "waiting", "offered")
    assert set(open_ones) == {offered["id"], waiting["id"]}
    offer = open_ones[offered["id"]]["offer"]
    assert (offer["status"], offer["patient_id"], offer["start"]) == ("pending", ben.id, freed["start"])
    assert offer["start"].endswith("-05:00") and offer["hold_expires_at"]
    assert open_ones[waiting["id"]]["offer"] is None
    assert set(listed(client, as_desk, "closed")) == {closed["id"]}

    assert client.post(f"{API}/appointments", json={"hold_id": offer["id"]}, headers=as_desk).status_code == 201
    assert set(listed(client, as_desk, "waiting", "offered")) == {waiting["id"]}, "served: no longer open"
    assert listed(client, as_desk, "booked")[offered["id"]]["offer"]["status"] == "booked"


def test_a_booked_offer_cancelled_later_leaves_its_request_served(client, as_desk, world):
    """The patient took the offered time, then cancelled it: they are not put back on the waitlist behind the
    desk's back, and the freed time goes to the next waiting patient."""
    ann, ben, cy = world.patients
    freed = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    first, second = wait(client, as_desk, world, ben), wait(client, as_desk, world, cy)
    client.post(f"{API}/appointments/{freed['id']}/cancel", headers=as_desk, json={"reason": "moved away"})
    offer = listed(client, as_desk, "offered")[first["id"]]["offer"]
    assert client.post(f"{API}/appointments", json={"hold_id": offer["id"]}, headers=as_desk).status_code == 201

    cancelled = client.post(f"{API}/appointments/{offer['id']}/cancel", headers=as_desk,
                            json={"reason": "Ben is away after all"})
    assert cancelled.status_code == 200, cancelled.text
    served = listed(client, as_desk, "booked")[first["id"]]
    assert (served["appointment_id"], served["offer"]["status"]) == (offer["id"], "cancelled")
    open_ones = listed(client, as_desk, "waiting", "offered")
    assert set(open_ones) == {second["id"]}
    assert (open_ones[second["id"]]["offer"]["patient_id"], open_ones[second["id"]]["offer"]["start"]) == (
        cy.id, freed["start"])


def test_closing_a_request_releases_its_offer_and_passes_the_time_on(client, as_desk, world):
    ann, ben, cy = world.patients
    freed = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    first, second = wait(client, as_desk, world, ben), wait(client, as_desk, world, cy)
    client.post(f"{API}/appointments/{freed['id']}/cancel", headers=as_desk, json={"reason": "moved away"})
    offer = listed(client, as_desk, "offered")[first["id"]]["offer"]

    closed = client.delete(f"{API}/waitlist/{first['id']}", headers=as_desk)
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["offer"]["status"]) == ("closed", "cancelled")
    released = client.get(f"{API}/appointments/{offer['id']}", headers=as_desk).json()
    assert released["status"] == "cancelled" and released["cancel_reason"] == "the patient no longer waits"
    passed_on = listed(client, as_desk, "offered")[second["id"]]["offer"]
    assert (passed_on["patient_id"], passed_on["start"], passed_on["status"]) == (cy.id, freed["start"], "pending")


def test_a_booked_request_is_not_closed(client, as_desk, world):
    ann, ben, _ = world.patients
    freed = booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    request = wait(client, as_desk, world, ben)
    client.post(f"{API}/appointments/{freed['id']}/cancel", headers=as_desk, json={"reason": "moved away"})
    offer = listed(client, as_desk, "offered")[request["id"]]["offer"]
    client.post(f"{API}/appointments", json={"hold_id": offer["id"]}, headers=as_desk).raise_for_status()

    refused = client.delete(f"{API}/waitlist/{request['id']}", headers=as_desk)
    assert refused.status_code == 409 and "cancel that appointment" in refused.json()["detail"], refused.text
    assert listed(client, as_desk, "booked")[request["id"]]["offer"]["status"] == "booked"


def test_an_unknown_status_is_a_422(client, as_desk, world):
    response = client.get(f"{API}/waitlist", params={"status": ["waiting", "asleep"]}, headers=as_desk)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == 1
