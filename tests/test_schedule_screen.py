"""The schedule screen's data (GET /api/v1/schedule), against known bookings (SQLite and PostgreSQL)."""

import pytest

from tests.booking_helpers import booked, hold, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    return build_world(session)


def schedule(client, headers, world, day="2027-03-03", days=1, status=200):
    response = client.get(f"{API}/schedule", headers=headers,
                          params={"location_id": world.midtown.id, "day": day, "days": days})
    assert response.status_code == status, response.text
    return response.json()


def spans(view, resource_id, cause):
    return [(u["start"][11:16], u["end"][11:16]) for u in view["unavailable"]
            if u["resource_id"] == resource_id and u["cause"] == cause]


def test_sessions_and_holds_come_with_every_resource_they_take_in_the_location_s_zone(client, as_desk, world):
    shockwave = booked(client, as_desk, world.eswt, world.patients[0], at(3, 9), clinician_id=world.dana.id)
    held = hold(client, as_desk, world.msus, world.patients[1], at(3, 11)).json()
    booked(client, as_desk, world.msus, world.patients[2], at(4, 10))  # the next day: not in a day view
    view = schedule(client, as_desk, world)
    assert view["location"] == {"id": world.midtown.id, "name": "World Midtown", "time_zone": "America/New_York",
                                "locale": "en-US"}
    # the screen snapped a click to 5 minutes and offered "Book at 2:05 PM", which the search never books (found
    # by a probe): it snaps to the clinic's grid
    assert view["grid_minutes"] == 15
    kinds = [r["kind"] for r in view["resources"]]
    assert kinds == sorted(kinds, key=["clinician", "device", "room"].index), "clinicians, then devices, then rooms"
    names = {r["id"]: r["name"] for r in view["resources"]}
    assert {"Dana", "Max", "Eli", "Shockwave unit", "Ultrasound 1", "Treatment 1", "Gym"} <= set(names.values())
    assert "Owl" not in names.values(), "another location's clinician"
    by_id = {s["appointment_id"]: s for s in view["sessions"]}
    assert set(by_id) == {shockwave["id"], held["id"]}
    eswt = by_id[shockwave["id"]]
    assert eswt["start"] == "2027-03-03T09:00:00-05:00" and eswt["status"] == "booked"
    assert eswt["patient"]["name"] == "Ann World" and eswt["service"]["name"] == "Shockwave therapy"
    assert sorted(names[r] for r in eswt["resource_ids"])[:2] == ["Dana", "Shockwave unit"]
    assert len(eswt["resource_ids"]) == 4, "clinician, room, shockwave unit and an ultrasound unit"
    held_view = by_id[held["id"]]
    assert held_view["status"] == "pending" and held_view["hold_expires_at"] is not None


def test_unbookable_time_is_shaded_by_cause(client, as_desk, world):
    view = schedule(client, as_desk, world)  # Wednesday 3 March 2027
    dana, eli = f"clinician-{world.dana.id}", f"clinician-{world.eli.id}"
    assert spans(view, dana, "off shift") == [("00:00", "08:00"), ("16:00", "00:00")]
    assert spans(view, dana, "break") == [("12:00", "12:30")]
    assert spans(view, eli, "off shift") == [("00:00", "12:00"), ("20:00", "00:00")]
    assert spans(view, f"room-{world.gym.id}", "closed") == [("00:00", "07:00"), ("20:00", "00:00")]
    saturday = schedule(client, as_desk, world, day="2027-03-06")
    assert spans(saturday, eli, "off shift") == [("00:00", "00:00")], "Eli works weekdays only"


def test_time_off_and_maintenance_are_shaded(client, as_admin, as_desk, world):
    assert client.patch(f"{API}/clinicians/{world.max.id}", headers=as_admin, json={"exceptions": [
        {"kind": "time_off", "starts_at": at(3, 10).isoformat(), "ends_at": at(3, 14).isoformat(), "note": "dentist"}]}
                        ).status_code == 200
    assert client.patch(f"{API}/devices/{world.shockwave.id}", headers=as_admin, json={"maintenance": [
        {"starts_at": at(3, 13).isoformat(), "ends_at": at(3, 15).isoformat()}]}).status_code == 200
    view = schedule(client, as_desk, world)
    assert spans(view, f"clinician-{world.max.id}", "time off") == [("10:00", "14:00")]
    assert spans(view, f"device-{world.shockwave.id}", "maintenance") == [("13:00", "15:00")]


def test_a_week_across_the_spring_clock_change_has_a_23_hour_sunday(client, as_desk, world):
    view = schedule(client, as_desk, world, day="2027-03-08", days=7)
    assert view["days"] == 7
    closed = [(u["start"], u["end"]) for u in view["unavailable"]
              if u["resource_id"] == f"room-{world.gym.id}" and u["cause"] == "closed"]
    assert ("2027-03-13T20:00:00-05:00", "2027-03-14T07:00:00-04:00") in closed, "the night the clocks go forward"
    assert closed[-1][1] == "2027-03-15T00:00:00-04:00"


def test_bad_requests_say_what_is_wrong(client, as_desk, as_clinician, world):
    assert "less than or equal to 7" in str(schedule(client, as_desk, world, days=8, status=422))
    assert client.get(f"{API}/schedule", headers=as_desk, params={"location_id": 999999, "day": "2027-03-03"}
                      ).status_code == 404
    assert client.get(f"{API}/schedule", headers=as_clinician, params={"location_id": world.midtown.id,
                                                                        "day": "2027-03-03"}).status_code == 403
    assert client.get(f"{API}/schedule", headers=as_desk, params={"location_id": world.midtown.id,
                                                                   "day": "3 March"}).status_code == 422
