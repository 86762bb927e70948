"""The front desk books, holds, moves, cancels and proposes plans from the Book page."""

from datetime import date, timedelta

from tests.browser.conftest import assert_accessible, new_patient, playwright_api, ready, sign_in, visit


def test_the_front_desk_books_sees_it_on_the_board_and_cancels_it(site, page):
    base_url, world, _ = site
    expect = playwright_api.expect
    sign_in(page, base_url, "desk")
    expect(page.get_by_role("heading", name="Schedule")).to_be_visible()
    visit(page, f"{base_url}/app/desk")
    page.get_by_label("Name").fill("Ann")
    page.get_by_role("button", name="Find patient").click()
    page.locator("#patients li", has_text="Ann World").get_by_role("button", name="Choose").click()
    expect(page.locator("#patient-chosen")).to_contain_text("Ann World")

    page.locator("#slot-search select[name=service_id]").select_option(label="Diagnostic ultrasound")
    page.locator("#slot-search select[name=location_id]").select_option(label="World Midtown")
    page.get_by_role("button", name="Find slots").click()
    first_slot = page.locator("#slots li.slot").first
    expect(first_slot).to_be_visible()
    slot_text = first_slot.inner_text()
    first_slot.get_by_role("button", name="Book").click()
    expect(page.locator("#notice")).to_contain_text("Booked Diagnostic ultrasound")
    booked = page.locator("#appointments li.appointment").first
    expect(booked).to_contain_text("booked")
    appointment_id = booked.get_attribute("data-id")

    day = next_day_of(slot_text)
    visit(page, f"{base_url}/app/board?day={day}")
    page.locator("#board-form select[name=location_id]").select_option(label="World Midtown")
    page.get_by_role("button", name="Show").click()
    block = page.locator(f".kind-clinician .block[data-appointment='{appointment_id}']")
    expect(block).to_contain_text("Diagnostic ultrasound")
    # the hours above the lanes in the clinic's locale (en-US), as the blocks are; they were always 24-hour
    expect(page.locator(".board-hour").nth(6)).to_have_text("1:00 PM")

    page.get_by_role("link", name="Book").click()
    ready(page)
    page.get_by_label("Name").fill("Ann")
    page.get_by_role("button", name="Find patient").click()
    page.locator("#patients li", has_text="Ann World").get_by_role("button", name="Choose").click()
    page.locator(f"#appointments li[data-id='{appointment_id}']").get_by_role("button", name="Cancel").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel the session").click()
    expect(page.locator("#notice")).to_contain_text("Cancelled the Diagnostic ultrasound")
    expect(page.locator(f"#appointments li[data-id='{appointment_id}']")).to_have_count(0)


def choose_patient(page, name: str) -> None:
    if "/app/desk" not in page.url:
        page.get_by_role("link", name="Book").click()
        ready(page)
    page.get_by_label("Name").fill(name.split()[0])
    page.get_by_role("button", name="Find patient").click()
    page.locator("#patients li", has_text=name).get_by_role("button", name="Choose").click()
    playwright_api.expect(page.locator("#patient-chosen")).to_contain_text(name)


def find_slots(page, service: str) -> None:
    page.locator("#slot-search select[name=service_id]").select_option(label=service)
    page.locator("#slot-search select[name=location_id]").select_option(label="World Midtown")
    page.get_by_role("button", name="Find slots").click()
    playwright_api.expect(page.locator("#slots li.slot").first).to_be_visible()


def test_hold_then_book_then_reschedule(site, page):
    base_url, _, _ = site
    expect = playwright_api.expect
    sign_in(page, base_url, "desk")
    choose_patient(page, "Ben World")
    find_slots(page, "Diagnostic ultrasound")
    page.locator("#slots li.slot").first.get_by_role("button", name="Hold").click()
    expect(page.locator("#notice")).to_contain_text("Held until")
    held = page.locator("#appointments li.appointment", has_text="held").first
    appointment_id = held.get_attribute("data-id")
    held.get_by_role("button", name="Book").click()
    row = page.locator(f"#appointments li[data-id='{appointment_id}']")
    expect(row).to_contain_text("booked")
    before = row.inner_text()

    row.get_by_role("button", name="Reschedule").click()
    expect(page.locator("#rescheduling")).to_contain_text("Moving")
    page.get_by_role("button", name="Find slots").click()
    target = page.locator("#slots li.slot").nth(3)
    target.get_by_role("button", name="Move here").click()
    expect(page.locator("#notice")).to_contain_text("Moved to")
    expect(row).not_to_have_text(before)
    expect(row).to_contain_text("booked")


def test_a_treatment_plan_is_proposed_and_confirmed(site, page):
    base_url, _, _ = site
    expect = playwright_api.expect
    sign_in(page, base_url, "desk")
    patient = new_patient(base_url, "Cy")
    choose_patient(page, f"Cy {patient['family_name']}")
    page.locator("#slot-search select[name=location_id]").select_option(label="World Midtown")
    page.locator("#plan-form select[name=template_id]").select_option(label="Shockwave course")
    page.get_by_role("button", name="Propose plan").click()
    expect(page.locator("#proposal")).to_contain_text("3 sessions held, 0 not placed")
    page.get_by_role("button", name="Confirm plan").click()
    expect(page.locator("#notice-text")).to_have_text("The plan is booked.")
    expect(page.locator("#appointments li.appointment", has_text="Shockwave therapy")).to_have_count(3)


def next_day_of(slot_text: str) -> str:
    """The ISO date of a slot shown as 'Wed, Mar 3 9:00 AM–9:45 AM ...' (within the next weeks)."""
    month, day = slot_text.split(",")[1].split()[:2]
    today = date.today()
    for offset in range(0, 60):
        candidate = today + timedelta(days=offset)
        if candidate.day == int(day) and candidate.strftime("%b") == month:
            return candidate.isoformat()
    raise AssertionError(f"cannot read the day of {slot_text!r}")
def test_errors_are_shown_in_words(site, page):
    base_url, _, _ = site
    sign_in(page, base_url, "desk")
    expect = playwright_api.expect
    expect(page.get_by_role("heading", name="Schedule")).to_be_visible()
    visit(page, f"{base_url}/app/desk")
    page.get_by_role("button", name="Find slots").click()
    expect(page.locator("#notice-text")).to_have_text("Choose a patient first.")
    visit(page, f"{base_url}/app/login")
    page.get_by_label("User name").fill("desk")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#notice")).to_contain_text("password")


def test_a_clinician_sees_only_their_own_roster(site, page):
    base_url, _, _ = site
    expect = playwright_api.expect
    sign_in(page, base_url, "dana")
    expect(page.locator("#roster-title")).to_contain_text("My roster")
    expect(page.locator("#clinician-choice")).to_have_count(0)
    visit(page, f"{base_url}/app/board")
    expect(page.locator("#notice")).to_contain_text("this needs one of the roles")




def test_the_chosen_date_is_the_clinic_s_whatever_the_browser_s_zone(site, page):
    """Defect 3: with the browser on UTC, asking for a Wednesday offered Tuesday evening's times."""
    base_url, _, _ = site
    wednesday = date.today() + timedelta(days=21)
    wednesday += timedelta(days=(2 - wednesday.weekday()) % 7)
    sign_in(page, base_url, "desk")
    choose_patient(page, "Cy World")
    page.locator("#slot-search select[name=service_id]").select_option(label="Diagnostic ultrasound")
    page.locator("#slot-search input[name=day]").fill(wednesday.isoformat())
    page.get_by_role("button", name="Find slots").click()
    first = page.locator("#slots li.slot").first
    playwright_api.expect(first).to_contain_text(f"{wednesday:%a}, {wednesday:%b} {wednesday.day} 8:00 AM")
    playwright_api.expect(page.locator("#slot-zone")).to_have_text("Dates and times are America/New York time.")


def test_moving_one_patient_s_session_never_moves_the_next_patient_s(site, page):
    """Defect 5: reschedule mode carried over to the next patient, and only a reload ended it."""
    base_url, _, _ = site
    sign_in(page, base_url, "desk")
    choose_patient(page, "Ann World")
    find_slots(page, "Diagnostic ultrasound")
    page.locator("#slots li.slot").first.get_by_role("button", name="Book").click()
    playwright_api.expect(page.locator("#notice-text")).to_contain_text("Booked")
    page.locator("#appointments li.appointment").first.get_by_role("button", name="Reschedule").click()
    playwright_api.expect(page.locator("#rescheduling")).to_be_visible()
    page.get_by_role("button", name="Stop moving").click()
    playwright_api.expect(page.locator("#rescheduling")).to_be_hidden()

    page.locator("#appointments li.appointment").first.get_by_role("button", name="Reschedule").click()
    choose_patient(page, "Ben World")
    playwright_api.expect(page.locator("#rescheduling")).to_be_hidden()
    find_slots(page, "Diagnostic ultrasound")
    playwright_api.expect(page.locator("#slots li.slot").first.get_by_role("button", name="Move here")).to_have_count(0)
    playwright_api.expect(page.locator("#slots li.slot").first.get_by_role("button", name="Book")).to_be_visible()


def test_booking_from_a_patient_s_page_starts_with_that_patient(site, page):
    base_url, _, _ = site
    patient = new_patient(base_url, "Dee")
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/desk?patient_id={patient['id']}")
    playwright_api.expect(page.locator("#patient-chosen")).to_contain_text(f"Dee {patient['family_name']}")


def test_the_book_page_the_day_board_and_sign_in_pass_the_accessibility_check(site, page):
    base_url, world, _ = site
    visit(page, f"{base_url}/app/login")
    assert_accessible(page)
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/desk")
    choose_patient(page, "Ann World")
    find_slots(page, "Diagnostic ultrasound")
    assert_accessible(page)
    visit(page, f"{base_url}/app/board?day={date.today().isoformat()}")
    page.get_by_role("button", name="Show").click()
    playwright_api.expect(page.locator("#board .board-row").first).to_be_visible()
    assert_accessible(page)
