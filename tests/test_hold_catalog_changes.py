"""A hold is checked again when it is booked: the catalog may have changed while it waited.

A hold waits minutes at the desk, a day as a waitlist offer, until confirmation in a proposed plan. Before
``booking._held_slot_now`` booking it only flipped its status: after Dana took the afternoon off (or lost the
certification, or the shockwave unit went into maintenance, or the service was lengthened into the next patient's
time) the hold still became a booked appointment that no search would have offered. The same everyday edits as
``test_night_catalog_changes``, made through the admin API while a hold waits; the hold is then booked as the desk
does (POST /appointments with ``hold_id``).
"""

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.deps import get_now
from api.main import create_app
from data.accounts import upsert_user
from data.enums import AppointmentStatus, ResourceKind, Role
from data.tables import Appointment, DeviceType, User
from scheduler import booking
from tests.clinic_world import at
from tests.conftest import bearer
from tests.test_night_catalog_changes import EDITS, _client, _lengthen, _served, _time_off
from tests.test_optimization import NIGHT, SETTINGS, clinic  # noqa: F401 (fixture)

API = "/api/v1"


def _hold_next_to_a_booking(engine, world) -> tuple[int, object]:
    """Dana's shockwave hold at 13:00 for one patient, another patient booked with her at 14:00; the app and the
    desk's and the admin's headers."""
    with Session(engine, expire_on_commit=False) as session:
        admin = upsert_user(session=session, username="boss", password="long enough pw", role=Role.ADMIN)
        desk = upsert_user(session=session, username="desk", password="long enough pw", role=Role.FRONT_DESK)
        laser = DeviceType(code="w_laser", name="Laser")
        session.add(laser)
        kept = dict(clinician_id=world.dana.id, room_id=world.rooms[0].id,
                    device_ids=(world.shockwave.id, world.ultrasounds[0].id))
        hold = booking.place_hold(session, actor=desk, now=NIGHT, minutes=60, settings=SETTINGS,
                                  choice=booking.SlotChoice(world.eswt.id, world.patients[1].id, at(3, 13), **kept))
        booking.book(session, actor=desk, now=NIGHT, settings=SETTINGS,
                     choice=booking.SlotChoice(world.eswt.id, world.patients[2].id, at(3, 14), **kept))
        session.commit()
    app = create_app(SETTINGS.model_copy(update={"database_url": str(engine.url)}), engine)
    app.dependency_overrides[get_now] = lambda: NIGHT
    return hold.id, (app, bearer(app, admin), bearer(app, desk), {"laser": laser.id})


def _held(engine, hold_id: int) -> tuple:
    with Session(engine) as session:
        return _served(session.get(Appointment, hold_id))


def _booked_after(engine, world, edit) -> tuple[int, tuple, object]:
    """The hold, what it held, and the desk's answer to booking it after the administrator's ``edit``."""
    hold_id, (app, admin, desk, types) = _hold_next_to_a_booking(engine, world)
    before = _held(engine, hold_id)
    with TestClient(app) as client:
        path, change = edit(world, types)
        assert client.patch(API + path, json=change, headers=admin).status_code == 200
        return hold_id, before, client.post(f"{API}/appointments", json={"hold_id": hold_id}, headers=desk)


UNITS_CHANGED = ("drop_a_device_need", "retype_unit")


# The refusal is the slot search's, the same code on both backends: SQLite only. The bookings that write new
# allocations (below) run on PostgreSQL too, where the exclusion constraint checks them.
@pytest.mark.parametrize("clinic", ["sqlite"], indirect=True)
@pytest.mark.parametrize("edit, why", [edit for edit in EDITS if edit.id not in UNITS_CHANGED])
def test_a_hold_the_catalog_changed_under_is_not_booked(clinic, edit, why):  # noqa: F811
    engine, world = clinic
    hold_id, before, answer = _booked_after(engine, world, edit)
    assert answer.status_code == 409, answer.text
    assert f"hold {hold_id} can no longer be booked; release it and search again: " in answer.json()["detail"]
    assert why in answer.json()["detail"], "what changed, in the words of the night's run record"
    assert _held(engine, hold_id) == before, "nothing was written: the hold is still the desk's to release"
    assert before[2] == AppointmentStatus.PENDING


@pytest.mark.parametrize("clinic", ["sqlite"], indirect=True)
def test_a_hold_under_two_changes_names_both(clinic):  # noqa: F811
    """The service lengthened and Dana's afternoon off: the refusal (and a night's record) named only the length, so
    the desk, rebooking for 45 minutes, met the time off next (found by a probe, 2026-12-01)."""
    engine, world = clinic
    hold_id, (app, admin, desk, types) = _hold_next_to_a_booking(engine, world)
    with TestClient(app) as client:
        for edit in (_lengthen, _time_off):
            path, change = edit(world, types)
            assert client.patch(API + path, json=change, headers=admin).status_code == 200
        answer = client.post(f"{API}/appointments", json={"hold_id": hold_id}, headers=desk)
    assert answer.status_code == 409, answer.text
    assert answer.json()["detail"].endswith(
        "booked for 30 min; Shockwave therapy now lasts 45 min; Dana is no longer free then (time off, shift, "
        "maintenance or opening hours changed)"), answer.text


@pytest.mark.parametrize("edit, why", [edit for edit in EDITS if edit.id in UNITS_CHANGED])
def test_a_hold_whose_units_the_service_no_longer_takes_is_booked_with_those_it_takes(clinic, edit, why):  # noqa: F811
    """The ultrasound unit held is not needed any more, or is a laser now: the booking holds the shockwave unit and,
    where the service still needs one, another ultrasound unit that is free then; nothing else moves."""
    engine, world = clinic
    hold_id, before, answer = _booked_after(engine, world, edit)
    assert answer.status_code == 201, answer.text
    units = answer.json()["device_ids"]
    assert world.shockwave.id in units and world.ultrasounds[0].id not in units
    assert len(units) == (1 if edit.__name__ == "_drop_a_device_need" else 2)
    after = _held(engine, hold_id)
    assert after[:2] == before[:2] and after[2] == AppointmentStatus.BOOKED
    kept = [span for span in after[3] if span[0] != ResourceKind.DEVICE or span[1] == world.shockwave.id]
    assert kept == [span for span in before[3] if span[0] != ResourceKind.DEVICE or span[1] == world.shockwave.id]


def test_a_hold_nothing_changed_under_is_booked_as_held(clinic):  # noqa: F811
    """The control: the same hold, nothing edited, booked with exactly the spans it held."""
    engine, world = clinic
    hold_id, (app, _admin, desk, _types) = _hold_next_to_a_booking(engine, world)
    before = _held(engine, hold_id)
    with TestClient(app) as client:
        answer = client.post(f"{API}/appointments", json={"hold_id": hold_id}, headers=desk)
    assert answer.status_code == 201, answer.text
    after = _held(engine, hold_id)
    assert after[2] == AppointmentStatus.BOOKED and (after[0], after[1], after[3]) == (before[0], before[1], before[3])


def test_a_hold_whose_service_lengthened_into_free_time_is_booked_for_the_new_length(clinic):  # noqa: F811
    """Lengthened from 30 to 40 min with nothing after it that day but the 14:00 session's span: the hold is
    booked holding what the service takes now (its spans grow by 10 min), not the stale 30 min."""
    engine, world = clinic
    hold_id, (app, admin, desk, _types) = _hold_next_to_a_booking(engine, world)
    with Session(engine) as session:  # the 14:00 session moves out of the way first
        later = session.exec(select(Appointment.id).where(Appointment.id != hold_id)).one()
        desk_user = session.exec(select(User).where(User.username == "desk")).one()
        booking.change_status(session, actor=desk_user, appointment_id=later, action="cancel", now=NIGHT)
        session.commit()
    before = _held(engine, hold_id)
    with TestClient(app) as client:
        assert client.patch(f"{API}/services/{world.eswt.id}", json={"duration_minutes": 40},
                            headers=admin).status_code == 200
        answer = client.post(f"{API}/appointments", json={"hold_id": hold_id}, headers=desk)
    assert answer.status_code == 201, answer.text
    after = _held(engine, hold_id)
    assert after[0] == before[0] and (after[1] - before[1]).total_seconds() == 600
    grown = {kind: (end - start).total_seconds() for kind, _ident, start, end in after[3]}
    held = {kind: (end - start).total_seconds() for kind, _ident, start, end in before[3]}
    assert grown[ResourceKind.CLINICIAN] - held[ResourceKind.CLINICIAN] == 600
    assert grown[ResourceKind.DEVICE] - held[ResourceKind.DEVICE] == 600


def test_a_plan_whose_held_session_the_catalog_changed_under_is_not_confirmed(clinic):  # noqa: F811
    """Ann's two-session shockwave course is proposed; its first session's clinician then takes that afternoon off.
    Confirming is a 409 naming the session and what changed, telling the desk to propose again, and books nothing
    (the second session's hold is not booked either)."""
    engine, world = clinic
    app, admin = _client(engine)
    with TestClient(app) as client:
        plan = client.post(f"{API}/plans", headers=admin, json={
            "patient_id": world.patients[0].id, "location_id": world.midtown.id, "earliest_start": "2027-03-03",
            "latest_end": "2027-03-12", "lines": [{"service_id": world.eswt.id, "count": 2, "min_gap_days": 2,
                                                    "max_gap_days": 4}]}).json()
        proposed = client.post(f"{API}/plans/{plan['id']}/proposal", headers=admin)
        assert proposed.status_code == 200, proposed.text
        first, second = (s["appointment"] for s in client.get(f"{API}/plans/{plan['id']}",
                                                                headers=admin).json()["sessions"])
        start = datetime.fromisoformat(first["start"])
        assert client.patch(f"{API}/clinicians/{first['clinician_id']}", headers=admin, json={"exceptions": [{
            "kind": "time_off", "starts_at": (start - timedelta(hours=1)).isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat()}]}).status_code == 200
        refused = client.post(f"{API}/plans/{plan['id']}/confirm", headers=admin)
        after = client.get(f"{API}/plans/{plan['id']}", headers=admin).json()
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith(f"plan {plan['id']}'s session held at {start:%a %b %-d %H:%M} (America/New_York) "
                             "can no longer be booked; propose the plan again: "), detail
    assert "is no longer free then" in detail
    assert after["status"] == "proposed"
    assert [s["appointment"]["status"] for s in after["sessions"]] == ["pending", "pending"], "nothing was booked"
    assert second["status"] == "pending"
