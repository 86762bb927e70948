"""The nightly runs page, as the desk reads it in a browser far from the clinic."""

from datetime import date, timedelta

import httpx
import pytest

from tests.browser.conftest import api_token, playwright_api, shown, sign_in, visit


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
    run = httpx.post(f"{base_url}/api/v1/optimization-runs", headers=admin, json={"location_id": world.midtown.id},
                     timeout=120).json()
    return run


def test_the_nightly_runs_page_shows_a_run_in_the_location_s_time_zone(site, run, page):
    """The desk sees what the run placed and left waiting with New York times, whatever zone the browser is in."""
    base_url, world, _ = site
    expect = playwright_api.expect
    (hold,) = [change for change in run["changes"] if change["action"] == "waitlist_hold"]
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/runs?location_id={world.midtown.id}")
    expect(page.locator(f"#runs tr[data-id='{run['id']}']")).to_contain_text("of 6 priority points")
    report = page.locator("#run-report")
    expect(report).to_contain_text("times in America/New_York")
    placed = report.locator("[data-part=placed]")
    expect(placed).to_contain_text("Ann World")
    expect(placed).to_contain_text(shown(hold["start"]))
    waiting = report.locator("[data-part=left-waiting]")
    expect(waiting).to_contain_text("Cy World")
    expect(waiting).to_contain_text("no certified clinician on shift in the patient's window")
