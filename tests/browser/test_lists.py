"""The desk's everyday lists: the waitlist (add, close, see offers) and the Today page (arrivals with check-in,
completion and no-shows; the nightly run's holds to book or release), in New York time whatever the browser's zone."""

from datetime import date, datetime, timedelta

import httpx
import pytest

from tests.browser.arrange import NY, desk_post, new_patient, started_session
from tests.browser.conftest import (api_token, assert_accessible, playwright_api, ready, screenshot_for_docs, shown,
                                    sign_in, visit)

expect = playwright_api.expect


def day_words(day: date) -> str:
    return f"{day:%a}, {day:%b} {day.day}"


def long_day(day: date) -> str:
    return f"{day:%A}, {day:%B} {day.day}, {day.year}"


def status_of(base_url: str, appointment_id: int) -> str:
    return httpx.get(f"{base_url}/api/v1/appointments/{appointment_id}",
                     headers=api_token(base_url, "desk")).json()["status"]


@pytest.fixture(scope="module")
def night(site):
    """A manual run that holds a diagnostic ultrasound for each of five waiting patients, made once for both browser
    settings: Olive's offer stays for the waitlist page to show; the Today test books one and releases one of the
    others per setting."""
    base_url, world, _ = site
    soon = date.today() + timedelta(days=3)
    patients = [new_patient(base_url, given) for given in ("Olive", "Hana", "Hugo", "Hilda", "Hank")]
    for patient in patients:
        desk_post(base_url, "waitlist", {"patient_id": patient["id"], "service_id": world.msus.id,
                                         "earliest_day": soon.isoformat(),
                                         "latest_day": (soon + timedelta(days=4)).isoformat(),
                                         "earliest_time": "08:00", "latest_time": "16:00"})
    run = desk_post(base_url, "optimization-runs", {"location_id": world.midtown.id}, user="boss")
    holds = {change["patient_id"]: change for change in run["changes"] if change["action"] == "waitlist_hold"}
    assert set(holds) == {patient["id"] for patient in patients}, run
    return {f"{p['given_name']} {p['family_name']}": holds[p["id"]] for p in patients}


def test_the_desk_adds_a_patient_to_the_waitlist_and_closes_the_request(site, page):
    base_url, _, _ = site
    patient = new_patient(base_url, "Wes")
    name = f"Wes {patient['family_name']}"
    first = (datetime.now(NY) + timedelta(days=1)).date()
    sign_in(page, base_url, "desk")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Waitlist").click()
    ready(page)
    expect(page.locator("#waiting-requests")).to_contain_text("Nobody is waiting.")
    expect(page.locator("#wait-zone")).to_have_text("Days and times are America/New York time.")
    assert_accessible(page)

    form = page.locator("#add-form")
    form.get_by_label("Find patient").fill(name)
    form.get_by_label("Find patient").press("Enter")
    expect(form.locator("select[name=patient_id]")).to_contain_text(f"{name} (born May 6, 1984)")
    form.get_by_label("Service").select_option(label="Gait analysis")
    form.get_by_label("First day").fill(first.isoformat())
    form.get_by_label("Last day").fill((first + timedelta(days=4)).isoformat())
    form.get_by_label("Not before").fill("09:00")
    form.get_by_label("Ending by").fill("11:30")
    form.get_by_label("Priority").select_option(label="5 (highest)")
    form.get_by_role("button", name="Add to waitlist").click()
    expect(page.locator("#notice")).to_contain_text(f"{name} (born May 6, 1984) waits for Gait analysis")
    row = page.locator("#waiting tbody tr", has_text=name)
    expect(row).to_contain_text(f"{day_words(first)} – {day_words(first + timedelta(days=4))}")
    expect(row).to_contain_text("9:00 AM – 11:30 AM")
    expect(row).to_contain_text("5 (highest)")
    expect(row).to_contain_text("waiting, nothing offered yet")
    assert_accessible(page)

    row.get_by_role("button", name="Close").click()
    expect(page.locator("#notice")).to_contain_text(f"{name} no longer waits for Gait analysis")
    expect(row).to_have_count(0)
    listed = httpx.get(f"{base_url}/api/v1/waitlist", params={"patient_id": patient["id"]},
                       headers=api_token(base_url, "desk")).json()["items"]
    assert [request["status"] for request in listed] == ["closed"]

    visit(page, f"{base_url}/app/waitlist?patient_id={patient['id']}")
    expect(form.locator("select[name=patient_id]")).to_have_value(str(patient["id"]))


def test_the_waitlist_shows_the_offer_the_nightly_run_holds(site, night, page):
    base_url, _, _ = site
    olive = next(name for name in night if name.startswith("Olive"))
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/waitlist")
    row = page.locator("#waiting tbody tr", has_text=olive)
    expect(row).to_contain_text(f"offered {shown(night[olive]['start'])} at World Midtown, held until")
    expect(row.get_by_role("button", name="Book offer")).to_be_visible()
    assert_accessible(page)
    screenshot_for_docs(page, "waitlist")


def test_today_the_desk_books_or_releases_what_the_nightly_run_holds(site, night, page):
    base_url, world, _ = site
    olive = next(name for name in night if name.startswith("Olive"))
    sign_in(page, base_url, "desk")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    ready(page)
    holds = page.locator("#night-holds-list")
    expect(holds.locator("th").first).to_have_text("When (America/New York time)")
    screenshot_for_docs(page, "today-nightly-holds")
    others = holds.locator("tbody tr").filter(has_not_text=olive)
    for verb, done in (("Book", "Booked"), ("Release", "Released")):
        row = others.first
        name = row.locator("td").nth(1).inner_text()
        hold = night[name]
        expect(row).to_contain_text(shown(hold["start"]))
        expect(row).to_contain_text("the waitlist (run of")
        row.get_by_role("button", name=verb).click()
        expect(page.locator("#notice")).to_contain_text(f"{done} ")
        expect(holds.locator("tbody tr", has_text=name)).to_have_count(0)
        assert status_of(base_url, hold["appointment_id"]) == ("booked" if verb == "Book" else "cancelled")
    expect(holds.locator("tbody tr", has_text=olive)).to_have_count(1)
    assert_accessible(page)


def test_today_s_arrivals_are_checked_in_completed_or_marked_no_show(site, page):
    base_url, world, _ = site
    arriving, missing = (new_patient(base_url, given) for given in ("Ari", "Nico"))
    came, missed = (started_session(site, patient["id"]) for patient in (arriving, missing))
    day = date.fromisoformat(came["day"])
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/today?location_id={world.night_desk.id}&day={came['day']}")
    expect(page.locator("#arrivals-title")).to_have_text(f"Arrivals at World Night Desk, {long_day(day)}")
    expect(page.locator("#arrivals-list th").first).to_have_text("Time (America/New York time)")
    ari = page.locator("#arrivals-list tbody tr", has_text=f"Ari {arriving['family_name']}")
    nico = page.locator("#arrivals-list tbody tr", has_text=f"Nico {missing['family_name']}")
    expect(ari).to_contain_text(" ".join(shown(came["start"]).split(" ")[-2:]) + "–")  # "2:15 PM–", New York time
    expect(ari).to_contain_text(came["clinician"])

    screenshot_for_docs(page, "today-arrivals")
    ari.get_by_role("button", name="Check in").click()
    expect(page.locator("#notice")).to_contain_text(f"Ari {arriving['family_name']} is checked in")
    expect(ari).to_contain_text("checked in")
    ari.get_by_role("button", name="Complete").click()
    expect(ari).to_contain_text("attended")
    expect(ari.get_by_role("button")).to_have_count(0)
    nico.get_by_role("button", name="No-show").click()
    expect(nico).to_contain_text("no-show")
    assert (status_of(base_url, came["id"]), status_of(base_url, missed["id"])) == ("fulfilled", "noshow")
    assert_accessible(page)

    page.get_by_role("button", name="Next day").click()
    expect(page.locator("#arrivals-title")).to_have_text(
        f"Arrivals at World Night Desk, {long_day(day + timedelta(days=1))}")
    expect(ari).to_have_count(0)


def test_today_opens_on_the_location_s_today_and_an_empty_day_says_what_to_do(site, page):
    base_url, _, _ = site
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/today")
    today = datetime.now(NY).date()
    expect(page.locator("#arrivals-title")).to_have_text(f"Arrivals at World Midtown, {long_day(today)}")
    expect(page.locator("input[name=day]")).to_have_value(today.isoformat())
    arrivals = page.locator("#arrivals")
    expect(arrivals).to_contain_text("Nobody is booked at World Midtown that day.")
    expect(arrivals.get_by_role("link", name="Book sessions on the Book page.")).to_have_attribute("href", "/app/desk")
    assert_accessible(page)
