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
    assert listed(client, as_desk, "offered")[offered["id"]]["offer"]["status"] == "booked"


def test_an_unknown_status_is_a_422(client, as_desk, world):
    response = client.get(f"{API}/waitlist", params={"status": ["waiting", "asleep"]}, headers=as_desk)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == 1
