"""The schedule screen: sessions, holds and unbookable time in the clinic's zone, the side panel and its actions,
moving by drag (accepted, or refused and put back), booking at a clicked time, and day/week navigation."""

import itertools
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx

from tests.browser.conftest import (
    api_token, assert_accessible, new_patient, playwright_api, screenshot_for_docs, sign_in, visit,
)

NEW_YORK = ZoneInfo("America/New_York")
expect = playwright_api.expect


def has_word(word: str) -> re.Pattern:
    return re.compile(rf"(^|\s){re.escape(word)}(\s|$)")


DAYS_USED = itertools.count()


def clinic_day() -> date:
    """A weekday at least two days ahead in New York that no other test (or run of this one) has used: the server
    is shared by the module, and every test runs once per browser setting."""
    day = datetime.now(NEW_YORK).date() + timedelta(days=2)
    for _ in range(next(DAYS_USED) + 1):
        day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
    return day


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NEW_YORK)


class Desk:
    """The front desk's API, for arranging what a test looks at."""

    def __init__(self, base_url: str):
        self.base_url, self.headers = base_url, api_token(base_url, "desk")

    def post(self, path: str, body: dict) -> dict:
        response = httpx.post(f"{self.base_url}/api/v1/{path}", headers=self.headers, json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def get(self, path: str, **params) -> dict:
        response = httpx.get(f"{self.base_url}/api/v1/{path}", headers=self.headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def new_patient(self) -> dict:
        return new_patient(self.base_url)

    def book(self, patient: dict, service, start: datetime, clinician) -> dict:
        return self.post("appointments", {"service_id": service.id, "patient_id": patient["id"],
                                          "start": start.isoformat(), "clinician_id": clinician.id})


def open_schedule(page, base_url: str, world, day: date) -> None:
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/schedule?location_id={world.midtown.id}&day={day.isoformat()}")


def session_box(page, appointment_id: int, row: str):
    """The session's block on one resource's row (a session shows on its clinician's, room's and units' rows)."""
    rows = page.locator(".ec-sidebar .ec-row-head")
    index = next(n for n in range(rows.count()) if rows.nth(n).inner_text().strip() == row)
    blocks = page.locator(f"[data-appointment='{appointment_id}']")
    row_box = rows.nth(index).bounding_box()
    for n in range(blocks.count()):
        box = blocks.nth(n).bounding_box()
        if box and row_box["y"] - 2 <= box["y"] + box["height"] / 2 <= row_box["y"] + row_box["height"] + 2:
            return blocks.nth(n), box, row_box
    raise AssertionError(f"appointment {appointment_id} is not on {row}'s row")


def test_sessions_holds_and_unbookable_time_show_in_the_clinic_s_time(site, page):
    base_url, world, _ = site
    desk, day = Desk(base_url), clinic_day()
    patient = desk.new_patient()
    booked = desk.book(patient, world.msus, at(day, 10), world.dana)
    held = desk.post("holds", {"service_id": world.msus.id, "patient_id": desk.new_patient()["id"],
                               "start": at(day, 13).isoformat(), "clinician_id": world.max.id})
    open_schedule(page, base_url, world, day)
    expect(page.locator("h1")).to_have_text(f"Schedule, {day:%A}, {day:%B} {day.day}, {day.year}")
    expect(page.locator("#schedule-zone")).to_contain_text("America/New York time")
    block, _, _ = session_box(page, booked["id"], "Dana")
    expect(block).to_contain_text(patient["family_name"])
    expect(block).to_have_attribute("aria-label", f"Sam {patient['family_name']} 10:00 AM Diagnostic ultrasound: "
                                                  f"{day:%a}, {day:%b} {day.day} 10:00 AM–10:45 AM, booked")
    hold_block, _, _ = session_box(page, held["id"], "Max")
    expect(hold_block).to_have_class(has_word("status-pending"))
    expect(hold_block).to_contain_text("Held")
    units = {unit.id: unit.name for unit in world.ultrasounds}
    (unit,) = booked["device_ids"]
    session_box(page, booked["id"], units[unit])  # the unit's row shows it too
    assert page.locator(".ec-bg-event.cause-break").count() >= 1, "Dana's lunch break is shaded"
    assert page.locator(".ec-bg-event.cause-off-shift").count() >= 1
    screenshot_for_docs(page, "schedule-day")
    assert_accessible(page)


def test_a_session_s_panel_shows_the_patient_and_cancels_with_a_reason(site, page):
    base_url, world, _ = site
    desk, day = Desk(base_url), clinic_day()
    patient = desk.new_patient()
    booked = desk.book(patient, world.msus, at(day, 9), world.max)
    desk.post("waitlist", {"patient_id": patient["id"], "service_id": world.eswt.id,
                           "earliest_day": (day + timedelta(days=20)).isoformat(),
                           "latest_day": (day + timedelta(days=27)).isoformat(),
                           "earliest_time": "08:00", "latest_time": "12:00"})
    open_schedule(page, base_url, world, day)
    block, _, _ = session_box(page, booked["id"], "Max")
    block.click()
    panel = page.locator("#panel")
    expect(panel).to_be_visible()
    expect(panel.locator("#panel-title")).to_have_text(f"Sam {patient['family_name']}")
    expect(panel).to_contain_text("+1 212 555 0100")
    expect(panel).to_contain_text("not part of a plan")
    expect(panel).to_contain_text("America/New York time")
    expect(panel.get_by_label("History")).to_contain_text("waitlist: Shockwave therapy")
    assert_accessible(page)
    panel.get_by_role("button", name="Cancel…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox").fill("patient has the flu")
    dialog.get_by_role("button", name="Cancel the session").click()
    expect(page.locator("#notice-text")).to_contain_text("Cancelled")
    expect(page.locator(f"[data-appointment='{booked['id']}']")).to_have_count(0)
    assert desk.get(f"appointments/{booked['id']}")["status"] == "cancelled"


def test_a_screen_left_open_does_not_cancel_a_session_a_colleague_moved(site, page):
    """A stale schedule cancelled a session a colleague had just moved to another time (found by a probe): the
    screen sends the version it shows, the server refuses another, and the screen shows the session as it is."""
    base_url, world, _ = site
    desk, day = Desk(base_url), clinic_day()
    booked = desk.book(desk.new_patient(), world.msus, at(day, 9), world.max)
    open_schedule(page, base_url, world, day)
    block, _, _ = session_box(page, booked["id"], "Max")
    moved = desk.post(f"appointments/{booked['id']}/reschedule", {"start": at(day, 13).isoformat()})
    block.click()
    page.locator("#panel").get_by_role("button", name="Cancel…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox").fill("patient asked")
    dialog.get_by_role("button", name="Cancel the session").click()
    expect(page.locator("#notice-text")).to_contain_text("someone changed this since your screen showed it")
    assert desk.get(f"appointments/{booked['id']}") == moved, "still booked, at the colleague's time"
    expect(page.locator(f"[data-appointment='{booked['id']}']").first).to_have_attribute(
        "title", re.compile(r"1:00"))


def test_a_hold_of_a_proposed_plan_leads_to_its_plan(site, page):
    """Its hold is booked by confirming the plan and released by discarding it (Book and Release are refused for it
    with a 409): the panel offers the plan instead."""
    base_url, world, _ = site
    desk, day = Desk(base_url), clinic_day()
    plan = desk.post("plans", {"patient_id": desk.new_patient()["id"], "location_id": world.midtown.id,
                               "earliest_start": day.isoformat(),
                               "latest_end": (day + timedelta(days=1)).isoformat(),
                               "lines": [{"service_id": world.msus.id, "count": 1}]})
    (held,) = [s["appointment"] for s in desk.post(f"plans/{plan['id']}/proposal", {})["plan"]["sessions"]]
    open_schedule(page, base_url, world, datetime.fromisoformat(held["start"]).date())
    page.locator(f"[data-appointment='{held['id']}']").first.click()
    panel = page.locator("#panel")
    expect(panel.get_by_role("link", name="Open the plan to confirm or discard it")).to_have_attribute(
        "href", f"/app/plans?id={plan['id']}")
    expect(panel.get_by_role("button", name="Book")).to_have_count(0)
    expect(panel.get_by_role("button", name="Release")).to_have_count(0)


def test_a_hold_of_a_public_request_leads_to_the_requests_page(site, page):
    """A visitor's request holds its time until the desk answers it: Book and Release would be refused (409), so
    the panel sends the desk to the request instead."""
    base_url, world, _ = site
    slot = next(s for s in httpx.get(f"{base_url}/api/v1/public/slots", params={"kind": "in_office"}).json()
                if s["location_id"] == world.midtown.id)
    made = httpx.post(f"{base_url}/api/v1/public/requests", json={
        "kind": "in_office", "location_id": slot["location_id"], "start": slot["start"], "given_name": "Rhea",
        "family_name": "Asking", "birth_date": "1984-05-06", "phone": "+1 646 555 0199", "reason": "sore back"})
    assert made.status_code == 201, made.text
    (held,) = [s for s in Desk(base_url).get("schedule", location_id=world.midtown.id,
                                              day=slot["start"][:10])["sessions"]
               if s["patient"]["name"] == "Rhea Asking"]
    assert held["status"] == "pending" and held["answers_request"] is not None
    open_schedule(page, base_url, world, datetime.fromisoformat(slot["start"]).date())
    page.locator(f"[data-appointment='{held['appointment_id']}']").first.click()
    panel = page.locator("#panel")
    expect(panel.get_by_role("link", name="Answer the patient's request on the Requests page")).to_have_attribute(
        "href", "/app/requests")
    expect(panel.get_by_role("button", name="Book")).to_have_count(0)
    expect(panel.get_by_role("button", name="Release")).to_have_count(0)


def drag(page, box: dict, dx: float, dy: float = 0) -> None:
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x + dx * step / 10, y + dy * step / 10)
    page.mouse.up()


def test_dragging_moves_a_session_or_is_refused_and_put_back(site, page):
    base_url, world, _ = site
    desk, day = Desk(base_url), clinic_day()
    patient = desk.new_patient()
    booked = desk.book(patient, world.msus, at(day, 9), world.max)
    open_schedule(page, base_url, world, day)
    _, box, _ = session_box(page, booked["id"], "Max")
    per_minute = box["width"] / 45
    drag(page, box, 120 * per_minute)  # two hours later, Max still on shift
    expect(page.locator("#notice-text")).to_contain_text("Moved")
    moved = desk.get(f"appointments/{booked['id']}")
    assert datetime.fromisoformat(moved["start"]) == at(day, 11), moved["start"]

    _, box, _ = session_box(page, booked["id"], "Max")
    drag(page, box, 300 * per_minute)  # 16:00: Max's shift has ended
    expect(page.locator("#notice-text")).to_contain_text("Not moved")
    assert datetime.fromisoformat(desk.get(f"appointments/{booked['id']}")["start"]) == at(day, 11)
    block, _, _ = session_box(page, booked["id"], "Max")
    expect(block).to_have_attribute("aria-label", has_word("11:00 AM"))


def test_a_move_that_breaks_a_plan_s_rules_asks_whether_the_patient_agreed(site, page):
    """The plan keeps the patient to 11:00-12:00; a move to another time of the day is refused by the API, naming
    the rule, and the desk is asked before it moves the session anyway."""
    base_url, world, _ = site
    desk, day = Desk(base_url), clinic_day()
    plan = desk.post("plans", {"patient_id": desk.new_patient()["id"], "location_id": world.midtown.id,
                               "earliest_start": day.isoformat(), "latest_end": day.isoformat(),
                               "windows": [{"weekday": day.weekday(), "starts": "11:00", "ends": "12:00"}],
                               "lines": [{"service_id": world.msus.id, "count": 1}]})
    desk.post(f"plans/{plan['id']}/proposal", {})
    (held,) = [s["appointment"] for s in desk.post(f"plans/{plan['id']}/confirm", {})["sessions"]]
    assert datetime.fromisoformat(held["start"]) == at(day, 11), held["start"]
    open_schedule(page, base_url, world, day)
    page.locator(f"[data-appointment='{held['id']}']").first.click()
    page.locator("#panel").get_by_role("button", name="Reschedule…").click()
    choices = page.locator("#move-choices li")
    expect(choices.first).to_contain_text("AM")
    choices.first.get_by_role("button", name="Move here").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("outside the plan's dates, the patient's available times")
    assert_accessible(page)
    dialog.get_by_role("button", name="Move anyway").click()
    expect(page.locator("#notice-text")).to_contain_text("Moved to")
    assert datetime.fromisoformat(desk.get(f"appointments/{held['id']}")["start"]) != at(day, 11)


def test_clicking_an_empty_time_books_there(site, page):
    base_url, world, _ = site
    desk, day = Desk(base_url), clinic_day()
    marker = desk.book(desk.new_patient(), world.msus, at(day, 8), world.dana)  # shows where 8:00 AM is
    patient = desk.new_patient()
    open_schedule(page, base_url, world, day)
    _, box, _ = session_box(page, marker["id"], "Dana")
    per_minute = box["width"] / 45
    rows = page.locator(".ec-sidebar .ec-row-head")
    max_row = rows.filter(has_text="Max").first.bounding_box()
    page.mouse.click(box["x"] + 60 * per_minute + 2, max_row["y"] + max_row["height"] / 2)  # 9:00 AM on Max's row
    panel = page.locator("#panel")
    expect(panel.locator("#panel-title")).to_contain_text("9:00 AM · Max")
    panel.get_by_label("Patient (name)").fill(patient["family_name"])
    panel.get_by_label("Patient (name)").press("Tab")
    expect(panel.get_by_label("Matching patients")).to_be_visible()
    panel.get_by_label("Service").select_option(label="Diagnostic ultrasound (45 min)")
    panel.get_by_role("button", name="Find this time").click()
    expect(panel.locator("#book-here-result")).to_contain_text("Max")
    panel.get_by_role("button", name="Book").click()
    expect(page.locator("#notice-text")).to_contain_text("Booked Diagnostic ultrasound")
    mine = desk.get("appointments", patient_id=patient["id"])["items"]
    assert [datetime.fromisoformat(a["start"]) for a in mine] == [at(day, 9)]


def test_previous_next_today_and_week(site, page):
    base_url, world, _ = site
    day = clinic_day()
    open_schedule(page, base_url, world, day)
    page.get_by_role("button", name="Next day").click()
    following = day + timedelta(days=1)
    expect(page.locator("h1")).to_have_text(f"Schedule, {following:%A}, {following:%B} {following.day}, "
                                            f"{following.year}")
    page.get_by_label("Week").check()
    monday = following - timedelta(days=following.weekday())
    expect(page.locator("h1")).to_have_text(f"Schedule, week of {monday:%A}, {monday:%B} {monday.day}, {monday.year}")
    assert_accessible(page)
    page.get_by_role("button", name="Today").click()
    today = datetime.now(NEW_YORK).date()
    monday = today - timedelta(days=today.weekday())
    expect(page.locator("h1")).to_have_text(f"Schedule, week of {monday:%A}, {monday:%B} {monday.day}, {monday.year}")
