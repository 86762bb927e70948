"""A clinician's day in the app: the menu they can use, their roster (an empty day too), in the clinic's time."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.browser.conftest import api_token, assert_accessible, playwright_api, screenshot_for_docs, sign_in, visit

expect = playwright_api.expect
NEW_YORK = ZoneInfo("America/New_York")


def test_a_clinician_sees_only_the_menu_they_can_use(site, page):
    """Defect 8: clinicians saw menu entries whose pages the API then refused."""
    base_url, _, _ = site
    sign_in(page, base_url, "dana")
    assert page.locator("nav a:visible").all_inner_texts() == ["Roster"]
    assert "/app/roster" in page.url


def test_an_empty_day_says_so_instead_of_failing(site, page):
    """Defect 4: the roster page failed on any day without sessions; clinicians land there after signing in."""
    base_url, _, _ = site
    sign_in(page, base_url, "dana")
    quiet = (datetime.now(NEW_YORK) + timedelta(days=200)).date()
    page.get_by_label("Day").fill(quiet.isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#roster tbody")).to_have_text("No sessions that day.")
    expect(page.locator("#roster-title")).to_have_text(f"My roster, {quiet:%A}, {quiet:%B} {quiet.day}, {quiet.year}")
    expect(page.locator("#notice")).to_be_hidden()
    assert_accessible(page)


@pytest.fixture(scope="module")
def dana_s_day(site):
    """A day a month ahead with one session of Dana's at 2:30 PM New York time, booked once for both settings."""
    base_url, world, _ = site
    day = (datetime.now(NEW_YORK) + timedelta(days=30)).date()
    start = datetime(day.year, day.month, day.day, 14, 30, tzinfo=NEW_YORK)
    response = httpx.post(f"{base_url}/api/v1/appointments", headers=api_token(base_url, "desk"), json={
        "service_id": world.msus.id, "patient_id": world.patients[1].id, "start": start.isoformat(),
        "clinician_id": world.dana.id})
    assert response.status_code == 201, response.text
    return day


def test_the_roster_shows_the_clinic_s_times(site, dana_s_day, page):
    base_url, _, _ = site
    day = dana_s_day
    sign_in(page, base_url, "dana")
    visit(page, f"{base_url}/app/roster?day={day.isoformat()}")
    expect(page.locator("#roster tbody")).to_contain_text("2:30 PM–3:15 PM")
    expect(page.locator("#roster-zone")).to_have_text("Times are America/New York time.")
    screenshot_for_docs(page, "roster")


def test_a_clinician_gets_their_calendar_feed_link_from_the_app(site, page):
    base_url, _, _ = site
    sign_in(page, base_url, "dana")
    page.get_by_role("button", name="Calendar feed link…").click()
    expect(page.locator("#feed-card")).to_be_visible()
    assert_accessible(page)
    url = page.get_by_label("Subscribe to this address in your phone's or computer's calendar").input_value()
    assert url.startswith(base_url), url
    feed = httpx.get(url)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VCALENDAR" in feed.text
