"""The administrators' screens: the catalog and the staff users, edited in a browser far from the clinic.

Every test makes its own records with a fresh tag (each runs twice on one server) and reads back through the API
what the screens sent, so a date-time entered as a location's wall clock is checked as the instant it means.
"""

from uuid import uuid4

import httpx
import pytest

from tests.browser.conftest import api_token, assert_accessible, playwright_api, screenshot_for_docs, sign_in, visit

expect = playwright_api.expect


@pytest.fixture
def tag() -> str:
    return uuid4().hex[:6]


def open_tab(page, title: str):
    """The tab's panel, once its list is shown."""
    page.get_by_role("tab", name=title).click()
    panel = page.get_by_role("tabpanel", name=title)
    expect(panel).to_be_visible()
    return panel


def new_record(panel, one: str):
    panel.get_by_role("button", name=f"New {one}").click()
    form = panel.locator("form")
    expect(form.get_by_role("heading", name=f"New {one}")).to_be_visible()
    return form


def add_row(form, add: str, item: str, number: int = 1):
    form.get_by_role("button", name=add).click()
    return form.get_by_role("group", name=f"{item} {number}", exact=True)


def save(form, one: str, name: str) -> None:
    form.get_by_role("button", name=f"Save {one}").click()
    expect(form.page.locator("#notice")).to_contain_text(f"Saved {one} {name}")


def record(base_url: str, collection: str, field: str, value) -> dict:
    """The one record of a collection whose ``field`` is ``value``, as the API stores it."""
    headers = api_token(base_url, "boss")
    items = httpx.get(f"{base_url}/api/v1/{collection}", headers=headers, params={"limit": 200}).json()["items"]
    (found,) = [item for item in items if item[field] == value]
    return found


def test_a_location_with_hours_and_a_clinician_with_shifts_and_time_off_in_its_zone(site, page, tag):
    """Hours and shifts are the location's wall clock; time off is typed and shown in the location's zone and
    locale (Chicago, en-GB) whatever zone the browser is in, and stored as the instant that means."""
    base_url, _, _ = site
    sign_in(page, base_url, "boss")
    visit(page, f"{base_url}/app/admin")

    panel = open_tab(page, "Locations")
    form = new_record(panel, "location")
    form.get_by_label("Name").fill(f"Harbor {tag}")
    form.get_by_label("Time zone").fill("America/Chicago")
    form.get_by_label("Locale").fill("en-GB")
    form.get_by_label("Street").fill("1 Harbor Way")
    form.get_by_label("City").fill("Chicago")
    form.get_by_label("State").fill("il")
    form.get_by_label("Postal code").fill("60601")
    form.get_by_label("Phone").fill("+1 312 555 0100")
    hours = add_row(form, "Add opening hours", "Opening hours")
    hours.get_by_label("Day").select_option(label="Tuesday")
    hours.get_by_label("Opens").fill("07:30")
    hours.get_by_label("Closes").fill("19:00")
    save(form, "location", f"Harbor {tag}")
    expect(panel.locator("tr", has_text=f"Harbor {tag}")).to_contain_text("Tue 07:30–19:00")
    expect(panel.locator("tr", has_text=f"Harbor {tag}")).to_contain_text("1 Harbor Way, Chicago, IL 60601")
    harbor = record(base_url, "locations", "name", f"Harbor {tag}")
    assert (harbor["time_zone"], harbor["locale"]) == ("America/Chicago", "en-GB")
    assert (harbor["state"], harbor["phone"], harbor["website"]) == ("IL", "+1 312 555 0100", None)
    assert harbor["opening_hours"] == [{"weekday": 1, "starts": "07:30:00", "ends": "19:00:00"}]

    panel = open_tab(page, "Clinicians")
    form = new_record(panel, "clinician")
    form.get_by_label("Name").fill(f"Quinn {tag}")
    form.get_by_label("Title").fill("PT, DPT")
    form.get_by_label("Location").select_option(label=f"Harbor {tag}")
    form.get_by_label("Dry needling").check()
    shift = add_row(form, "Add a weekly shift", "Shift")
    shift.get_by_label("Day").select_option(label="Wednesday")
    shift.get_by_label("Starts", exact=True).fill("09:00")
    shift.get_by_label("Ends", exact=True).fill("17:00")
    pause = add_row(shift, "Add a break", "Break")
    pause.get_by_label("Break starts").fill("12:00")
    pause.get_by_label("Break ends").fill("12:45")
    time_off = add_row(form, "Add time off or an extra shift", "Date change")
    expect(form.locator("legend", has_text="Time off and extra shifts")).to_contain_text("America/Chicago time")
    time_off.get_by_label("What").select_option(label="Time off")
    time_off.get_by_label("From").fill("2027-03-10T08:00")
    time_off.get_by_label("Until").fill("2027-03-12T18:00")
    time_off.get_by_label("Note").fill("Course")
    assert_accessible(page)
    save(form, "clinician", f"Quinn {tag}")

    row = panel.locator("tr", has_text=f"Quinn {tag}")
    expect(row).to_contain_text("Wed 09:00–17:00 (break 12:00–12:45)")
    expect(row).to_contain_text("Time off Wed 10 Mar 08:00 – Fri 12 Mar 18:00 (America/Chicago time)")
    quinn = record(base_url, "clinicians", "name", f"Quinn {tag}")
    assert quinn["location_id"] == harbor["id"] and quinn["certifications"] == ["dry_needling"]
    assert quinn["shifts"] == [{"weekday": 2, "starts": "09:00:00", "ends": "17:00:00",
                                "breaks": [{"starts": "12:00:00", "ends": "12:45:00"}]}]
    (absent,) = quinn["exceptions"]
    # 08:00 in Chicago on 10 March 2027 (CST, UTC-6) and 18:00 on the 12th, whatever the browser's zone.
    assert (absent["kind"], absent["note"]) == ("time_off", "Course")
    assert absent["starts_at"].replace("Z", "+00:00") == "2027-03-10T14:00:00+00:00"
    assert absent["ends_at"].replace("Z", "+00:00") == "2027-03-13T00:00:00+00:00"

    row.get_by_role("button", name=f"Edit Quinn {tag}").click()
    again = form.get_by_role("group", name="Date change 1")
    expect(again.get_by_label("From")).to_have_value("2027-03-10T08:00")
    expect(again.get_by_label("Until")).to_have_value("2027-03-12T18:00")


def test_a_device_unit_with_maintenance_a_room_a_service_and_a_plan_template(site, page, tag):
    base_url, _, _ = site
    sign_in(page, base_url, "boss")
    visit(page, f"{base_url}/app/admin")

    panel = open_tab(page, "Device types")
    form = new_record(panel, "device type")
    form.get_by_label("Name").fill(f"Laser {tag}")
    form.get_by_label("Code").fill(f"laser_{tag}")
    save(form, "device type", f"Laser {tag}")

    panel = open_tab(page, "Device units")
    form = new_record(panel, "device unit")
    form.get_by_label("Name").fill(f"Laser unit {tag}")
    form.get_by_label("Type").select_option(label=f"Laser {tag}")
    form.get_by_label("Location").select_option(label="World Midtown")
    form.get_by_label("Cleaning/setup minutes").fill("10")
    window = add_row(form, "Add maintenance", "Maintenance window")
    expect(form.locator("legend", has_text="Maintenance")).to_contain_text("America/New York time")
    window.get_by_label("From").fill("2027-03-15T13:00")
    window.get_by_label("Until").fill("2027-03-15T15:30")
    window.get_by_label("Reason").fill("Calibration")
    save(form, "device unit", f"Laser unit {tag}")
    expect(panel.locator("tr", has_text=f"Laser unit {tag}")).to_contain_text(
        "Calibration Mon, Mar 15 1:00 PM–3:30 PM (America/New York time)")
    unit = record(base_url, "devices", "name", f"Laser unit {tag}")
    assert unit["cleaning_minutes"] == 10
    # After the clocks went forward on 14 March: New York is UTC-4.
    assert [(w["starts_at"].replace("Z", "+00:00"), w["ends_at"].replace("Z", "+00:00"), w["reason"])
            for w in unit["maintenance"]] == [("2027-03-15T17:00:00+00:00", "2027-03-15T19:30:00+00:00",
                                               "Calibration")]

    panel = open_tab(page, "Rooms")
    form = new_record(panel, "room")
    form.get_by_label("Name").fill(f"Studio {tag}")
    form.get_by_label("Kind").select_option(label="Gym")
    form.get_by_label("Location").select_option(label="World Midtown")
    save(form, "room", f"Studio {tag}")
    assert record(base_url, "rooms", "name", f"Studio {tag}")["kind"] == "gym"

    panel = open_tab(page, "Services")
    form = new_record(panel, "service")
    form.get_by_label("Name").fill(f"Laser therapy {tag}")
    form.get_by_label("Code").fill(f"laser_therapy_{tag}")
    form.get_by_label("Length (minutes)").fill("40")
    form.get_by_label("Clinician certified in").select_option(label="Physical therapy")
    form.get_by_label("Room").select_option(label="Gym")
    need = add_row(form, "Add a device need", "Device need")
    need.get_by_label("Device type").select_option(label=f"Laser {tag}")
    save(form, "service", f"Laser therapy {tag}")
    expect(panel.locator("tr", has_text=f"Laser therapy {tag}")).to_contain_text(f"1 × Laser {tag}")
    service = record(base_url, "services", "name", f"Laser therapy {tag}")
    assert (service["duration_minutes"], service["required_certification"], service["room_kind"]) == (
        40, "physical_therapy", "gym")
    assert [need["count"] for need in service["device_needs"]] == [1]

    panel = open_tab(page, "Plan templates")
    form = new_record(panel, "plan template")
    form.get_by_label("Name").fill(f"Laser course {tag}")
    form.get_by_label("Code").fill(f"laser_course_{tag}")
    line = form.get_by_role("group", name="Line 1", exact=True)
    line.get_by_label("Service").select_option(label=f"Laser therapy {tag}")
    line.get_by_label("Sessions").fill("4")
    line.get_by_label("At least (days apart)").fill("3")
    line.get_by_label("At most (days apart)").fill("7")
    line.get_by_label("Same clinician").select_option(label="Required")
    save(form, "plan template", f"Laser course {tag}")
    expect(panel.locator("tr", has_text=f"Laser course {tag}")).to_contain_text(
        f"4 × Laser therapy {tag} (3–7 days apart)")
    template = record(base_url, "plan-templates", "name", f"Laser course {tag}")
    assert [(x["service_id"], x["count"], x["min_gap_days"], x["max_gap_days"], x["min_gap_hours"],
             x["same_clinician"]) for x in template["lines"]] == [(service["id"], 4, 3, 7, None, "required")]


def test_a_clinician_s_user_set_password_disabled_and_the_clinician_archived_and_restored(site, page, tag):
    """Removing a clinician someone still signs in as is refused, naming the account; once the account is disabled
    the clinician, who now has history, is archived (not deleted) and can be restored."""
    base_url, world, _ = site
    admin = api_token(base_url, "boss")
    rae = httpx.post(f"{base_url}/api/v1/clinicians", headers=admin, json={
        "name": f"Rae {tag}", "location_id": world.midtown.id}).json()
    sign_in(page, base_url, "boss")
    visit(page, f"{base_url}/app/admin#users")

    panel = page.get_by_role("tabpanel", name="Users")
    form = new_record(panel, "user")
    expect(form.get_by_label("Signs in as clinician")).to_be_hidden()
    form.get_by_label("User name").fill(f"rae{tag}")
    form.get_by_label("Role").select_option(label="Clinician")
    form.get_by_label("Signs in as clinician").select_option(label=f"Rae {tag}")
    form.get_by_label("Password").fill("first password 1")
    save(form, "user", f"rae{tag}")
    expect(panel.locator("tr", has_text=f"rae{tag}")).to_contain_text(f"Rae {tag}")
    signed = httpx.post(f"{base_url}/api/v1/auth/token", data={"username": f"rae{tag}", "password": "first password 1"})
    assert signed.status_code == 200

    panel.get_by_role("button", name=f"Edit rae{tag}").click()
    form.get_by_label("New password").fill("second password 2")
    save(form, "user", f"rae{tag}")
    assert httpx.post(f"{base_url}/api/v1/auth/token", data={
        "username": f"rae{tag}", "password": "second password 2"}).status_code == 200

    clinicians = open_tab(page, "Clinicians")
    clinicians.get_by_role("button", name=f"Edit Rae {tag}").click()
    clinicians.get_by_role("button", name="Remove or archive").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Remove clinician Rae {tag}?")
    dialog.get_by_role("button", name="Remove clinician").click()
    expect(page.locator("#notice")).to_contain_text(f"cannot be archived while other records depend on it: user ")
    expect(page.locator("#notice")).to_contain_text(f"(rae{tag})")
    expect(clinicians.locator("form .error")).to_contain_text("cannot be archived while other records depend on it")

    panel = open_tab(page, "Users")
    panel.get_by_role("button", name=f"Edit rae{tag}").click()
    panel.get_by_label("Active (can sign in)").uncheck()
    save(panel.locator("form"), "user", f"rae{tag}")
    expect(panel.locator("tr", has_text=f"rae{tag}")).to_contain_text("no (disabled)")

    clinicians = open_tab(page, "Clinicians")
    clinicians.get_by_role("button", name=f"Edit Rae {tag}").click()
    clinicians.get_by_role("button", name="Remove or archive").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove clinician").click()
    expect(page.locator("#notice")).to_contain_text(f"Archived clinician Rae {tag}")
    expect(clinicians.locator("tr", has_text=f"Rae {tag}")).to_have_count(0)
    assert httpx.get(f"{base_url}/api/v1/clinicians/{rae['id']}", headers=admin).json()["archived_at"]

    # The disabled account still names the archived clinician; its password can still be changed.
    panel = open_tab(page, "Users")
    panel.get_by_role("button", name=f"Edit rae{tag}").click()
    panel.get_by_label("New password").fill("third password 3")
    save(panel.locator("form"), "user", f"rae{tag}")

    clinicians = open_tab(page, "Clinicians")
    clinicians.get_by_label("Show archived clinicians").check()
    clinicians.get_by_role("button", name=f"Restore Rae {tag}").click()
    expect(page.locator("#notice")).to_contain_text(f"Restored clinician Rae {tag}")
    assert httpx.get(f"{base_url}/api/v1/clinicians/{rae['id']}", headers=admin).json()["archived_at"] is None


def test_the_api_s_refusals_are_shown_in_words_beside_the_fields_they_name(site, page, tag):
    base_url, _, _ = site
    sign_in(page, base_url, "boss")
    visit(page, f"{base_url}/app/admin")
    panel = open_tab(page, "Locations")
    form = new_record(panel, "location")
    form.get_by_label("Name").fill(f"Nowhere {tag}")
    form.get_by_label("Time zone").fill("Mars/Olympus")
    hours = add_row(form, "Add opening hours", "Opening hours")
    hours.get_by_label("Opens").fill("18:00")
    hours.get_by_label("Closes").fill("08:00")
    form.get_by_role("button", name="Save location").click()

    notice = page.locator("#notice")
    expect(notice).to_contain_text("The location was not saved")
    expect(notice).to_contain_text("Time zone: unknown IANA time zone 'Mars/Olympus'")
    expect(notice).to_contain_text("Opening hours 1: ends (08:00:00) must be after starts (18:00:00)")
    expect(form.locator(".error")).to_contain_text("Time zone: unknown IANA time zone")
    expect(form.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    expect(hours.get_by_label("Closes")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Name")).not_to_have_attribute("aria-invalid", "true")

    form.get_by_label("Name").fill("World Midtown")
    form.get_by_label("Time zone").fill("America/New_York")
    hours.get_by_label("Opens").fill("08:00")
    hours.get_by_label("Closes").fill("18:00")
    form.get_by_role("button", name="Save location").click()
    expect(notice).to_contain_text("a location with name 'World Midtown' already exists")
    expect(form.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Time zone")).not_to_have_attribute("aria-invalid", "true")
    assert not [item for item in httpx.get(f"{base_url}/api/v1/locations", headers=api_token(base_url, "boss"),
                                           params={"limit": 200}).json()["items"] if tag in item["name"]]


def test_the_front_desk_has_no_admin_menu_and_is_told_why_on_the_admin_page(site, page):
    base_url, _, _ = site
    sign_in(page, base_url, "desk")
    expect(page.get_by_role("link", name="Book")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    visit(page, f"{base_url}/app/admin")
    expect(page.locator("#admin-refused")).to_contain_text("The admin screens are for administrators")
    expect(page.locator("#admin-refused")).to_contain_text("desk (front desk)")
    expect(page.get_by_role("tab")).to_have_count(0)
    assert_accessible(page)


def test_the_admin_page_is_accessible_with_a_form_open(site, page):
    base_url, _, _ = site
    sign_in(page, base_url, "boss")
    expect(page.get_by_role("link", name="Admin")).to_be_visible()
    visit(page, f"{base_url}/app/admin#services")
    panel = page.get_by_role("tabpanel", name="Services")
    panel.get_by_role("button", name="Edit Shockwave therapy").click()
    expect(panel.locator("form")).to_be_visible()
    screenshot_for_docs(page, "admin-service")
    assert_accessible(page)
