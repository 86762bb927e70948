"""The web app in headless Chromium (Debian's package, driven by Playwright), as the front desk, clinicians,
administrators and the public use it.

The service runs as a real `clinic serve` process on a fresh SQLite database
holding the test clinic (World Midtown, America/New_York); the browser is
``/usr/bin/chromium`` (or ``CLINIC_CHROMIUM``), never a downloaded one. The
browser's clock is in UTC at 1,024 px or in Asia/Tokyo at 1,440 px, both away
from the clinic's New York, so a time read or shown in the browser's zone, or
a layout that only works wide, fails. Each test runs in one of the two, taking
turns in each module's order (so every module meets both zones and both
widths): running all of them in both doubled the suite's longest part, in CI
whose time is bounded, for little the turns do not catch. A failing test
leaves a screenshot in ``tests/artifacts/``.
"""

import os
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from data.accounts import upsert_user
from data.enums import Role
from data.tables import PlanTemplate, TemplateLine
from tests.clinic_world import build_world
from tests.servers import served_clinic

playwright_api = pytest.importorskip("playwright.sync_api")
# Assertions wait for what the page must come to show; Playwright's 5 s default ran out on a loaded 2-core machine
# (a page's first load with its imports, 2026-12-01), the same wait as every action's (set_default_timeout below).
playwright_api.expect.set_options(timeout=15_000)
CHROMIUM = os.environ.get("CLINIC_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
PASSWORD = "browser test password"
# (browser time zone, window width): each zone once, each width once; the clinic is in New York.
SETTINGS = [("UTC", 1024), ("Asia/Tokyo", 1440)]
ASSETS = {"script", "stylesheet", "image", "font", "document"}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


_turns: dict[str, int] = {}


def pytest_generate_tests(metafunc):
    """A test with a page gets the next of SETTINGS in its module's turn; every one of them with
    ``CLINIC_BROWSER_SETTINGS=all`` (for a thorough local run, or the guides' 1,440 px screenshots with -k Tokyo)."""
    if "page" in metafunc.fixturenames:
        turn = _turns.get(metafunc.module.__name__, 0)
        _turns[metafunc.module.__name__] = turn + 1
        chosen = SETTINGS if os.environ.get("CLINIC_BROWSER_SETTINGS") == "all" else [SETTINGS[turn % len(SETTINGS)]]
        metafunc.parametrize("page", chosen, indirect=True, ids=[f"{zone}-{width}px" for zone, width in chosen])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A served clinic with a front-desk user, an administrator and a clinician user (Dana); a fresh one per module."""
    def fill(session: Session):
        world = build_world(session)
        upsert_user(session=session, username="desk", password=PASSWORD, role=Role.FRONT_DESK)
        upsert_user(session=session, username="boss", password=PASSWORD, role=Role.ADMIN)
        upsert_user(session=session, username="dana", password=PASSWORD, role=Role.CLINICIAN,
                    clinician_id=world.dana.id)
        session.add(PlanTemplate(code="w_eswt_course", name="Shockwave course", lines=[
            TemplateLine(service_id=world.eswt.id, count=3, min_gap_days=5, max_gap_days=10)]))
        return world

    with served_clinic(tmp_path_factory.mktemp("browser"), fill, CLINIC_BACKGROUND_JOBS="true",
                       CLINIC_PUBLIC_TELEHEALTH_SERVICE="w_telehealth",
                       CLINIC_PUBLIC_OFFICE_SERVICE="w_msus") as (server, world):
        yield server.base_url, world, server


@pytest.fixture(scope="session")
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
    """A fresh tab with the browser's clock in one zone and its window at one width; no request leaves the machine."""
    zone, width = request.param
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id=zone, locale="en-US")
    context.set_default_timeout(15_000)
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1")
                  else route.abort())
    opened = context.new_page()
    dialogs, broken = [], []
    # window.alert/confirm/prompt is a defect (the app asks in its own dialogs), and so is a missing asset.
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.on("response", lambda response: broken.append(f"{response.status} {response.url}") if (
        response.status >= 400 and response.request.resource_type in ASSETS) else None)
    yield opened
    if getattr(request.node, "failed_call", False):
        ARTIFACTS.mkdir(exist_ok=True)
        opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert dialogs == [], f"the page opened browser dialogs: {dialogs}"
    assert broken == [], f"assets failed to load: {broken}"


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


def api_token(base_url: str, username: str) -> dict[str, str]:
    """Headers of a signed-in API client, for arranging what a test needs without clicking."""
    response = httpx.post(f"{base_url}/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def assert_accessible(page) -> None:
    """axe-core (served from the project's npm install) finds no serious or critical violation on the page."""
    page.add_script_tag(url="/vendor/axe.js")
    result = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    bad = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
           for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], "accessibility violations:\n" + "\n".join(bad)


def screenshot_for_docs(page, name: str) -> None:
    """With CLINIC_DOC_SCREENSHOTS=1, keep a picture of the page for the user guide (docs/screenshots/)."""
    if os.environ.get("CLINIC_DOC_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def shown(iso: str) -> str:
    """How the app writes an instant for an en-US location, in the zone the instant carries: 'Wed, Mar 3 9:00 AM'."""
    moment = datetime.fromisoformat(iso)
    return f"{moment:%a}, {moment:%b} {moment.day} {moment.hour % 12 or 12}:{moment:%M} {moment:%p}"


def new_patient(base_url: str, given_name: str = "Sam") -> dict:
    """A patient no other test or run has seen (the server is shared by a module's tests and both settings)."""
    response = httpx.post(f"{base_url}/api/v1/patients", headers=api_token(base_url, "desk"), json={
        "given_name": given_name, "family_name": f"Test{uuid.uuid4().hex[:6]}", "birth_date": "1980-04-02",
        "phone": "+1 212 555 0100"})
    assert response.status_code == 201, response.text
    return response.json()
