"""Shared steps of the availability and booking tests: a fixed clock and short API calls."""

from datetime import datetime

from fastapi.testclient import TestClient

from api.deps import get_now
from tests.factories import API


def set_clock(app, moment: datetime) -> None:
    app.dependency_overrides[get_now] = lambda: moment


def search(client: TestClient, headers: dict, service, start: datetime, end: datetime, **params) -> dict:
    response = client.get(f"{API}/availability", headers=headers, params={
        "service_id": service.id, "start": start.isoformat(), "end": end.isoformat(), **params})
    assert response.status_code == 200, response.text
    return response.json()


def starts(found: dict, clinician: str | None = None) -> list[str]:
    """Local 'HH:MM' starts of the slots found (for one clinician if named)."""
    return [slot["start"][11:16] for slot in found["slots"]
            if clinician is None or slot["clinician"]["name"] == clinician]


def hold(client: TestClient, headers: dict, service, patient, start: datetime, **extra):
    return client.post(f"{API}/holds", headers=headers, json={
        "service_id": service.id, "patient_id": patient.id, "start": start.isoformat(), **extra})


def book(client: TestClient, headers: dict, service, patient, start: datetime, **extra):
    return client.post(f"{API}/appointments", headers=headers, json={
        "service_id": service.id, "patient_id": patient.id, "start": start.isoformat(), **extra})


def booked(client: TestClient, headers: dict, service, patient, start: datetime, **extra) -> dict:
    response = book(client, headers, service, patient, start, **extra)
    assert response.status_code == 201, response.text
    return response.json()
