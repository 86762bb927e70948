"""The nightly runs page, as the desk and an administrator read it in a browser far from the clinic."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.browser.conftest import (api_token, assert_accessible, playwright_api, screenshot_for_docs, shown, sign_in,
                                    visit)

NEW_YORK = ZoneInfo("America/New_York")
RUN_SECONDS = 120  # a manual run answers when the night is solved (the test server's solver limit is 10 s)


def runs_of(base_url: str, location_id: int) -> list[dict]:
    response = httpx.get(f"{base_url}/api/v1/optimization-runs", params={"location_id": location_id, "limit": 100},
                         headers=api_token(base_url, "boss"))
    response.raise_for_status()
    return response.json()["items"]


@pytest.fixture(scope="module")
def run(site):
    """A run by the administrator that places Ann's request and leaves Cy's gait analysis waiting (nobody is
    certified), made once for every browser setting."""
    base_url, world, _ = site
    admin = api_token(base_url, "boss")
    soon = date.today() + timedelta(days=3)
    for patient, service in ((world.patients[0], world.msus), (world.patients[2], world.gait)):
        assert httpx.post(f"{base_url}/api/v1/waitlist", headers=admin, json={
            "patient_id": patient.id, "service_id": service.id, "earliest_day": soon.isoformat(),
            "latest_day": (soon + timedelta(days=4)).isoformat(), "earliest_time": "08:00",
            "latest_time": "16:00"}).status_code == 201
    response = httpx.post(f"{base_url}/api/v1/optimization-runs", headers=admin,
                          json={"location_id": world.midtown.id}, timeout=RUN_SECONDS)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_desk_reads_a_run_in_the_location_s_time_zone_and_cannot_start_one(site, run, page):
    """The desk sees what the run placed and left waiting, and its gap, with New York times whatever zone the browser
    is in; there is no "Run now" for the desk (the API would refuse it)."""
    base_url, world, _ = site
    expect = playwright_api.expect
    assert run["status"] == "succeeded" and run["gap"] == 0  # Cy's session cannot be placed, so the bound is reached
    (hold,) = [change for change in run["changes"] if change["action"] == "waitlist_hold"]
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/runs?location_id={world.midtown.id}")
    row = page.locator(f"#runs tr[data-id='{run['id']}']")
    expect(row).to_contain_text("1 session")  # placed
    expect(row).to_contain_text("0 % (proven optimal)")
    moves = sum(change["action"] == "move" for change in run["changes"])  # the history reads the brief list's counts
    expect(row.locator("td").nth(4)).to_have_text(str(moves))
    expect(row.locator("td").nth(5)).to_have_text(str(len(run["waiting"])))
    report = page.locator("#run-report")
    expect(report).to_contain_text("Times are America/New York time.")
    expect(report).to_contain_text("placed 3 of 6 priority points; at most 3 can be placed")
    placed = report.locator("[data-part=placed]")
    expect(placed).to_contain_text("Ann World")
    expect(placed).to_contain_text(shown(hold["start"]))
    waiting = report.locator("[data-part=left-waiting]")
    expect(waiting).to_contain_text("Cy World")
    expect(waiting).to_contain_text("no certified clinician on shift in the patient's window")
    expect(page.get_by_role("button", name="Run now")).to_have_count(0)
    expect(page.locator("#run-now")).to_have_count(0)
    assert_accessible(page)
    screenshot_for_docs(page, "runs")


def test_a_location_without_runs_says_so(site, page):
    """A location no run has touched yet shows a sentence, not an error."""
    base_url, world, _ = site
    expect = playwright_api.expect
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/runs?location_id={world.night_desk.id}")
    expect(page.locator("#runs tbody")).to_have_text("No optimization has run here yet.")
    expect(page.locator("#notice")).to_be_hidden()
    expect(page.locator("#run-report")).to_be_hidden()


def test_an_administrator_runs_the_night_now_and_reads_the_new_run(site, run, page):
    """"Run now" starts a run of the chosen location, shows that it is working, then opens the new run."""
    base_url, world, _ = site
    expect = playwright_api.expect
    before = {record["id"] for record in runs_of(base_url, world.midtown.id)}
    sign_in(page, base_url, "boss")
    visit(page, f"{base_url}/app/runs?location_id={world.midtown.id}")
    assert_accessible(page)
    expect(page.get_by_role("button", name="Run now")).to_be_visible()
    button = page.locator("#run-now")  # by id: its label reads "Working…" while the run is on
    started = []  # the run's request, held back until the page has shown that it is working
    page.route(lambda url: url.endswith("/api/v1/optimization-runs"),
               lambda route: started.append(route) if route.request.method == "POST" else route.fallback())
    with page.expect_request(lambda request: request.method == "POST" and "optimization-runs" in request.url):
        button.click()
    expect(button).to_have_text("Working…")
    expect(button).to_be_disabled()
    expect(page.locator("#notice")).to_contain_text("Re-planning World Midtown now")
    assert len(started) == 1 and started[0].request.post_data_json == {"location_id": world.midtown.id}
    started[0].continue_()
    expect(page.locator("#notice")).to_contain_text("The run is done", timeout=RUN_SECONDS * 1000)
    (new,) = [record for record in runs_of(base_url, world.midtown.id) if record["id"] not in before]
    assert new["trigger"] == "manual" and new["status"] == "succeeded"
    expect(page.locator(f"#runs tr[data-id='{new['id']}']")).to_have_attribute("aria-selected", "true")
    expect(page.locator(f"#runs tr[data-id='{run['id']}']")).to_have_attribute("aria-selected", "false")
    report = page.locator("#run-report")
    expect(report).to_be_visible()
    expect(report.locator("dd").first).to_have_text("by hand")
    expect(report).to_contain_text(shown(new["started_at"]))
    expect(button).to_be_enabled()
    assert_accessible(page)
    screenshot_for_docs(page, "runs-admin")


def test_a_session_the_catalog_changed_under_is_listed_as_kept_as_booked(site, run, page):
    """Ben's shockwave session was booked with Dana; then Dana's shockwave certification was taken away. The next run
    keeps the session as booked and the desk reads why, at the session's New York time (last in this module: Dana
    stays uncertified)."""
    base_url, world, _ = site
    expect = playwright_api.expect
    admin = api_token(base_url, "boss")
    start = datetime.combine(date.today() + timedelta(days=5), time(13), NEW_YORK).isoformat()
    booked = httpx.post(f"{base_url}/api/v1/appointments", headers=admin, json={
        "service_id": world.eswt.id, "patient_id": world.patients[1].id, "start": start,
        "clinician_id": world.dana.id})
    assert booked.status_code == 201, booked.text
    assert httpx.patch(f"{base_url}/api/v1/clinicians/{world.dana.id}", headers=admin,
                       json={"certifications": ["msus"]}).status_code == 200
    response = httpx.post(f"{base_url}/api/v1/optimization-runs", headers=admin,
                          json={"location_id": world.midtown.id}, timeout=RUN_SECONDS)
    assert response.status_code == 201 and response.json()["status"] == "succeeded", response.text
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/runs?location_id={world.midtown.id}")
    kept = page.locator("#run-report [data-part=kept-as-booked]")
    expect(kept).to_contain_text("Kept as booked (1)")
    expect(kept).to_contain_text("Ben World")
    expect(kept).to_contain_text(shown(start))
    expect(kept).to_contain_text("Dana no longer gives Shockwave therapy here")
    assert_accessible(page)
