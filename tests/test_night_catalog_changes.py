"""The catalog changes after sessions were booked: the night keeps those sessions as booked, says so, and still runs.

Each edit is made as an administrator would, through the API, after two Shockwave sessions were booked back to
back with Dana (13:00 and 14:00, 30 min + 5 min buffer + 20 min cleaning of the shockwave unit). Before
``scheduler.as_booked`` every one of these edits to the catalog made every nightly run of the location fail its
check (or raise a KeyError) until the sessions were past; time off and maintenance over them did not, but the night
kept them without telling anyone.
"""

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.deps import get_now
from api.main import create_app
from data.accounts import upsert_user
from data.enums import Role, RunStatus, RunTrigger, SameClinicianRule
from data.tables import Appointment, DeviceType, Location, PlanSession
from scheduler import booking, optimization
from scheduler.optimization import check_no_overlaps, run_optimization
from tests.clinic_world import at
from tests.conftest import bearer
from tests.test_optimization import (  # noqa: F401 (clinic is a fixture)
    NIGHT, SETTINGS, book_at, clinic, rows_with_allocations, wait, waiting_plan,
)

API = "/api/v1"


def _decertify(world, _types):
    return f"/clinicians/{world.dana.id}", {"certifications": ["msus"]}


def _move_clinician(world, _types):
    return f"/clinicians/{world.dana.id}", {"location_id": world.night_desk.id}


def _require_another_certification(world, _types):
    return f"/services/{world.eswt.id}", {"required_certification": "gait"}


def _lengthen(world, _types):
    return f"/services/{world.eswt.id}", {"duration_minutes": 45}


def _longer_buffer(world, _types):
    return f"/services/{world.eswt.id}", {"buffer_after_minutes": 15}


def _drop_a_device_need(world, _types):
    return f"/services/{world.eswt.id}", {"device_needs": [{"device_type_id": world.shockwave.device_type_id,
                                                            "count": 1}]}


def _longer_cleaning(world, _types):
    return f"/devices/{world.shockwave.id}", {"cleaning_minutes": 30}


def _retype_unit(world, types):
    return f"/devices/{world.ultrasounds[0].id}", {"device_type_id": types["laser"]}


def _move_unit(world, _types):
    return f"/devices/{world.shockwave.id}", {"location_id": world.night_desk.id}


def _rekind_room(world, _types):
    return f"/rooms/{world.rooms[0].id}", {"kind": "gym"}


def _time_off(world, _types):
    return f"/clinicians/{world.dana.id}", {"exceptions": [{
        "kind": "time_off", "starts_at": at(3, 12).isoformat(), "ends_at": at(3, 16).isoformat()}]}


def _maintenance(world, _types):
    return f"/devices/{world.shockwave.id}", {"maintenance": [{
        "starts_at": at(3, 12).isoformat(), "ends_at": at(3, 16).isoformat(), "reason": "service visit"}]}


def _shorter_opening_hours(world, _types):
    wednesday_closes_at_one = [{"weekday": d, "starts": "07:00", "ends": "13:00" if d == 2 else "20:00"}
                               for d in range(7)]
    return f"/locations/{world.midtown.id}", {"opening_hours": wednesday_closes_at_one}


EDITS = [pytest.param(edit, why, id=edit.__name__.strip("_")) for edit, why in [
    (_decertify, "Dana no longer gives Shockwave therapy here"),
    (_move_clinician, "Dana no longer gives Shockwave therapy here"),
    (_require_another_certification, "Dana no longer gives Shockwave therapy here"),
    (_lengthen, "booked for 30 min; Shockwave therapy now lasts 45 min"),
    (_longer_buffer, "the time held around it (buffers, cleaning) has changed"),
    (_drop_a_device_need, "Shockwave therapy now needs other device units than Shockwave unit, Ultrasound 1"),
    (_longer_cleaning, "the time held around it (buffers, cleaning) has changed"),
    (_retype_unit, "Shockwave therapy now needs other device units than Shockwave unit, Ultrasound 1"),
    (_move_unit, "Shockwave therapy now needs other device units than Shockwave unit, Ultrasound 1"),
    (_rekind_room, "Treatment 1 no longer suits Shockwave therapy"),
    (_time_off, "Dana is no longer free then"),
    (_maintenance, "Shockwave unit is no longer free then"),
    (_shorter_opening_hours, "it no longer lies within the location's opening hours"),
]]


def _served(appointment: Appointment) -> tuple:
    return (appointment.starts_at, appointment.ends_at, appointment.status,
            sorted((a.resource_kind, a.resource_id, a.starts_at, a.ends_at) for a in appointment.allocations))


@pytest.mark.parametrize("edit, why", EDITS)
def test_a_session_the_catalog_changed_under_is_kept_as_booked_and_the_night_runs(clinic, edit, why):  # noqa: F811
    engine, world = clinic
    with Session(engine, expire_on_commit=False) as session:
        admin = upsert_user(session=session, username="boss", password="long enough pw", role=Role.ADMIN)
        desk = upsert_user(session=session, username="desk", password="long enough pw", role=Role.FRONT_DESK)
        laser = DeviceType(code="w_laser", name="Laser")
        session.add(laser)
        promised = [booking.book(session, actor=desk, now=at(1, 1), settings=SETTINGS, choice=booking.SlotChoice(
            world.eswt.id, patient.id, at(3, hour), clinician_id=world.dana.id, room_id=world.rooms[0].id,
            device_ids=(world.shockwave.id, world.ultrasounds[0].id)))
            for patient, hour in ((world.patients[1], 13), (world.patients[2], 14))]
        session.commit()
    before = {a.id: _served(a) for a in rows_with_allocations(engine)}
    app = create_app(SETTINGS.model_copy(update={"database_url": str(engine.url)}), engine)
    app.dependency_overrides[get_now] = lambda: NIGHT
    with TestClient(app) as client:
        path, change = edit(world, {"laser": laser.id})
        edited = client.patch(API + path, json=change, headers=bearer(app, admin))
        assert edited.status_code == 200, edited.text
    waiting = wait(engine, world, world.patients[0], service_id=world.msus.id)

    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)

    assert run.status == RunStatus.SUCCEEDED, run.error
    kept = [change for change in run.changes if change["action"] == "kept_as_booked"]
    assert {change["appointment_id"] for change in kept} == {a.id for a in promised}
    assert all(why in change["reason"] for change in kept), kept
    assert kept[0]["start"] == at(3, 13).isoformat()
    after = {a.id: _served(a) for a in rows_with_allocations(engine)}
    assert {ident: after[ident] for ident in before} == before, "the promised sessions are exactly as booked"
    placed = [change for change in run.changes if change["action"] == "waitlist_hold"]
    assert [change["request_id"] for change in placed] == [waiting], "the rest of the night is still planned"
    with Session(engine) as session:
        check_no_overlaps(session, start=NIGHT, end=at(20, 0))


def test_a_session_that_still_fits_the_catalog_is_not_reported(clinic):  # noqa: F811
    """The control: the same two sessions, nothing edited, nothing kept as booked (the comparison is exact)."""
    engine, world = clinic
    with Session(engine) as session:
        desk = upsert_user(session=session, username="desk", password="long enough pw", role=Role.FRONT_DESK)
        for patient, hour in ((world.patients[1], 13), (world.patients[2], 14)):
            booking.book(session, actor=desk, now=at(1, 1), settings=SETTINGS, choice=booking.SlotChoice(
                world.eswt.id, patient.id, at(3, hour), clinician_id=world.dana.id))
        session.commit()
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert not [change for change in run.changes if change["action"] == "kept_as_booked"]
    with Session(engine) as session:
        assert len(session.exec(select(Appointment)).all()) == 2


def _client(engine):
    app = create_app(SETTINGS.model_copy(update={"database_url": str(engine.url)}), engine)
    app.dependency_overrides[get_now] = lambda: NIGHT
    with Session(engine, expire_on_commit=False) as session:
        admin = upsert_user(session=session, username="boss", password="long enough pw", role=Role.ADMIN)
        session.commit()
    return app, bearer(app, admin)


def _confirmed_course(client, admin, world) -> dict:
    """Ann's two-session shockwave course, proposed and confirmed (both sessions booked)."""
    plan = client.post(f"{API}/plans", headers=admin, json={
        "patient_id": world.patients[0].id, "location_id": world.midtown.id, "earliest_start": "2027-03-03",
        "latest_end": "2027-03-12", "lines": [{"service_id": world.eswt.id, "count": 2, "min_gap_days": 2,
                                                "max_gap_days": 4}]}).json()
    assert client.post(f"{API}/plans/{plan['id']}/proposal", headers=admin).status_code == 200
    confirmed = client.post(f"{API}/plans/{plan['id']}/confirm", headers=admin)
    assert confirmed.status_code == 200, confirmed.text
    return confirmed.json()


def test_a_plan_still_reads_after_a_unit_it_uses_moved_to_another_location(clinic):  # noqa: F811
    """Plans name their sessions' units; one moved away made the plan and every plan list holding it a 500."""
    engine, world = clinic
    app, admin = _client(engine)
    with TestClient(app) as client:
        plan = _confirmed_course(client, admin, world)
        assert client.patch(f"{API}/devices/{world.shockwave.id}", headers=admin,
                            json={"location_id": world.night_desk.id}).status_code == 200
        one = client.get(f"{API}/plans/{plan['id']}", headers=admin)
        listed = client.get(f"{API}/plans", headers=admin)
    assert one.status_code == 200 and listed.status_code == 200, (one.text, listed.text)
    assert all("Shockwave unit" in session["device_names"] for session in one.json()["sessions"])


def test_a_service_with_a_plan_session_still_to_give_is_not_archived(clinic):  # noqa: F811
    """Archived, the service left the plan's waiting session out of every night without a word; now the archive is
    refused naming the plan, as it is for a waiting waitlist request."""
    engine, world = clinic
    app, admin = _client(engine)
    with TestClient(app) as client:
        plan = _confirmed_course(client, admin, world)
        second = plan["sessions"][1]["appointment"]["id"]
        assert client.post(f"{API}/appointments/{second}/cancel", headers=admin,
                           json={"reason": "patient ill"}).status_code == 200
        first = plan["sessions"][0]["appointment"]["id"]
        assert client.post(f"{API}/appointments/{first}/cancel", headers=admin,
                           json={"reason": "patient ill"}).status_code == 200
        refused = client.delete(f"{API}/services/{world.eswt.id}", headers=admin)
    assert refused.status_code == 409, refused.text
    assert f"treatment plan {plan['id']} (a Shockwave therapy session still to be given)" in refused.text


@pytest.mark.parametrize("moved, kind", [("clinician", "clinician"), ("unit", "device"), ("room", "room")])
def test_a_session_whose_clinician_unit_or_room_moved_away_is_still_on_its_locations_screens(clinic, moved, kind):  # noqa: F811,E501
    """Dana, the shockwave unit or Treatment 1 moves to the night desk after a session was booked with it at Midtown:
    the session still takes place at Midtown, but the schedule screen, the day board and the day's rosters listed
    only Midtown's own resources, so it had no row there and was not drawn at all (found by the probe helper)."""
    engine, world = clinic
    with Session(engine) as session:
        desk = upsert_user(session=session, username="desk", password="long enough pw", role=Role.FRONT_DESK)
        promised = booking.book(session, actor=desk, now=at(1, 1), settings=SETTINGS, choice=booking.SlotChoice(
            world.eswt.id, world.patients[1].id, at(3, 13), clinician_id=world.dana.id, room_id=world.rooms[0].id,
            device_ids=(world.shockwave.id, world.ultrasounds[0].id))).id
        session.commit()
    app, admin = _client(engine)
    path, ident, name = {"clinician": ("clinicians", world.dana.id, world.dana.name),
                         "unit": ("devices", world.shockwave.id, world.shockwave.name),
                         "room": ("rooms", world.rooms[0].id, world.rooms[0].name)}[moved]
    with TestClient(app) as client:
        assert client.patch(f"{API}/{path}/{ident}", headers=admin,
                            json={"location_id": world.night_desk.id}).status_code == 200
        screen = client.get(f"{API}/schedule", headers=admin,
                            params={"location_id": world.midtown.id, "day": "2027-03-03"}).json()
        board = client.get(f"{API}/day-board/2027-03-03", headers=admin,
                           params={"location_id": world.midtown.id}).json()
        rosters = client.get(f"{API}/rosters/2027-03-03", headers=admin,
                             params={"location_id": world.midtown.id}).json()
        there = client.get(f"{API}/rosters/2027-03-03", headers=admin,
                           params={"location_id": world.night_desk.id}).json()
    row = next(r for r in screen["resources"] if (r["kind"], r["resource_id"]) == (kind, ident))
    assert row["name"] == name and row["detail"] == f"now at {world.night_desk.name}"
    drawn = next(s for s in screen["sessions"] if s["appointment_id"] == promised)
    assert row["id"] in drawn["resource_ids"]
    kinds = [r["kind"] for r in screen["resources"]]
    assert kinds == sorted(kinds, key=["clinician", "device", "room"].index), "rows stay grouped by kind"
    boarded = next(r for r in board if (r["kind"], r["resource"]["id"]) == (kind, ident))
    assert boarded["resource"]["name"] == f"{name} (now at {world.night_desk.name})"
    assert [block["appointment_id"] for block in boarded["blocks"]] == [promised]
    given_by = {roster["clinician"]["id"]: roster["entries"] for roster in rosters}
    assert [entry["appointment_id"] for entry in given_by[world.dana.id]] == [promised]
    assert not [entry for roster in there for entry in roster["entries"]], "the session is Midtown's, not listed twice"


def test_a_plan_session_whose_kept_clinician_no_longer_gives_the_service_says_so(clinic):  # noqa: F811
    """A course that keeps its clinician: session 1 is booked with Max, session 2 waits. Max then loses the
    diagnostic ultrasound certification. The run left session 2 waiting with "no certified clinician on shift in the
    patient's window", which sent the desk looking at shifts; now the reason names Max and what changed."""
    engine, world = clinic
    first = book_at(engine, world, world.patients[0], world.msus, at(3, 9), world.max)
    with Session(engine) as session:
        plan = waiting_plan(world, world.patients[0], world.msus)
        plan.lines[0].count, plan.lines[0].min_gap_days, plan.lines[0].max_gap_days = 2, 2, 4
        plan.lines[0].same_clinician = SameClinicianRule.REQUIRED
        plan.sessions = [PlanSession(service_id=world.msus.id, sequence=1, appointment_id=first),
                         PlanSession(service_id=world.msus.id, sequence=2)]
        session.add(plan)
        session.commit()
        plan_id = plan.id
    app, admin = _client(engine)
    with TestClient(app) as client:
        assert client.patch(f"{API}/clinicians/{world.max.id}", headers=admin,
                            json={"certifications": ["physical_therapy"]}).status_code == 200
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.SUCCEEDED, run.error
    (left,) = [entry for entry in run.waiting if entry.get("plan_id") == plan_id]
    assert left["sequence"] == 2 and left["code"] == "plan_clinician_gone"
    assert left["reason"].startswith("the clinician its plan keeps, Max, no longer gives Diagnostic ultrasound here")


def _editing_during_solves(engine, world, monkeypatch, *, edits: int) -> list[int]:
    """The first ``edits`` solves of the night each see an administrator rename the other clinic before they answer:
    the catalog changed, this night's problem did not (a change to it is solved again on SQLite anyway)."""
    solve, calls = optimization._solve_apart, []

    def edited_meanwhile(problem, limits):
        calls.append(len(calls) + 1)
        if len(calls) <= edits:
            with Session(engine) as admin:
                admin.get(Location, world.night_desk.id).name = f"Night desk (edit {len(calls)})"
                admin.commit()
        return solve(problem, limits)

    monkeypatch.setattr(optimization, "_solve_apart", edited_meanwhile)
    return calls


def test_a_catalog_edit_during_the_solve_has_the_night_planned_again(clinic, monkeypatch):  # noqa: F811
    """On PostgreSQL the answer was found for the catalog before the edit, so it is not written; the whole run
    failed, and the night waited for the next one (found by a probe). Now it is gathered and solved once more.
    On SQLite the night is solved before the write transaction and its answer kept only for the very problem
    gathered there, under the catalog as it then is: one solve."""
    engine, world = clinic
    waiting = wait(engine, world, world.patients[0])
    solves = _editing_during_solves(engine, world, monkeypatch, edits=1)

    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert len(solves) == (2 if engine.dialect.name == "postgresql" else 1)
    placed = [change["request_id"] for change in run.changes if change["action"] == "waitlist_hold"]
    assert placed == [waiting]


def test_edits_during_both_solves_fail_the_run_and_write_nothing(clinic, monkeypatch):  # noqa: F811
    """PostgreSQL tries twice; a catalog still changing under the second solve fails the run, which says why."""
    engine, world = clinic
    wait(engine, world, world.patients[0])
    solves = _editing_during_solves(engine, world, monkeypatch, edits=2)

    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)

    if engine.dialect.name == "sqlite":
        assert run.status == RunStatus.SUCCEEDED and len(solves) == 1, run.error
        return
    assert run.status == RunStatus.FAILED and "catalog changed while the night was planned" in run.error, run.error
    assert len(solves) == 2
    assert not rows_with_allocations(engine), "nothing was held"
