"""A waitlist offer on the patient's page, opened with the accept link of its message (?accept=<appointment id>):
accepted, it is booked; taken away meanwhile (the desk released it), the patient is told politely."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from tests.browser.conftest import api_token, assert_accessible, new_patient, playwright_api, shown, visit

expect = playwright_api.expect
NEW_YORK = ZoneInfo("America/New_York")
GONE = "That time is no longer available; we will tell you when another opens."


def offered(base_url: str, world, desk: dict, slot: dict) -> tuple[dict, int]:
    """A new patient waiting for exactly the slot's time, which a cancellation then offers them: (patient, hold)."""
    patient = new_patient(base_url, "Wren")
    start = datetime.fromisoformat(slot["start"]).astimezone(NEW_YORK)
    leaving = new_patient(base_url, "Lee")
    booked = httpx.post(f"{base_url}/api/v1/appointments", headers=desk, json={
        "service_id": world.msus.id, "patient_id": leaving["id"], "start": slot["start"]})
    assert booked.status_code == 201, booked.text
    waiting = httpx.post(f"{base_url}/api/v1/waitlist", headers=desk, json={
        "patient_id": patient["id"], "service_id": world.msus.id, "earliest_day": start.date().isoformat(),
        "latest_day": start.date().isoformat(), "earliest_time": f"{start:%H:%M}",
        "latest_time": f"{start + timedelta(minutes=45):%H:%M}", "priority": 5})
    assert waiting.status_code == 201, waiting.text
    httpx.post(f"{base_url}/api/v1/appointments/{booked.json()['id']}/cancel", headers=desk,
               json={"reason": "moved away"}).raise_for_status()
    offer = httpx.get(f"{base_url}/api/v1/waitlist", headers=desk, params={"patient_id": patient["id"]}).json()
    (request,) = offer["items"]
    assert request["status"] == "offered", request
    return patient, request["appointment_id"]


def accept_link(base_url: str, desk: dict, patient: dict, hold: int) -> str:
    link = httpx.post(f"{base_url}/api/v1/patients/{patient['id']}/link", headers=desk).json()["url"]
    return f"{link}?accept={hold}"


def test_an_offer_is_accepted_from_its_link_and_one_taken_meanwhile_is_refused_politely(site, page):
    base_url, world, _ = site
    desk = api_token(base_url, "desk")
    slots = httpx.get(f"{base_url}/api/v1/public/slots", params={"kind": "in_office"}).json()
    later = [slot for slot in slots if datetime.fromisoformat(slot["start"]) > datetime.now(NEW_YORK)
             + timedelta(days=2)]
    first_slot, second_slot = later[0], later[-1]

    patient, hold = offered(base_url, world, desk, first_slot)
    visit(page, accept_link(base_url, desk, patient, hold))
    offer = page.locator(f"#offers li[data-id='{hold}']")
    expect(offer).to_contain_text(f"{shown(first_slot['start'])} (America/New York time) · Diagnostic ultrasound")
    expect(offer).to_contain_text("held for you until")
    assert_accessible(page)
    offer.get_by_role("button", name="Accept").click()
    expect(page.locator("#notice")).to_contain_text(f"Booked: Diagnostic ultrasound on {shown(first_slot['start'])}")
    expect(offer.locator(".badge")).to_have_text("booked")
    expect(page.locator(f"#sessions li[data-id='{hold}']")).to_contain_text(shown(first_slot["start"]))

    patient, hold = offered(base_url, world, desk, second_slot)
    visit(page, accept_link(base_url, desk, patient, hold))
    offer = page.locator(f"#offers li[data-id='{hold}']")
    expect(offer.get_by_role("button", name="Accept")).to_be_visible()
    httpx.delete(f"{base_url}/api/v1/holds/{hold}", headers=desk).raise_for_status()  # the desk, meanwhile
    offer.get_by_role("button", name="Accept").click()
    expect(page.locator("#notice-text")).to_have_text(GONE)
    expect(offer).to_contain_text(GONE)
    expect(page.locator("#sessions li")).to_have_text(["No upcoming sessions."])
