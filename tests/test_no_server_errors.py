"""Bad input of any shape is a 4xx, never a 500: hand-picked edge values, then random bodies."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.schemas import booking, catalog, people, plans
from tests.booking_helpers import set_clock
from tests.clinic_world import NOW, build_world
from tests.factories import API, location_body, patient_body

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
        ("post", "/patients", patient_body(birth_date="2999-01-01"), ["body"]),
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
