"""The Patients page: the desk registers a patient, finds one by name, phone, e-mail or birth date, and reads a
patient's sessions, plans, waitlist entries and public requests in the clinic's time, whatever the browser's zone."""

import random
from datetime import date, datetime, timedelta

import httpx

from tests.browser.arrange import NY, desk_post, first_slot, new_patient, started_session, unique
from tests.browser.conftest import (api_token, assert_accessible, playwright_api, ready, screenshot_for_docs, shown,
                                    sign_in, visit)

expect = playwright_api.expect


def test_a_new_patient_is_registered_and_a_bad_phone_is_told_in_words(site, page):
    base_url, _, _ = site
    family = unique("Reg")
    sign_in(page, base_url, "desk")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    ready(page)
    assert_accessible(page)
    form = page.locator("#register-form")
    form.get_by_label("First name").fill("Rita")
    form.get_by_label("Last name").fill(family)
    form.get_by_label("Date of birth").fill("1990-04-05")
    form.get_by_label("Phone").fill("call me")
    form.get_by_role("button", name="Register patient").click()
    expect(page.locator("#notice")).to_contain_text("phone: write the number with digits")
    assert "id=" not in page.url, "nothing was registered"

    form.get_by_label("Phone").fill("+1 212 555 0123")
    form.get_by_role("button", name="Register patient").click()
    expect(page.locator("#notice")).to_contain_text(f"Registered Rita {family}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Rita {family}")
    expect(page.locator("#details")).to_contain_text("April 5, 1990")
    expect(page.locator("#upcoming")).to_contain_text("No session to come.")
    expect(page.locator("#upcoming").get_by_role("link", name="Book one on the Book page.")).to_have_attribute(
        "href", f"/app/desk?patient_id={page.url.rsplit('=', 1)[1]}")
    assert_accessible(page)

    page.get_by_role("button", name="Change details").click()
    details = page.get_by_role("form", name="Change details")
    expect(details.get_by_label("Phone")).to_have_value("+1 212 555 0123")
    details.get_by_label("Phone").fill("")
    details.get_by_label("E-mail").fill("rita@example.org")
    details.get_by_role("button", name="Save details").click()
    expect(page.locator("#notice")).to_contain_text(f"Saved the details of Rita {family}")
    expect(page.locator("#details")).to_contain_text("rita@example.org")
    saved = httpx.get(f"{base_url}/api/v1/patients/{page.url.rsplit('=', 1)[1]}",
                      headers=api_token(base_url, "desk")).json()
    assert (saved["phone"], saved["email"]) == (None, "rita@example.org")

    visit(page, f"{base_url}/app/patients")
    form.get_by_label("First name").fill("rita")
    form.get_by_label("Last name").fill(family)
    form.get_by_label("Date of birth").fill("1990-04-05")
    form.get_by_role("button", name="Register patient").click()
    expect(page.locator("#register-duplicate")).to_contain_text(f"Rita {family}, born April 5, 1990, is already "
                                                                "registered")
    found = httpx.get(f"{base_url}/api/v1/patients", params={"name": family}, headers=api_token(base_url, "desk"))
    assert found.json()["total"] == 1, "a namesake is registered only when the desk insists"


def test_the_desk_finds_a_patient_by_phone_e_mail_or_birth_date(site, page):
    base_url, _, _ = site
    digits = f"{random.randrange(10**6, 10**7)}"
    born = date(1950, 1, 1) + timedelta(days=random.randrange(20000))
    patient = new_patient(base_url, "Fay", phone=f"+1 (646) {digits[:3]}-{digits[3:]}",
                          email=f"fay.{digits}@example.org", birth_date=born.isoformat())
    name = f"Fay {patient['family_name']}"
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/patients")
    search = page.locator("#patient-search")
    found = page.locator("#found")
    for field, value in (("Phone", f"646{digits}"), ("E-mail", f"FAY.{digits}@"), ("Date of birth", born.isoformat())):
        for box in search.locator("input").all():  # one form for every criterion: clear what the last one typed
            box.fill("")
        search.get_by_label(field).fill(value)
        search.get_by_role("button", name="Find").click()
        expect(found.get_by_role("link", name=name)).to_be_visible()
    found.get_by_role("link", name=name).click()
    ready(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(name)

    visit(page, f"{base_url}/app/patients")
    search.get_by_label("Phone").fill("1-2")
    search.get_by_role("button", name="Find").click()
    expect(page.locator("#notice")).to_contain_text("phone: give at least 3 digits of the phone number")
    search.get_by_label("Phone").fill(f"999{digits}999")
    search.get_by_role("button", name="Find").click()
    expect(found).to_contain_text("No patient matches.")


def test_a_patient_s_page_shows_sessions_plans_waitlist_and_requests_in_clinic_time(site, page):
    base_url, world, _ = site
    patient = new_patient(base_url, "Pat")
    name = f"Pat {patient['family_name']}"
    tomorrow = (datetime.now(NY) + timedelta(days=1)).date()
    slot = first_slot(base_url, world.msus.id, patient["id"], tomorrow.isoformat())
    desk_post(base_url, "appointments", {"service_id": world.msus.id, "patient_id": patient["id"],
                                          "start": slot["start"], "clinician_id": slot["clinician"]["id"]})
    past = started_session(site, patient["id"])
    templates = httpx.get(f"{base_url}/api/v1/plan-templates", headers=api_token(base_url, "desk")).json()["items"]
    (course,) = [template for template in templates if template["code"] == "w_eswt_course"]
    plan = desk_post(base_url, "plans", {"patient_id": patient["id"], "location_id": world.midtown.id,
                                         "template_id": course["id"],
                                         "earliest_start": (tomorrow + timedelta(days=2)).isoformat(),
                                         "latest_end": (tomorrow + timedelta(days=45)).isoformat()})
    desk_post(base_url, f"plans/{plan['id']}/proposal")
    desk_post(base_url, f"plans/{plan['id']}/confirm")
    desk_post(base_url, "waitlist", {"patient_id": patient["id"], "service_id": world.gait.id,
                                     "earliest_day": tomorrow.isoformat(),
                                     "latest_day": (tomorrow + timedelta(days=6)).isoformat(),
                                     "earliest_time": "08:00", "latest_time": "12:30", "priority": 4})
    telehealth = httpx.get(f"{base_url}/api/v1/public/slots", params={"kind": "telehealth"}).json()[-1]
    asked = httpx.post(f"{base_url}/api/v1/public/requests", json={
        "kind": "telehealth", "location_id": telehealth["location_id"], "start": telehealth["start"],
        "given_name": "Patty", "family_name": patient["family_name"], "birth_date": patient["birth_date"],
        "email": "patty@example.org", "reason": "follow-up on knee"})
    assert asked.status_code == 201, asked.text

    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/patients?id={patient['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    upcoming = page.locator("#upcoming-sessions")
    expect(upcoming.locator("th").first).to_have_text("When (America/New York time)")
    expect(upcoming.locator("tr", has_text="Diagnostic ultrasound")).to_contain_text(shown(slot["start"]))
    expect(upcoming.locator("tr", has_text="Diagnostic ultrasound")).to_contain_text(slot["clinician"]["name"])
    expect(upcoming.locator("tr", has_text="Shockwave therapy")).to_have_count(3)
    expect(page.locator("#past-sessions")).to_contain_text(shown(past["start"]))
    expect(page.locator("#past-sessions")).to_contain_text(past["clinician"])
    expect(page.locator("#past-sessions")).to_contain_text("booked, attendance not recorded")
    expect(page.locator(f".plan[data-plan='{plan['id']}']")).to_contain_text(
        "Shockwave therapy: 0 of 3 attended · 3 booked")
    waits = page.locator("#waits-list")
    expect(waits).to_contain_text("Gait analysis")
    expect(waits).to_contain_text("8:00 AM – 12:30 PM")
    expect(waits).to_contain_text("4")
    expect(waits).to_contain_text("waiting, nothing offered yet")
    requests = page.locator("#requests-list")
    expect(requests).to_contain_text(shown(telehealth["start"]))
    expect(requests).to_contain_text(f"possibly this patient (asked as Patty {patient['family_name']})")
    expect(requests).to_contain_text("follow-up on knee")
    assert_accessible(page)
    screenshot_for_docs(page, "patient-page")
