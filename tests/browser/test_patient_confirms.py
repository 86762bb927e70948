"""A patient confirms and cancels from their own page (the link in every reminder); the desk's schedule and the
clinician's roster then say "confirmed by patient"."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from tests.browser.conftest import (api_token, assert_accessible, new_patient, playwright_api, shown, sign_in,
                                    visit)

expect = playwright_api.expect
NEW_YORK = ZoneInfo("America/New_York")


def clock(iso: str) -> str:
    """The app's time of day for an en-US location, in the instant's zone: '9:15 AM'."""
    moment = datetime.fromisoformat(iso)
    return f"{moment.hour % 12 or 12}:{moment:%M} {moment:%p}"


def test_a_patient_confirms_one_session_and_cancels_another_and_the_desk_sees_the_confirmation(site, page):
    base_url, world, _ = site
    desk = api_token(base_url, "desk")
    patient = new_patient(base_url, "Cleo")
    slots = httpx.get(f"{base_url}/api/v1/public/slots", params={"kind": "in_office"}).json()
    later = [slot for slot in slots if datetime.fromisoformat(slot["start"]) > datetime.now(NEW_YORK)
             + timedelta(days=3)]
    sessions = []
    for slot in (later[0], later[-1]):  # days apart: nothing of one run clashes with the other's
        made = httpx.post(f"{base_url}/api/v1/appointments", headers=desk, json={
            "service_id": world.msus.id, "patient_id": patient["id"], "start": slot["start"]})
        assert made.status_code == 201, made.text
        sessions.append(made.json())
    keep, drop = sessions
    link = httpx.post(f"{base_url}/api/v1/patients/{patient['id']}/link", headers=desk).json()["url"]

    visit(page, link)
    kept = page.locator(f"#sessions li[data-id='{keep['id']}']")
    kept.get_by_role("button", name="Confirm").click()
    expect(page.locator("#notice")).to_contain_text("is confirmed")
    expect(kept.locator(".badge")).to_have_text("confirmed")
    dropped = page.locator(f"#sessions li[data-id='{drop['id']}']")
    dropped.get_by_role("button", name="Cancel").click()
    expect(dropped.get_by_role("group")).to_contain_text(f"Cancel Diagnostic ultrasound of {shown(drop['start'])}?")
    assert_accessible(page)
    dropped.get_by_role("button", name="Yes, cancel it").click()
    expect(page.locator("#notice")).to_contain_text("Cancelled.")
    expect(page.locator("#sessions li")).to_have_count(1)
    expect(page.locator("#sessions li")).to_contain_text(shown(keep["start"]))

    day = datetime.fromisoformat(keep["start"]).date()
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/schedule?location_id={world.midtown.id}&day={day.isoformat()}")
    block = page.locator(f"[data-appointment='{keep['id']}']").first
    expect(block).to_have_attribute("aria-label", f"Cleo {patient['family_name']} {clock(keep['start'])} Diagnostic "
                                                  f"ultrasound: {shown(keep['start'])}–{clock(keep['end'])}, booked, "
                                                  "confirmed by patient")
    block.click()
    expect(page.locator("#panel .badge")).to_have_text("confirmed by patient")
    visit(page, f"{base_url}/app/roster?day={day.isoformat()}")
    page.get_by_label("Clinician").select_option(str(keep["clinician_id"]))
    page.get_by_role("button", name="Show").click()
    row = page.locator("#roster tbody tr", has_text=patient["family_name"])
    expect(row.locator(".badge")).to_have_text("confirmed by patient")
    assert_accessible(page)
