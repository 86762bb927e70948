"""Treatment plans through the API: templates, proposal with holds, partial placement, confirm."""

from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from data.tables import Appointment
from tests.booking_helpers import booked, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    return build_world(session)


def plan_body(world, lines, links=(), **extra) -> dict:
    return {"patient_id": world.patients[0].id, "location_id": world.midtown.id,
            "earliest_start": "2027-03-02", "latest_end": "2027-03-31", "lines": list(lines),
            "links": list(links), **extra}


def eswt_line(world, count=3, low=5, high=10, same="preferred") -> dict:
    return {"service_id": world.eswt.id, "count": count, "min_gap_days": low, "max_gap_days": high,
            "same_clinician": same}


def create_plan(client, headers, body) -> dict:
    response = client.post(f"{API}/plans", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def propose(client, headers, plan) -> dict:
    response = client.post(f"{API}/plans/{plan['id']}/proposal", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def days_of(proposal, service_id) -> list[date]:
    return [date.fromisoformat(s["appointment"]["start"][:10]) for s in proposal["plan"]["sessions"]
            if s["service_id"] == service_id and s["appointment"]]


def test_template_round_trip_and_plan_from_template(client, as_admin, as_desk, world):
    template = client.post(f"{API}/plan-templates", headers=as_admin, json={
        "code": "w_course", "name": "Diagnosis then shockwave",
        "lines": [{"service_id": world.msus.id, "count": 1}, eswt_line(world)],
        "links": [{"kind": "before", "first_service_id": world.msus.id, "then_service_id": world.eswt.id}]})
    assert template.status_code == 201, template.text
    plan = create_plan(client, as_desk, plan_body(world, [], template_id=template.json()["id"]))
    assert plan["status"] == "draft" and [line["count"] for line in plan["lines"]] == [1, 3]
    assert plan["links"][0]["kind"] == "before"


def test_proposal_holds_every_session_and_follows_the_rules(client, as_desk, world, session):
    plan = create_plan(client, as_desk, plan_body(
        world, [{"service_id": world.msus.id, "count": 1}, eswt_line(world)],
        [{"kind": "before", "first_service_id": world.msus.id, "then_service_id": world.eswt.id}]))
    proposal = propose(client, as_desk, plan)
    assert proposal["placed"] == 4 and proposal["unplaced"] == 0
    assert proposal["plan"]["status"] == "proposed"
    sessions = proposal["plan"]["sessions"]
    assert all(s["appointment"]["status"] == "pending" for s in sessions)
    diagnosis = [s for s in sessions if s["service_id"] == world.msus.id][0]["appointment"]
    shockwave = days_of(proposal, world.eswt.id)
    assert diagnosis["end"] <= min(s["appointment"]["start"] for s in sessions if s["service_id"] == world.eswt.id)
    gaps = [(b - a).days for a, b in zip(shockwave, shockwave[1:])]
    assert all(5 <= gap <= 10 for gap in gaps), gaps
    clinicians = {s["appointment"]["clinician_id"] for s in sessions if s["service_id"] == world.eswt.id}
    assert len(clinicians) == 1, "continuity of care: one clinician for the shockwave course"


def test_confirm_books_every_held_session_at_once(client, as_desk, world, session):
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world)]))
    propose(client, as_desk, plan)
    confirmed = client.post(f"{API}/plans/{plan['id']}/confirm", headers=as_desk)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    assert {s["appointment"]["status"] for s in confirmed.json()["sessions"]} == {"booked"}
    again = client.post(f"{API}/plans/{plan['id']}/proposal", headers=as_desk)
    assert again.status_code == 409


def test_partial_placement_names_the_binding_rule(client, as_desk, world):
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=5)],
                                                  earliest_start="2027-03-02", latest_end="2027-03-16"))
    proposal = propose(client, as_desk, plan)
    assert proposal["placed"] == 3 and proposal["unplaced"] == 2
    reasons = {s["unplaced_reason"] for s in proposal["plan"]["sessions"] if not s["appointment"]}
    assert reasons == {"5 Shockwave therapy sessions 5-10 days apart do not fit between 2027-03-02 and 2027-03-16"}
    confirmed = client.post(f"{API}/plans/{plan['id']}/confirm", headers=as_desk).json()
    assert sum(1 for s in confirmed["sessions"] if s["appointment"]) == 3


def hours_line(world, count=3, low=48, high=None, **days) -> dict:
    return {"service_id": world.eswt.id, "count": count, "min_gap_hours": low, "max_gap_hours": high, **days}


def test_templates_and_plans_keep_spacing_in_hours(client, as_admin, as_desk, world):
    template = client.post(f"{API}/plan-templates", headers=as_admin, json={
        "code": "eswt_48h", "name": "Shockwave at least 48 h apart", "lines": [hours_line(world, high=96)]})
    assert template.status_code == 201, template.text
    line = client.get(f"{API}/plan-templates/{template.json()['id']}", headers=as_admin).json()["lines"][0]
    assert (line["min_gap_hours"], line["max_gap_hours"], line["min_gap_days"]) == (48, 96, None)
    plan = create_plan(client, as_desk, plan_body(world, [], template_id=template.json()["id"]))
    assert (plan["lines"][0]["min_gap_hours"], plan["lines"][0]["max_gap_hours"]) == (48, 96)
    edited = client.patch(f"{API}/plans/{plan['id']}", headers=as_desk, json={"lines": [hours_line(world, low=72)]})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["lines"][0]["min_gap_hours"], edited.json()["lines"][0]["max_gap_hours"]) == (72, None)


def test_proposal_keeps_48_hours_between_session_starts(client, as_desk, world):
    proposal = propose(client, as_desk, create_plan(client, as_desk, plan_body(world, [hours_line(world)])))
    assert proposal["placed"] == 3
    starts = sorted(datetime.fromisoformat(s["appointment"]["start"]) for s in proposal["plan"]["sessions"])
    assert all(later - earlier >= timedelta(hours=48) for earlier, later in zip(starts, starts[1:])), starts


def test_partial_placement_names_the_hours_rule(client, as_desk, world):
    """Three sessions 72 h apart need a week; the plan has five days."""
    plan = create_plan(client, as_desk, plan_body(world, [hours_line(world, low=72)],
                                                  earliest_start="2027-03-02", latest_end="2027-03-06"))
    proposal = propose(client, as_desk, plan)
    assert proposal["placed"] == 2
    reasons = {s["unplaced_reason"] for s in proposal["plan"]["sessions"] if not s["appointment"]}
    assert reasons == {"3 Shockwave therapy sessions at least 72 h apart do not fit between 2027-03-02 and 2027-03-06"}


@pytest.mark.parametrize("spacing, words", [
    ({"min_gap_hours": -1}, "greater than or equal to 0"),
    ({"max_gap_hours": -24}, "greater than or equal to 0"),
    ({"min_gap_hours": 48, "max_gap_hours": 24}, "max_gap_hours (24) is below min_gap_hours (48)"),
    ({"min_gap_days": 3, "max_gap_hours": 40}, "max_gap_hours (40) can never be kept with min_gap_days (3)"),
    ({"max_gap_days": 1, "min_gap_hours": 49}, "min_gap_hours (49) can never be kept with max_gap_days (1)"),
])
def test_spacing_in_hours_that_cannot_be_kept_is_422(client, as_admin, as_desk, world, spacing, words):
    line = {"service_id": world.eswt.id, "count": 3, **spacing}
    answers = [client.post(f"{API}/plans", json=plan_body(world, [line]), headers=as_desk),
               client.post(f"{API}/plan-templates", headers=as_admin,
                           json={"code": "bad_spacing", "name": "Bad spacing", "lines": [line]})]
    for response in answers:
        assert response.status_code == 422, response.text
        assert any(words in e["msg"] for e in response.json()["detail"]), response.text


@pytest.mark.parametrize("spacing", [
    {"min_gap_days": 2, "max_gap_hours": 40},  # 17:00, then 9:00 two days later
    {"max_gap_days": 1, "min_gap_hours": 30},  # 8:00, then 14:00 the next day
    {"min_gap_days": 2, "min_gap_hours": 48, "max_gap_hours": 48},
])
def test_spacing_in_hours_and_days_that_can_both_be_kept_is_accepted(client, as_desk, world, spacing):
    line = {"service_id": world.eswt.id, "count": 2, **spacing}
    assert client.post(f"{API}/plans", json=plan_body(world, [line]), headers=as_desk).status_code == 201


def test_patient_windows_and_blackouts_are_kept(client, as_desk, world):
    windows = [{"weekday": 1, "starts": "08:00", "ends": "12:00"}, {"weekday": 3, "starts": "08:00", "ends": "12:00"}]
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=3, low=2, high=7)],
                                                  windows=windows, blackouts=["2027-03-02"]))
    proposal = propose(client, as_desk, plan)
    starts = [s["appointment"]["start"] for s in proposal["plan"]["sessions"]]
    assert len(starts) == 3
    for start in starts:
        moment = date.fromisoformat(start[:10])
        assert moment.weekday() in (1, 3) and moment != date(2027, 3, 2) and "08:00" <= start[11:16] < "12:00"


def test_windows_that_cannot_hold_the_plan_are_named(client, as_desk, world):
    windows = [{"weekday": 6, "starts": "08:00", "ends": "12:00"}]  # Sundays only; 5-10 day gaps still fit
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=3, low=2, high=4)],
                                                  windows=windows))
    proposal = propose(client, as_desk, plan)
    reason = {s["unplaced_reason"] for s in proposal["plan"]["sessions"] if not s["appointment"]}
    assert proposal["placed"] == 1
    assert reason == {"3 Shockwave therapy sessions 2-4 days apart do not fit between 2027-03-02 and 2027-03-31 "
                      "in the patient's available times (Sundays 08:00-12:00)"}


def test_proposal_respects_the_live_schedule(client, as_desk, world, session):
    # Dana and Eli are the only ESWT clinicians; block the first mornings for the shockwave unit.
    for n, hour in enumerate((8, 9)):
        booked(client, as_desk, world.eswt, world.patients[1 + n], at(2, hour), clinician_id=world.dana.id)
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=1)],
                                                  earliest_start="2027-03-02", latest_end="2027-03-03"))
    start = propose(client, as_desk, plan)["plan"]["sessions"][0]["appointment"]["start"]
    assert start not in ("2027-03-02T08:00:00-05:00", "2027-03-02T09:00:00-05:00")
    assert len(session.exec(select(Appointment)).all()) == 3


@pytest.mark.parametrize("change, where, words", [
    ({"latest_end": "2027-03-01"}, "body", "after earliest_start"),
    ({"lines": []}, "body", "template_id"),
    ({"patient_id": 999999}, "patient_id", "does not exist"),
    ({"lines": [{"service_id": 999999, "count": 2}]}, "service_id", "does not exist"),
    ({"links": [{"kind": "before", "first_service_id": 1, "then_service_id": 1}]}, "links", "two different"),
])
def test_bad_plans_are_422(client, as_desk, world, change, where, words):
    body = {**plan_body(world, [eswt_line(world)]), **change}
    response = client.post(f"{API}/plans", json=body, headers=as_desk)
    assert response.status_code == 422, response.text
    assert any(where in map(str, e["loc"]) and words in e["msg"] for e in response.json()["detail"]), response.text


def test_editing_a_proposed_plan_withdraws_the_proposal(client, as_desk, world, session):
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=2)]))
    held = [s["appointment"]["id"] for s in propose(client, as_desk, plan)["plan"]["sessions"]]
    edited = client.patch(f"{API}/plans/{plan['id']}", headers=as_desk,
                          json={"lines": [eswt_line(world, count=3)], "priority": 5})
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "draft" and edited.json()["lines"][0]["count"] == 3
    assert edited.json()["priority"] == 5 and edited.json()["sessions"] == []
    assert {session.get(Appointment, ident).status for ident in held} == {"cancelled"}
    bad = client.patch(f"{API}/plans/{plan['id']}", headers=as_desk, json={"latest_end": "2027-01-01"})
    assert bad.status_code == 422
    assert propose(client, as_desk, plan)["placed"] == 3
    client.post(f"{API}/plans/{plan['id']}/confirm", headers=as_desk)
    assert client.patch(f"{API}/plans/{plan['id']}", headers=as_desk, json={"priority": 1}).status_code == 409


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_plans_are_proposed_and_confirmed_without_server_errors(client, as_desk, world, app, data):
    """Whatever lines, spacing, windows and dates the desk enters: 201/422 to create, 200 to propose, and
    confirming books exactly the held sessions."""
    app.state.settings = app.state.settings.model_copy(update={"proposal_time_limit_seconds": 0.3})
    services = [world.eswt.id, world.msus.id, world.rehab.id, world.telehealth.id]
    chosen = data.draw(st.lists(st.sampled_from(services), min_size=1, max_size=3, unique=True))
    lines = []
    for service in chosen:
        low = data.draw(st.none() | st.integers(0, 10))
        high = data.draw(st.none() | st.integers(low or 0, 14))
        least_hours = data.draw(st.none() | st.integers(0, 120))
        most_hours = data.draw(st.none() | st.integers(0, 240))
        lines.append({"service_id": service, "count": data.draw(st.integers(1, 4)), "min_gap_days": low,
                      "max_gap_days": high, "min_gap_hours": least_hours, "max_gap_hours": most_hours,
                      "same_clinician": data.draw(st.sampled_from(["none", "preferred", "required"]))})
    links = []
    if len(chosen) > 1:
        links.append({"kind": data.draw(st.sampled_from(["same_visit", "before"])), "first_service_id": chosen[0],
                      "then_service_id": chosen[1]})
    windows = data.draw(st.lists(st.tuples(st.integers(0, 6), st.integers(6, 12), st.integers(1, 8)), max_size=3))
    start_day = data.draw(st.integers(1, 20))
    body = plan_body(world, lines, links, earliest_start=f"2027-03-{start_day:02d}",
                     latest_end=f"2027-04-{data.draw(st.integers(1, 28)):02d}",
                     windows=[{"weekday": d, "starts": f"{h:02d}:00", "ends": f"{min(h + n, 23):02d}:00"}
                              for d, h, n in windows])
    created = client.post(f"{API}/plans", json=body, headers=as_desk)
    assert created.status_code in (201, 422), created.text
    if created.status_code == 422:
        return
    proposal = client.post(f"{API}/plans/{created.json()['id']}/proposal", headers=as_desk)
    assert proposal.status_code == 200, proposal.text
    held = {s["appointment"]["id"] for s in proposal.json()["plan"]["sessions"] if s["appointment"]}
    assert proposal.json()["placed"] == len(held)
    assert all(s["unplaced_reason"] for s in proposal.json()["plan"]["sessions"] if not s["appointment"])
    confirmed = client.post(f"{API}/plans/{created.json()['id']}/confirm", headers=as_desk)
    assert confirmed.status_code == 200, confirmed.text
    booked_ids = {s["appointment"]["id"] for s in confirmed.json()["sessions"]
                  if s["appointment"] and s["appointment"]["status"] == "booked"}
    assert booked_ids == held
