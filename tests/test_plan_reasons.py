"""Why a proposal leaves a session out: one small plan per reason, each read off the answer as placed."""

from dataclasses import replace

from solver.plan_reasons import unplaced_sessions
from solver.plans import Before, SameClinician, SameVisit
from tests.test_plan_rules import (
    COURSE,
    DIAGNOSIS,
    EMTT,
    ESWT,
    NOVAK,
    STORZ_1,
    STORZ_2,
    TREATMENT_ROOM,
    WEBER,
    at,
    daily,
    eswt,
    plan,
    session,
)

FIVE = replace(ESWT, count=5)


def codes(problem, *placements) -> dict[tuple[str, int], str]:
    return {(u.kind, u.index): u.code for u in unplaced_sessions(problem, placements)}


def test_placed_sessions_have_no_reason():
    assert codes(plan(ESWT), *COURSE) == {}


def test_spacing_past_the_plan_s_end_stops_the_next_session_and_the_one_after_waits_for_it():
    left = unplaced_sessions(plan(FIVE), COURSE)
    assert [(u.index, u.code, u.after) for u in left] == [(3, "spacing", ("eswt", 2)),
                                                          (4, "after_unplaced", ("eswt", 3))]


def test_the_patient_s_windows_leave_no_time_within_the_spacing():
    days_off_the_spacing = [(at(day, 8), at(day, 18)) for day in (0, 12, 14)]
    left = unplaced_sessions(plan(ESWT, windows=days_off_the_spacing, open_hours=daily(8, 18),
                                  allowed=days_off_the_spacing),
                             (eswt(0, at(0, 9)),))
    assert (left[0].index, left[0].code) == (1, "patient_windows")
    assert left[0].window[0] >= at(5, 8) and left[0].window[1] <= at(11, 0), "the days the spacing allows"


def test_no_certified_clinician_free_in_the_week_the_session_must_take_place():
    weber, novak = (replace(c, free=[(s, e) for s, e in daily(8, 18) if not at(10, 0) <= s < at(11, 0)])
                    for c in (WEBER, NOVAK))
    exact = replace(ESWT, clinicians=(weber, novak), min_gap_days=5, max_gap_days=5)
    left = unplaced_sessions(plan(exact), (eswt(0, at(0, 9)), eswt(1, at(5, 9))))
    assert (left[0].code, left[0].window) == ("no_clinician", (at(10, 8), at(10, 17, 31)))


def test_the_line_s_own_clinician_is_off_although_another_is_free():
    weber_off = replace(WEBER, free=daily(8, 18, days=5))
    kept = replace(ESWT, clinicians=(weber_off, NOVAK), same_clinician=SameClinician.REQUIRED)
    left = unplaced_sessions(plan(kept), (eswt(0, at(0, 9)),))
    assert (left[0].code, left[0].noun) == ("plan_clinician", WEBER.name)


def test_not_enough_units_of_a_device_type():
    two_units = replace(ESWT, count=1, devices=(replace(ESWT.devices[0], count=2, units=(STORZ_1,)),))
    assert codes(plan(two_units)) == {("eswt", 0): "no_device"}


def test_each_resource_free_but_never_all_at_once():
    mornings = replace(WEBER, free=daily(8, 12))
    afternoon_room = replace(TREATMENT_ROOM, free=daily(13, 18))
    one = replace(ESWT, count=1, clinicians=(mornings,), rooms=(afternoon_room,))
    assert codes(plan(one)) == {("eswt", 0): "no_common_time"}


def test_the_plan_s_own_sessions_take_the_only_time_left():
    emtt = replace(EMTT, count=1, clinicians=(replace(WEBER, free=[(at(0, 9), at(0, 10))]),))
    one_hour = replace(DIAGNOSIS, clinicians=(replace(WEBER, free=[(at(0, 9), at(0, 10))]),))
    left = unplaced_sessions(plan(one_hour, emtt), (session(DIAGNOSIS, 0, at(0, 9, 15), room=TREATMENT_ROOM),))
    assert [(u.kind, u.code, u.noun) for u in left] == [("emtt", "taken", "clinicians")]


def test_a_free_time_the_search_did_not_use():
    assert codes(plan(replace(ESWT, count=1))) == {("eswt", 0): "free_time_unused"}


def test_links_wait_for_their_leaders():
    problem = plan(DIAGNOSIS, ESWT, EMTT, befores=(Before("diagnosis", "eswt"),),
                   same_visits=(SameVisit("eswt", "emtt"),))
    left = unplaced_sessions(problem, ())
    assert [(u.kind, u.index, u.code, u.after) for u in left][:3] == [
        ("diagnosis", 0, "free_time_unused", None), ("eswt", 0, "after_unplaced", ("diagnosis", 0)),
        ("eswt", 1, "after_unplaced", ("eswt", 0))]
    assert [u.after for u in left if u.kind == "emtt"] == [("eswt", 0), ("emtt", 0), ("emtt", 1)]


def test_a_same_visit_follower_whose_leader_ends_at_closing():
    problem = plan(replace(ESWT, count=1), replace(EMTT, count=1), same_visits=(SameVisit("eswt", "emtt"),))
    placed = eswt(0, at(0, 17, 30), devices=(STORZ_2,))
    assert codes(problem, placed) == {("emtt", 0): "not_allowed"}
