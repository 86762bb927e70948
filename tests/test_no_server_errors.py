"""Bad input of any shape is a 4xx, never a 500: hand-picked edge values, then random bodies."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from api.schemas import booking, catalog, people, plans
from api.schemas.common import CALENDAR
from tests.booking_helpers import set_clock
from tests.clinic_world import NOW, build_world
from tests.factories import API, clinician_body, create, device_body, device_type_body, location_body, patient_body

CREATE_SCHEMAS = {
    "locations": catalog.LocationCreate,
    "clinicians": catalog.ClinicianCreate,
    "device-types": catalog.DeviceTypeCreate,
    "devices": catalog.DeviceCreate,
    "rooms": catalog.RoomCreate,
    "services": catalog.ServiceCreate,
    "patients": people.PatientCreate,
    "users": people.UserCreate,
    "holds": booking.HoldCreate,
    "appointments": booking.AppointmentCreate,
    "appointments/1/reschedule": booking.RescheduleRequest,
    "appointments/1/cancel": booking.CancelRequest,
    "plan-templates": plans.TemplateCreate,
    "plans": plans.PlanCreate,
    "waitlist": plans.WaitlistCreate,
    "optimization-runs": plans.RunRequest,
}


@pytest.mark.parametrize(
    "method, path, body, where",
    [
        ("get", "/locations/99999999999999999999", None, ["path", "ident"]),
        ("get", "/locations/0", None, ["path", "ident"]),
        ("post", "/locations", location_body(name="A\x00B"), ["body", "name"]),
        ("post", "/rooms", {"name": "x", "kind": "gym", "location_id": 2**62}, ["body", "location_id"]),
        ("post", "/patients", patient_body(birth_date="2999-01-01"), ["body", "birth_date"]),
        ("post", "/patients", patient_body(birth_date="2100-01-01"), ["body"]),
        ("get", "/patients?name=%00", None, ["query", "name"]),
        ("get", "/patients?offset=99999999999999999999999", None, ["query", "offset"]),
    ],
)
def test_edge_values_are_422_naming_the_field(client, as_admin, method, path, body, where):
    response = client.request(method, f"{API}{path}", json=body, headers=as_admin)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == where


def test_instants_far_outside_the_calendar_are_422(client, as_admin):
    body = {"name": "x", "location_id": 1, "exceptions": [
        {"kind": "time_off", "starts_at": "0001-01-01T00:00:00+14:00", "ends_at": "9999-12-31T23:59:59-12:00"}]}
    response = client.post(f"{API}/clinicians", json=body, headers=as_admin)
    assert response.status_code == 422
    assert ["body", "exceptions", 0, "starts_at"] in [error["loc"] for error in response.json()["detail"]]


def row_counts(session: Session) -> dict[str, int]:
    """Rows per table: what a refused request must leave exactly as it was."""
    return {table.name: session.exec(select(func.count()).select_from(table)).one()
            for table in SQLModel.metadata.sorted_tables}


@pytest.mark.parametrize("collection, field, window", [
    ("devices", "maintenance", {"starts_at": "1900-01-01T00:00:00+14:00", "ends_at": "1900-01-02T00:00:00+14:00"}),
    ("clinicians", "exceptions", {"kind": "time_off", "starts_at": "2200-12-31T20:00:00-05:00",
                                  "ends_at": "2200-12-31T22:00:00-05:00"}),
])
def test_a_window_whose_utc_instant_is_off_the_calendar_is_422_and_the_list_still_reads(
        client, as_admin, session, collection, field, window):
    """Both windows lie in 1900 or 2200 by their local year, but 1899 or 2201 as stored in UTC."""
    location = create(client, as_admin, "locations", location_body())["id"]
    body = {"devices": lambda: device_body(create(client, as_admin, "device-types", device_type_body())["id"],
                                           location),
            "clinicians": lambda: clinician_body(location)}[collection]() | {field: [window]}
    before = row_counts(session)
    response = client.post(f"{API}/{collection}", json=body, headers=as_admin)
    assert response.status_code == 422, response.text
    assert ["body", field, 0, "starts_at"] in [error["loc"] for error in response.json()["detail"]]
    assert row_counts(session) == before
    assert client.get(f"{API}/{collection}", headers=as_admin).status_code == 200


def test_the_calendar_s_edges_in_utc_are_accepted_and_read_back(client, as_admin):
    location = create(client, as_admin, "locations", location_body())["id"]
    window = {"kind": "time_off", "starts_at": "1900-01-01T00:00:00Z", "ends_at": "2200-12-31T18:59:59-05:00"}
    clinician = create(client, as_admin, "clinicians", clinician_body(location, exceptions=[window]))
    renamed = client.patch(f"{API}/clinicians/{clinician['id']}", json={"name": "Ada King"}, headers=as_admin)
    assert renamed.status_code == 200, renamed.text
    listed = client.get(f"{API}/clinicians", headers=as_admin)
    assert listed.status_code == 200
    (stored,) = [c["exceptions"] for c in listed.json()["items"] if c["id"] == clinician["id"]]
    assert [datetime.fromisoformat(stored[0][end]) for end in ("starts_at", "ends_at")] == [
        datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 12, 31, 23, 59, 59, tzinfo=UTC)]


FIRST_MOMENT, LAST_MOMENT = "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"


@pytest.mark.parametrize("path, params, expected", [
    ("/api/v1/appointments", {"start": FIRST_MOMENT}, 422),
    ("/api/v1/appointments", {"end": LAST_MOMENT}, 422),
    ("/api/v1/audit", {"since": FIRST_MOMENT}, 422),
    ("/api/v1/audit", {"until": LAST_MOMENT}, 422),
    ("/api/v1/availability", {"service_id": 1, "start": LAST_MOMENT, "end": LAST_MOMENT}, 422),
    ("/api/v1/clinicians/1/roster", {"start": FIRST_MOMENT, "end": FIRST_MOMENT}, 422),
    ("/api/v1/rosters/9999-12-31", {}, 422),
    ("/api/v1/rosters/0001-01-01", {}, 422),
    ("/api/v1/day-board/9999-12-31", {"location_id": 1}, 422),
    ("/fhir/Appointment", {"date": "9999-12-31"}, 400),
    ("/fhir/Appointment", {"date": f"ge{FIRST_MOMENT}"}, 400),
    ("/fhir/Appointment", {"date": f"lt{LAST_MOMENT}"}, 400),
    ("/fhir/Slot", {"schedule": "practitioner-1", "start": "9999-12-31"}, 400),
    ("/fhir/Slot", {"schedule": "service-1", "start": f"ge{FIRST_MOMENT}"}, 400),
])
def test_instants_and_dates_off_the_calendar_in_queries_and_paths_are_4xx(client, as_admin, path, params,
                                                                          expected):
    response = client.get(path, params=params, headers=as_admin)
    assert response.status_code == expected, response.text


@pytest.fixture
def clinic(session, app):
    set_clock(app, NOW)
    return build_world(session)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_plans_waitlist_entries_and_runs_off_the_calendar_are_422_and_write_nothing(client, as_admin, session,
                                                                                    clinic, day):
    patient, service, location = clinic.patients[0].id, clinic.eswt.id, clinic.midtown.id
    plan = create(client, as_admin, "plans", {"patient_id": patient, "location_id": location,
                                              "earliest_start": "2027-03-01", "latest_end": "2027-04-01",
                                              "lines": [{"service_id": service, "count": 2}]})
    writes = [
        ("post", "plans", {"patient_id": patient, "location_id": location, "earliest_start": day, "latest_end": day,
                           "lines": [{"service_id": service, "count": 1}]}),
        ("post", "plans", {"patient_id": patient, "location_id": location, "earliest_start": "2027-03-01",
                           "latest_end": "2027-04-01", "blackouts": [day], "lines": [{"service_id": service, "count": 1}]}),
        ("patch", f"plans/{plan['id']}", {"latest_end": day}),
        ("post", "waitlist", {"patient_id": patient, "service_id": service, "earliest_day": day, "latest_day": day}),
        ("post", "optimization-runs", {"location_id": location, "night": day}),
    ]
    before = row_counts(session)
    for method, path, body in writes:
        response = client.request(method, f"{API}/{path}", json=body, headers=as_admin)
        assert response.status_code == 422, (path, response.text)
    assert row_counts(session) == before


def test_the_openapi_document_states_the_calendar(client):
    assert CALENDAR in client.get("/openapi.json").json()["info"]["description"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)


def bodies(collection: str):
    """Objects using the collection's real field names with values of any JSON type."""
    names = list(CREATE_SCHEMAS[collection].model_fields)
    return st.dictionaries(st.sampled_from(names + ["unexpected"]), json_values, max_size=len(names) + 1)


@pytest.mark.parametrize("collection", CREATE_SCHEMAS)
def test_random_bodies_never_cause_a_server_error(client, as_admin, collection):
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=bodies(collection), method=st.sampled_from(["post", "patch"]))
    def check(body, method):
        path = f"{API}/{collection}" if method == "post" or "/" in collection else f"{API}/{collection}/1"
        response = client.request(method, path, json=body, headers=as_admin)
        assert response.status_code < 500, (body, response.text)

    check()


instants = st.datetimes(timezones=st.sampled_from([None, UTC])).map(lambda d: d.isoformat())
query_values = st.one_of(st.integers(-5, 2**40).map(str), instants, st.text(max_size=12),
                         st.sampled_from(["09:00", "25:00", "13:30+01:00"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(
    st.sampled_from(["service_id", "start", "end", "clinician_id", "prefer_clinician_id", "patient_id",
                     "location_id", "earliest", "latest", "limit"]), query_values, max_size=10))
def test_random_availability_queries_never_cause_a_server_error(client, as_desk, session, params):
    response = client.get(f"{API}/availability", params=params, headers=as_desk)
    assert response.status_code < 500, (params, response.text)


near = st.datetimes(min_value=datetime(2027, 1, 1), max_value=datetime(2027, 12, 31),
                    timezones=st.sampled_from([UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kathmandu")]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=near, length=st.integers(-600, 60 * 24 * 100), window=st.one_of(st.none(), st.tuples(
    st.times(), st.times())), limit=st.integers(1, 200), data=st.data())
def test_random_searches_on_a_real_clinic_are_answered(client, as_desk, world_for_fuzz, start, length, window,
                                                      limit, data):
    """Every service, any range, any time-of-day window: an answer (slots or reasons) or a 422."""
    service = data.draw(st.sampled_from(world_for_fuzz))
    params = {"service_id": service, "start": start.isoformat(),
              "end": (start + timedelta(minutes=length)).isoformat(), "limit": limit}
    if window:
        params |= {"earliest": window[0].isoformat(), "latest": window[1].isoformat()}
    response = client.get(f"{API}/availability", params=params, headers=as_desk)
    assert response.status_code in (200, 422), (params, response.text)
    if response.status_code == 200:
        body = response.json()
        assert bool(body["slots"]) != bool(body["reasons"]), body


@pytest.fixture
def world_for_fuzz(session, app) -> list[int]:
    set_clock(app, NOW)
    world = build_world(session)
    return [world.eswt.id, world.msus.id, world.rehab.id, world.telehealth.id, world.gait.id]
