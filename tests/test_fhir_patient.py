"""FHIR Patient: the Patient/N every Appointment names can be read, searched and created by the desk.

Read and search (identifier, name, family, given, birthdate, telecom, phone, email, _id) for admins and the
front desk, as the REST API's patients; create through the REST API's own rules (validated with the R4B model
first), conditional with If-None-Exist. An erased patient reads as its id and nothing else and matches no search by
name, birth date or contact. Patients carry meta.versionId and an ETag.
"""

import pytest
from sqlmodel import func, select

from data.tables import Patient
from tests.booking_helpers import set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API, create, patient_body
from tests.test_fhir import get, resources, valid


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    return build_world(session)


def new_patient(**overrides) -> dict:
    return {"resourceType": "Patient", "name": [{"family": "Rivera", "given": ["Ana", "Lucia"]}],
            "birthDate": "1984-07-02", "gender": "female",
            "telecom": [{"system": "phone", "value": "(212) 555-0199"},
                        {"system": "email", "value": "ana@example.com"}],
            **overrides}


def test_the_patient_an_appointment_names_can_be_read(client, as_desk, world):
    slot = f"s{world.msus.id}-l{world.midtown.id}-c{world.max.id}-t{int(at(3, 9).timestamp()) // 60}"
    appointment = client.post("/fhir/Appointment", headers=as_desk, json={
        "resourceType": "Appointment", "status": "booked", "slot": [{"reference": f"Slot/{slot}"}],
        "participant": [{"actor": {"reference": f"Patient/{world.patients[0].id}"}, "status": "accepted"}]}).json()
    reference = next(p["actor"]["reference"] for p in appointment["participant"]
                     if p["actor"]["reference"].startswith("Patient/"))
    response = client.get(f"/fhir/{reference}", headers=as_desk)
    patient = valid(response.json())
    assert response.status_code == 200 and response.headers["etag"] == 'W/"1"'
    assert patient["name"][0]["family"] == "World" and patient["name"][0]["given"] == ["Ann"]
    assert patient["birthDate"] == "1985-01-01" and patient["active"] is True
    assert patient["identifier"][0]["value"] == str(world.patients[0].id) and patient["meta"]["versionId"] == "1"
    assert client.get(f"/fhir/{reference}", headers={**as_desk, "If-None-Match": 'W/"1"'}).status_code == 304
    assert get(client, f"{reference}/_history/1", as_desk)["id"] == str(world.patients[0].id)
    assert get(client, "Patient/999999", as_desk, expect=404)["issue"][0]["code"] == "not-found"


def test_patients_are_searched_like_the_desk_does(client, as_desk, as_admin, world):
    grace = create(client, as_admin, "patients", patient_body())
    namesake = create(client, as_admin, "patients", patient_body(given_name="Gracie", birth_date="1991-02-03",
                                                                 phone="+44 20 7946 0958", email="gh@example.org"))

    def ids(**params) -> list[int]:
        return [int(p["id"]) for p in resources(get(client, "Patient", as_desk, **params))]

    assert ids(family="hop") == [grace["id"], namesake["id"]]
    assert ids(name="grac hop") == [grace["id"], namesake["id"]] and ids(given="gracie") == [namesake["id"]]
    assert ids(family="World", given="Ben") == [world.patients[1].id]
    assert ids(birthdate="1980-12-09") == [grace["id"]] and ids(family="hopper", birthdate="ge1990") == [namesake["id"]]
    assert ids(family="hopper", birthdate="1991-02") == [namesake["id"]]
    assert ids(birthdate=["ge1985-01-02", "lt1985-02"]) == [p.id for p in world.patients[1:]]
    assert ids(phone="212-555-0100") == [grace["id"]] and ids(telecom="phone|+442079460958") == [namesake["id"]]
    assert ids(email="GRACE@example.com") == [grace["id"]] and ids(telecom="gh@example.org") == [namesake["id"]]
    assert ids(telecom="email|+1 212 555 0100") == []
    assert ids(identifier=f"urn:clinic-scheduler:patient|{grace['id']}") == [grace["id"]]
    assert ids(identifier=f"http://elsewhere.example/mrn|{grace['id']}") == []
    assert ids(_id=f"{grace['id']},{namesake['id']}") == [grace["id"], namesake["id"]]
    first = get(client, "Patient", as_desk, family="hop", _count=1)
    assert first["total"] == 2 and [p["id"] for p in resources(first)] == [str(grace["id"])]
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert [p["id"] for p in resources(valid(client.get(following, headers=as_desk).json()))] == [str(namesake["id"])]
    form = client.post("/fhir/Patient/_search", data={"family": "hop", "given": "gracie"}, headers=as_desk)
    assert [p["id"] for p in resources(valid(form.json()))] == [str(namesake["id"])]
    assert "unknown search parameter 'gender'" in get(client, "Patient", as_desk, expect=400,
                                                      gender="female")["issue"][0]["diagnostics"]
    assert get(client, "Patient", as_desk, expect=400, birthdate="last year")["issue"][0]["code"] == "invalid"


def test_an_erased_patient_keeps_nothing_but_its_id(client, as_desk, as_admin, world):
    grace = create(client, as_admin, "patients", patient_body())
    assert client.post(f"{API}/patients/{grace['id']}/erase", headers=as_admin).status_code == 200
    erased = get(client, f"Patient/{grace['id']}", as_desk)
    assert erased["active"] is False
    assert {"name", "birthDate", "telecom"}.isdisjoint(erased) and erased["meta"]["versionId"] == "2"
    assert [p["id"] for p in resources(get(client, "Patient", as_desk, _id=str(grace["id"])))] == [str(grace["id"])]
    for pseudonym in ({"family": "patient"}, {"name": "Erased"}, {"birthdate": "1900-01-01"}):
        assert resources(get(client, "Patient", as_desk, **pseudonym)) == [], pseudonym


def test_a_new_patient_is_registered_through_the_rest_rules(client, as_desk, session, world):
    response = client.post("/fhir/Patient", headers=as_desk, json=new_patient())
    assert response.status_code == 201, response.text
    patient = valid(response.json())
    assert response.headers["location"].endswith(f"/fhir/Patient/{patient['id']}/_history/1")
    assert response.headers["etag"] == 'W/"1"'
    assert patient["name"][0]["given"] == ["Ana Lucia"] and "gender" not in patient, "only what scheduling keeps"
    rest = client.get(f"{API}/patients/{patient['id']}", headers=as_desk).json()
    assert (rest["family_name"], rest["birth_date"], rest["phone"], rest["email"]) == (
        "Rivera", "1984-07-02", "(212) 555-0199", "ana@example.com")

    slot = f"s{world.msus.id}-l{world.midtown.id}-c{world.max.id}-t{int(at(3, 9).timestamp()) // 60}"
    booked = client.post("/fhir/Appointment", headers=as_desk, json={
        "resourceType": "Appointment", "status": "booked", "slot": [{"reference": f"Slot/{slot}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient['id']}"}, "status": "accepted"}]})
    assert booked.status_code == 201, booked.text


@pytest.mark.parametrize("body, element", [
    (new_patient(name=[{"given": ["Ana"]}]), "name"),
    (new_patient(birthDate="2999-01-01"), "birthDate"),
    (new_patient(birthDate="1984"), "birthDate"),
    (new_patient(birthDate="July 2nd"), "birthDate"),
    (new_patient(telecom=[{"system": "email", "value": "not an address"}]), "telecom[0].value"),
    (new_patient(telecom=[{"system": "fax", "value": "1"}, {"system": "phone", "value": "call me"}]),
     "telecom[1].value"),
    (new_patient(identifier=[{"system": "urn:clinic-scheduler:patient", "value": "7"}]), "identifier"),
    ({"resourceType": "Appointment"}, "resourceType"),
], ids=["no family name", "future birth", "partial birth date", "not a date", "e-mail", "phone", "our identifier",
        "not a patient"])
def test_a_patient_the_rest_api_would_refuse_is_a_422_naming_the_element(client, as_desk, session, world, body,
                                                                          element):
    before = session.exec(select(func.count()).select_from(Patient)).one()
    response = client.post("/fhir/Patient", headers=as_desk, json=body)
    assert response.status_code == 422, response.text
    issue = valid(response.json())["issue"][0]
    assert issue["expression"][0].startswith(element), issue
    assert session.exec(select(func.count()).select_from(Patient)).one() == before


def test_if_none_exist_finds_the_patient_instead_of_registering_again(client, as_desk, session, world):
    criteria = {"If-None-Exist": "family=Rivera&given=Ana&birthdate=1984-07-02"}
    first = client.post("/fhir/Patient", headers={**as_desk, **criteria}, json=new_patient())
    assert first.status_code == 201, first.text
    again = client.post("/fhir/Patient", headers={**as_desk, **criteria}, json=new_patient())
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    ambiguous = client.post("/fhir/Patient", headers={**as_desk, "If-None-Exist": "family=World"},
                            json=new_patient())
    assert ambiguous.status_code == 412 and valid(ambiguous.json())["issue"][0]["code"] == "conflict"
    assert client.post("/fhir/Patient", headers={**as_desk, "If-None-Exist": "_count=1"},
                       json=new_patient()).status_code == 400
    assert session.exec(select(func.count()).select_from(Patient)).one() == len(world.patients) + 1


def test_a_patient_is_updated_whole_on_its_version_through_the_rest_rules(client, as_desk, as_admin, world):
    made = client.post("/fhir/Patient", headers=as_desk, json=new_patient()).json()
    path = f"/fhir/Patient/{made['id']}"
    assert client.patch(f"{API}/patients/{made['id']}", headers=as_admin,
                        json={"sms_messages": False}).status_code == 200  # version 2: the patient said STOP
    changed = {**made, "telecom": [{"system": "phone", "value": "+1 212 555 0142"}], "gender": "female",
               "name": [{"use": "official", "family": "Rivera-Soto", "given": ["Ana"]}]}

    stale = client.put(path, headers={**as_desk, "If-Match": 'W/"1"'}, json=changed)
    assert stale.status_code == 412 and valid(stale.json())["issue"][0]["code"] == "conflict"
    assert client.put(path, headers=as_desk, json={**changed, "id": "999"}).status_code == 400
    foreign = client.put(path, headers=as_desk, json={**changed, "identifier": [
        {"system": "urn:clinic-scheduler:patient", "value": "1"}]})
    assert foreign.status_code == 422 and "identifier" in foreign.text
    assert client.put(path, headers=as_desk, json={**changed, "birthDate": "2999-01-01"}).status_code == 422
    assert client.get(f"{API}/patients/{made['id']}", headers=as_desk).json()["family_name"] == "Rivera"

    response = client.put(path, headers={**as_desk, "If-Match": 'W/"2"'}, json=changed)
    assert response.status_code == 200, response.text
    updated = valid(response.json())
    assert response.headers["etag"] == 'W/"3"' and updated["meta"]["versionId"] == "3"
    assert updated["telecom"] == [{"system": "phone", "value": "+1 212 555 0142"}] and "gender" not in updated
    rest = client.get(f"{API}/patients/{made['id']}", headers=as_desk).json()
    assert (rest["family_name"], rest["given_name"], rest["phone"], rest["email"]) == (
        "Rivera-Soto", "Ana", "+1 212 555 0142", None), "a FHIR update replaces: the e-mail left out is cleared"
    assert (rest["email_messages"], rest["sms_messages"]) == (True, False), "consents are the patient's, kept"


def test_an_unknown_or_erased_patient_is_not_updated(client, as_desk, as_admin, world):
    assert client.put("/fhir/Patient/999999", headers=as_desk,
                      json=new_patient(id="999999")).status_code == 404, "no update-as-create"
    grace = create(client, as_admin, "patients", patient_body())
    assert client.post(f"{API}/patients/{grace['id']}/erase", headers=as_admin).status_code == 200
    refused = client.put(f"/fhir/Patient/{grace['id']}", headers=as_desk, json=new_patient(id=str(grace["id"])))
    assert refused.status_code == 409 and "erased" in refused.text
    assert get(client, f"Patient/{grace['id']}", as_desk)["active"] is False


def test_clinicians_get_no_patients_as_on_the_rest_side(client, as_clinician, world):
    assert client.get(f"/fhir/Patient/{world.patients[0].id}", headers=as_clinician).status_code == 403
    assert client.get("/fhir/Patient", headers=as_clinician).status_code == 403
    assert client.post("/fhir/Patient", headers=as_clinician, json=new_patient()).status_code == 403
    assert client.put(f"/fhir/Patient/{world.patients[0].id}", headers=as_clinician,
                      json=new_patient(id=str(world.patients[0].id))).status_code == 403
    assert client.get(f"{API}/patients/{world.patients[0].id}", headers=as_clinician).status_code == 403
