"""The catalog REST API: every collection's round trip, then the bad inputs staff will type."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import event

from data.enums import Role, RunStatus, RunTrigger
from data.tables import OptimizationRun
from tests.factories import (
    API,
    clinician_body,
    create,
    device_body,
    device_type_body,
    location_body,
    patient_body,
    room_body,
    service_body,
    user_body,
)


@pytest.fixture
def site(client, as_admin) -> dict:
    """A location with one shockwave unit, a treatment room and a clinician."""
    location = create(client, as_admin, "locations", location_body())
    shockwave = create(client, as_admin, "device-types", device_type_body("shockwave"))
    unit = create(client, as_admin, "devices", device_body(shockwave["id"], location["id"]))
    room = create(client, as_admin, "rooms", room_body(location["id"]))
    clinician = create(client, as_admin, "clinicians", clinician_body(location["id"]))
    return {"location": location, "shockwave": shockwave, "unit": unit, "room": room, "clinician": clinician}


# collection, body(site), a change, a field the change shows in
ROUND_TRIPS = {
    "locations": (lambda s: location_body("Brooklyn"), {"address": "2 Court St"}, "address"),
    "clinicians": (lambda s: clinician_body(s["location"]["id"], name="Bo"), {"title": "DC"}, "title"),
    "device-types": (lambda s: device_type_body("emtt"), {"name": "EMTT unit"}, "name"),
    "devices": (
        lambda s: device_body(s["shockwave"]["id"], s["location"]["id"], name="Unit 2"),
        {"cleaning_minutes": 15},
        "cleaning_minutes",
    ),
    "rooms": (lambda s: room_body(s["location"]["id"], name="Gym", kind="gym"), {"name": "Big gym"}, "name"),
    "services": (
        lambda s: service_body(device_needs=[{"device_type_id": s["shockwave"]["id"], "count": 1}]),
        {"duration_minutes": 45},
        "duration_minutes",
    ),
    "patients": (lambda s: patient_body(), {"phone": "+1 917 555 0199"}, "phone"),
    "users": (lambda s: user_body(), {"role": "admin"}, "role"),
}


@pytest.mark.parametrize("collection", ROUND_TRIPS)
def test_create_get_list_update_delete(client, as_admin, site, collection):
    """Each collection keeps what was sent, pages its list, applies a partial update and deletes."""
    make_body, change, changed_field = ROUND_TRIPS[collection]
    body = make_body(site)
    created = create(client, as_admin, collection, body)
    for key, value in body.items():
        if key != "password":
            assert key in created, key
    assert "password" not in created and "password_hash" not in created

    url = f"{API}/{collection}/{created['id']}"
    assert client.get(url, headers=as_admin).json() == created

    listed = client.get(f"{API}/{collection}", params={"limit": 1}, headers=as_admin).json()
    assert listed["limit"] == 1 and len(listed["items"]) == 1 and listed["total"] >= 1
    everything = client.get(f"{API}/{collection}", params={"limit": 200}, headers=as_admin).json()
    assert created in everything["items"] and everything["total"] == len(everything["items"])

    updated = client.patch(url, json=change, headers=as_admin)
    assert updated.status_code == 200, updated.text
    assert updated.json()[changed_field] == change[changed_field]
    unchanged = {k: v for k, v in created.items() if k != changed_field}
    assert {k: v for k, v in updated.json().items() if k != changed_field} == unchanged

    assert client.delete(url, headers=as_admin).status_code == 204
    assert client.get(url, headers=as_admin).status_code == 404


def test_clinician_round_trip_keeps_shifts_breaks_and_exceptions(client, as_admin, site):
    clinician = site["clinician"]
    assert clinician["certifications"] == ["eswt", "msus"]
    monday = clinician["shifts"][0]
    assert (monday["weekday"], monday["starts"], monday["ends"]) == (0, "09:00:00", "17:00:00")
    assert monday["breaks"] == [{"starts": "12:00:00", "ends": "12:30:00"}]
    time_off = clinician["exceptions"][0]
    assert time_off["kind"] == "time_off"
    assert time_off["starts_at"].startswith("2027-03-01T05:00:00")  # stored and returned in UTC


def test_update_replaces_a_list_only_when_given(client, as_admin, site):
    url = f"{API}/clinicians/{site['clinician']['id']}"
    renamed = client.patch(url, json={"name": "Ada King"}, headers=as_admin).json()
    assert renamed["shifts"] == site["clinician"]["shifts"]
    replaced = client.patch(url, json={"shifts": [{"weekday": 4, "starts": "07:00", "ends": "11:00"}]},
                            headers=as_admin).json()
    assert [shift["weekday"] for shift in replaced["shifts"]] == [4]
    assert replaced["certifications"] == ["eswt", "msus"]


def test_filters_narrow_lists(client, as_admin, as_desk, site):
    other = create(client, as_admin, "locations", location_body("Queens"))
    create(client, as_admin, "rooms", room_body(other["id"], name="Gym", kind="gym"))
    rooms = client.get(f"{API}/rooms", params={"kind": "gym"}, headers=as_admin).json()
    assert [room["location_id"] for room in rooms["items"]] == [other["id"]]
    eswt = client.get(f"{API}/clinicians", params={"certification": "eswt"}, headers=as_admin).json()
    assert [c["id"] for c in eswt["items"]] == [site["clinician"]["id"]]
    create(client, as_desk, "patients", patient_body())
    create(client, as_desk, "patients", patient_body(given_name="Alan", family_name="Turing"))
    found = client.get(f"{API}/patients", params={"name": "gra hop"}, headers=as_desk).json()
    assert [(p["given_name"], p["family_name"]) for p in found["items"]] == [("Grace", "Hopper")]


def errors_of(response) -> list[tuple[tuple, str]]:
    assert response.status_code == 422, response.text
    return [(tuple(error["loc"]), error["msg"]) for error in response.json()["detail"]]


def assert_rejected(response, loc: tuple, *words: str) -> None:
    """A 422 whose error sits at ``loc`` and says, in words, what is wrong."""
    errors = errors_of(response)
    matching = [msg for where, msg in errors if where[: len(loc)] == loc]
    assert matching, f"no error at {loc}: {errors}"
    for word in words:
        assert any(word in msg for msg in matching), f"{word!r} not in {matching}"


def test_shift_ending_before_it_starts(client, as_admin, site):
    body = clinician_body(site["location"]["id"], shifts=[{"weekday": 1, "starts": "17:00", "ends": "09:00"}])
    response = client.post(f"{API}/clinicians", json=body, headers=as_admin)
    assert_rejected(response, ("body", "shifts", 0), "must be after")


def test_overlapping_shifts(client, as_admin, site):
    shifts = [{"weekday": 1, "starts": "08:00", "ends": "12:00"}, {"weekday": 1, "starts": "11:00", "ends": "15:00"}]
    response = client.post(f"{API}/clinicians", json=clinician_body(site["location"]["id"], shifts=shifts),
                           headers=as_admin)
    assert_rejected(response, ("body", "shifts"), "overlap")


def test_break_outside_its_shift(client, as_admin, site):
    shifts = [{"weekday": 1, "starts": "08:00", "ends": "12:00", "breaks": [{"starts": "12:00", "ends": "12:30"}]}]
    response = client.post(f"{API}/clinicians", json=clinician_body(site["location"]["id"], shifts=shifts),
                           headers=as_admin)
    assert_rejected(response, ("body", "shifts", 0), "outside the shift")


def test_shift_times_with_offsets_are_refused(client, as_admin, site):
    shifts = [{"weekday": 1, "starts": "08:00+01:00", "ends": "12:00+01:00"}]
    response = client.post(f"{API}/clinicians", json=clinician_body(site["location"]["id"], shifts=shifts),
                           headers=as_admin)
    assert_rejected(response, ("body", "shifts", 0, "starts"), "wall-clock")


@pytest.mark.parametrize("given", ["08:00:30", "08:00:00.5"])
def test_shift_times_with_seconds_are_refused(client, as_admin, site, given):
    """The schedule counts minutes: 08:00:30 was stored, read as 08:00, and a session booked half a minute before
    the shift began (found by a probe, 2026-12-02). "08:00:00" stays a way to write 08:00."""
    shifts = [{"weekday": 1, "starts": given, "ends": "12:00"}]
    response = client.post(f"{API}/clinicians", json=clinician_body(site["location"]["id"], shifts=shifts),
                           headers=as_admin)
    assert_rejected(response, ("body", "shifts", 0, "starts"), "give whole minutes, e.g. '08:00'")
    shifts = [{"weekday": 1, "starts": "08:00:00", "ends": "12:00"}]
    assert client.post(f"{API}/clinicians", json=clinician_body(site["location"]["id"], shifts=shifts),
                       headers=as_admin).status_code == 201


def test_unknown_time_zone(client, as_admin):
    response = client.post(f"{API}/locations", json=location_body(time_zone="America/Gotham"), headers=as_admin)
    assert_rejected(response, ("body", "time_zone"), "unknown IANA time zone")


def test_overlapping_opening_hours(client, as_admin):
    hours = [{"weekday": 0, "starts": "08:00", "ends": "12:00"}, {"weekday": 0, "starts": "09:00", "ends": "13:00"}]
    response = client.post(f"{API}/locations", json=location_body(opening_hours=hours), headers=as_admin)
    assert_rejected(response, ("body", "opening_hours"), "overlap")


@pytest.mark.parametrize("minutes", [0, -30])
def test_non_positive_duration(client, as_admin, minutes):
    response = client.post(f"{API}/services", json=service_body(duration_minutes=minutes), headers=as_admin)
    assert_rejected(response, ("body", "duration_minutes"), "greater than 0")


def test_service_needing_more_units_than_exist(client, as_admin, site):
    needs = [{"device_type_id": site["shockwave"]["id"], "count": 2}]
    response = client.post(f"{API}/services", json=service_body(device_needs=needs), headers=as_admin)
    assert_rejected(response, ("body", "device_needs", 0, "count"), "needs 2 units", "no location has more than 1")


def test_service_needing_an_unknown_device_type(client, as_admin):
    response = client.post(f"{API}/services", json=service_body(device_needs=[{"device_type_id": 9999}]),
                           headers=as_admin)
    assert_rejected(response, ("body", "device_needs", 0, "device_type_id"), "does not exist")


@pytest.mark.parametrize(
    "collection, field",
    [("clinicians", ("exceptions", 0, "starts_at")), ("devices", ("maintenance", 0, "ends_at"))],
)
def test_naive_datetimes_are_refused(client, as_admin, site, collection, field):
    body = (
        clinician_body(site["location"]["id"], exceptions=[
            {"kind": "time_off", "starts_at": "2027-03-01T00:00:00", "ends_at": "2027-03-02T00:00:00-05:00"}])
        if collection == "clinicians"
        else device_body(site["shockwave"]["id"], site["location"]["id"], name="Unit 9", maintenance=[
            {"starts_at": "2027-03-01T08:00:00Z", "ends_at": "2027-03-01T12:00:00"}])
    )
    response = client.post(f"{API}/{collection}", json=body, headers=as_admin)
    assert_rejected(response, ("body", *field), "timezone")


def test_window_ending_before_it_starts(client, as_admin, site):
    body = device_body(site["shockwave"]["id"], site["location"]["id"], name="Unit 9", maintenance=[
        {"starts_at": "2027-03-01T12:00:00Z", "ends_at": "2027-03-01T08:00:00Z"}])
    response = client.post(f"{API}/devices", json=body, headers=as_admin)
    assert_rejected(response, ("body", "maintenance", 0), "must be after")


def test_reference_to_a_missing_location(client, as_admin):
    response = client.post(f"{API}/rooms", json=room_body(424242), headers=as_admin)
    assert_rejected(response, ("body", "location_id"), "location 424242 does not exist")


def test_partial_update_is_validated_against_the_stored_record(client, as_admin, site):
    """A patch that is fine alone but wrong together with what is stored is refused."""
    url = f"{API}/clinicians/{site['clinician']['id']}"
    response = client.patch(url, json={"name": None}, headers=as_admin)
    assert_rejected(response, ("body", "name"))
    user = create(client, as_admin, "users", user_body())
    response = client.patch(f"{API}/users/{user['id']}", json={"role": "clinician"}, headers=as_admin)
    assert_rejected(response, ("body",), "must name its clinician_id")
    assert client.get(url, headers=as_admin).json() == site["clinician"]


def test_unknown_fields_and_bad_paging_are_refused(client, as_admin):
    response = client.post(f"{API}/locations", json=location_body(colour="blue"), headers=as_admin)
    assert_rejected(response, ("body", "colour"), "Extra inputs")
    response = client.get(f"{API}/locations", params={"limit": 1000}, headers=as_admin)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
@pytest.mark.parametrize("collection", list(ROUND_TRIPS))
def test_unknown_ids_are_404(client, as_admin, collection, method):
    kwargs = {"json": {}} if method == "patch" else {}
    response = getattr(client, method)(f"{API}/{collection}/987654", headers=as_admin, **kwargs)
    assert response.status_code == 404
    assert "987654 does not exist" in response.json()["detail"]


def test_duplicates_are_conflicts(client, as_admin, site):
    response = client.post(f"{API}/device-types", json=device_type_body("shockwave"), headers=as_admin)
    assert response.status_code == 409 and "code 'shockwave' already exists" in response.json()["detail"]
    response = client.post(f"{API}/rooms", json=room_body(site["location"]["id"]), headers=as_admin)
    assert response.status_code == 409 and "already exists" in response.json()["detail"]


def test_deleting_what_others_depend_on_names_them(client, as_admin, site):
    response = client.delete(f"{API}/locations/{site['location']['id']}", headers=as_admin)
    assert response.status_code == 409
    blockers = response.json()["blockers"]
    assert f"clinician {site['clinician']['id']} (Ada Lovelace)" in blockers
    assert f"room {site['room']['id']} (Treatment 1)" in blockers
    assert f"device {site['unit']['id']} (Unit 1)" in blockers

    needs = [{"device_type_id": site["shockwave"]["id"], "count": 1}]
    service = create(client, as_admin, "services", service_body(device_needs=needs))
    response = client.delete(f"{API}/device-types/{site['shockwave']['id']}", headers=as_admin)
    assert response.status_code == 409
    assert f"service {service['id']} (Focused shockwave therapy)" in response.json()["blockers"]

    linked = create(client, as_admin, "users", user_body(username="ada", role="clinician",
                                                         clinician_id=site["clinician"]["id"]))
    response = client.delete(f"{API}/clinicians/{site['clinician']['id']}", headers=as_admin)
    assert response.status_code == 409 and f"user {linked['id']} (ada)" in response.json()["blockers"]


def test_a_location_or_patient_with_history_is_not_deleted_and_keeps_it(client, as_admin, site, session):
    """A location's nightly runs went with it (its records deleted), and a treatment plan made the database refuse in
    its own words (found by a probe, 2026-12-02); a patient's plan or waitlist entry likewise."""
    annex = create(client, as_admin, "locations", location_body("Annex"))
    service = create(client, as_admin, "services", service_body())
    patient = create(client, as_admin, "patients", patient_body())
    plan = create(client, as_admin, "plans", {"patient_id": patient["id"], "location_id": annex["id"],
                                              "earliest_start": "2027-03-02", "latest_end": "2027-03-31",
                                              "lines": [{"service_id": service["id"], "count": 1}]})
    run = OptimizationRun(location_id=annex["id"], run_date=date(2027, 3, 1), trigger=RunTrigger.MANUAL,
                          status=RunStatus.SUCCEEDED, started_at=datetime(2027, 3, 1, 7, tzinfo=UTC))
    session.add(run)
    session.commit()
    entry = create(client, as_admin, "waitlist", {"patient_id": patient["id"], "service_id": service["id"],
                                                  "earliest_day": "2027-03-02", "latest_day": "2027-03-09"})

    refused = client.delete(f"{API}/locations/{annex['id']}", headers=as_admin)
    assert refused.status_code == 409, refused.text
    assert refused.json()["blockers"] == ["1 treatment plan (history kept)", "1 optimization run (history kept)"]
    assert client.get(f"{API}/optimization-runs/{run.id}", headers=as_admin).status_code == 200
    refused = client.delete(f"{API}/patients/{patient['id']}", headers=as_admin)
    assert refused.status_code == 409, refused.text
    assert refused.json()["blockers"] == [f"treatment plan {plan['id']}", f"waitlist entry {entry['id']}"]


@pytest.mark.parametrize(("collection", "body", "field", "words"), [
    ("device-types", device_type_body("Laser X"), "code", "lowercase letters, digits or _, starting with a letter"),
    ("locations", location_body("Uptown", locale="en-us"), "locale", "a language tag such as 'en-US'"),
    ("users", user_body(username="front desk"), "username", "letters, digits, dots, dashes or _"),
])
def test_codes_locales_and_user_names_are_refused_in_words(client, as_admin, collection, body, field, words):
    """The admin screens show these messages as they are: an example, never a regular expression."""
    response = client.post(f"{API}/{collection}", json=body, headers=as_admin)
    assert_rejected(response, ("body", field), words)
    assert "pattern" not in response.text


def test_no_account_is_enabled_again_for_an_archived_clinician(client, as_admin, site):
    """Archiving is refused while an account signs in as the clinician; enabling one afterwards is refused too."""
    clinician = site["clinician"]
    account = create(client, as_admin, "users", user_body(username="ada", role="clinician",
                                                          clinician_id=clinician["id"]))
    url = f"{API}/users/{account['id']}"
    assert client.patch(url, json={"is_active": False}, headers=as_admin).status_code == 200
    archived = client.delete(f"{API}/clinicians/{clinician['id']}", headers=as_admin)
    assert archived.status_code == 200 and archived.json()["archived_at"]

    assert_rejected(client.patch(url, json={"is_active": True}, headers=as_admin), ("body", "is_active"),
                    "(Ada Lovelace) is archived; restore the clinician")
    assert_rejected(client.post(f"{API}/users", json=user_body(username="ada2", role="clinician",
                                                               clinician_id=clinician["id"]), headers=as_admin),
                    ("body", "clinician_id"), "is archived")
    assert client.get(url, headers=as_admin).json()["is_active"] is False
    assert client.patch(url, json={"password": "a new password"}, headers=as_admin).status_code == 200

    assert client.post(f"{API}/clinicians/{clinician['id']}/restore", headers=as_admin).status_code == 200
    assert client.patch(url, json={"is_active": True}, headers=as_admin).json()["is_active"] is True


def test_admin_cannot_delete_own_account(client, as_admin, staff):
    response = client.delete(f"{API}/users/{staff[Role.ADMIN].id}", headers=as_admin)
    assert response.status_code == 409 and "your own account" in response.json()["detail"]


def test_patient_search_takes_wildcards_literally(client, as_desk):
    create(client, as_desk, "patients", patient_body())
    for pattern in ("%", "_", "gr_ce", "\\"):
        found = client.get(f"{API}/patients", params={"name": pattern}, headers=as_desk).json()
        assert found["total"] == 0, pattern


def test_listing_clinicians_loads_children_in_a_fixed_number_of_queries(client, as_admin, site, engine, session):
    """Shifts, breaks, certifications and exceptions come in one query per level, not one per clinician."""
    for n in range(5):
        create(client, as_admin, "clinicians", clinician_body(site["location"]["id"], name=f"C{n}"))
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listener)
    try:
        assert client.get(f"{API}/clinicians", headers=as_admin).json()["total"] == 7  # with staff's and site's
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listener)
    assert len(statements) <= 10, statements
