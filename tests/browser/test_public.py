"""The public pages: a visitor requests a visit, the desk confirms or declines it on its Requests page, the visitor
sees the answer. The clinic is in New York while the browser is in UTC or Tokyo: every time shown is New York's."""

import json
import random
import string
from datetime import datetime

import httpx

from tests.browser.conftest import (api_token, assert_accessible, playwright_api, screenshot_for_docs, shown, sign_in,
                                    visit)

REACH_YOU = "Please give a phone number or an e-mail address so the clinic can reach you."


def family_name() -> str:
    """A family name no other run of a test uses (each test runs twice against one server)."""
    return "Walk" + "".join(random.choices(string.ascii_lowercase, k=6))


def clock(iso: str) -> str:
    """How the app writes the time of an instant for an en-US location, in the zone it carries: '9:15 AM'."""
    moment = datetime.fromisoformat(iso)
    return f"{moment.hour % 12 or 12}:{moment:%M} {moment:%p}"


def ask_by_api(base_url: str, family: str, phone: str, which: int) -> dict:
    """A request for one of the last telehealth times, made as the public page makes it; the created request."""
    slot = httpx.get(f"{base_url}/api/v1/public/slots", params={"kind": "telehealth"}).json()[which]
    made = httpx.post(f"{base_url}/api/v1/public/requests", json={
        "kind": "telehealth", "location_id": slot["location_id"], "start": slot["start"], "given_name": "Ida",
        "family_name": family, "birth_date": "1979-02-03", "phone": phone, "reason": "knee pain"})
    made.raise_for_status()
    return made.json()


def test_a_booking_deep_link_opens_the_request_page_at_its_slot(site, page):
    base_url, _, _ = site
    expect = playwright_api.expect
    lines = httpx.get(f"{base_url}/fhir/bulk/Slot.ndjson").text.splitlines()
    # A slot from the middle of the published weeks: the earliest ones are the first another test requests (the
    # telehealth test sends slots[0]) or may lapse while the file is as of its publication, and then the page
    # rightly says "That time has just been taken" (seen once in CI: #chosen stayed hidden).
    line = lines[len(lines) // 2]
    link = next(e["valueUrl"] for e in json.loads(line)["extension"] if e["url"].endswith("deep-link"))
    visit(page, link)
    expect(page.locator("#chosen")).to_be_visible()
    expect(page.locator("#chosen")).to_contain_text(shown(json.loads(line)["start"]))


def test_telehealth_times_cover_the_two_weeks_by_day_in_clinic_time_and_errors_read_as_sentences(site, page):
    base_url, _, _ = site
    expect = playwright_api.expect
    visit(page, f"{base_url}/request")
    with page.expect_response(lambda response: "/public/slots" in response.url) as answer:
        page.get_by_role("button", name="Request telehealth").click()
    slots = answer.value.json()
    days = sorted({datetime.fromisoformat(slot["start"]).date() for slot in slots})
    assert (days[-1] - days[0]).days >= 13, "the API offers the whole horizon"
    expect(page.locator("#times button.time")).to_have_count(len(slots))
    headings = page.locator("#times section.day h3")
    expect(headings).to_have_count(len(days))
    expect(headings.last).to_have_text(f"{days[-1]:%A, %B} {days[-1].day}, {days[-1].year}")
    expect(page.locator("#times .zone-note")).to_have_text("Times are America/New York time.")
    late = slots[-1]
    late_day = page.locator(f"#times section.day[data-day='{datetime.fromisoformat(late['start']).date()}']")
    expect(late_day.locator(f"button[data-start='{late['start']}']")).to_contain_text(clock(late["start"]))

    page.locator("#times button.time").first.click()
    expect(page.locator("#details-card")).to_be_in_viewport()
    expect(page.get_by_label("First name")).to_be_focused()
    expect(page.locator("#chosen")).to_contain_text(f"{shown(slots[0]['start'])} (America/New York time)")
    page.get_by_label("First name").fill("Nell")
    page.get_by_label("Last name").fill(family_name())
    page.get_by_label("Date of birth").fill("1991-09-09")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#notice-text")).to_have_text(REACH_YOU)
    expect(page.locator("#notice")).to_be_in_viewport()
    assert_accessible(page)


def test_a_visitor_requests_an_in_office_evaluation_and_the_desk_confirms_it(site, page, browser):
    base_url, _, server = site
    expect = playwright_api.expect
    family = family_name()
    known = httpx.post(f"{base_url}/api/v1/patients", headers=api_token(base_url, "desk"), json={
        "given_name": "Vera", "family_name": family, "birth_date": "1988-06-15"}).json()
    visit(page, f"{base_url}/request")
    page.get_by_role("button", name="Request in-office visit").click()
    first = page.locator("#times button.time").first
    expect(first).to_be_focused()
    start = first.get_attribute("data-start")
    first.click()
    page.get_by_label("First name").fill("Vera")
    page.get_by_label("Last name").fill(family)
    page.get_by_label("Date of birth").fill("1988-06-15")
    page.get_by_label("Phone").fill(f"+1 212 555 {random.randrange(1000, 9999)}")
    page.get_by_label("What brings you in?").fill("SI-joint pain when running")
    assert_accessible(page)
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#status-words")).to_have_attribute("data-status", "requested")
    status_url = page.url
    status = httpx.get(f"{base_url}/api/v1/public/requests/{status_url.rsplit('/', 1)[1]}").json()
    expect(page.locator("#status-words")).to_contain_text(
        f"until {shown(status['hold_expires_at'])} (America/New York time).")
    expect(page.locator("#status-when")).to_contain_text(shown(start))
    assert_accessible(page)

    desk = browser.new_context(timezone_id="Asia/Tokyo", locale="en-US").new_page()
    sign_in(desk, base_url, "desk")
    desk.get_by_role("link", name="Requests").click()
    request_row = desk.locator("#requests tbody tr", has_text=f"Vera {family}")
    expect(request_row).to_contain_text("SI-joint pain when running")
    expect(request_row).to_contain_text(shown(start))  # the clinic's time, not UTC's or Tokyo's
    expect(desk.locator("#requests-zone")).to_have_text("Times are America/New York time.")
    record = request_row.get_by_label(f"Patient record for Vera {family}")
    same = f"Same as Vera {family}, born Jun 15, 1988 (#{known['id']})"
    expect(record.locator("option")).to_have_text(["Keep as a new patient", same])
    assert_accessible(desk)
    record.select_option(label=same)
    request_row.get_by_role("button", name="Confirm").click()
    expect(desk.locator("#notice")).to_contain_text(f"Request confirmed: Vera {family} is booked.")
    expect(request_row).to_have_count(0)
    desk.context.close()
    (booked,) = httpx.get(f"{base_url}/api/v1/appointments", params={"patient_id": known["id"]},
                          headers=api_token(base_url, "desk")).json()["items"]
    assert (booked["status"], booked["start"]) == ("booked", start), "booked for the patient record the desk chose"

    visit(page, status_url)
    expect(page.locator("#status-words")).to_have_attribute("data-status", "confirmed")
    log = server.output()
    assert "POST /api/v1/public/requests" in log, "the server's log is where we look"
    leaked = [word for word in ("Vera", family, "1988-06-15", "SI-joint pain") if word in log]
    assert leaked == [], "no patient data in the log"


def test_the_desk_declines_with_a_reason_the_visitor_reads_and_sees_answers_given_elsewhere(site, page):
    base_url, _, _ = site
    expect = playwright_api.expect
    family = family_name()
    made = ask_by_api(base_url, family, f"+1 646 555 {random.randrange(1000, 9999)}", -1)
    colleague, other = api_token(base_url, "desk"), family_name()
    ask_by_api(base_url, other, f"+1 646 555 {random.randrange(1000, 9999)}", -2)

    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/requests")
    (answered_elsewhere,) = [request for request in httpx.get(f"{base_url}/api/v1/visit-requests",
                                                              headers=colleague).json()
                             if request["patient"]["family_name"] == other]
    httpx.post(f"{base_url}/api/v1/visit-requests/{answered_elsewhere['id']}/decline", headers=colleague,
               json={"reason": "answered on the phone"}).raise_for_status()
    page.locator("#requests tbody tr", has_text=f"Ida {other}").get_by_role("button", name="Confirm").click()
    expect(page.locator("#notice")).to_contain_text("was already declined")
    expect(page.locator("#requests tbody tr", has_text=f"Ida {other}")).to_have_count(0)
    row = page.locator("#requests tbody tr", has_text=f"Ida {family}")
    expect(row).to_contain_text(shown(made["start"]))
    expect(row).to_contain_text(f"held until {shown(made['hold_expires_at'])}")
    screenshot_for_docs(page, "requests")
    row.get_by_role("button", name="Decline").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox").fill("please call us to choose a clinician")
    dialog.get_by_role("button", name="Decline request").click()
    expect(page.locator("#notice")).to_contain_text(f"Request declined; Ida {family}'s time is free again.")
    expect(row).to_have_count(0)

    visit(page, made["status_url"])
    expect(page.locator("#status-words")).to_have_attribute("data-status", "declined")
    expect(page.locator("#request-status")).to_contain_text("Reason: please call us to choose a clinician")


def test_a_patient_asks_to_move_a_session_from_their_page_and_the_desk_confirms(site, page):
    base_url, world, _ = site
    expect = playwright_api.expect
    desk, family = api_token(base_url, "desk"), family_name()
    patient = httpx.post(f"{base_url}/api/v1/patients", headers=desk, json={
        "given_name": "Otto", "family_name": family, "birth_date": "1970-05-05", "phone": "+1 212 555 0190"}).json()
    slots = httpx.get(f"{base_url}/api/v1/public/slots", params={"kind": "in_office"}).json()
    booked = httpx.post(f"{base_url}/api/v1/appointments", headers=desk, json={
        "service_id": world.msus.id, "patient_id": patient["id"], "start": slots[len(slots) // 2]["start"]})
    assert booked.status_code == 201, booked.text
    link = httpx.post(f"{base_url}/api/v1/patients/{patient['id']}/link", headers=desk).json()["url"]

    visit(page, link)
    expect(page.locator("#sessions li")).to_contain_text(shown(booked.json()["start"]))
    expect(page.locator("#sessions-zone")).to_have_text("Times are America/New York time.")
    page.get_by_role("button", name="Ask to move").click()
    first = page.locator("#move-times button.time").first
    expect(first).to_be_focused()
    target = first.get_attribute("data-start")
    expect(page.locator("#move-times section.day").first.locator("h3")).to_be_visible()
    assert_accessible(page)
    first.click()
    expect(page.locator("#status-words")).to_have_attribute("data-status", "requested")

    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/requests")
    row = page.locator("#requests tbody tr", has_text=f"Otto {family}")
    expect(row).to_contain_text("Move request")
    expect(row).to_contain_text(f"now booked {shown(booked.json()['start'])}")
    expect(row).to_contain_text(shown(target))
    row.get_by_role("button", name="Confirm").click()
    expect(page.locator("#notice")).to_contain_text(f"Move confirmed: Otto {family}'s session is now {shown(target)}.")
