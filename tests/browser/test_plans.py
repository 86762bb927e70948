"""The front desk's plans page: find a plan, edit when the patient can come and its priority, propose, read the
proposal by date with clinician and room in New York time, discard it, propose again and confirm."""

from datetime import date, datetime, timedelta

import httpx

from tests.browser.conftest import (
    api_token,
    assert_accessible,
    new_patient,
    playwright_api,
    ready,
    screenshot_for_docs,
    sign_in,
    visit,
)

API = "/api/v1"


def new_plan(base_url: str, world, lines=None, days: int = 24, **extra) -> dict:
    """A draft plan for a new patient starting in three days (the server runs on today's clock)."""
    desk = api_token(base_url, "desk")
    patient = new_patient(base_url, "Pia")
    templates = httpx.get(f"{base_url}{API}/plan-templates", headers=desk).json()["items"]
    template = next(t for t in templates if t["code"] == "w_eswt_course")
    first = date.today() + timedelta(days=3)
    body = {"patient_id": patient["id"], "location_id": world.midtown.id, "earliest_start": first.isoformat(),
            "latest_end": (first + timedelta(days=days)).isoformat(), **extra}
    body.update({"lines": lines} if lines else {"template_id": template["id"]})
    response = httpx.post(f"{base_url}{API}/plans", headers=desk, json=body)
    assert response.status_code == 201, response.text
    return {**response.json(), "patient": patient}


def stored(base_url: str, plan_id: int) -> dict:
    return httpx.get(f"{base_url}{API}/plans/{plan_id}", headers=api_token(base_url, "desk")).json()


def wall_date(iso: str) -> str:
    """How the page writes the local date of an instant of an en-US location: 'Wed, Mar 3'."""
    moment = datetime.fromisoformat(iso)
    return f"{moment:%a}, {moment:%b} {moment.day}"


def wall_time(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    return f"{moment.hour % 12 or 12}:{moment:%M} {moment:%p}"


def test_the_desk_edits_proposes_discards_and_confirms_a_plan(site, page):
    base_url, world, _ = site
    expect = playwright_api.expect
    plan = new_plan(base_url, world)
    first = date.fromisoformat(plan["earliest_start"])
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/plans?id={plan['id']}")
    card = page.locator("#plan")
    expect(page.locator("#plan-title")).to_contain_text(plan["patient_name"])
    expect(card).to_contain_text("America/New York time")

    # The patient comes on the plan's first weekday, 9 to 1, but not on its first day; priority 5.
    page.get_by_role("button", name="Add a weekly time").click()
    window = page.locator("#windows .rows-item").last
    window.get_by_label("Day").select_option(str(first.weekday()))
    window.get_by_label("From").fill("09:00")
    window.get_by_label("To").fill("13:00")
    page.locator("#new-blackout").fill(first.isoformat())
    page.get_by_role("button", name="Add the date").click()
    page.get_by_label("Priority").select_option("5")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#notice")).to_contain_text("Saved.")
    saved = stored(base_url, plan["id"])
    assert (saved["windows"], saved["blackouts"], saved["priority"]) == (
        [{"weekday": first.weekday(), "starts": "09:00:00", "ends": "13:00:00", "preferred": False}],
        [first.isoformat()], 5)

    page.get_by_role("button", name="Propose sessions").click()
    expect(page.locator("#notice")).to_contain_text("3 sessions held")
    sessions = page.locator("#sessions")
    expect(page.locator("#proposal")).to_contain_text("Dates and times are America/New York time.")
    proposed = stored(base_url, plan["id"])
    placed = sorted(proposed["sessions"], key=lambda s: s["appointment"]["start"])
    rows = sessions.locator("tbody tr")
    expect(rows).to_have_count(3)
    for row, session in zip(rows.all(), placed):
        start = session["appointment"]["start"]
        cells = row.locator("td")
        expect(cells.nth(0)).to_have_text(wall_date(start))
        expect(cells.nth(1)).to_contain_text(wall_time(start))
        expect(cells.nth(3)).to_have_text(session["clinician_name"])
        expect(cells.nth(4)).to_have_text(session["room_name"])
        expect(cells.nth(5)).to_contain_text("Shockwave unit")
        expect(cells.nth(6)).to_contain_text("Held until")
        moment = datetime.fromisoformat(start)
        assert moment.date() != first and moment.weekday() == first.weekday() and 9 <= moment.hour < 13
    assert_accessible(page)
    screenshot_for_docs(page, "plan-proposal")

    page.get_by_role("button", name="Discard the proposal").click()
    expect(page.locator("#notice")).to_contain_text("Proposal discarded")
    expect(page.locator("#proposal")).to_contain_text("No sessions proposed yet.")
    expect(page.get_by_role("button", name="Confirm the plan")).to_be_hidden()
    assert stored(base_url, plan["id"])["status"] == "draft"
    holds = [s["appointment"]["id"] for s in proposed["sessions"]]
    desk = api_token(base_url, "desk")
    assert {httpx.get(f"{base_url}{API}/appointments/{ident}", headers=desk).json()["status"]
            for ident in holds} == {"cancelled"}

    # Proposing saves what the form shows first; confirming with changes not saved is refused in words.
    page.get_by_label("Priority").select_option("4")
    page.get_by_role("button", name="Propose sessions").click()
    expect(page.locator("#sessions tbody tr")).to_have_count(3)
    assert stored(base_url, plan["id"])["priority"] == 4
    page.locator("#new-blackout").fill((first + timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Add the date").click()
    page.get_by_role("button", name="Confirm the plan").click()
    expect(page.locator("#notice")).to_contain_text("changes not saved yet")
    assert stored(base_url, plan["id"])["status"] == "proposed"
    visit(page, f"{base_url}/app/plans?id={plan['id']}")
    page.get_by_role("button", name="Confirm the plan").click()
    expect(page.locator("#notice")).to_contain_text("Plan confirmed")
    expect(page.locator("#sessions tbody tr", has_text="Booked")).to_have_count(3)
    expect(page.get_by_role("button", name="Save changes")).to_be_disabled()
    expect(page.get_by_role("button", name="Discard the proposal")).to_be_hidden()


def test_unplaced_sessions_each_say_why(site, page):
    """Five shockwave sessions 5-10 days apart in two weeks: the fourth is stopped by its spacing, the fifth by
    the fourth."""
    base_url, world, _ = site
    expect = playwright_api.expect
    plan = new_plan(base_url, world, days=14, lines=[{"service_id": world.eswt.id, "count": 5, "min_gap_days": 5,
                                                      "max_gap_days": 10}])
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/plans?id={plan['id']}")
    page.get_by_role("button", name="Propose sessions").click()
    expect(page.locator("#notice")).to_contain_text("3 sessions held, 2 not placed")
    fourth = page.locator("#sessions tbody tr", has_text="Shockwave therapy 4 of 5")
    expect(fourth).to_contain_text("Not placed: spacing of 5-10 days after session 3")
    expect(page.locator("#sessions tbody tr", has_text="Shockwave therapy 5 of 5")).to_contain_text(
        "Not placed: it comes after session 4, which is not placed")


def test_plans_are_found_by_patient_name_and_status(site, page):
    base_url, world, _ = site
    expect = playwright_api.expect
    plan = new_plan(base_url, world)
    httpx.post(f"{base_url}{API}/plans/{plan['id']}/proposal", headers=api_token(base_url, "desk"), timeout=60)
    sign_in(page, base_url, "desk")
    page.get_by_role("link", name="Plans").click()
    page.wait_for_url("**/app/plans")
    ready(page)
    filters = page.locator("#plan-filter")
    filters.get_by_label("Patient").fill(plan["patient"]["family_name"])
    filters.get_by_label("Status").select_option("proposed")
    filters.get_by_role("button", name="Show plans").click()
    row = page.locator(f"#plans tr[data-id='{plan['id']}']")
    expect(page.locator("#plans tbody tr")).to_have_count(1)
    expect(row).to_contain_text("Shockwave course")
    expect(row).to_contain_text("Proposed")
    first = date.fromisoformat(plan["earliest_start"])
    expect(row).to_contain_text(f"{first:%a}, {first:%b} {first.day}")
    expect(row).to_contain_text("Shockwave therapy: 0 of 3 done, 3 held")
    assert_accessible(page)
    screenshot_for_docs(page, "plans")
    filters.get_by_label("Status").select_option("confirmed")
    filters.get_by_role("button", name="Show plans").click()
    expect(page.locator("#plans")).to_contain_text("No plan matches.")
    filters.get_by_label("Status").select_option("")
    filters.get_by_role("button", name="Show plans").click()
    expect(page.locator("main a[href='/app/desk']")).to_have_text("Book")  # where plans are started
    row.get_by_role("link", name=plan["patient_name"]).click()
    ready(page)
    expect(page.locator("#plan-title")).to_contain_text(f"Plan {plan['id']}")
