"""The web app in headless Chromium (Debian's package, driven by Playwright): the front desk's day and a clinician's.

The service runs as a real `clinic serve` process on a fresh SQLite database
holding the test clinic; the browser is ``/usr/bin/chromium`` (or
``CLINIC_CHROMIUM``), never a downloaded one. A failing test leaves a
screenshot in ``tests/artifacts/``.
"""

import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from data.accounts import upsert_user
from data.db import make_engine
from data.enums import Role
from data.migrate import upgrade
from data.tables import PlanTemplate, TemplateLine
from tests.clinic_world import build_world
from tests.servers import clean_environment, clinic_script, free_port, launch

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("CLINIC_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "browser test password"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A served clinic with a front-desk user, an administrator and a clinician user (Dana)."""
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'clinic.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as session:
        world = build_world(session)
        upsert_user(session=session, username="desk", password=PASSWORD, role=Role.FRONT_DESK)
        upsert_user(session=session, username="boss", password=PASSWORD, role=Role.ADMIN)
        upsert_user(session=session, username="dana", password=PASSWORD, role=Role.CLINICIAN,
                    clinician_id=world.dana.id)
        session.add(PlanTemplate(code="w_eswt_course", name="Shockwave course", lines=[
            TemplateLine(service_id=world.eswt.id, count=3, min_gap_days=5, max_gap_days=10)]))
        session.commit()
    engine.dispose()
    port = free_port()
    server = launch([clinic_script(), "serve", "--host", "127.0.0.1", "--port", str(port)], port=port, cwd=folder,
                    env=clean_environment(CLINIC_DATABASE_URL=url, CLINIC_SECRET_KEY="browser-tests-" + "k" * 32,
                                          CLINIC_PUBLIC_TELEHEALTH_SERVICE="w_telehealth",
                                          CLINIC_PUBLIC_OFFICE_SERVICE="w_msus"),
                    log=folder / "server.log")
    yield server.base_url, world, server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept("patient asked"))
    yield opened
    if getattr(request.node, "failed_call", False):
        ARTIFACTS.mkdir(exist_ok=True)
        opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def ready(page) -> None:
    """Wait until the page's script has loaded its data and put its handlers in place."""
    playwright_api.expect(page.locator("body[data-ready=true]")).to_have_count(1)


def visit(page, url: str) -> None:
    page.goto(url)
    ready(page)


def sign_in(page, base_url: str, username: str) -> None:
    visit(page, f"{base_url}/app/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/app/login" not in url)
    ready(page)


def test_the_front_desk_books_sees_it_on_the_board_and_cancels_it(site, page):
    base_url, world, _ = site
    expect = playwright_api.expect
    sign_in(page, base_url, "desk")
    expect(page.get_by_role("heading", name="Front desk")).to_be_visible()
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

    page.get_by_role("link", name="Front desk").click()
    ready(page)
    page.get_by_label("Name").fill("Ann")
    page.get_by_role("button", name="Find patient").click()
    page.locator("#patients li", has_text="Ann World").get_by_role("button", name="Choose").click()
    page.locator(f"#appointments li[data-id='{appointment_id}']").get_by_role("button", name="Cancel").click()
    expect(page.locator("#notice")).to_contain_text("Cancelled the Diagnostic ultrasound")
    expect(page.locator(f"#appointments li[data-id='{appointment_id}']")).to_have_count(0)


def choose_patient(page, name: str) -> None:
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
    choose_patient(page, "Cy World")
    page.locator("#slot-search select[name=location_id]").select_option(label="World Midtown")
    page.locator("#plan-form select[name=template_id]").select_option(label="Shockwave course")
    page.get_by_role("button", name="Propose plan").click()
    expect(page.locator("#proposal")).to_contain_text("3 sessions held, 0 not placed")
    page.get_by_role("button", name="Confirm plan").click()
    expect(page.locator("#notice")).to_have_text("The plan is booked.")
    expect(page.locator("#appointments li.appointment", has_text="Shockwave therapy")).to_have_count(3)


def next_day_of(slot_text: str) -> str:
    """The ISO date of a slot shown as 'Wed 3 Mar 09:00–09:45 ...' (within the next weeks)."""
    _, day, month = slot_text.split()[:3]
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
    expect(page.get_by_role("heading", name="Front desk")).to_be_visible()
    page.get_by_role("button", name="Find slots").click()
    expect(page.locator("#notice")).to_have_text("Choose a patient first.")
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


def test_a_booking_deep_link_opens_the_request_page_at_its_slot(site, page):
    base_url, _, _ = site
    expect = playwright_api.expect
    line = httpx.get(f"{base_url}/fhir/bulk/Slot.ndjson").text.splitlines()[0]
    link = next(e["valueUrl"] for e in json.loads(line)["extension"] if e["url"].endswith("deep-link"))
    visit(page, link)
    expect(page.locator("#chosen")).to_be_visible()
    expect(page.locator("#chosen")).to_contain_text(describe(json.loads(line)["start"]))


def describe(iso: str) -> str:
    """How the pages write a slot's start: 'Wed 3 Mar 09:00'."""
    moment = datetime.fromisoformat(iso)
    return f"{moment:%a} {moment.day} {moment:%b} {moment:%H:%M}"


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


def test_the_nightly_runs_page_shows_a_run_in_the_location_s_time_zone(site, browser):
    """A run by the administrator places Ann's request and leaves Cy's gait analysis waiting (nobody is certified);
    the desk, in a browser set to Tokyo time, sees both, with New York times."""
    base_url, world, _ = site
    expect = playwright_api.expect
    token = httpx.post(f"{base_url}/api/v1/auth/token", data={"username": "boss", "password": PASSWORD}).json()
    admin = {"Authorization": f"Bearer {token['access_token']}"}
    soon = date.today() + timedelta(days=3)
    for patient, service in ((world.patients[0], world.msus), (world.patients[2], world.gait)):
        assert httpx.post(f"{base_url}/api/v1/waitlist", headers=admin, json={
            "patient_id": patient.id, "service_id": service.id, "earliest_day": soon.isoformat(),
            "latest_day": (soon + timedelta(days=4)).isoformat(), "earliest_time": "08:00",
            "latest_time": "16:00"}).status_code == 201
    run = httpx.post(f"{base_url}/api/v1/optimization-runs", headers=admin, json={"location_id": world.midtown.id},
                     timeout=120).json()
    (hold,) = [change for change in run["changes"] if change["action"] == "waitlist_hold"]

    context = browser.new_context(timezone_id="Asia/Tokyo")
    page = context.new_page()
    sign_in(page, base_url, "desk")
    visit(page, f"{base_url}/app/runs?location_id={world.midtown.id}")
    expect(page.locator(f"#runs tr[data-id='{run['id']}']")).to_contain_text("of 6 priority points")
    report = page.locator("#run-report")
    expect(report).to_contain_text("times in America/New_York")
    placed = report.locator("[data-part=placed]")
    expect(placed).to_contain_text("Ann World")
    expect(placed).to_contain_text(describe(hold["start"]))
    waiting = report.locator("[data-part=left-waiting]")
    expect(waiting).to_contain_text("Cy World")
    expect(waiting).to_contain_text("no certified clinician on shift in the patient's window")
    context.close()
