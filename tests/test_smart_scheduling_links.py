"""SMART Scheduling Links (issue 17): the demo clinic's bulk publication, read as a slot finder reads it.

One publisher per module: the demo clinic in its own SQLite database behind a TestClient, its public base URL
https, its clock standing on Monday 1 March 2027 (the 14-day horizon crosses the March 14 clock change). The
demo's telehealth alone has more free slots than the 2,000 the publication used to stop at.
"""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.deps import get_now
from api.main import create_app
from data.config import Settings
from data.db import make_engine
from data.demo import load_demo_clinic
from data.migrate import upgrade
from data.tables import Location, Service
from scheduler.visit_requests import public_slots
from tests.smart_scheduling_links import check_location, check_manifest, check_schedule, check_slot
from tests.test_fhir import valid, world  # noqa: F401 (the world fixture)

BASE = "https://clinic.example.org/scheduling"
NY = ZoneInfo("America/New_York")
NOW = datetime(2027, 3, 1, 8, 0, 37, tzinfo=NY)
BOOKING_PHONE = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-phone"


class Clock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture(scope="module")
def publisher(tmp_path_factory):
    """The demo clinic, and a second site whose address is not filled in yet (so it is not published)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('publisher') / 'clinic.db'}")
    upgrade(engine)
    with Session(engine) as session:
        load_demo_clinic(session, today=NOW.date())
        session.add(Location(name="Brooklyn (opening soon)", time_zone="America/New_York", phone="+1 718 555 0100"))
        session.commit()
    settings = Settings(database_url=str(engine.url), secret_key="test-secret-key-of-at-least-32-characters",
                        background_jobs=False, public_base_url=BASE)
    app = create_app(settings, engine)
    clock = Clock(NOW)
    app.dependency_overrides[get_now] = clock
    with TestClient(app) as client:
        client.clock, client.engine = clock, engine
        yield client
    engine.dispose()


@pytest.fixture(scope="module")
def published(publisher) -> dict:
    """The manifest and every file it lists, each line parsed: {"manifest": ..., url: [resource, ...]}."""
    manifest = fetch(publisher, f"{BASE}/fhir/$bulk-publish").json()
    return {"manifest": manifest, **{output["url"]: ndjson(fetch(publisher, output["url"]))
                                     for output in manifest["output"]}}


def fetch(client: TestClient, url: str, **headers):
    """GET a URL the publisher handed out; the proxy in front of it would strip the base's path."""
    assert url.startswith(f"{BASE}/"), url
    response = client.get(url.removeprefix(BASE), headers=headers)
    assert response.status_code == 200, response.text[:500]
    return response


def ndjson(response) -> list[dict]:
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def of_type(published: dict, kind: str) -> list[dict]:
    return [line for output in published["manifest"]["output"] if output["type"] == kind
            for line in published[output["url"]]]


def test_the_manifest_and_every_line_meet_the_spec_and_validate_as_r4(publisher, published):
    check_manifest(published["manifest"], url=f"{BASE}/fhir/$bulk-publish", scheme="https")
    locations, schedules, slots = (of_type(published, kind) for kind in ("Location", "Schedule", "Slot"))
    for location in locations:
        check_location(valid(location))
    location_ids = {location["id"] for location in locations}
    for schedule in schedules:
        check_schedule(valid(schedule), location_ids)
    schedule_ids = {schedule["id"] for schedule in schedules}
    for slot in slots:
        check_slot(valid(slot), schedule_ids, scheme="https")
    assert [location["name"] for location in locations] == ["NYDN Rehab Midtown"], "the unfinished site is left out"
    (demo,) = locations
    assert demo["address"]["line"] == ["44 East 30th Street"] and demo["address"]["postalCode"] == "10016"
    assert {point["system"] for point in demo["telecom"]} == {"phone", "url"}
    assert len(schedules) == 2 and all(s["actor"] == [{"reference": f"Location/{demo['id']}",
                                                       "display": demo["name"]}] for s in schedules)
    assert all(len({line["id"] for line in published[url]}) == len(published[url]) for url in published
               if url != "manifest")
    # Both Accept headers the spec names are answered with the same payload.
    manifest = fetch(publisher, f"{BASE}/fhir/$bulk-publish", accept="application/json")
    assert manifest.json() == published["manifest"]
    some_file = published["manifest"]["output"][-1]["url"]
    assert ndjson(fetch(publisher, some_file, accept="application/fhir+ndjson")) == published[some_file]


def test_every_free_time_is_published_in_files_per_clinic_and_week(publisher, published):
    """The Slot files hold exactly the times the public request page offers, however many there are."""
    manifest, slots = published["manifest"], of_type(published, "Slot")
    services = {schedule["id"]: schedule["serviceType"][0]["coding"][0]["code"]
                for schedule in of_type(published, "Schedule")}
    with Session(publisher.engine) as session:
        settings = publisher.app.state.settings
        for code in (settings.public_telehealth_service, settings.public_office_service):
            service = session.exec(select(Service).where(Service.code == code)).one()
            mine = [slot for slot in slots if services[slot["schedule"]["reference"].removeprefix("Schedule/")] == code]
            as_of = NOW.astimezone(UTC).replace(second=0)  # the server's clock is in UTC: 14 days are 14 x 24 h
            offered = public_slots(session, service=service, now=as_of, settings=settings)
            assert {(datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"])) for s in mine} == {
                (slot.start, slot.end) for slot in offered}
            if code == "telehealth":
                assert len(mine) > 2000
    slot_files = [output for output in manifest["output"] if output["type"] == "Slot"]
    assert [output["url"].rsplit("/", 1)[1] for output in slot_files] == [
        f"Slot-l1-2027-W{week}.ndjson" for week in ("09", "10", "11")]
    assert all(output["extension"] == {"state": ["NY"]} for output in slot_files)
    for output in slot_files:  # each week's file holds that week's slots only (New York's Monday to Monday)
        year, week = output["url"].removesuffix(".ndjson").rsplit("-", 2)[1:]
        monday = date.fromisocalendar(int(year), int(week.removeprefix("W")), 1)
        days = {datetime.fromisoformat(slot["start"]).astimezone(NY).date() for slot in published[output["url"]]}
        assert days and all(monday <= day < monday + timedelta(days=7) for day in days)
    everything = ndjson(fetch(publisher, f"{BASE}/fhir/bulk/Slot.ndjson"))
    assert sorted(s["id"] for s in everything) == sorted(s["id"] for s in slots)


def test_slots_carry_the_deep_link_and_the_clinic_phone(published):
    for slot in of_type(published, "Slot"):
        links = {extension["url"].rsplit("/", 1)[1]: extension for extension in slot["extension"]}
        assert links["booking-phone"] == {"url": BOOKING_PHONE, "valueString": "+1 212 555 0199"}
        assert links["booking-deep-link"]["valueUrl"].startswith(f"{BASE}/request?kind=")


def test_answers_carry_cache_control_and_an_etag_and_an_unchanged_one_is_a_304(publisher, published):
    manifest = published["manifest"]
    assert manifest["transactionTime"] == "2027-03-01T13:00:00+00:00", "as of the start of the current minute"
    for url in [f"{BASE}/fhir/$bulk-publish", *(output["url"] for output in manifest["output"])]:
        first = fetch(publisher, url)
        assert first.headers["cache-control"] == "public, max-age=60"
        tag = first.headers["etag"]
        again = publisher.get(url.removeprefix(BASE), headers={"If-None-Match": f'W/"other", {tag}'})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
        assert publisher.get(url.removeprefix(BASE), headers={"If-None-Match": '"other"'}).status_code == 200
    held = fetch(publisher, f"{BASE}/fhir/$bulk-publish").headers["etag"]
    publisher.clock.moment = NOW + timedelta(minutes=1)
    try:
        moved = publisher.get("/fhir/$bulk-publish", headers={"If-None-Match": held})
    finally:
        publisher.clock.moment = NOW
    assert moved.status_code == 200 and moved.json()["transactionTime"] == "2027-03-01T13:01:00+00:00"


def test_an_unknown_or_past_file_is_a_404(publisher):
    for name in ("Slot-l1-2027-W08", "Slot-l2-2027-W09", "Practitioner", "Slot-l1-2027-W99"):
        response = publisher.get(f"/fhir/bulk/{name}.ndjson")
        assert response.status_code == 404 and response.json()["resourceType"] == "OperationOutcome"


def test_a_clinic_schedule_is_read_and_searched_on_the_rest_side_too(client, as_desk, world):
    ident = f"service-{world.telehealth.id}-l{world.midtown.id}"
    read = client.get(f"/fhir/Schedule/{ident}", headers=as_desk)
    assert read.status_code == 200 and valid(read.json())["actor"] == [
        {"reference": f"Location/{world.midtown.id}", "display": "World Midtown"}]
    found = client.get("/fhir/Schedule", headers=as_desk, params={
        "actor": f"Location/{world.midtown.id}", "service-type": "w_telehealth"}).json()
    assert {entry["resource"]["id"] for entry in found["entry"]} == {ident, f"service-{world.telehealth.id}"}
    slots = client.get("/fhir/Slot", headers=as_desk, params={"schedule": f"Schedule/{ident}", "_count": "50"}).json()
    listed = [entry["resource"] for entry in slots["entry"]]
    assert listed and {slot["schedule"]["reference"] for slot in listed} == {f"Schedule/{ident}"}, \
        "the slots of a clinic's schedule name that schedule, as the bulk files do"
    at_the_clinic = client.get("/fhir/Slot", headers=as_desk, params={
        "schedule.actor": f"Location/{world.midtown.id}", "service-type": "w_telehealth", "_count": "50"}).json()
    assert [entry["resource"] for entry in at_the_clinic["entry"]] == listed
    public = client.get("/fhir/Slot", headers=as_desk, params={
        "schedule": f"Schedule/service-{world.telehealth.id}", "_count": "5"}).json()
    assert {entry["resource"]["schedule"]["reference"] for entry in public["entry"]} == {
        f"Schedule/service-{world.telehealth.id}"}
