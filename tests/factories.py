"""Small builders of valid catalog payloads, created through the API as an admin would."""

from fastapi.testclient import TestClient

API = "/api/v1"


def create(client: TestClient, headers: dict, collection: str, body: dict) -> dict:
    response = client.post(f"{API}/{collection}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def location_body(name: str = "Midtown", **overrides) -> dict:
    return {
        "name": name,
        "address": "1 Main St",
        "time_zone": "America/New_York",
        "opening_hours": [{"weekday": 0, "starts": "08:00", "ends": "18:00"}],
        **overrides,
    }


def clinician_body(location_id: int, **overrides) -> dict:
    return {
        "name": "Ada Lovelace",
        "title": "PT, DPT",
        "location_id": location_id,
        "certifications": ["msus", "eswt"],
        "shifts": [
            {"weekday": 0, "starts": "09:00", "ends": "17:00", "breaks": [{"starts": "12:00", "ends": "12:30"}]},
            {"weekday": 2, "starts": "12:00", "ends": "20:00"},
        ],
        "exceptions": [
            {"kind": "time_off", "starts_at": "2027-03-01T00:00:00-05:00", "ends_at": "2027-03-03T00:00:00-05:00"}
        ],
        **overrides,
    }


def device_type_body(code: str = "shockwave", **overrides) -> dict:
    return {"code": code, "name": code.replace("_", " ").title(), **overrides}


def device_body(device_type_id: int, location_id: int, name: str = "Unit 1", **overrides) -> dict:
    return {
        "name": name,
        "device_type_id": device_type_id,
        "location_id": location_id,
        "cleaning_minutes": 10,
        "maintenance": [{"starts_at": "2027-01-04T08:00:00-05:00", "ends_at": "2027-01-04T12:00:00-05:00"}],
        **overrides,
    }


def room_body(location_id: int, name: str = "Treatment 1", **overrides) -> dict:
    return {"name": name, "kind": "treatment", "location_id": location_id, **overrides}


def service_body(code: str = "eswt", device_needs: list | None = None, **overrides) -> dict:
    return {
        "code": code,
        "name": "Focused shockwave therapy",
        "duration_minutes": 30,
        "required_certification": "eswt",
        "room_kind": "treatment",
        "buffer_after_minutes": 5,
        "device_needs": device_needs or [],
        **overrides,
    }


def patient_body(**overrides) -> dict:
    return {
        "given_name": "Grace",
        "family_name": "Hopper",
        "birth_date": "1980-12-09",
        "phone": "+1 212 555 0100",
        "email": "grace@example.com",
        **overrides,
    }


def user_body(**overrides) -> dict:
    return {"username": "newdesk", "role": "front_desk", "password": "long enough pw", **overrides}
