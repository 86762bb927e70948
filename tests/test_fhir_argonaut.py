"""Argonaut Scheduling: $find proposes, $hold holds, $book books or reschedules; every answer validates (R4B)."""

import pytest

from tests.booking_helpers import booked, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API
from tests.test_fhir import resources, valid


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    return build_world(session)


def parameters(**values) -> dict:
    """A FHIR Parameters body; a dict value is a resource, a list gives the parameter several times."""
    entries = []
    for name, value in values.items():
        for one in value if isinstance(value, list) else [value]:
            entries.append({"name": name, "resource": one} if isinstance(one, dict) else
                           {"name": name, "valueString": one})
    return {"resourceType": "Parameters", "parameter": entries}


def find(client, headers, world, expect=200, **query) -> dict:
    query = {"visit-type": world.msus.code, "start": at(3, 0).isoformat(), "end": at(4, 0).isoformat(), **query}
    response = client.get("/fhir/Appointment/$find", params=query, headers=headers)
    assert response.status_code == expect, response.text
    return valid(response.json())


def proposals(bundle: dict) -> list[dict]:
    return [r for r in resources(bundle) if r["resourceType"] == "Appointment"]


def operation(client, headers, name, body, ident=None, expect=200) -> dict:
    path = f"/fhir/Appointment/{ident}/${name}" if ident else f"/fhir/Appointment/${name}"
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == expect, response.text
    return valid(response.json())


def test_find_proposes_the_soonest_free_times_in_preference_order(client, as_desk, world):
    patient = world.patients[0]
    bundle = find(client, as_desk, world, **{"patient-reference": f"Patient/{patient.id}", "_count": "5",
                                             "practitioner": [f"Practitioner/{world.max.id}"]})
    found = proposals(bundle)
    assert len(found) == 5 and all(a["status"] == "proposed" for a in found)
    assert [a["start"] for a in found] == sorted(a["start"] for a in found)
    assert {p["actor"]["reference"] for a in found for p in a["participant"]} >= {
        f"Practitioner/{world.max.id}", f"Patient/{patient.id}"}
    assert all(a["id"].endswith(f"-p{patient.id}") and a["slot"][0]["reference"].startswith("Slot/s")
               for a in found)
    more = [r for r in resources(bundle) if r["resourceType"] == "OperationOutcome"]
    assert more and "total" not in bundle, "a cut list says so instead of claiming a total"

    posted = client.post("/fhir/Appointment/$find", headers=as_desk, json=parameters(**{
        "visit-type": world.msus.code, "start": at(3, 0).isoformat(), "end": at(4, 0).isoformat(),
        "practitioner": f"Practitioner/{world.max.id}", "patient-reference": f"Patient/{patient.id}",
        "_count": "5"}))
    assert posted.status_code == 200, posted.text
    assert [a["id"] for a in proposals(posted.json())] == [a["id"] for a in found]


def test_find_refuses_what_it_cannot_use(client, as_desk, world):
    no_type = find(client, as_desk, world, expect=400, **{"visit-type": []})
    assert "give one visit-type" in no_type["issue"][0]["diagnostics"]
    unknown = find(client, as_desk, world, expect=400, colour="blue")
    assert "unknown parameter 'colour'" in unknown["issue"][0]["diagnostics"]
    backwards = find(client, as_desk, world, expect=400, start=at(4, 0).isoformat(), end=at(3, 0).isoformat())
    assert "end must come after start" in backwards["issue"][0]["diagnostics"]
    not_parameters = client.post("/fhir/Appointment/$find", headers=as_desk, json={"resourceType": "Patient"})
    assert not_parameters.status_code == 422 and valid(not_parameters.json())["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/Appointment/$find", params={"visit-type": world.msus.code}).status_code == 401


def test_hold_then_book_a_proposed_appointment(client, as_desk, world):
    patient = world.patients[0]
    first = proposals(find(client, as_desk, world, **{"patient-reference": f"Patient/{patient.id}",
                                                      "_count": "3"}))[0]
    held = client.post(f"/fhir/Appointment/{first['id']}/$hold", headers=as_desk,
                       json=parameters(**{"appt-id": f"Appointment/{first['id']}"}))
    assert held.status_code == 200, held.text
    assert "GMT" in held.headers["expires"]
    hold = proposals(valid(held.json()))[0]
    assert hold["status"] == "pending" and hold["start"] == first["start"]
    assert first["id"] not in {a["id"] for a in proposals(find(client, as_desk, world, **{
        "patient-reference": f"Patient/{patient.id}"}))}, "a held time is proposed no more"

    done = operation(client, as_desk, "book", parameters(**{"appt-id": f"Appointment/{hold['id']}",
                                                             "patient-id": f"Patient/{patient.id}"}))
    assert [a["status"] for a in proposals(done)] == ["booked"] and proposals(done)[0]["id"] == hold["id"]
    rest = client.get(f"{API}/appointments/{hold['id']}", headers=as_desk).json()
    assert rest["status"] == "booked"


def test_book_directly_then_the_same_time_is_a_conflict(client, as_desk, world):
    first = proposals(find(client, as_desk, world, _count="1"))[0]
    for patient, expect in ((world.patients[0], 200), (world.patients[1], 409)):
        answer = operation(client, as_desk, "book", parameters(**{"appt-id": first["id"],
                                                                   "patient-id": f"Patient/{patient.id}"}),
                           expect=expect)
        if expect == 409:
            assert answer["resourceType"] == "OperationOutcome" and answer["issue"][0]["code"] == "conflict"
    nobody = operation(client, as_desk, "hold", parameters(**{"appt-id": first["id"]}), expect=422)
    assert "say whose appointment it is" in nobody["issue"][0]["diagnostics"]
    unknown = operation(client, as_desk, "hold", parameters(**{"appt-id": "proposed-nonsense"}), expect=404)
    assert unknown["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("operation_name", ["book", "hold"])
def test_a_retried_operation_with_its_idempotency_key_gets_the_first_answer(client, as_desk, world, operation_name):
    """The key was ignored: a client retrying a $book whose answer it lost was told 409, "the patient has other
    appointments", about the booking it had made (found by a probe). A replayed $hold keeps its Expires."""
    first = proposals(find(client, as_desk, world, _count="1"))[0]
    body = parameters(**{"appt-id": first["id"], "patient-id": f"Patient/{world.patients[0].id}"})
    keyed = {**as_desk, "Idempotency-Key": f"{operation_name}-once-7"}
    answers = [client.post(f"/fhir/Appointment/${operation_name}", json=body, headers=keyed) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200, 200], answers[1].text
    assert answers[1].headers.get("idempotent-replayed") == "true"
    assert answers[1].json() == answers[0].json() and valid(answers[1].json())
    if operation_name == "hold":
        assert answers[1].headers["expires"] == answers[0].headers["expires"]
        assert "GMT" in answers[1].headers["expires"]
    listed = client.get(f"{API}/appointments", headers=as_desk, params={"patient_id": world.patients[0].id}).json()
    assert len(listed["items"]) == 1


def test_book_with_an_appointment_resource_from_find(client, as_desk, world):
    patient = world.patients[1]
    proposed = proposals(find(client, as_desk, world, **{"patient-reference": f"Patient/{patient.id}",
                                                         "_count": "1"}))[0]
    done = operation(client, as_desk, "book", parameters(**{"appt-resource": proposed}))
    assert proposals(done)[0]["status"] == "booked" and proposals(done)[0]["start"] == proposed["start"]


def test_reschedule_cancels_the_old_and_books_the_new_all_or_nothing(client, as_desk, world):
    patient = world.patients[0]
    old = booked(client, as_desk, world.msus, patient, at(3, 9), clinician_id=world.max.id)
    overlapping = f"proposed-s{world.msus.id}-l{world.midtown.id}-c{world.max.id}-t{int(at(3, 9, 15).timestamp()) // 60}"
    done = operation(client, as_desk, "book", parameters(**{"appt-id": overlapping,
                                                             "cancelled-appt-id": f"Appointment/{old['id']}"}))
    new, cancelled = proposals(done)
    assert (new["status"], cancelled["status"], cancelled["id"]) == ("booked", "cancelled", str(old["id"]))
    assert new["start"].startswith("2027-03-03T09:15")

    other = booked(client, as_desk, world.msus, world.patients[1], at(3, 13), clinician_id=world.max.id)
    taken = f"proposed-s{world.msus.id}-l{world.midtown.id}-c{world.max.id}-t{int(at(3, 13).timestamp()) // 60}"
    refused = operation(client, as_desk, "book", parameters(**{"appt-id": taken,
                                                                "cancelled-appt-id": f"Appointment/{new['id']}"}),
                        expect=409)
    assert refused["resourceType"] == "OperationOutcome"
    kept = client.get(f"{API}/appointments/{new['id']}", headers=as_desk).json()
    assert kept["status"] == "booked", "a refused reschedule leaves the old appointment booked"
    assert client.get(f"{API}/appointments/{other['id']}", headers=as_desk).json()["status"] == "booked"


def test_cancel_with_a_json_patch_as_the_guide_does(client, as_desk, world):
    made = booked(client, as_desk, world.msus, world.patients[0], at(3, 9), clinician_id=world.max.id)
    patch = {**as_desk, "Content-Type": "application/json-patch+json"}
    path = f"/fhir/Appointment/{made['id']}"
    stale = client.patch(path, headers={**patch, "If-Match": 'W/"7"'},
                         json=[{"op": "replace", "path": "/status", "value": "cancelled"}])
    assert stale.status_code == 412 and valid(stale.json())["resourceType"] == "OperationOutcome"
    broken = client.patch(path, headers=patch, json=[{"op": "replace", "path": "/nothing/here", "value": 1}])
    assert broken.status_code == 422 and "cannot be applied" in broken.text
    for kind, shape in (("application/json-patch+json", {}), ("application/merge-patch+json", [])):
        # each was applied as the other kind, an empty change answered 200 (found by a probe)
        wrong = client.patch(path, headers={**as_desk, "Content-Type": kind}, json=shape)
        assert wrong.status_code == 422 and "is an array of operations" in wrong.text, wrong.text
    done = client.patch(path, headers=patch, json=[{"op": "replace", "path": "/status", "value": "cancelled"}])
    assert done.status_code == 200, done.text
    assert valid(done.json())["status"] == "cancelled"
    rest = client.get(f"{API}/appointments/{made['id']}", headers=as_desk).json()
    assert rest["status"] == "cancelled" and rest["cancel_reason"] == "cancelled through FHIR"


def test_cancel_with_a_merge_patch_and_refuse_what_cannot_be_applied(client, as_desk, world):
    made = booked(client, as_desk, world.msus, world.patients[0], at(3, 10), clinician_id=world.max.id)
    path = f"/fhir/Appointment/{made['id']}"
    merge = {**as_desk, "Content-Type": "application/merge-patch+json"}
    fhirpath = client.patch(path, headers=as_desk, json={"resourceType": "Parameters", "parameter": [
        {"name": "operation", "part": [{"name": "type", "valueCode": "replace"}]}]})
    assert fhirpath.status_code == 422 and "FHIRPath Patch is not supported" in fhirpath.text
    retyped = client.patch(path, headers=merge, json={"resourceType": "Patient"})
    assert retyped.status_code == 422 and "resourceType" in retyped.text
    unknown = client.patch(path, headers=merge, json={"status": "on-hold"})
    assert unknown.status_code == 422
    assert client.get(f"{API}/appointments/{made['id']}", headers=as_desk).json()["status"] == "booked"
    done = client.patch(path, headers=merge, json={"status": "cancelled", "cancelationReason": None})
    assert done.status_code == 200, done.text
    assert valid(done.json())["status"] == "cancelled"
    assert client.get(f"{API}/appointments/{made['id']}", headers=as_desk).json()["status"] == "cancelled"


def test_the_capability_statement_names_the_operations_and_patch(client):
    statement = valid(client.get("/fhir/metadata").json())
    appointment = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Appointment")
    assert {"code": "patch"} in appointment["interaction"]
    assert {o["name"] for o in appointment["operation"]} == {"find", "hold", "book"}
    assert all(o["definition"].startswith("http://fhir.org/guides/argonaut-scheduling/") for o in appointment["operation"])


def test_a_move_after_the_service_was_lengthened_takes_and_names_the_new_length(client, as_desk, as_admin, world):
    """The diagnostic ultrasound goes from 45 to 60 min after a session was booked. Moving the session (a merge
    patch of start and end, as a FHIR client does) books it for 60 min, the service's length now; the end the
    server expects must say so. It expected the old 45 min: the right end was refused with a 422 naming an end the
    move would not have written, and that end was refused by the move itself."""
    made = booked(client, as_desk, world.msus, world.patients[0], at(3, 9), clinician_id=world.max.id)
    assert client.patch(f"{API}/services/{world.msus.id}", headers=as_admin,
                        json={"duration_minutes": 60}).status_code == 200
    path, merge = f"/fhir/Appointment/{made['id']}", {**as_desk, "Content-Type": "application/merge-patch+json"}
    start = at(4, 9)
    stale = client.patch(path, headers=merge, json={"start": start.isoformat(), "end": at(4, 9, 45).isoformat()})
    assert stale.status_code == 422 and at(4, 10).isoformat() in stale.text, stale.text
    moved = client.patch(path, headers=merge, json={"start": start.isoformat(), "end": at(4, 10).isoformat()})
    assert moved.status_code == 200, moved.text
    body = valid(moved.json())
    assert (body["start"], body["end"], body["minutesDuration"]) == (start.isoformat(), at(4, 10).isoformat(), 60)
    kept = client.patch(path, headers=merge, json={"end": at(4, 10).isoformat(), "minutesDuration": 60})
    assert kept.status_code == 200, kept.text


@pytest.mark.parametrize("element", ["start", "end"])
def test_a_time_written_as_a_number_is_refused_by_name(client, as_desk, world, element):
    """The R4B model takes a JSON number as seconds since 1970; reading the body's value as text then failed with a
    500 (found by a probe, 2026-12-01). FHIR's JSON writes an instant as a string only: 422 naming the element."""
    made = booked(client, as_desk, world.msus, world.patients[0], at(3, 9), clinician_id=world.max.id)
    path = f"/fhir/Appointment/{made['id']}"
    merge = {**as_desk, "Content-Type": "application/merge-patch+json"}
    patched = client.patch(path, headers=merge, json={element: 1_800_000_000})
    assert patched.status_code == 422, patched.text
    assert patched.json()["issue"][0]["expression"] == [element], patched.text
    assert "string" in patched.text
    whole = client.get(path, headers=as_desk).json()
    put = client.put(path, headers={**as_desk, "If-Match": f'W/"{whole["meta"]["versionId"]}"'},
                     json={**whole, element: 1_800_000_000})
    assert put.status_code == 422, put.text
    assert client.get(path, headers=as_desk).json()["start"] == whole["start"]


def test_a_length_written_as_text_is_refused_in_words(client, as_desk, world):
    """"45" for a 45-minute session was refused saying the length is 45 minutes, which it was asked to be."""
    made = booked(client, as_desk, world.msus, world.patients[0], at(3, 9), clinician_id=world.max.id)
    patched = client.patch(f"/fhir/Appointment/{made['id']}", json={"minutesDuration": "45"},
                           headers={**as_desk, "Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 422 and 'a whole number of minutes, not \\"45\\"' in patched.text, patched.text


def test_a_patch_that_is_not_json_is_told_so(client, as_desk, world):
    """Text sent as a patch was read as a malformed patch ("Input should be a valid list"), and a body that is not
    JSON was named as an element "70" (its character offset) with "JSON decode error" (found by a probe,
    2026-12-01). Now: 415 naming the media types a patch is read in, and a 400 saying where the JSON breaks; the
    REST API says the same of its bodies."""
    made = booked(client, as_desk, world.msus, world.patients[0], at(3, 9), clinician_id=world.max.id)
    path = f"/fhir/Appointment/{made['id']}"
    text = client.patch(path, content=b'{"status": "cancelled"}', headers={**as_desk, "Content-Type": "text/plain"})
    assert text.status_code == 415, text.text
    assert "application/merge-patch+json" in text.json()["issue"][0]["diagnostics"]
    broken = client.patch(path, content=b'{"status": "cancelled",}',
                          headers={**as_desk, "Content-Type": "application/merge-patch+json"})
    assert broken.status_code == 400, broken.text
    (issue,) = broken.json()["issue"]
    assert issue["diagnostics"].startswith("the body is not valid JSON at character 23") and "expression" not in issue
    assert client.get(path, headers=as_desk).json()["status"] == "booked"
    rest = client.post(f"{API}/appointments", content=b'{"hold_id": 1', headers={**as_desk,
                                                                                 "Content-Type": "application/json"})
    assert rest.status_code == 422 and rest.json()["detail"][0]["loc"] == ["body"], rest.text
    assert rest.json()["detail"][0]["msg"].startswith("the body is not valid JSON at character")


def test_a_merge_patch_of_the_start_alone_moves_the_session_and_its_end(client, as_desk, world):
    """Merged into the stored resource, ``{"start": ...}`` keeps the old end: it was refused with a 422 asking for
    the end (found by a probe, 2026-12-01). An end left as stored follows the start; a third end is still a 422."""
    made = booked(client, as_desk, world.msus, world.patients[0], at(3, 9), clinician_id=world.max.id)
    path, merge = f"/fhir/Appointment/{made['id']}", {**as_desk, "Content-Type": "application/merge-patch+json"}
    moved = client.patch(path, headers=merge, json={"start": at(4, 11).isoformat()})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["start"], moved.json()["end"]) == (at(4, 11).isoformat(), at(4, 11, 45).isoformat())
    odd = client.patch(path, headers=merge, json={"start": at(4, 13).isoformat(), "end": at(4, 14).isoformat()})
    assert odd.status_code == 422 and at(4, 13, 45).isoformat() in odd.text, odd.text
