"""Every absolute URL the service hands out starts with CLINIC_PUBLIC_BASE_URL, whatever Host the client sends."""

import json

import pytest
from pydantic import ValidationError

from data.config import Settings
from tests.booking_helpers import booked
from tests.clinic_world import at
from tests.factories import API
from tests.test_fhir import appointment_body, free_slots, world  # noqa: F401 (the world fixture)

BASE = "https://clinic.example.org/scheduling"
FORGED = {"Host": "evil.example"}


@pytest.fixture
def configured(app, world):
    app.state.settings = app.state.settings.model_copy(update={"public_base_url": BASE})
    return world


def handed_out(client, as_desk, as_admin, world) -> list[str]:
    """The URLs of each kind the service gives: status link, patient page, feed, FHIR links, deep links."""
    desk, admin = {**as_desk, **FORGED}, {**as_admin, **FORGED}
    slot = next(s for s in client.get(f"{API}/public/slots", params={"kind": "telehealth"}, headers=FORGED).json())
    made = client.post(f"{API}/public/requests", headers=FORGED, json={
        "kind": "telehealth", "location_id": slot["location_id"], "start": slot["start"], "given_name": "Nora",
        "family_name": "Visitor", "birth_date": "1990-04-02", "phone": "+1 212 555 0100"})
    assert made.status_code == 201, made.text
    booked(client, as_desk, world.msus, world.patients[0], at(2, 9), clinician_id=world.max.id)
    urls = [made.json()["status_url"],
            client.post(f"{API}/patients/{world.patients[0].id}/link", headers=desk).json()["url"],
            client.post(f"{API}/clinicians/{world.max.id}/calendar-feed", headers=admin).json()["url"]]
    manifest = client.get("/fhir/$bulk-publish", headers=FORGED).json()
    urls += [manifest["request"], *(output["url"] for output in manifest["output"])]
    slots = client.get("/fhir/bulk/Slot.ndjson", headers=FORGED).text.splitlines()
    urls.append(json.loads(slots[0])["extension"][0]["valueUrl"])
    urls.append(client.get("/fhir/metadata", headers=FORGED).json()["implementation"]["url"])
    page = client.get("/fhir/Location", params={"_count": 1}, headers=desk).json()
    urls += [link["url"] for link in page["link"]] + [entry["fullUrl"] for entry in page["entry"]]
    created = client.post("/fhir/Appointment", headers=desk, json=appointment_body(world, free_slots(client, desk,
                                                                                                     world)[0]))
    assert created.status_code == 201, created.text
    urls.append(created.headers["location"])
    return urls


def test_links_use_the_configured_base_whatever_host_the_client_sends(client, as_desk, as_admin, configured):
    urls = handed_out(client, as_desk, as_admin, configured)
    assert len(urls) == 18  # the bulk manifest lists a Slot file per clinic and week: 2 clinics x 3 weeks
    assert [url for url in urls if not url.startswith(f"{BASE}/")] == []
    assert {url.split("/")[4] for url in urls} >= {"request", "me", "calendar", "fhir"}
    next_page = next(link["url"] for link in client.get("/fhir/Location", params={"_count": 1}, headers=as_desk)
                     .json()["link"] if link["relation"] == "next")
    assert next_page.startswith(f"{BASE}/fhir/Location?") and "_offset=1" in next_page


def test_the_default_base_is_the_local_service(client, as_desk, as_admin, world):
    urls = handed_out(client, as_desk, as_admin, world)
    assert [url for url in urls if not url.startswith("http://127.0.0.1:8000/")] == []


@pytest.mark.parametrize("given, kept", [("https://clinic.example.org/", "https://clinic.example.org"),
                                         ("http://10.0.0.5:8080/scheduling", "http://10.0.0.5:8080/scheduling")])
def test_a_base_url_is_kept_without_its_trailing_slash(given, kept):
    assert Settings(public_base_url=given).public_base_url == kept


@pytest.mark.parametrize("given", ["clinic.example.org", "ftp://clinic.example.org", "https://", "https://x.org/?a=1",
                                   "https://x.org/#top"])
def test_a_base_url_must_be_an_absolute_http_url(given):
    with pytest.raises(ValidationError, match="absolute http"):
        Settings(public_base_url=given)
