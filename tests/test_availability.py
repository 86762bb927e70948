"""Availability search: each rule that shapes a slot, shown biting through the API."""

from datetime import timedelta

import pytest

from data.enums import ExceptionKind
from data.tables import ClinicianException, DeviceMaintenance
from tests.booking_helpers import booked, hold, search, set_clock, starts
from tests.clinic_world import NOW, at, build_world
from tests.factories import API


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    return build_world(session)


def day(d: int, month: int = 3):
    return at(d, 0, month=month), at(d, 23, 59, month=month)


def test_slots_name_start_end_and_concrete_resources(client, as_desk, world):
    found = search(client, as_desk, world.eswt, *day(2), limit=3)
    slot = found["slots"][0]
    assert slot["start"] == "2027-03-02T08:00:00-05:00" and slot["end"] == "2027-03-02T08:30:00-05:00"
    assert slot["clinician"]["name"] == "Dana" and slot["room"]["name"].startswith("Treatment")
    assert sorted(d["name"] for d in slot["devices"]) == ["Shockwave unit", "Ultrasound 1"]
    assert found["reasons"] == []


def test_shifts_and_breaks(client, as_desk, world):
    found = search(client, as_desk, world.eswt, *day(2), limit=200)
    dana, eli = starts(found, "Dana"), starts(found, "Eli")
    assert dana[0] == "08:00" and eli[0] == "12:00"
    # Dana's lunch 12:00-12:30, with the 5-minute buffer after a session: nothing may touch it.
    assert "11:30" not in dana and "12:00" not in dana and "12:15" not in dana and "12:30" in dana
    assert dana[-1] == "15:15"  # 15:15 + 30 min + 5 min buffer = 15:50, inside the shift ending 16:00


def test_time_off_and_extra_shifts(client, as_desk, world, session):
    session.add(ClinicianException(clinician_id=world.dana.id, kind=ExceptionKind.TIME_OFF,
                                   starts_at=at(3, 0), ends_at=at(4, 0)))
    session.add(ClinicianException(clinician_id=world.eli.id, kind=ExceptionKind.EXTRA_SHIFT,
                                   starts_at=at(6, 9), ends_at=at(6, 11)))  # a Saturday
    session.flush()
    assert starts(search(client, as_desk, world.eswt, *day(3), limit=200), "Dana") == []
    assert starts(search(client, as_desk, world.eswt, *day(6), limit=200), "Eli")[:2] == ["09:00", "09:15"]


def test_device_maintenance(client, as_desk, world, session):
    session.add(DeviceMaintenance(device_id=world.shockwave.id, starts_at=at(2, 7), ends_at=at(2, 10)))
    session.flush()
    assert starts(search(client, as_desk, world.eswt, *day(2), limit=1)) == ["10:00"]
    found = search(client, as_desk, world.eswt, at(2, 7), at(2, 9, 30))
    assert found["slots"] == []
    assert [r["code"] for r in found["reasons"]] == ["devices_unavailable"]
    assert "Shockwave unit is in maintenance" in found["reasons"][0]["message"]


def test_buffers_and_cleaning_keep_the_device_busy_after_a_session(client, as_desk, world):
    booked(client, as_desk, world.eswt, world.patients[0], at(2, 9))
    found = search(client, as_desk, world.eswt, at(2, 9), at(2, 11), limit=1)
    # 09:00-09:30, buffer 5, shockwave cleaning 20: the unit is busy until 09:55, so the next start is 10:00.
    assert starts(found) == ["10:00"]
    msus = search(client, as_desk, world.msus, at(2, 9), at(2, 9, 15), limit=5)
    # Ultrasound 1 is cleaned until 09:40 but Ultrasound 2 is free: the other unit serves.
    assert {d["name"] for slot in msus["slots"] for d in slot["devices"]} == {"Ultrasound 2"}


def test_live_holds_block_and_expired_holds_stop_blocking_at_once(client, as_desk, world, app):
    assert hold(client, as_desk, world.eswt, world.patients[0], at(2, 9), minutes=10).status_code == 201
    assert "09:00" not in starts(search(client, as_desk, world.eswt, at(2, 9), at(2, 9, 15)))
    set_clock(app, NOW + timedelta(minutes=11))  # no sweeper has run
    assert starts(search(client, as_desk, world.eswt, at(2, 9), at(2, 9, 15), limit=1)) == ["09:00"]


def test_the_patients_own_appointments(client, as_desk, world):
    ann, ben = world.patients[:2]
    booked(client, as_desk, world.eswt, ann, at(2, 9), clinician_id=world.dana.id)
    for_ann = starts(search(client, as_desk, world.msus, at(2, 8), at(2, 10), patient_id=ann.id, limit=50))
    for_ben = starts(search(client, as_desk, world.msus, at(2, 8), at(2, 10), patient_id=ben.id, limit=50))
    assert "09:00" in for_ben and "08:30" in for_ben
    assert "09:00" not in for_ann and "08:30" not in for_ann and "09:30" in for_ann


def test_minimum_notice(client, as_desk, world):
    assert starts(search(client, as_desk, world.eswt, *day(1), limit=1)) == ["08:30"]  # now 08:00, 30 min notice


def test_opening_hours(client, as_desk, world):
    tuesday = starts(search(client, as_desk, world.eswt, *day(2), limit=200), "Eli")
    wednesday = starts(search(client, as_desk, world.eswt, *day(3), limit=200), "Eli")
    assert tuesday[-1] == "18:30"  # the clinic closes at 19:00 on Tuesdays
    assert wednesday[-1] == "19:15"  # Eli's shift ends 20:00: 19:15 + 30 + 5 buffer


def test_time_of_day_window(client, as_desk, world):
    found = search(client, as_desk, world.eswt, at(2, 0), at(5, 0), earliest="13:00", latest="14:00", limit=200)
    assert set(starts(found)) == {"13:00", "13:15", "13:30"}


@pytest.mark.parametrize("grid, expected", [(15, ["08:00", "08:15", "08:30"]), (20, ["08:00", "08:20", "08:40"])])
def test_slot_starts_lie_on_the_configured_grid(client, as_desk, world, app, grid, expected):
    app.state.settings = app.state.settings.model_copy(update={"slot_grid_minutes": grid})
    assert starts(search(client, as_desk, world.eswt, *day(2), clinician_id=world.dana.id, limit=3)) == expected


def test_spring_forward_day_has_no_slot_in_the_missing_hour(client, as_desk, world):
    found = search(client, as_desk, world.telehealth, at(14, 0), at(14, 6), location_id=world.night_desk.id,
                   limit=200)
    local = [slot["start"][11:16] for slot in found["slots"]]
    assert not [t for t in local if t.startswith("02:")]
    assert local[:8] == ["00:00", "00:15", "00:30", "00:45", "01:00", "01:15", "01:30", "01:45"]
    assert local[8] == "03:00" and found["slots"][8]["start"].endswith("-04:00")
    assert len(local) == 19  # five real hours between 00:00 EST and 06:00 EDT, 30-minute sessions


def test_fall_back_day_keeps_its_extra_hour(client, as_desk, world):
    found = search(client, as_desk, world.telehealth, at(7, 0, month=11), at(7, 6, month=11),
                   location_id=world.night_desk.id, limit=200)
    stamps = [slot["start"] for slot in found["slots"]]
    assert "2027-11-07T01:30:00-04:00" in stamps and "2027-11-07T01:30:00-05:00" in stamps
    assert len(stamps) == 27  # seven real hours


def test_requested_clinician_first_then_continuity_then_earliest(client, as_desk, world, app, session):
    ann = world.patients[0]
    first = starts(search(client, as_desk, world.msus, *day(2), limit=2))
    assert first == ["08:00", "08:00"]  # Dana and Max both free at opening
    preferred = search(client, as_desk, world.msus, *day(2), prefer_clinician_id=world.max.id, limit=40)
    names = [slot["clinician"]["name"] for slot in preferred["slots"]]
    assert names[: names.index("Dana")] == ["Max"] * names.index("Dana") and names.index("Dana") > 20

    booked(client, as_desk, world.msus, ann, at(1, 9), clinician_id=world.dana.id)
    set_clock(app, at(1, 12))  # Ann has now seen Dana
    by_continuity = search(client, as_desk, world.msus, *day(2), patient_id=ann.id, limit=5)
    assert {slot["clinician"]["name"] for slot in by_continuity["slots"]} == {"Dana"}
    narrowed = search(client, as_desk, world.msus, *day(2), clinician_id=world.max.id, limit=5)
    assert {slot["clinician"]["name"] for slot in narrowed["slots"]} == {"Max"}


def test_limit_caps_the_answer(client, as_desk, world):
    assert len(search(client, as_desk, world.eswt, *day(2), limit=7)["slots"]) == 7


@pytest.mark.parametrize("service_name, code, words", [
    ("gait", "no_certified_clinician", "holds the gait analysis certification"),
])
def test_why_not_when_the_catalog_cannot_serve(client, as_desk, world, service_name, code, words):
    found = search(client, as_desk, getattr(world, service_name), *day(2))
    assert found["slots"] == []
    assert code in [r["code"] for r in found["reasons"]]
    assert any(words in r["message"] for r in found["reasons"])


def test_why_not_when_closed_or_off_duty(client, as_desk, world):
    closed = search(client, as_desk, world.eswt, at(2, 20, 30), at(2, 23))
    assert [r["code"] for r in closed["reasons"]] == ["closed"]
    assert closed["reasons"][0]["message"] == ("no time in the range falls within the opening hours, after the "
                                               "minimum notice"), "no time of day was asked: none is blamed"
    evening = search(client, as_desk, world.eswt, *day(2), earliest="20:30", latest="23:00")
    assert evening["reasons"][0]["message"] == ("no time in the range falls within the opening hours and the "
                                                "requested time of day, after the minimum notice")
    too_soon = search(client, as_desk, world.eswt, NOW + timedelta(minutes=1), NOW + timedelta(minutes=20))
    assert [r["message"] for r in too_soon["reasons"]] == [
        "the range ends before the earliest time that can still be booked (the minimum notice)"]
    saturday = search(client, as_desk, world.eswt, at(6, 16, 30), at(6, 19), clinician_id=world.eli.id)
    assert [r["code"] for r in saturday["reasons"]] == ["clinicians_unavailable"]
    assert "Eli does not work" in saturday["reasons"][0]["message"]


def test_why_not_when_every_qualified_clinician_is_booked(client, as_desk, world, session):
    for n, start in enumerate([at(2, 8), at(2, 9)]):
        booked(client, as_desk, world.rehab, world.patients[n], start)
    found = search(client, as_desk, world.rehab, at(2, 8), at(2, 9, 15))
    # Max is the only physical therapist and the gym the only gym: both are taken, both are named.
    assert [r["code"] for r in found["reasons"]] == ["clinicians_booked", "rooms_booked"]
    assert "Max is fully booked" in found["reasons"][0]["message"]
    assert "Gym is fully booked" in found["reasons"][1]["message"]


def test_why_not_when_the_patient_is_busy(client, as_desk, world):
    ann = world.patients[0]
    booked(client, as_desk, world.telehealth, ann, at(2, 9), clinician_id=world.max.id)
    found = search(client, as_desk, world.msus, at(2, 8, 45), at(2, 9, 15), patient_id=ann.id)
    assert [r["code"] for r in found["reasons"]] == ["patient_busy"]


@pytest.mark.parametrize("params, where, words", [
    ({"start": "2027-03-02T10:00:00-05:00", "end": "2027-03-02T09:00:00-05:00"}, "end", "after start"),
    ({"start": "2027-03-01T00:00:00-05:00", "end": "2027-06-30T00:00:00-04:00"}, "end", "90 days"),
    ({"start": "2027-03-02T10:00:00", "end": "2027-03-03T09:00:00-05:00"}, "start", "timezone"),
    ({"service_id": 999999}, "service_id", "does not exist"),
    ({"patient_id": 999999}, "patient_id", "does not exist"),
    ({"clinician_id": 999999}, "clinician_id", "does not exist"),
    ({"earliest": "09:00"}, "latest", "both"),
])
def test_bad_searches_are_422_naming_the_parameter(client, as_desk, world, params, where, words):
    query = {"service_id": world.eswt.id, "start": "2027-03-02T00:00:00-05:00",
             "end": "2027-03-03T00:00:00-05:00", **params}
    response = client.get(f"{API}/availability", headers=as_desk, params=query)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == where and words in e["msg"] for e in errors), errors


def test_a_clinician_cannot_ask_whether_a_patient_is_busy(client, as_desk, as_clinician, world):
    """With patient_id a search says `patient_busy`, and 422 for an unknown id: for clinicians it is refused."""
    ann = world.patients[0]
    booked(client, as_desk, world.msus, ann, at(2, 9), clinician_id=world.max.id)
    window = {"service_id": world.telehealth.id, "start": at(2, 9).isoformat(), "end": at(2, 9, 1).isoformat()}
    for patient_id in (ann.id, 999999):
        refused = client.get(f"{API}/availability", headers=as_clinician, params={**window, "patient_id": patient_id})
        assert refused.status_code == 403 and "patient_id is for the front desk" in refused.json()["detail"]
    assert client.get(f"{API}/availability", headers=as_clinician, params=window).status_code == 200
    busy = client.get(f"{API}/availability", headers=as_desk, params={**window, "patient_id": ann.id}).json()
    assert "patient_busy" in {reason["code"] for reason in busy["reasons"]}
