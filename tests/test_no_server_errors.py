"""Bad input of any shape is a 4xx, never a 500: hand-picked edge values, then random bodies."""

import re
from datetime import UTC, datetime, timedelta
from unittest.mock import ANY
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from api.schemas import booking, catalog, people, plans, runs
from api.schemas.common import CALENDAR
from data.tables import Clinician
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
    "optimization-runs": runs.RunRequest,
}


@pytest.mark.parametrize(
    "method, path, body, where",
    [
        ("get", "/locations/99999999999999999999", None, ["path", "ident"]),
        ("get", "/locations/0", None, ["path", "ident"]),
        ("post", "/locations", location_body(name="A\x00B"), ["body", "name"]),
        ("post", "/locations", location_body(time_zone="America"), ["body", "time_zone"]),
        ("post", "/locations", location_body(time_zone="x" * 300), ["body", "time_zone"]),
        ("post", "/rooms", {"name": "x", "kind": "gym", "location_id": 2**62}, ["body", "location_id"]),
        ("post", "/patients", patient_body(birth_date="2999-01-01"), ["body", "birth_date"]),
        ("post", "/patients", patient_body(birth_date="2100-01-01"), ["body", "birth_date"]),  # in the future
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


HUGE = "9" * 30
ODD_DIGITS = ["\u00b2", "\u0663", "\uff11"]  # superscript two, Arabic-Indic three, fullwidth one: isdigit() is True


@pytest.mark.parametrize("method, path, params, expected", [
    *(("get", f"/fhir/Appointment/{ident}", {}, 404) for ident in [*ODD_DIGITS, HUGE, "99999999999"]),
    *(("put", f"/fhir/Appointment/{ident}", {}, 404) for ident in [*ODD_DIGITS, HUGE]),
    *(("get", f"/fhir/Slot/{ident}", {}, 404) for ident in [
        "s1-l1-c1-t99999999999", f"s{HUGE}-l1-c1-t1", "s1-l1-c1-t\u00b2", f"busy-{HUGE}", "busy-\u00b2", "busy-0"]),
    *(("get", "/fhir/Appointment", {name: value}, 400) for name in ("patient", "practitioner")
      for value in [*ODD_DIGITS, HUGE, f"Patient/{HUGE}"]),
    *(("get", "/fhir/Slot", {"schedule": f"{kind}-{ident}"}, 400) for kind in ("service", "practitioner")
      for ident in ["\u00b2", HUGE]),
    ("get", "/fhir/Practitioner", {"_count": "\u00b2"}, 400),
])
def test_fhir_ids_and_search_values_no_record_can_have_are_4xx(client, as_admin, method, path, params, expected):
    body = {"resourceType": "Appointment", "status": "cancelled", "participant": []} if method == "put" else None
    response = client.request(method, path, params=params, json=body, headers=as_admin)
    assert response.status_code == expected, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("slot, participant", [
    ("Slot/s1-l1-c1-t99999999999", "Patient/1"),
    (f"Slot/s{HUGE}-l1-c1-t1", "Patient/1"),
    *((None, f"{prefix}{ident}") for prefix in ("Patient/", "Practitioner/", "Device/", "Location/room-")
      for ident in ["\u00b2", HUGE]),
])
def test_a_fhir_booking_naming_impossible_ids_is_422_and_writes_nothing(client, as_admin, session, clinic, slot,
                                                                        participant):
    if slot is None:
        start = datetime(2027, 3, 3, 9, tzinfo=ZoneInfo("America/New_York"))
        slot = f"Slot/s{clinic.msus.id}-l{clinic.midtown.id}-c{clinic.dana.id}-t{int(start.timestamp()) // 60}"
    actors = [participant] if participant.startswith("Patient/") else [f"Patient/{clinic.patients[0].id}", participant]
    body = {"resourceType": "Appointment", "status": "booked", "slot": [{"reference": slot}],
            "participant": [{"actor": {"reference": actor}, "status": "accepted"} for actor in actors]}
    before = row_counts(session)
    response = client.post("/fhir/Appointment", json=body, headers=as_admin)
    assert response.status_code == 422, response.text
    assert row_counts(session) == before


UNANSWERABLE_JSON = {
    "lone surrogate": '"\\ud800"',
    "infinite number": "1e400",
    "huge integer": "9" * 4000,
    "surrogate key": '{"\\udfff": 1}',
}


def _json_bodies(client) -> list[tuple[str, str, list[str]]]:
    """(method, path, field names) of every operation with a JSON body, path ids set to 1."""
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            schema = content["application/json"]["schema"]
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema
            fields = list(schema.get("properties", {})) or ["resourceType", "status", "slot", "participant"]
            found.append((method, re.sub(r"{[^}]+}", "1", path), fields))
    return found


@pytest.mark.parametrize("value", UNANSWERABLE_JSON.values(), ids=UNANSWERABLE_JSON)
def test_json_no_answer_could_echo_is_4xx_everywhere_and_writes_nothing(client, as_admin, session, value):
    """Every field of every JSON body given a value that JSON cannot carry back; the public request too."""
    operations = _json_bodies(client)
    assert ("post", "/api/v1/public/requests", ANY) in operations and len(operations) > 30
    before = row_counts(session)
    answers = {}
    for method, path, fields in operations:
        body = "{" + ", ".join(f'"{field}": {value}' for field in fields) + "}"
        response = client.request(method, path, content=body, headers=as_admin | {"Content-Type": "application/json"})
        answers[f"{method} {path}"] = (response.status_code, response.json())
    assert {operation: status for operation, (status, _) in answers.items() if not 400 <= status < 500} == {}
    assert row_counts(session) == before


@pytest.mark.parametrize("collection, field", [("locations", "name"), ("clinicians", "name"),
                                               ("patients", "given_name"), ("patients", "family_name")])
@pytest.mark.parametrize("line_break", ["\n", "\r", "\u2028"])
def test_names_are_one_line(client, as_admin, collection, field, line_break):
    location = create(client, as_admin, "locations", location_body())["id"]
    body = {"locations": location_body, "clinicians": lambda: clinician_body(location),
            "patients": patient_body}[collection]()
    body[field] = f"Ada{line_break}Lovelace"
    response = client.post(f"{API}/{collection}", json=body, headers=as_admin)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_a_stored_name_with_a_line_break_still_gets_its_calendar_feed(client, as_admin, session):
    """Names written before they had to be one line: the feed escapes them instead of failing."""
    location = create(client, as_admin, "locations", location_body())["id"]
    ident = create(client, as_admin, "clinicians", clinician_body(location))["id"]
    clinician = session.get(Clinician, ident)
    clinician.name = "Ada\nLovelace"
    session.add(clinician)
    session.commit()
    url = client.post(f"{API}/clinicians/{ident}/calendar-feed", headers=as_admin).json()["url"]
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert b"\r\nX-WR-CALNAME:Ada\\nLovelace: clinic sessions\r\n" in response.content  # RFC 5545 escaping
    assert Calendar.from_ical(response.content)["prodid"]


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
