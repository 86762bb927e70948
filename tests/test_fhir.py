"""FHIR R4: every resource and Bundle validates against the fhir.resources R4B models; bookings meet the REST side."""

import json
from datetime import datetime

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.booking_helpers import booked, search, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API

FHIR_JSON = "application/fhir+json"
SLOT_STATUS = {"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"}
APPOINTMENT_STATUS = {"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
                      "entered-in-error", "checked-in", "waitlist"}
PARTICIPANT_STATUS = {"accepted", "declined", "tentative", "needs-action"}


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    app.state.settings = app.state.settings.model_copy(update={
        "public_telehealth_service": "w_telehealth", "public_office_service": "w_msus"})
    return build_world(session)


def valid(resource: dict) -> dict:
    """The resource validates against its R4B model; code values the model does not enforce are checked here."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    if resource["resourceType"] == "Bundle":
        for entry in resource.get("entry", []):
            valid(entry["resource"])
    if resource["resourceType"] == "Slot":
        assert resource["status"] in SLOT_STATUS
        assert datetime.fromisoformat(resource["start"]).tzinfo is not None
    if resource["resourceType"] == "Appointment":
        assert resource["status"] in APPOINTMENT_STATUS
        assert {p["status"] for p in resource["participant"]} <= PARTICIPANT_STATUS
        assert datetime.fromisoformat(resource["start"]).utcoffset() is not None
    return resource


def get(client, path, headers, expect=200, **params) -> dict:
    response = client.get(f"/fhir/{path}", params=params, headers=headers)
    assert response.status_code == expect, response.text[:2000]
    assert response.headers["content-type"].startswith(FHIR_JSON)
    return valid(response.json())


def resources(bundle: dict) -> list[dict]:
    assert bundle["type"] == "searchset"
    return [entry["resource"] for entry in bundle.get("entry", [])]


def test_the_capability_statement_lists_what_is_supported(client):
    statement = get(client, "metadata", {})
    assert statement["fhirVersion"] == "4.0.1"
    types = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {"Practitioner", "PractitionerRole", "Location", "Device", "HealthcareService", "Schedule", "Slot",
            "Appointment"} <= set(types)
    assert {"code": "create"} in types["Appointment"]["interaction"]
    assert {p["name"] for p in types["Slot"]["searchParam"]} == {"schedule", "service-type", "start", "status"}


def test_the_directory_reads_and_searches(client, as_desk, world):
    clinicians = resources(get(client, "Practitioner", as_desk, name="dan"))
    assert [c["name"][0]["text"] for c in clinicians] == ["Dana"]
    assert get(client, f"Practitioner/{world.dana.id}", as_desk)["id"] == str(world.dana.id)
    role = get(client, f"PractitionerRole/{world.dana.id}", as_desk)
    assert {c["coding"][0]["code"] for c in role["specialty"]} == {"eswt", "msus"}
    assert {r["id"] for r in resources(get(client, "PractitionerRole", as_desk, specialty="eswt"))} >= {
        str(world.dana.id), str(world.eli.id)}
    rooms = resources(get(client, "Location", as_desk, partof=f"Location/{world.midtown.id}"))
    assert rooms and all(r["id"].startswith("room-") for r in rooms)
    assert get(client, f"Location/room-{world.gym.id}", as_desk)["partOf"]["reference"] == f"Location/{world.midtown.id}"
    units = resources(get(client, "Device", as_desk, location=str(world.midtown.id)))
    assert {u["deviceName"][0]["name"] for u in units} >= {"Shockwave unit", "Ultrasound 1"}
    services = resources(get(client, "HealthcareService", as_desk, **{"service-type": "w_eswt"}))
    assert [s["name"] for s in services] == ["Shockwave therapy"]
    schedules = resources(get(client, "Schedule", as_desk, actor=f"Practitioner/{world.dana.id}"))
    assert [s["id"] for s in schedules] == [f"practitioner-{world.dana.id}"]
    assert get(client, "Schedule", as_desk, _count=2)["total"] > 2


def test_paging_links_walk_the_whole_result(client, as_desk, world):
    seen, page = [], get(client, "Location", as_desk, _count=2)
    while True:
        seen += [r["id"] for r in resources(page)]
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            break
        response = client.get(following[0], headers=as_desk)
        page = valid(response.json())
    assert len(seen) == page["total"] == len(set(seen))


def test_errors_are_operation_outcomes(client, as_desk, world):
    missing = get(client, "Practitioner/999999", as_desk, expect=404)
    assert missing["resourceType"] == "OperationOutcome" and missing["issue"][0]["code"] == "not-found"
    unsigned = get(client, "Practitioner", {}, expect=401)
    assert unsigned["issue"][0]["code"] == "login"
    unknown = get(client, "Practitioner", as_desk, expect=400, colour="blue")
    assert "unknown search parameter 'colour'" in unknown["issue"][0]["diagnostics"]
    assert get(client, "Slot", as_desk, expect=400)["issue"][0]["diagnostics"].startswith("search Slots by schedule")
    no_offset = get(client, "Slot", as_desk, expect=400, schedule=f"service-{world.eswt.id}", start="ge2027-03-02T09:00")
    assert "needs an offset" in no_offset["issue"][0]["diagnostics"]
    bad_body = client.post("/fhir/Appointment", headers=as_desk, json={"resourceType": "Appointment", "status": "nope",
                                                                       "participant": []})
    assert bad_body.status_code == 422 and valid(bad_body.json())["resourceType"] == "OperationOutcome"


def free_slots(client, headers, world, day=3) -> list[dict]:
    bundle = get(client, "Slot", headers, schedule=f"Schedule/service-{world.msus.id}", status="free",
                 start=[f"ge{at(day, 0).isoformat()}", f"lt{at(day + 1, 0).isoformat()}"])
    return resources(bundle)


def appointment_body(world, slot: dict, status="booked", **extra) -> dict:
    return {"resourceType": "Appointment", "status": status, "slot": [{"reference": f"Slot/{slot['id']}"}],
            "participant": [{"actor": {"reference": f"Patient/{world.patients[0].id}"}, "status": "accepted"}], **extra}


def test_a_fhir_booking_blocks_the_rest_side_and_the_reverse(client, as_desk, world):
    slots = free_slots(client, as_desk, world)
    first = slots[0]
    assert first["status"] == "free" and datetime.fromisoformat(first["start"]).utcoffset().total_seconds() == -5 * 3600
    made = client.post("/fhir/Appointment", headers=as_desk, json=appointment_body(world, first))
    assert made.status_code == 201, made.text
    appointment = valid(made.json())
    assert made.headers["location"].endswith(f"/fhir/Appointment/{appointment['id']}/_history/1")
    assert appointment["status"] == "booked" and appointment["start"] == first["start"]
    practitioner = next(p["actor"]["reference"] for p in appointment["participant"]
                        if p["actor"]["reference"].startswith("Practitioner/"))

    start = datetime.fromisoformat(first["start"])
    rest = search(client, as_desk, world.msus, start, start.replace(minute=start.minute + 1),
                  clinician_id=int(practitioner.split("/")[1]))
    assert rest["slots"] == [], "the REST search no longer offers what FHIR booked"
    assert first["id"] not in {s["id"] for s in free_slots(client, as_desk, world)}
    again = client.post("/fhir/Appointment", headers=as_desk, json=appointment_body(world, first))
    assert again.status_code == 409 and valid(again.json())["issue"][0]["code"] == "conflict"

    via_rest = booked(client, as_desk, world.msus, world.patients[1], at(3, 14), clinician_id=world.max.id)
    taken = [s for s in slots if s["id"].endswith(f"-c{world.max.id}-t{int(at(3, 14).timestamp()) // 60}")]
    assert taken, "the slot REST booked was free on the FHIR side before"
    assert taken[0]["id"] not in {s["id"] for s in free_slots(client, as_desk, world)}
    refused = client.post("/fhir/Appointment", headers=as_desk, json=appointment_body(world, taken[0]))
    assert refused.status_code == 409
    busy = resources(get(client, "Slot", as_desk, schedule=f"practitioner-{world.max.id}",
                         start=[f"ge{at(3, 0).isoformat()}", f"lt{at(4, 0).isoformat()}"]))
    assert {s["status"] for s in busy} == {"busy"}
    assert at(3, 14) in {datetime.fromisoformat(s["start"]) for s in busy}
    assert get(client, f"Appointment/{via_rest['id']}", as_desk)["status"] == "booked"


def test_a_hold_is_pending_with_tentative_slots_then_booked_or_cancelled(client, as_desk, as_admin, world):
    slot = free_slots(client, as_desk, world)[0]
    hold = valid(client.post("/fhir/Appointment", headers=as_desk,
                             json=appointment_body(world, slot, status="pending")).json())
    assert hold["status"] == "pending" and {p["status"] for p in hold["participant"]} == {"tentative"}
    clinician = next(p["actor"]["reference"].split("/")[1] for p in hold["participant"]
                     if p["actor"]["reference"].startswith("Practitioner/"))
    busy = resources(get(client, "Slot", as_desk, schedule=f"practitioner-{clinician}",
                         start=[f"ge{at(3, 0).isoformat()}", f"lt{at(4, 0).isoformat()}"]))
    assert [s["status"] for s in busy] == ["busy-tentative"]
    assert get(client, f"Slot/{busy[0]['id']}", as_desk)["status"] == "busy-tentative"

    booked_now = client.put(f"/fhir/Appointment/{hold['id']}", headers=as_desk, json={**hold, "status": "booked"})
    assert booked_now.status_code == 200 and valid(booked_now.json())["status"] == "booked"
    for text in ("a\u0000b", "a\u0001b", "x" * 301):  # the REST cancel's rules (a NUL was stored on SQLite)
        refused = client.put(f"/fhir/Appointment/{hold['id']}", headers=as_desk,
                             json={**hold, "status": "cancelled", "cancelationReason": {"text": text}})
        assert refused.status_code == 422 and "cancelationReason" in refused.text, refused.text
    cancelled = client.put(f"/fhir/Appointment/{hold['id']}", headers=as_desk,
                           json={**hold, "status": "cancelled", "cancelationReason": {"text": "patient ill"}})
    assert valid(cancelled.json())["status"] == "cancelled"
    rest = client.get(f"{API}/appointments/{hold['id']}", headers=as_desk).json()
    assert rest["status"] == "cancelled" and rest["cancel_reason"] == "patient ill"
    assert slot["id"] in {s["id"] for s in free_slots(client, as_desk, world)}, "cancelling frees the slot"
    log = client.get(f"{API}/audit", headers=as_admin, params={"appointment_id": hold["id"]})
    assert log.status_code == 200, log.text
    assert sorted(e["action"] for e in log.json()["items"]) == ["book", "cancel", "hold"]
    revived = client.put(f"/fhir/Appointment/{hold['id']}", headers=as_desk, json={**hold, "status": "booked"})
    assert revived.status_code == 409 and valid(revived.json())["resourceType"] == "OperationOutcome"


def test_retries_with_one_idempotency_key_book_once(client, as_desk, world):
    slot = free_slots(client, as_desk, world)[0]
    headers = {**as_desk, "Idempotency-Key": "fhir-retry-1"}
    first = client.post("/fhir/Appointment", headers=headers, json=appointment_body(world, slot))
    second = client.post("/fhir/Appointment", headers=headers, json=appointment_body(world, slot))
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"] and second.headers["idempotent-replayed"] == "true"


def test_appointments_are_searched_by_patient_practitioner_date_and_status(client, as_desk, world):
    one = booked(client, as_desk, world.msus, world.patients[0], at(3, 9), clinician_id=world.max.id)
    booked(client, as_desk, world.msus, world.patients[1], at(4, 9), clinician_id=world.max.id)
    by_patient = resources(get(client, "Appointment", as_desk, patient=f"Patient/{world.patients[0].id}"))
    assert [a["id"] for a in by_patient] == [str(one["id"])]
    on_day = resources(get(client, "Appointment", as_desk, practitioner=str(world.max.id), date="2027-03-04"))
    assert len(on_day) == 1 and on_day[0]["start"].startswith("2027-03-04T09:00:00-05:00")
    assert resources(get(client, "Appointment", as_desk, status="cancelled")) == []
    bad = get(client, "Appointment", as_desk, expect=400, status="maybe")
    assert "status must be one of" in bad["issue"][0]["diagnostics"]


def test_the_bulk_publication_parses_line_by_line(client, world):
    manifest = client.get("/fhir/$bulk-publish").json()
    assert {o["type"] for o in manifest["output"]} == {"Location", "Schedule", "Slot"}
    for output in manifest["output"]:
        response = client.get(output["url"])
        assert response.status_code == 200 and response.headers["content-type"].startswith("application/fhir+ndjson")
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert lines and all(valid(line)["resourceType"] == output["type"] for line in lines)
        if output["type"] == "Schedule":
            assert {line["id"] for line in lines} == {f"service-{service.id}-l{clinic.id}" for service in (
                world.telehealth, world.msus) for clinic in (world.midtown, world.night_desk)}
        if output["type"] == "Slot":
            link = lines[0]["extension"][0]
            assert link["url"].endswith("booking-deep-link") and "/request?kind=" in link["valueUrl"]
            assert all("patient" not in line for line in lines)
