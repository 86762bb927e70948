"""A run's record after a real night: its stages and bounds, first-fit's values, and who was left waiting and why."""

from datetime import date

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.deps import get_now
from api.main import create_app
from data.accounts import upsert_user
from data.enums import Role, RunStatus, RunTrigger
from scheduler.optimization import run_optimization
from tests.clinic_world import at
from tests.conftest import bearer
from tests.test_optimization import NIGHT, SETTINGS, book_at, clinic, wait, waiting_plan  # noqa: F401 (clinic is a fixture)


def test_the_record_keeps_stages_bounds_first_fit_and_the_reasons_sessions_still_wait(clinic):
    """Ben's request fits; Ann's needs 09:45 while the one shockwave unit is still being cleaned; Cy's only day is
    inside the freeze window, and nobody is certified for Cy's gait analysis. Four diagnostic sessions with Max on
    Thursday give the run something to reassign."""
    engine, world = clinic
    ann, ben, cy = world.patients
    book_at(engine, world, ben, world.eswt, at(3, 9), world.dana)
    for hour, patient in zip((9, 10, 11, 14), (ann, ben, cy, ann)):
        book_at(engine, world, patient, world.msus, at(4, hour), world.max)
    placed = wait(engine, world, ben, priority=5)
    cleaning = wait(engine, world, ann, priority=4, service_id=world.eswt.id, earliest_day=date(2027, 3, 3),
                    latest_day=date(2027, 3, 3), earliest_time=at(3, 9, 45).time(), latest_time=at(3, 10, 15).time())
    frozen = wait(engine, world, cy, priority=2, latest_day=date(2027, 3, 1))
    uncertified = wait(engine, world, cy, priority=1, service_id=world.gait.id)
    with Session(engine, expire_on_commit=False) as session:
        desk = upsert_user(session=session, username="front", password="long enough pw", role=Role.FRONT_DESK)
        session.commit()
    app = create_app(SETTINGS.model_copy(update={"database_url": str(engine.url)}), engine)
    app.dependency_overrides[get_now] = lambda: NIGHT
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.SUCCEEDED, run.error
    with TestClient(app) as client:
        record = client.get(f"/api/v1/optimization-runs/{run.id}", headers=bearer(app, desk)).json()
        listed = client.get(f"/api/v1/optimization-runs?location_id={world.midtown.id}",
                            headers=bearer(app, desk)).json()
        brief = client.get(f"/api/v1/optimization-runs?location_id={world.midtown.id}&brief=true",
                           headers=bearer(app, desk)).json()["items"][0]

    assert [stage["name"] for stage in record["stages"]] == ["placed", "sooner", "quality"]
    placed_stage = record["stages"][0]
    assert placed_stage["sense"] == "max" and placed_stage["value"] == record["objective"] == 5
    assert record["points_waiting"] == 5 + 4 + 2 + 1 and record["greedy"]["placed"] == 5
    assert 5 <= record["bound"] <= 12 and record["gap"] == placed_stage["gap"]
    for gap, bound in ((record["solver_gap"], placed_stage["bound"]),
                       (record["relaxation_gap"], placed_stage["relaxation"])):
        assert (gap is None) == (bound is None) and (gap is None or gap == max(0, bound - 5) / 5)
    assert record["sessions_placed"] == 1 and record["changes"]

    waiting = {entry["request_id"]: entry for entry in record["waiting"]}
    assert placed not in waiting and set(waiting) == {cleaning, frozen, uncertified}
    assert waiting[cleaning] == {
        "key": f"waitlist {cleaning}", "patient_id": ann.id, "service_id": world.eswt.id, "priority": 4,
        "code": "taken", "reason": "every start in its window is taken: Shockwave units (busy at 1 of 1 starts)",
        "request_id": cleaning, "plan_id": None, "sequence": None}
    assert waiting[frozen]["code"] == "no_allowed_start"
    assert waiting[uncertified]["reason"] == "no certified clinician on shift in the patient's window"

    assert record["time_zone"] == "America/New_York" and record["started_at"].endswith("-05:00")
    names = record["names"]
    assert names["patients"] == {str(p.id): f"{p.given_name} World" for p in (ann, ben, cy)}
    assert names["services"] == {str(world.msus.id): "Diagnostic ultrasound", str(world.eswt.id): "Shockwave therapy",
                                 str(world.gait.id): "Gait analysis"}
    reassigned = [change for change in record["changes"] if change["action"] == "reassign"]
    assert reassigned, "Max's Thursday is shared with Dana"
    for change in reassigned:
        assert names["appointments"][str(change["appointment_id"])]["service_id"] == world.msus.id
        assert {str(change["before"]["clinician_id"]), str(change["after"]["clinician_id"])} <= set(names["clinicians"])
        assert str(change["after"]["room_id"]) in names["rooms"]
    assert listed["items"][0]["id"] == run.id and listed["items"][0]["waiting"] == record["waiting"]
    assert "names" not in listed["items"][0]
    actions = [change["action"] for change in record["changes"]]
    assert record["change_counts"] == {action: actions.count(action) for action in set(actions)}
    assert record["waiting_count"] == len(record["waiting"]) == 3
    assert brief["changes"] == brief["waiting"] == [], "the history's brief list leaves the long lists out"
    assert (brief["change_counts"], brief["waiting_count"]) == (record["change_counts"], 3)
    assert {k: v for k, v in brief.items() if k not in ("changes", "waiting")} == {
        k: v for k, v in listed["items"][0].items() if k not in ("changes", "waiting")}


def test_the_desk_reads_which_live_holds_the_nightly_runs_placed(clinic):  # noqa: F811
    """The Today page's list: each live hold a run placed, with the run and what it is for (a waitlist request, a
    plan's session), newest run first; a hold the desk then booked is no longer listed. Before, the page read 20
    whole run records for this."""
    engine, world = clinic
    ann, ben, _cy = world.patients
    request = wait(engine, world, ben, priority=5)
    with Session(engine, expire_on_commit=False) as session:
        plan = waiting_plan(world, ann, world.msus)
        session.add(plan)
        desk = upsert_user(session=session, username="front", password="long enough pw", role=Role.FRONT_DESK)
        session.commit()
    run = run_optimization(engine, location_id=world.midtown.id, trigger=RunTrigger.MANUAL, now=NIGHT,
                           settings=SETTINGS)
    assert run.status == RunStatus.SUCCEEDED and run.sessions_placed == 2, run.error
    app = create_app(SETTINGS.model_copy(update={"database_url": str(engine.url)}), engine)
    app.dependency_overrides[get_now] = lambda: NIGHT
    path = f"/api/v1/optimization-runs/night-holds?location_id={world.midtown.id}"
    with TestClient(app) as client:
        headers = bearer(app, desk)
        listed = client.get(path, headers=headers).json()
        by_action = {hold["action"]: hold for hold in listed}
        assert set(by_action) == {"waitlist_hold", "plan_session"} and len(listed) == 2, listed
        assert by_action["waitlist_hold"]["request_id"] == request
        assert (by_action["plan_session"]["plan_id"], by_action["plan_session"]["sequence"]) == (plan.id, 1)
        assert {hold["run_id"] for hold in listed} == {run.id}
        assert all(hold["run_date"] == run.run_date.isoformat() for hold in listed)
        booked = client.post("/api/v1/appointments", headers=headers,
                             json={"hold_id": by_action["waitlist_hold"]["appointment_id"]})
        assert booked.status_code == 201, booked.text
        after = client.get(path, headers=headers).json()
        unknown = client.get("/api/v1/optimization-runs/night-holds?location_id=999999", headers=headers)
    assert [hold["appointment_id"] for hold in after] == [by_action["plan_session"]["appointment_id"]]
    assert unknown.status_code == 404
