"""Treatment plans through the API: templates, proposal with holds, partial placement with a reason per session,
confirm, discard, and a discard racing a confirm."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from functools import partial

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from data.accounts import upsert_user
from data.config import Settings
from data.db import make_engine
from data.enums import ExceptionKind, PlanStatus, Role
from data.errors import Conflict
from data.migrate import upgrade
from data.tables import Appointment, ClinicianException, TreatmentPlan, User
from scheduler import plans
from tests.booking_helpers import booked, search, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.conftest import BACKENDS, bearer
from tests.factories import API
from tests.invariants import schedule_violations
from tests.test_races import fire_together, prepare_clinic, start_server  # noqa: F401 (fixture)
from tests.test_races import sign_in as race_sign_in


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


def unplaced(proposal) -> dict[tuple[int, int], str]:
    """(service id, sequence) -> reason, for each session the proposal leaves out."""
    return {(s["service_id"], s["sequence"]): s["unplaced_reason"] for s in proposal["plan"]["sessions"]
            if not s["appointment"]}


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


def test_a_proposal_held_too_long_is_gone_in_the_clinic_s_time(client, as_desk, world, app):
    """It said the expiry in UTC and to "search for a slot again" (found by a probe, 2026-12-02)."""
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world)]))
    sessions = propose(client, as_desk, plan)["plan"]["sessions"]
    expiry = datetime.fromisoformat(sessions[0]["appointment"]["hold_expires_at"])
    set_clock(app, expiry + timedelta(minutes=1))
    gone = client.post(f"{API}/plans/{plan['id']}/confirm", headers=as_desk)
    assert gone.status_code == 410, gone.text
    assert gone.json()["detail"].endswith(f"expired at {expiry:%a %b %-d %H:%M} (America/New_York); "
                                          "propose the plan again"), gone.text
    assert {s["appointment"]["status"] for s in client.get(f"{API}/plans/{plan['id']}", headers=as_desk).json()[
        "sessions"]} == {"pending"}, "nothing booked"


def confirmed_course(client, as_desk, world, **extra) -> list[dict]:
    """A confirmed course of three shockwave sessions 5-10 days apart; its appointments in order."""
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world)], **extra))
    propose(client, as_desk, plan)
    confirmed = client.post(f"{API}/plans/{plan['id']}/confirm", headers=as_desk)
    assert confirmed.status_code == 200, confirmed.text
    return sorted((s["appointment"] for s in confirmed.json()["sessions"]), key=lambda a: a["start"])


def free_time(client, as_desk, world, day: date) -> str:
    """The first free shockwave start for Ann on ``day``."""
    start = datetime.combine(day, datetime.min.time(), NOW.tzinfo)
    found = search(client, as_desk, world.eswt, start, start + timedelta(days=1), patient_id=world.patients[0].id)
    return found["slots"][0]["start"]


def test_a_plan_s_session_moves_only_within_its_plan_s_rules_unless_the_patient_agreed(client, as_desk, world):
    """Moved an hour after the session before it, onto a blackout day or after the plan's last day, the move was
    accepted without a word (found by a probe, 2026-12-02)."""
    first, second, third = confirmed_course(client, as_desk, world, blackouts=["2027-03-24"])
    next_day = datetime.fromisoformat(first["start"]).date() + timedelta(days=1)
    for start, rule in ((free_time(client, as_desk, world, next_day), "is 1 day(s) after Shockwave therapy #1; the "
                                                                      "plan asks for at least 5"),
                        (free_time(client, as_desk, world, date(2027, 4, 2)), "outside the plan's dates")):
        refused = client.post(f"{API}/appointments/{second['id']}/reschedule", headers=as_desk, json={"start": start})
        assert refused.status_code == 409, refused.text
        assert "treatment plan" in refused.json()["detail"], refused.text
        assert any(rule in blocker for blocker in refused.json()["blockers"]), refused.json()
        assert client.get(f"{API}/appointments/{second['id']}", headers=as_desk).json()["start"] == second["start"]
    agreed = client.post(f"{API}/appointments/{second['id']}/reschedule", headers=as_desk,
                         json={"start": free_time(client, as_desk, world, next_day), "outside_plan": True})
    assert agreed.status_code == 200, agreed.text
    assert client.post(f"{API}/appointments/{third['id']}/reschedule", headers=as_desk, json={
        "start": free_time(client, as_desk, world, date(2027, 3, 24))}).status_code == 409, "a blackout day"


def test_a_session_of_no_plan_moves_freely(client, as_desk, world):
    lone = client.post(f"{API}/appointments", headers=as_desk, json={
        "service_id": world.eswt.id, "patient_id": world.patients[0].id, "start": at(2, 9).isoformat()}).json()
    moved = client.post(f"{API}/appointments/{lone['id']}/reschedule", headers=as_desk,
                        json={"start": free_time(client, as_desk, world, date(2027, 4, 2))})
    assert moved.status_code == 200, moved.text


def test_partial_placement_names_the_binding_rule(client, as_desk, world):
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=5)],
                                                  earliest_start="2027-03-02", latest_end="2027-03-16"))
    proposal = propose(client, as_desk, plan)
    assert proposal["placed"] == 3 and proposal["unplaced"] == 2
    assert unplaced(proposal) == {
        (world.eswt.id, 4): "spacing of 5-10 days after session 3 (Fri 2027-03-12 08:00) leaves no time before the "
                            "plan ends on Tue 2027-03-16; whatever the arrangement, 5 Shockwave therapy sessions "
                            "5-10 days apart do not fit between 2027-03-02 and 2027-03-16",
        (world.eswt.id, 5): "it comes after session 4, which is not placed"}
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
    assert unplaced(proposal) == {
        (world.eswt.id, 3): "spacing of at least 72 h after session 2 (Fri 2027-03-05 08:00) leaves no time before "
                            "the plan ends on Sat 2027-03-06; whatever the arrangement, 3 Shockwave therapy sessions "
                            "at least 72 h apart do not fit between 2027-03-02 and 2027-03-06"}


@pytest.mark.parametrize("spacing, words", [
    ({"min_gap_hours": -1}, "greater than or equal to 0"),
    ({"max_gap_hours": -24}, "greater than or equal to 1"),
    ({"min_gap_days": 1, "max_gap_hours": 0}, "greater than or equal to 1"),
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


@pytest.mark.parametrize("links, words", [
    ([("before", "msus", "eswt"), ("before", "eswt", "msus")], "lead back to where they began"),
    ([("same_visit", "msus", "eswt"), ("same_visit", "eswt", "msus")], "lead back to where they began"),
    ([("same_visit", "msus", "eswt"), ("before", "eswt", "msus")], "lead back to where they began"),
    ([("before", "msus", "eswt"), ("before", "eswt", "rehab"), ("before", "rehab", "msus")],
     "lead back to where they began and can never all be kept: service {msus} before service {eswt} before "
     "service {rehab} before service {msus}"),
    ([("before", "msus", "eswt"), ("same_visit", "msus", "eswt")], "links 0 and 1 both order service {msus}"),
])
def test_links_that_can_never_all_be_kept_are_422(client, as_admin, as_desk, world, links, words):
    """Found by a probe (2026-12-02): both orders of two services were accepted and the proposal placed nothing."""
    ids = {"msus": world.msus.id, "eswt": world.eswt.id, "rehab": world.rehab.id}
    lines = [{"service_id": service, "count": 1} for service in ids.values()]
    body = [{"kind": kind, "first_service_id": ids[first], "then_service_id": ids[then]}
            for kind, first, then in links]
    answers = [client.post(f"{API}/plans", json=plan_body(world, lines, body), headers=as_desk),
               client.post(f"{API}/plan-templates", headers=as_admin,
                           json={"code": "circular", "name": "Circular", "lines": lines, "links": body})]
    for response in answers:
        assert response.status_code == 422, response.text
        assert any(words.format(**ids) in e["msg"] for e in response.json()["detail"]), response.text


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


def test_overlapping_windows_on_one_weekday_are_refused(client, as_desk, world):
    """Refused for opening hours and shifts, two overlapping times on one weekday were kept (found by a probe)."""
    windows = [{"weekday": 1, "starts": "08:00", "ends": "12:00"}, {"weekday": 1, "starts": "11:00", "ends": "13:00"}]
    refused = client.post(f"{API}/plans", headers=as_desk,
                          json=plan_body(world, [eswt_line(world)], windows=windows))
    assert refused.status_code == 422 and "windows on weekday 1" in refused.text, refused.text


def test_windows_that_cannot_hold_the_plan_are_named(client, as_desk, world):
    windows = [{"weekday": 6, "starts": "08:00", "ends": "12:00"}]  # Sundays only; 5-10 day gaps still fit
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=3, low=2, high=4)],
                                                  windows=windows))
    proposal = propose(client, as_desk, plan)
    assert proposal["placed"] == 1
    assert unplaced(proposal) == {
        (world.eswt.id, 2): "the patient's available times (Sundays 08:00-12:00) leave no time for it in week 2 of "
                            "the plan (Tue 2027-03-09 to Thu 2027-03-11); whatever the arrangement, 3 Shockwave "
                            "therapy sessions 2-4 days apart do not fit between 2027-03-02 and 2027-03-31 in the "
                            "patient's available times (Sundays 08:00-12:00)",
        (world.eswt.id, 3): "it comes after session 2, which is not placed"}


def test_proposal_respects_the_live_schedule(client, as_desk, world, session):
    # Dana and Eli are the only ESWT clinicians; block the first mornings for the shockwave unit.
    for n, hour in enumerate((8, 9)):
        booked(client, as_desk, world.eswt, world.patients[1 + n], at(2, hour), clinician_id=world.dana.id)
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=1)],
                                                  earliest_start="2027-03-02", latest_end="2027-03-03"))
    start = propose(client, as_desk, plan)["plan"]["sessions"][0]["appointment"]["start"]
    assert start not in ("2027-03-02T08:00:00-05:00", "2027-03-02T09:00:00-05:00")
    assert len(session.exec(select(Appointment)).all()) == 3


def test_a_plan_of_one_day_is_made_and_proposed(client, as_desk, world):
    """``latest_end`` is the last day a session may take place on: a plan may start and end on one day (refused
    before, found by a probe, 2026-12-02)."""
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=1)],
                                                  earliest_start="2027-03-03", latest_end="2027-03-03"))
    (placed,) = propose(client, as_desk, plan)["plan"]["sessions"]
    assert placed["appointment"]["start"].startswith("2027-03-03T"), placed


@pytest.mark.parametrize("change, where, words", [
    ({"latest_end": "2027-03-01"}, "body", "must not be before earliest_start"),
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


def test_each_unplaced_line_gets_its_own_reason(client, as_desk, world):
    """Four shockwave sessions 5-10 days apart in two weeks, and a gait analysis nobody here is certified for:
    the fourth shockwave session is stopped by its spacing, the gait analysis by the missing clinician."""
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=4), {"service_id": world.gait.id,
                                                                                      "count": 1}],
                                                  earliest_start="2027-03-02", latest_end="2027-03-16"))
    reasons = unplaced(propose(client, as_desk, plan))
    assert set(reasons) == {(world.eswt.id, 4), (world.gait.id, 1)}
    assert reasons[world.eswt.id, 4].startswith(
        "spacing of 5-10 days after session 3 (Fri 2027-03-12 08:00) leaves no time before the plan ends")
    assert reasons[world.gait.id, 1].startswith(
        "no clinician certified in gait analysis is free at any time left for it in weeks 1-3 of the plan "
        "(Tue 2027-03-02 to Tue 2027-03-16)")
    assert "whatever the arrangement" in reasons[world.gait.id, 1]  # the whole plan's sentence, said once
    assert "whatever the arrangement" not in reasons[world.eswt.id, 4]


def test_a_session_short_of_certified_clinicians_says_which_week(client, as_desk, world, session):
    """Three sessions exactly a week apart: the third falls on Tuesday of week 3, when both ESWT clinicians
    are off."""
    for clinician in (world.dana, world.eli):
        session.add(ClinicianException(clinician_id=clinician.id, kind=ExceptionKind.TIME_OFF,
                                       starts_at=at(16, 0), ends_at=at(17, 0)))
    session.commit()
    line = {**eswt_line(world, count=3, low=7, high=7)}
    proposal = propose(client, as_desk, create_plan(client, as_desk, plan_body(
        world, [line], earliest_start="2027-03-02", latest_end="2027-03-16")))
    assert days_of(proposal, world.eswt.id) == [date(2027, 3, 2), date(2027, 3, 9)]
    reason = unplaced(proposal)[world.eswt.id, 3]
    assert reason.startswith("no clinician certified in shockwave therapy (ESWT) is free at any time left for it "
                             "in week 3 of the plan (Tue 2027-03-16)"), reason
    assert reason.endswith("3 Shockwave therapy sessions exactly 7 days apart do not fit between 2027-03-02 and "
                           "2027-03-16")


def test_a_proposal_names_who_and_what_serve_each_session(client, as_desk, world):
    proposal = propose(client, as_desk, create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=1)])))
    (placed,) = proposal["plan"]["sessions"]
    assert placed["clinician_name"] in ("Dana", "Eli")
    assert placed["room_name"] in ("Treatment 1", "Treatment 2")
    assert sorted(name.split()[0] for name in placed["device_names"]) == ["Shockwave", "Ultrasound"]
    assert proposal["plan"]["patient_name"] == "Ann World" and proposal["plan"]["template_name"] is None


def test_plans_are_listed_by_patient_name_and_status(client, as_desk, world):
    ann = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=1)]))
    ben = create_plan(client, as_desk, {**plan_body(world, [eswt_line(world, count=1)]),
                                        "patient_id": world.patients[1].id})
    propose(client, as_desk, ben)

    def listed(**params) -> list[int]:
        response = client.get(f"{API}/plans", headers=as_desk, params=params)
        assert response.status_code == 200, response.text
        return [plan["id"] for plan in response.json()["items"]]

    assert listed()[:2] == [ben["id"], ann["id"]], "newest first"
    assert listed(patient="ann wor") == [ann["id"]]
    assert listed(patient="World", status="proposed") == [ben["id"]]
    assert listed(patient="Nobody") == []


def discard(client, headers, plan):
    return client.delete(f"{API}/plans/{plan['id']}/proposal", headers=headers)


def test_discarding_a_proposal_releases_its_holds_and_leaves_a_draft(client, as_desk, world, session):
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=2)]))
    held = [s["appointment"]["id"] for s in propose(client, as_desk, plan)["plan"]["sessions"]]
    discarded = discard(client, as_desk, plan)
    assert discarded.status_code == 200, discarded.text
    assert discarded.json()["status"] == "draft" and discarded.json()["sessions"] == []
    session.expire_all()
    assert {session.get(Appointment, ident).status for ident in held} == {"cancelled"}
    again = discard(client, as_desk, plan)
    assert again.status_code == 409
    assert again.json()["detail"] == f"plan {plan['id']} is a draft with no proposal to discard"
    assert client.post(f"{API}/plans/{plan['id']}/confirm", headers=as_desk).status_code == 409
    proposal = propose(client, as_desk, plan)
    assert proposal["placed"] == 2, "the released time is free for the next proposal"
    assert client.post(f"{API}/plans/{plan['id']}/confirm", headers=as_desk).status_code == 200
    late = discard(client, as_desk, plan)
    assert late.status_code == 409 and "is confirmed" in late.json()["detail"]
    assert discard(client, as_desk, {"id": 999999}).status_code == 404


def test_a_colleague_takes_over_a_proposed_plan_and_its_holds_change_only_through_the_plan(client, app, session,
                                                                                          as_desk, world):
    """Only the user who proposed a plan could confirm, edit or discard it: everyone else got a 403 naming a hold
    (found by a probe, 2026-12-01), so a plan proposed before a break stayed stuck until its holds lapsed. And the
    proposer could book or release one of its holds on its own, leaving a proposed plan with a session booked."""
    colleague = User(username="t_desk_2", role=Role.FRONT_DESK, password_hash="x")
    session.add(colleague)
    session.commit()
    other = bearer(app, colleague)
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=2)]))
    held = [s["appointment"]["id"] for s in propose(client, as_desk, plan)["plan"]["sessions"]]
    for alone in (client.post(f"{API}/appointments", headers=as_desk, json={"hold_id": held[0]}),
                  client.delete(f"{API}/holds/{held[0]}", headers=as_desk)):
        assert alone.status_code == 409, alone.text
        assert alone.json()["detail"] == (f"hold {held[0]} is a session of plan {plan['id']}'s proposal; confirm, "
                                          "edit or discard that plan instead")
    assert discard(client, other, plan).status_code == 200
    propose(client, as_desk, plan)
    edited = client.patch(f"{API}/plans/{plan['id']}", headers=other, json={"priority": 5})
    assert edited.status_code == 200 and edited.json()["status"] == "draft", edited.text
    proposal = propose(client, as_desk, plan)
    confirmed = client.post(f"{API}/plans/{plan['id']}/confirm", headers=other)
    assert confirmed.status_code == 200, confirmed.text
    session.expire_all()
    assert {session.get(Appointment, s["appointment"]["id"]).status
            for s in proposal["plan"]["sessions"]} == {"booked"}


def test_the_clinician_cannot_discard_a_proposal(client, as_desk, as_clinician, world):
    plan = create_plan(client, as_desk, plan_body(world, [eswt_line(world, count=1)]))
    propose(client, as_desk, plan)
    assert discard(client, as_clinician, plan).status_code == 403


def race_body(clinic, location_id: int, patient_id: int) -> dict:
    return {"patient_id": patient_id, "location_id": location_id, "earliest_start": "2027-03-02",
            "latest_end": "2027-03-31", "lines": [{"service_id": clinic.service_id, "count": 2, "min_gap_days": 5,
                                                   "max_gap_days": 10}]}


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_discard_and_confirm_racing_on_one_plan_end_in_one_of_them(start_server, empty_database_url):
    """A desk discards a proposal while another confirms it, each through its own server process on PostgreSQL
    (one process on SQLite): exactly one wins, the other gets a 409 in words, and the plan and its holds are
    all booked (confirmed) or all released (a draft again), never a mix."""
    rounds = 3
    clinic = prepare_clinic(empty_database_url, rounds)
    postgres = empty_database_url.startswith("postgresql")
    servers = [start_server(clinic.url) for _ in range(2 if postgres else 1)]
    desks = [race_sign_in(server) for server in servers]
    first, second = (servers[0], desks[0]), (servers[-1], desks[-1])
    locations = httpx.get(f"{first[0].base_url}{API}/locations", headers=first[1]).json()["items"]
    midtown = next(location["id"] for location in locations if location["name"] == "World Midtown")
    winners = Counter()
    for patient_id in clinic.patient_ids:
        url, headers = first[0].base_url, first[1]
        plan = httpx.post(f"{url}{API}/plans", headers=headers, json=race_body(clinic, midtown, patient_id)).json()
        proposal = httpx.post(f"{url}{API}/plans/{plan['id']}/proposal", headers=headers, timeout=60).json()
        held = [s["appointment"]["id"] for s in proposal["plan"]["sessions"]]
        assert len(held) == 2, proposal
        dropped, confirmed = fire_together([
            httpx.Request("DELETE", f"{first[0].base_url}{API}/plans/{plan['id']}/proposal", headers=first[1]),
            httpx.Request("POST", f"{second[0].base_url}{API}/plans/{plan['id']}/confirm", headers=second[1])])
        assert sorted((dropped.status, confirmed.status)) == [200, 409], (dropped, confirmed)
        loser = dropped if dropped.status == 409 else confirmed
        assert loser.body["detail"] in (f"plan {plan['id']} is a draft with no proposal to discard",
                                        f"plan {plan['id']} is draft; propose it first") or \
            loser.body["detail"].startswith(f"plan {plan['id']} is confirmed, so there is no proposal to discard")
        stored = httpx.get(f"{url}{API}/plans/{plan['id']}", headers=headers).json()
        statuses = {httpx.get(f"{url}{API}/appointments/{ident}", headers=headers).json()["status"] for ident in held}
        if confirmed.status == 200:
            winners["confirm"] += 1
            assert stored["status"] == "confirmed" and statuses == {"booked"}
            assert [s["appointment"]["id"] for s in stored["sessions"]] == held
        else:
            winners["discard"] += 1
            assert stored["status"] == "draft" and stored["sessions"] == [] and statuses == {"cancelled"}
    assert sum(winners.values()) == rounds
    engine = make_engine(clinic.url)
    try:
        with engine.connect() as connection:
            assert schedule_violations(connection, now=datetime.now(UTC)) == []
    finally:
        engine.dispose()


@pytest.fixture
def proposed_plan(postgres_databases):
    """On PostgreSQL: the test clinic, a desk user, and a plan of Ann's proposed with two held sessions."""
    engine = make_engine(postgres_databases())
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as session:
        world = build_world(session)
        desk = upsert_user(session=session, username="desk", password="plan race desk", role=Role.FRONT_DESK)
        plan = plans.create_plan(session, actor=desk, now=NOW, values={
            "patient_id": world.patients[0].id, "location_id": world.midtown.id, "template_id": None,
            "earliest_start": date(2027, 3, 2), "latest_end": date(2027, 3, 31), "priority": 3,
            "lines": [{"service_id": world.eswt.id, "count": 2, "min_gap_days": 5, "max_gap_days": 10}],
            "links": [], "windows": [], "blackouts": []})
        plans.propose(session, actor=desk, plan_id=plan.id, now=NOW, settings=Settings(background_jobs=False))
        session.commit()
    yield engine, plan.id, desk.id
    engine.dispose()


CONFIRM = partial(plans.confirm, settings=Settings(background_jobs=False))


@pytest.mark.postgres
@pytest.mark.parametrize("first, late, refusal", [
    pytest.param(CONFIRM, plans.discard, "is confirmed, so there is no proposal to discard", id="confirm-discard"),
    pytest.param(plans.discard, CONFIRM, "is draft; propose it first", id="discard-confirm"),
])
def test_a_stale_reader_of_a_plan_acts_on_what_the_other_desk_left(proposed_plan, first, late, refusal):
    """A session that read the plan as proposed before another desk confirmed (or discarded) it reads it again
    under the lock, and is refused instead of undoing the other's write."""
    engine, plan_id, desk_id = proposed_plan
    stale = Session(engine)
    assert stale.get(TreatmentPlan, plan_id).status == PlanStatus.PROPOSED
    with Session(engine) as other:
        first(other, actor=other.get(User, desk_id), plan_id=plan_id, now=NOW)
        other.commit()
    with stale, pytest.raises(Conflict, match=refusal):
        late(stale, actor=stale.get(User, desk_id), plan_id=plan_id, now=NOW)
