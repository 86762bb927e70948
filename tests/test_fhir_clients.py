"""Independent FHIR clients against the real `clinic serve` (the demo clinic, SQLite): fhirpy and SMART's
fhirclient search Slots and Appointments and follow the next links to the last page, and find exactly what
searching day by day finds, none twice; fhirpy also counts, sorts, books and sees its bookings, and goes
through Argonaut Scheduling ($find, $hold, $book, a reschedule).
"""

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fhirclient.models.appointment import Appointment as ClientAppointment
from fhirclient.models.fhirsearch import FHIRSearchParam
from fhirclient.models.slot import Slot as ClientSlot
from fhirclient.server import FHIRServer
from fhirpy import SyncFHIRClient
from sqlmodel import Session

from data.accounts import upsert_user
from data.demo import load_demo_clinic
from data.enums import Role
from tests.servers import served_clinic

PASSWORD = "fhir clients password 123"
CLINIC_ZONE = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    def fill(session: Session) -> None:
        load_demo_clinic(session, today=date.today())
        upsert_user(session=session, username="fhir_desk", password=PASSWORD, role=Role.FRONT_DESK)

    with served_clinic(tmp_path_factory.mktemp("fhir-clients"), fill, own_base_url=True) as (server, _):
        yield server


@pytest.fixture(scope="module")
def token(served) -> str:
    signed_in = httpx.post(f"{served.base_url}/api/v1/auth/token",
                           data={"username": "fhir_desk", "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    return signed_in.json()["access_token"]


@pytest.fixture(scope="module")
def fhirpy_client(served, token) -> SyncFHIRClient:
    """fhirpy counts with ``_totalMethod`` (an Aidbox parameter), so it asks for lenient handling."""
    return SyncFHIRClient(f"{served.base_url}/fhir", authorization=f"Bearer {token}",
                          extra_headers={"Prefer": "handling=lenient"})


@pytest.fixture(scope="module")
def smart_server(served, token) -> FHIRServer:
    server = FHIRServer(None, base_uri=f"{served.base_url}/fhir")
    server.session.headers["Authorization"] = f"Bearer {token}"
    return server


def days() -> list[date]:
    """The coming week in the clinic's zone, from tomorrow (so no slot of it passes while the test runs)."""
    tomorrow = datetime.now(CLINIC_ZONE).date() + timedelta(days=1)
    return [tomorrow + timedelta(days=n) for n in range(7)]


def once(ids: list[str]) -> list[str]:
    repeated = [ident for ident, times in Counter(ids).items() if times > 1]
    assert repeated == [], f"listed twice: {repeated[:5]}"
    return ids


def test_clients_page_through_every_free_slot_of_a_week(fhirpy_client, smart_server):
    service = fhirpy_client.resources("HealthcareService").search(**{"service-type": "sij_manual"}).get()
    schedule, week = f"Schedule/service-{service.id}", days()
    window = [f"ge{week[0]}", f"lt{week[-1] + timedelta(days=1)}"]

    slots = fhirpy_client.resources("Slot").search(schedule=schedule, start=window)
    paged = once([slot.id for slot in slots.fetch_all()])
    by_day = once([slot.id for day in week
                   for slot in fhirpy_client.resources("Slot").search(schedule=schedule, start=str(day)).fetch_all()])
    assert len(paged) > 200, "beyond the 200 one search used to stop at"
    assert paged == by_day
    assert slots.count() == len(paged)

    search = ClientSlot.where({"schedule": schedule, "_count": "40"})
    search.params += [FHIRSearchParam("start", value) for value in window]
    assert once([slot.id for slot in search.perform_resources_iter(smart_server)]) == paged


def test_clients_page_through_appointments_they_booked(served, token, fhirpy_client, smart_server):
    week = days()
    service = fhirpy_client.resources("HealthcareService").search(**{"service-type": "telehealth"}).get()
    free = fhirpy_client.resources("Slot").search(
        schedule=f"Schedule/service-{service.id}", status="free",
        start=[f"ge{week[0]}", f"lt{week[-1] + timedelta(days=1)}"]).fetch_all()
    listed = httpx.get(f"{served.base_url}/api/v1/patients", headers={"Authorization": f"Bearer {token}"})
    patients = [patient["id"] for patient in listed.json()["items"][:12]]
    chosen = free[::max(1, len(free) // 12)][:12]
    assert len(chosen) == 12 and len(patients) == 12
    made = []
    for slot, patient in zip(chosen, patients):
        appointment = fhirpy_client.resource("Appointment", status="booked", slot=[{"reference": f"Slot/{slot.id}"}],
                                             participant=[{"actor": {"reference": f"Patient/{patient}"},
                                                           "status": "accepted"}])
        appointment.save()
        made.append(appointment.id)

    window = [f"ge{week[0]}", f"lt{week[-1] + timedelta(days=1)}"]
    search = ClientAppointment.where({"_count": "5"})
    search.params += [FHIRSearchParam("date", value) for value in window]
    paged = once([appointment.id for appointment in search.perform_resources_iter(smart_server)])
    by_day = once([appointment.id for day in week for appointment in
                   fhirpy_client.resources("Appointment").search(date=str(day)).fetch_all()])
    assert paged == by_day and sorted(paged) == sorted(made)
    newest_first = fhirpy_client.resources("Appointment").search(date=window).sort("-date").limit(4).fetch_all()
    assert [appointment.id for appointment in newest_first] == paged[::-1]
    assert fhirpy_client.resources("Appointment").search(date=window).count() == 12

    still_free = {slot.id for slot in fhirpy_client.resources("Slot").search(
        schedule=f"Schedule/service-{service.id}", start=window).fetch_all()}
    assert not still_free & {slot.id for slot in chosen}, "a booked slot is no longer offered"


def parameters(**values: str) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": name, "valueUri": value}
                                                        for name, value in values.items()]}


def test_an_argonaut_client_finds_holds_books_and_reschedules(served, token, fhirpy_client):
    week = days()
    listed = httpx.get(f"{served.base_url}/api/v1/patients", headers={"Authorization": f"Bearer {token}"})
    patient = f"Patient/{listed.json()['items'][-1]['id']}"
    found = fhirpy_client.execute("Appointment/$find", method="get", params={
        "visit-type": "telehealth", "start": str(week[2]), "end": str(week[3]), "patient-reference": patient,
        "_count": "3"})
    proposals = [entry["resource"] for entry in found["entry"] if entry["resource"]["resourceType"] == "Appointment"]
    assert len(proposals) == 3 and {p["status"] for p in proposals} == {"proposed"}

    held = fhirpy_client.execute(f"Appointment/{proposals[0]['id']}/$hold",
                                 data=parameters(**{"appt-id": f"Appointment/{proposals[0]['id']}"}))
    hold = held["entry"][0]["resource"]
    assert hold["status"] == "pending" and hold["start"] == proposals[0]["start"]
    booked = fhirpy_client.execute("Appointment/$book", data=parameters(**{"appt-id": f"Appointment/{hold['id']}",
                                                                           "patient-id": patient}))
    assert booked["entry"][0]["resource"]["status"] == "booked"

    moved = fhirpy_client.execute("Appointment/$book", data=parameters(**{
        "appt-id": f"Appointment/{proposals[2]['id']}", "cancelled-appt-id": f"Appointment/{hold['id']}"}))
    new, old = (entry["resource"] for entry in moved["entry"])
    assert (new["status"], new["start"], old["id"]) == ("booked", proposals[2]["start"], hold["id"])
    assert fhirpy_client.reference("Appointment", hold["id"]).to_resource()["status"] == "cancelled"
    assert fhirpy_client.reference("Appointment", new["id"]).to_resource()["status"] == "booked"
    cancelled = fhirpy_client.patch("Appointment", new["id"], status="cancelled")  # a merge patch, as fhirpy sends
    assert cancelled["status"] == "cancelled"
    assert fhirpy_client.reference("Appointment", new["id"]).to_resource()["status"] == "cancelled"


def test_fhirpy_updates_a_patient_it_read(served, token, fhirpy_client):
    listed = httpx.get(f"{served.base_url}/api/v1/patients", headers={"Authorization": f"Bearer {token}"})
    patient = fhirpy_client.reference("Patient", str(listed.json()["items"][0]["id"])).to_resource()
    version = int(patient["meta"]["versionId"])
    patient["telecom"] = [{"system": "phone", "value": "+1 212 555 0177"}]
    patient.save()  # a PUT of the whole resource
    again = fhirpy_client.reference("Patient", patient.id).to_resource()
    assert again["telecom"] == [{"system": "phone", "value": "+1 212 555 0177"}]
    assert int(again["meta"]["versionId"]) == version + 1
