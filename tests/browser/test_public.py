"""The public pages: a visitor requests a visit, the desk confirms it, the visitor sees the answer."""

import json

import httpx

from tests.browser.conftest import playwright_api, shown, sign_in, visit


def test_a_booking_deep_link_opens_the_request_page_at_its_slot(site, page):
    base_url, _, _ = site
    expect = playwright_api.expect
    line = httpx.get(f"{base_url}/fhir/bulk/Slot.ndjson").text.splitlines()[0]
    link = next(e["valueUrl"] for e in json.loads(line)["extension"] if e["url"].endswith("deep-link"))
    visit(page, link)
    expect(page.locator("#chosen")).to_be_visible()
    expect(page.locator("#chosen")).to_contain_text(shown(json.loads(line)["start"]))


def test_a_visitor_requests_an_in_office_evaluation_and_the_desk_confirms_it(site, page, browser):
    base_url, _, server = site
    expect = playwright_api.expect
    visit(page, f"{base_url}/request")
    page.get_by_role("button", name="Request in-office visit").click()
    first = page.locator("#times li.slot").first
    expect(first).to_be_visible()
    first.get_by_role("button", name="Choose").click()
    page.get_by_label("First name").fill("Vera")
    page.get_by_label("Last name").fill("Walk-in")
    page.get_by_label("Date of birth").fill("1988-06-15")
    page.get_by_label("Phone").fill("+1 212 555 0142")
    page.get_by_label("What brings you in?").fill("SI-joint pain when running")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#status-words")).to_have_attribute("data-status", "requested")
    status_url = page.url

    desk = browser.new_context().new_page()
    sign_in(desk, base_url, "desk")
    request_row = desk.locator("#requests li.request", has_text="Vera Walk-in")
    expect(request_row).to_contain_text("SI-joint pain when running")
    request_row.get_by_role("button", name="Confirm").click()
    expect(desk.locator("#notice")).to_contain_text("Request confirmed: Vera Walk-in is booked.")
    desk.context.close()

    visit(page, status_url)
    expect(page.locator("#status-words")).to_have_attribute("data-status", "confirmed")
    log = server.output()
    assert "POST /api/v1/public/requests" in log, "the server's log is where we look"
    leaked = [word for word in ("Vera", "Walk-in", "555 0142", "1988-06-15", "SI-joint pain") if word in log]
    assert leaked == [], "no patient data in the log"


