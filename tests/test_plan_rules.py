"""The plan rules, one small broken schedule each, and the greedy placer held to them.

Every checker test starts from a course that keeps all rules and breaks one
thing, so it shows that exactly that rule is caught and no other fires by
accident. The greedy tests pin down the baseline's choices; the property test
holds it to its one promise: whatever it places passes the checker.
"""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.intervals import Intervals, normalize, subtract
from solver.plan_check import check
from solver.plan_greedy import place_greedily
from solver.plans import (
    Before,
    Candidate,
    DevicePool,
    Placement,
    PlanProblem,
    PlanSolution,
    SameClinician,
    SameVisit,
    SessionKind,
)

DAY = 1440
DAYS = 15
HORIZON = [(0, DAYS * DAY)]


def at(day: int, hour: int, minute: int = 0) -> int:
    return day * DAY + hour * 60 + minute


def daily(from_hour: int, to_hour: int, days: int = DAYS) -> Intervals:
    return [(at(day, from_hour), at(day, to_hour)) for day in range(days)]


def except_(free: Intervals, start: int, end: int) -> Intervals:
    return subtract(free, [(start, end)])


WEBER = Candidate(1, "Dr. Anna Weber", daily(8, 18))
NOVAK = Candidate(2, "Dr. Jan Novak", daily(8, 18))
BERGER = Candidate(3, "Nina Berger", daily(8, 18))
TREATMENT_ROOM = Candidate(10, "Treatment room 1", HORIZON)
GYM = Candidate(11, "Gym", HORIZON)
STORZ_1 = Candidate(20, "Storz shockwave #1", HORIZON, cleaning=10)
STORZ_2 = Candidate(21, "Storz shockwave #2", HORIZON, cleaning=10)

ESWT = SessionKind(
    "eswt", "ESWT", count=3, duration=30, clinicians=(WEBER, NOVAK), buffer_before=5, buffer_after=5,
    needs_room=True, rooms=(TREATMENT_ROOM,), devices=(DevicePool("shockwave device", 1, (STORZ_1, STORZ_2)),),
    min_gap_days=5, max_gap_days=10,
)
EMTT = SessionKind("emtt", "EMTT", count=3, duration=20, clinicians=(WEBER, NOVAK))
DIAGNOSIS = SessionKind(
    "diagnosis", "Diagnosis", count=1, duration=30, clinicians=(WEBER, NOVAK), needs_room=True, rooms=(TREATMENT_ROOM,))
PHYSIO = SessionKind("physio", "Physiotherapy", count=1, duration=45, clinicians=(BERGER,))


def plan(*kinds: SessionKind, **changes) -> PlanProblem:
    """Opening hours 8-18 every day, a patient free throughout; ``changes`` say what this test is about."""
    problem = PlanProblem(
        kinds=kinds or (ESWT, EMTT, DIAGNOSIS, PHYSIO),
        allowed=daily(8, 18),
        patient_free=HORIZON,
        day_starts=tuple(range(0, DAYS * DAY, DAY)),
    )
    return replace(problem, **changes)


def session(kind: SessionKind, index: int, start: int, clinician: Candidate = WEBER, room: Candidate | None = None,
            devices: tuple[Candidate, ...] = ()) -> Placement:
    return Placement(kind.key, index, start, clinician.id, room.id if room else None, tuple(d.id for d in devices))


def eswt(index: int, start: int, clinician: Candidate = WEBER, room: Candidate | None = TREATMENT_ROOM,
         devices: tuple[Candidate, ...] = (STORZ_1,)) -> Placement:
    return session(ESWT, index, start, clinician, room, devices)


COURSE = (eswt(0, at(0, 9)), eswt(1, at(5, 9)), eswt(2, at(10, 9)))


def broken(problem: PlanProblem, *placements: Placement) -> set[str]:
    return {violation.rule for violation in check(problem, PlanSolution(placements))}


# --- the checker, one rule at a time ------------------------------------------------------------


def test_a_course_that_keeps_every_rule_passes():
    assert check(plan(), PlanSolution(COURSE)) == []


def test_nothing_placed_breaks_nothing():
    assert broken(plan()) == set()


def test_unknown_kind():
    assert broken(plan(), *COURSE, Placement("laser", 0, at(1, 9), WEBER.id)) == {"unknown_kind"}


def test_a_link_to_an_unknown_kind():
    assert broken(plan(befores=(Before("x_ray", "eswt"),)), *COURSE) == {"unknown_kind"}


def test_index_out_of_range():
    assert broken(plan(), *COURSE, eswt(3, at(14, 9))) == {"index_out_of_range"}


def test_placed_twice():
    assert broken(plan(), *COURSE, eswt(0, at(1, 9))) == {"placed_twice"}


def test_off_grid():
    assert broken(plan(), eswt(0, at(0, 9, 5)), *COURSE[1:]) == {"off_grid"}


def test_outside_allowed_on_a_blackout_date():
    blackout = except_(daily(8, 18), at(0, 0), at(1, 0))
    assert broken(plan(allowed=blackout), *COURSE) == {"outside_allowed"}


def test_outside_allowed_when_running_past_closing():
    assert broken(plan(allowed=daily(8, 12)), eswt(0, at(0, 11, 45)), *COURSE[1:]) == {"outside_allowed"}


def test_patient_unavailable():
    dentist = except_(HORIZON, at(0, 9, 15), at(0, 10))
    assert broken(plan(patient_free=dentist), *COURSE) == {"patient_unavailable"}


def test_patient_double_booked():
    physio = session(PHYSIO, 0, at(0, 9, 15), BERGER)
    assert broken(plan(), *COURSE, physio) == {"patient_double_booked"}


def test_double_booking_is_found_past_the_next_session():
    """Physiotherapy 9:00-9:45 overlaps both short sessions, though the second does not overlap the first."""
    short = replace(EMTT, duration=15)
    placements = (
        session(PHYSIO, 0, at(0, 9), BERGER), session(short, 0, at(0, 9, 15)), session(short, 1, at(0, 9, 30)))
    assert [v.rule for v in check(plan(short, PHYSIO), PlanSolution(placements))] == ["patient_double_booked"] * 2


def test_patient_may_go_straight_from_one_session_to_the_next():
    physio = session(PHYSIO, 0, at(0, 9, 30), BERGER)
    assert broken(plan(), *COURSE, physio) == set()


def test_clinician_not_eligible_names_the_session_and_the_clinician():
    violations = check(plan(), PlanSolution((eswt(0, at(0, 9), clinician=BERGER), *COURSE[1:])))
    assert [v.rule for v in violations] == ["clinician_not_eligible"]
    assert "ESWT #1" in violations[0].message and "Nina Berger" in violations[0].message


def test_clinician_unavailable_for_the_buffer_before_the_shift():
    assert broken(plan(), eswt(0, at(0, 8)), *COURSE[1:]) == {"clinician_unavailable"}


def test_room_missing():
    assert broken(plan(), eswt(0, at(0, 9), room=None), *COURSE[1:]) == {"room_missing"}


def test_room_not_needed():
    assert broken(plan(), *COURSE, session(PHYSIO, 0, at(1, 9), BERGER, room=GYM)) == {"room_not_needed"}


def test_room_not_eligible():
    assert broken(plan(), eswt(0, at(0, 9), room=GYM), *COURSE[1:]) == {"room_not_eligible"}


def test_room_unavailable():
    closed = replace(TREATMENT_ROOM, free=except_(HORIZON, at(0, 9, 30), at(0, 12)))
    assert broken(plan(replace(ESWT, rooms=(closed,))), *COURSE) == {"room_unavailable"}


@pytest.mark.parametrize("devices", [(), (STORZ_1, STORZ_2)])
def test_device_count(devices):
    assert broken(plan(), eswt(0, at(0, 9), devices=devices), *COURSE[1:]) == {"device_count"}


def test_device_not_eligible():
    ultrasound = Candidate(99, "Ultrasound", HORIZON)
    assert broken(plan(), eswt(0, at(0, 9), devices=(STORZ_1, ultrasound)), *COURSE[1:]) == {"device_not_eligible"}


def test_device_unavailable_during_its_cleaning():
    """Free until 9:40: the session and buffer end at 9:35, the cleaning at 9:45."""
    serviced = replace(STORZ_1, free=except_(HORIZON, at(0, 9, 40), at(0, 12)))
    kind = replace(ESWT, devices=(DevicePool("shockwave device", 1, (serviced, STORZ_2)),))
    violations = check(plan(kind), PlanSolution(COURSE))
    assert [v.rule for v in violations] == ["device_unavailable"]
    assert "Storz shockwave #1" in violations[0].message and "ESWT #1" in violations[0].message


def test_device_reused():
    assert broken(plan(), eswt(0, at(0, 9), devices=(STORZ_1, STORZ_1)), *COURSE[1:]) == {"device_reused"}


def test_clinician_double_booked_through_the_buffer():
    emtt = session(EMTT, 0, at(0, 9, 30), WEBER)
    assert broken(plan(), *COURSE, emtt) == {"clinician_double_booked"}


def test_room_double_booked_through_the_buffer():
    diagnosis = session(DIAGNOSIS, 0, at(0, 9, 30), NOVAK, TREATMENT_ROOM)
    assert broken(plan(), *COURSE, diagnosis) == {"room_double_booked"}


def test_device_double_booked_through_its_cleaning():
    """The unit is cleaned until 9:45; the next session's buffer starts at 9:40."""
    back_to_back = replace(ESWT, min_gap_days=None, max_gap_days=None)
    first = eswt(0, at(0, 9))
    assert broken(plan(back_to_back), first, eswt(1, at(0, 9, 45), NOVAK, devices=(STORZ_1,))) == {
        "device_double_booked"}
    assert broken(plan(back_to_back), first, eswt(1, at(0, 9, 45), NOVAK, devices=(STORZ_2,))) == set()


def test_out_of_order():
    assert broken(plan(), *COURSE[1:]) == {"out_of_order"}


def test_starts_before_previous_ends():
    unspaced = replace(ESWT, min_gap_days=None, max_gap_days=None)
    assert broken(plan(unspaced), eswt(0, at(1, 9)), eswt(1, at(0, 9))) == {"starts_before_previous_ends"}
    overlapping = (session(EMTT, 0, at(0, 9), WEBER), session(EMTT, 1, at(0, 9, 15), NOVAK))
    assert broken(plan(), *overlapping) == {"starts_before_previous_ends", "patient_double_booked"}


def test_too_soon():
    assert broken(plan(), eswt(0, at(0, 9)), eswt(1, at(4, 17)), eswt(2, at(10, 9))) == {"too_soon"}


def test_too_late():
    assert broken(plan(), eswt(0, at(0, 9)), eswt(1, at(11, 9))) == {"too_late"}


def test_spacing_counts_calendar_days_not_24_hours():
    assert broken(plan(), eswt(0, at(0, 17)), eswt(1, at(5, 8, 15))) == set()


ESWT_48_HOURS = replace(ESWT, min_gap_days=None, max_gap_days=None, min_gap_hours=48)


def test_too_soon_in_hours_names_the_time_elapsed_and_the_rule():
    """Two calendar days apart, but from 17:00 to 9:30 two days later only 40 h 30 min have passed."""
    violations = check(plan(ESWT_48_HOURS), PlanSolution((eswt(0, at(0, 17)), eswt(1, at(2, 9, 30)))))
    assert [v.rule for v in violations] == ["too_soon_hours"]
    assert violations[0].message == "ESWT #2 starts 40 h 30 min after ESWT #1; the plan asks for at least 48 h"


def test_too_late_in_hours():
    within_three_days = replace(ESWT_48_HOURS, max_gap_hours=72)
    assert broken(plan(within_three_days), eswt(0, at(0, 9)), eswt(1, at(3, 9))) == set()
    assert broken(plan(within_three_days), eswt(0, at(0, 9)), eswt(1, at(3, 9, 15))) == {"too_late_hours"}


def test_hours_count_the_time_between_starts_exactly():
    assert broken(plan(ESWT_48_HOURS), eswt(0, at(0, 17)), eswt(1, at(2, 17))) == set()
    assert broken(plan(ESWT_48_HOURS), eswt(0, at(0, 17)), eswt(1, at(2, 16, 45))) == {"too_soon_hours"}


def test_days_and_hours_both_hold():
    """At least 2 calendar days and at least 48 h: day 2 at 17:00 breaks neither, day 2 at 9:00 the hours only."""
    both = replace(ESWT_48_HOURS, min_gap_days=2)
    assert broken(plan(both), eswt(0, at(0, 17)), eswt(1, at(2, 17))) == set()
    assert broken(plan(both), eswt(0, at(0, 17)), eswt(1, at(2, 9))) == {"too_soon_hours"}
    assert broken(plan(both), eswt(0, at(0, 9)), eswt(1, at(1, 17))) == {"too_soon", "too_soon_hours"}


def test_same_visit_back_to_back_passes():
    emtt = session(EMTT, 0, at(0, 9, 30), NOVAK)
    assert broken(plan(same_visits=(SameVisit("eswt", "emtt"),)), *COURSE, emtt) == set()


def test_same_visit_without_first():
    emtt = session(EMTT, 0, at(0, 9, 30), NOVAK)
    assert broken(plan(same_visits=(SameVisit("eswt", "emtt"),)), emtt) == {"same_visit_without_first"}


def test_same_visit_not_back_to_back():
    emtt = session(EMTT, 0, at(0, 9, 45), NOVAK)
    assert broken(plan(same_visits=(SameVisit("eswt", "emtt"),)), *COURSE, emtt) == {"same_visit_not_back_to_back"}


def test_diagnosis_first_passes():
    diagnosis = session(DIAGNOSIS, 0, at(0, 8), NOVAK, TREATMENT_ROOM)
    assert broken(plan(befores=(Before("diagnosis", "eswt"),)), diagnosis, *COURSE) == set()


def test_before_first_incomplete():
    assert broken(plan(befores=(Before("diagnosis", "eswt"),)), *COURSE) == {"before_first_incomplete"}


def test_before_not_finished():
    diagnosis = session(DIAGNOSIS, 0, at(1, 9), NOVAK, TREATMENT_ROOM)
    assert broken(plan(befores=(Before("diagnosis", "eswt"),)), diagnosis, *COURSE) == {"before_not_finished"}


def test_clinician_changed_when_the_same_clinician_is_required():
    changed = (COURSE[0], eswt(1, at(5, 9), NOVAK), COURSE[2])
    assert broken(plan(replace(ESWT, same_clinician=SameClinician.REQUIRED)), *changed) == {"clinician_changed"}
    assert broken(plan(replace(ESWT, same_clinician=SameClinician.PREFERRED)), *changed) == set()


# --- the greedy placer ---------------------------------------------------------------------------


def starts(solution: PlanSolution, kind: SessionKind) -> list[int]:
    return [p.start for p in sorted(solution.placements, key=lambda p: p.index) if p.kind == kind.key]


def clinicians(solution: PlanSolution, kind: SessionKind) -> list[int]:
    return [p.clinician for p in sorted(solution.placements, key=lambda p: p.index) if p.kind == kind.key]


SHOCKWAVE_COURSE = SessionKind("eswt", "ESWT", count=3, duration=30, clinicians=(WEBER,),
                               min_gap_days=5, max_gap_days=10)


def test_greedy_places_a_spaced_course_on_the_earliest_days():
    """The patient is at work on the morning of day 5, so the second session waits until noon."""
    problem = plan(SHOCKWAVE_COURSE, patient_free=except_(HORIZON, at(5, 8), at(5, 12)))
    solution = place_greedily(problem)
    assert solution.status == "greedy"
    assert starts(solution, SHOCKWAVE_COURSE) == [at(0, 8), at(5, 12), at(10, 8)]
    assert check(problem, solution) == []


def test_greedy_waits_48_hours_where_the_calendar_days_would_allow_sooner():
    """The patient is free from 17:00 on day 1; one day apart allows day 2, 48 h ask for day 3 at 17:00."""
    course = replace(SHOCKWAVE_COURSE, count=2, min_gap_days=1, max_gap_days=None)
    free_from_day_1_at_5pm = [(at(1, 17), DAYS * DAY)]
    by_days = place_greedily(plan(course, patient_free=free_from_day_1_at_5pm))
    assert starts(by_days, course) == [at(1, 17), at(2, 8)]
    problem = plan(replace(course, min_gap_hours=48), patient_free=free_from_day_1_at_5pm)
    solution = place_greedily(problem)
    assert starts(solution, course) == [at(1, 17), at(3, 17)]
    assert check(problem, solution) == []


def test_greedy_keeps_within_the_most_hours_apart():
    """At most 30 h apart: from 8:00 on day 0 the next may start no later than 14:00 on day 1."""
    course = replace(SHOCKWAVE_COURSE, count=2, min_gap_days=1, max_gap_days=None, max_gap_hours=30)
    problem = plan(course, patient_free=except_(HORIZON, at(1, 8), at(1, 14)))
    solution = place_greedily(problem)
    assert starts(solution, course) == [at(0, 8), at(1, 14)]
    assert check(problem, solution) == []
    later = plan(course, patient_free=except_(HORIZON, at(1, 8), at(1, 14, 15)))
    assert starts(place_greedily(later), course) == [at(0, 8)]


def test_greedy_puts_the_same_visit_follower_straight_after_its_leader():
    """EMTT follows each ESWT before the next ESWT takes the time after it."""
    eswt_kind = SessionKind("eswt", "ESWT", count=2, duration=30, clinicians=(WEBER,))
    emtt_kind = SessionKind("emtt", "EMTT", count=2, duration=20, clinicians=(WEBER,))
    problem = plan(emtt_kind, eswt_kind, same_visits=(SameVisit("eswt", "emtt"),))
    solution = place_greedily(problem)
    assert starts(solution, eswt_kind) == [at(0, 8), at(0, 9)]
    assert starts(solution, emtt_kind) == [at(0, 8, 30), at(0, 9, 30)]
    assert check(problem, solution) == []


def test_greedy_keeps_the_patient_in_one_place():
    """Both clinicians are free at 8:00, but the patient can only be in one session."""
    course = replace(SHOCKWAVE_COURSE, count=1)
    problem = plan(course, PHYSIO)
    solution = place_greedily(problem)
    assert (starts(solution, course), starts(solution, PHYSIO)) == ([at(0, 8)], [at(0, 8, 30)])


def test_greedy_leaves_out_a_follower_that_cannot_start_when_its_leader_ends():
    """Dr. Novak only comes in at 9:00, so EMTT cannot follow the 8:00 ESWT; it is not moved to a later time."""
    eswt_kind = SessionKind("eswt", "ESWT", count=1, duration=30, clinicians=(WEBER,))
    emtt_kind = SessionKind("emtt", "EMTT", count=1, duration=20,
                            clinicians=(replace(NOVAK, free=except_(daily(8, 18), at(0, 8), at(0, 9))),))
    problem = plan(eswt_kind, emtt_kind, same_visits=(SameVisit("eswt", "emtt"),))
    solution = place_greedily(problem)
    assert starts(solution, eswt_kind) == [at(0, 8)]
    assert starts(solution, emtt_kind) == []


def test_greedy_keeps_a_followers_extra_sessions_in_order():
    """EMTT #1 follows the only ESWT at 10:30; EMTT #2 has no leader but must still come after it, not at 8:00."""
    eswt_kind = SessionKind("eswt", "ESWT", count=1, duration=30,
                            clinicians=(replace(WEBER, free=except_(daily(8, 18), at(0, 8), at(0, 10))),))
    emtt_kind = SessionKind("emtt", "EMTT", count=2, duration=20, clinicians=(NOVAK,))
    problem = plan(eswt_kind, emtt_kind, same_visits=(SameVisit("eswt", "emtt"),))
    solution = place_greedily(problem)
    assert starts(solution, emtt_kind) == [at(0, 10, 30), at(0, 11)]
    assert check(problem, solution) == []


def test_greedy_waits_for_the_unit_to_be_cleaned():
    """Two sessions on one unit with 10 minutes of cleaning: the second cannot start at 8:30."""
    unit = DevicePool("shockwave device", 1, (STORZ_1,))
    course = replace(SHOCKWAVE_COURSE, count=2, clinicians=(WEBER, NOVAK), devices=(unit,),
                     min_gap_days=None, max_gap_days=None)
    problem = plan(course)
    solution = place_greedily(problem)
    assert starts(solution, course) == [at(0, 8), at(0, 8, 45)]
    assert check(problem, solution) == []


def test_greedy_places_the_diagnosis_first():
    """Listed after the course, the diagnosis still goes first, and the course waits for it."""
    diagnosis = SessionKind("diagnosis", "Diagnosis", count=1, duration=30,
                            clinicians=(replace(WEBER, free=[(at(2, 8), at(2, 18))]),))
    course = replace(SHOCKWAVE_COURSE, count=1, clinicians=(NOVAK,))
    problem = plan(course, diagnosis, befores=(Before("diagnosis", "eswt"),))
    solution = place_greedily(problem)
    assert starts(solution, diagnosis) == [at(2, 8)]
    assert starts(solution, course) == [at(2, 8, 30)]
    assert check(problem, solution) == []


def test_greedy_gives_up_on_the_rest_of_a_course_when_a_session_does_not_fit():
    """Dr. Weber is away on days 1 and 2, so session 2 cannot be within two days; session 3 is not placed alone."""
    away = replace(WEBER, free=except_(daily(8, 18), at(1, 0), at(3, 0)))
    course = replace(SHOCKWAVE_COURSE, clinicians=(away,), min_gap_days=1, max_gap_days=2)
    problem = plan(course)
    solution = place_greedily(problem)
    assert starts(solution, course) == [at(0, 8)]
    assert check(problem, solution) == []


def test_greedy_skips_what_depends_on_an_unplaced_session():
    """No room for the diagnosis, so neither the course nor its same-visit EMTT can start."""
    diagnosis = replace(DIAGNOSIS, rooms=())
    course = replace(SHOCKWAVE_COURSE, count=1)
    emtt = replace(EMTT, count=1)
    problem = plan(course, emtt, diagnosis, befores=(Before("diagnosis", "eswt"),),
                   same_visits=(SameVisit("eswt", "emtt"),))
    assert place_greedily(problem).placements == ()


@pytest.mark.parametrize("continuity, expected", [
    (SameClinician.NONE, [NOVAK.id, WEBER.id]),
    (SameClinician.PREFERRED, [NOVAK.id, NOVAK.id]),
    (SameClinician.REQUIRED, [NOVAK.id, NOVAK.id]),
])
def test_greedy_keeps_the_clinician_who_started_the_course(continuity, expected):
    """Dr. Weber is away on day 0, so Dr. Novak starts; on day 5 both are free."""
    away = replace(WEBER, free=except_(daily(8, 18), at(0, 0), at(1, 0)))
    course = replace(SHOCKWAVE_COURSE, count=2, clinicians=(away, NOVAK), same_clinician=continuity)
    problem = plan(course)
    solution = place_greedily(problem)
    assert starts(solution, course) == [at(0, 8), at(5, 8)]
    assert clinicians(solution, course) == expected


@pytest.mark.parametrize("continuity, expected", [
    (SameClinician.PREFERRED, (at(5, 8), WEBER.id)),
    (SameClinician.REQUIRED, (at(5, 12), NOVAK.id)),
])
def test_greedy_waits_for_the_same_clinician_only_when_required(continuity, expected):
    """Dr. Novak starts the course and is free on day 5 only from noon."""
    away = replace(WEBER, free=except_(daily(8, 18), at(0, 0), at(1, 0)))
    late = replace(NOVAK, free=except_(daily(8, 18), at(5, 0), at(5, 12)))
    course = replace(SHOCKWAVE_COURSE, count=2, clinicians=(away, late), same_clinician=continuity)
    problem = plan(course)
    solution = place_greedily(problem)
    second = solution.placed("eswt", 1)
    assert (second.start, second.clinician) == expected
    assert check(problem, solution) == []


def test_greedy_prefers_the_patients_last_clinician_then_the_lowest_id():
    course = replace(SHOCKWAVE_COURSE, clinicians=(NOVAK, WEBER))
    assert clinicians(place_greedily(plan(course)), course) == [WEBER.id] * 3
    assert clinicians(place_greedily(plan(course, last_clinician=NOVAK.id)), course) == [NOVAK.id] * 3


def test_greedy_picks_a_free_unit_and_room():
    """Storz #1 is in service on day 0, so the first session gets #2; the room is booked until 9:00,
    and the 5-minute buffer before the session needs it too."""
    serviced = replace(STORZ_1, free=except_(HORIZON, at(0, 0), at(1, 0)))
    room = replace(TREATMENT_ROOM, free=except_(HORIZON, at(0, 0), at(0, 9)))
    kind = replace(ESWT, rooms=(room,), devices=(DevicePool("shockwave device", 1, (serviced, STORZ_2)),))
    problem = plan(kind)
    solution = place_greedily(problem)
    first = solution.placed("eswt", 0)
    assert (first.start, first.room, first.devices) == (at(0, 9, 15), TREATMENT_ROOM.id, (STORZ_2.id,))
    assert solution.placed("eswt", 1).devices == (STORZ_1.id,)
    assert check(problem, solution) == []


# --- the greedy placer's promise over random small plans -----------------------------------------

SMALL_DAYS = 10
SMALL_HORIZON = [(0, SMALL_DAYS * DAY)]

windows = st.lists(st.tuples(st.integers(0, SMALL_DAYS * DAY - 1), st.integers(10, 12 * 60)), max_size=8).map(
    lambda spans: normalize((start, start + length) for start, length in spans))
free_time = st.one_of(
    st.just(SMALL_HORIZON),
    windows.map(lambda busy: subtract(SMALL_HORIZON, busy)),
    windows.map(lambda busy: subtract(daily(8, 18, SMALL_DAYS), busy)),
    windows,
)
gap_days = st.one_of(st.none(), st.integers(0, 5))
gap_hours = st.one_of(st.none(), st.none(), st.sampled_from([0, 1, 20, 24, 30, 48, 72, 100]))
buffer = st.one_of(st.just(0), st.sampled_from([5, 10]))


@st.composite
def small_plans(draw) -> PlanProblem:
    staff = [Candidate(ident, f"Clinician {ident}", draw(free_time)) for ident in range(1, draw(st.integers(1, 2)) + 1)]
    rooms = [Candidate(ident, f"Room {ident}", draw(free_time)) for ident in range(10, 10 + draw(st.integers(0, 2)))]
    units = [Candidate(ident, f"Shockwave unit {ident}", draw(free_time), cleaning=draw(st.integers(0, 20)))
             for ident in range(20, 20 + draw(st.integers(0, 2)))]
    kinds = []
    for number in range(draw(st.integers(1, 3))):
        needs_room = bool(rooms) and draw(st.booleans())
        kinds.append(SessionKind(
            key=f"kind{number}",
            name=f"Treatment {number}",
            count=draw(st.integers(1, 3)),
            duration=draw(st.sampled_from([15, 20, 30, 45, 60])),
            clinicians=tuple(draw(st.lists(st.sampled_from(staff), min_size=1, unique_by=lambda c: c.id))),
            buffer_before=draw(buffer),
            buffer_after=draw(buffer),
            needs_room=needs_room,
            rooms=tuple(draw(st.lists(st.sampled_from(rooms), unique_by=lambda r: r.id))) if needs_room else (),
            devices=(DevicePool("shockwave device", 1, tuple(units)),) if units and draw(st.booleans()) else (),
            min_gap_days=draw(gap_days),
            max_gap_days=draw(gap_days),
            min_gap_hours=draw(gap_hours),
            max_gap_hours=draw(gap_hours),
            same_clinician=draw(st.sampled_from(SameClinician)),
        ))
    pair = st.permutations([kind.key for kind in kinds]).map(lambda order: order[:2])
    links = draw(st.lists(st.tuples(st.sampled_from([SameVisit, Before]), pair), max_size=2 if len(kinds) > 1 else 0))
    return PlanProblem(
        kinds=tuple(kinds),
        allowed=draw(free_time),
        patient_free=draw(free_time),
        day_starts=tuple(range(0, SMALL_DAYS * DAY, DAY)),
        same_visits=tuple(SameVisit(*pair) for link, pair in links if link is SameVisit),
        befores=tuple(Before(*pair) for link, pair in links if link is Before),
        grid=15,
        last_clinician=draw(st.one_of(st.none(), st.sampled_from([c.id for c in staff]))),
    )


@settings(max_examples=200, deadline=None)
@given(small_plans())
def test_whatever_greedy_places_passes_the_checker(problem):
    assert check(problem, place_greedily(problem)) == []
